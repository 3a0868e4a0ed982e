"""RFC 29 hostlists: expansion, order-preserving compression, and rank names.

Order is meaning here: in R, the i-th host of the nodelist names the i-th
lowest rank, so nothing is ever sorted or deduplicated. ``NameTable`` keeps a
nodelist in its compact bracket form and computes a rank's name on demand, so
a pool of 100,000 nodes does not hold 100,000 strings it never uses.
"""

import bisect
import re
from collections.abc import Iterable, Iterator
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ._rv1core import IdRanges

__all__ = ["Hostlist", "HostMatcher", "expand", "compress", "NameTable", "MAX_RANGE", "MAX_HOSTS"]

MAX_RANGE = 1048576          # hosts in one bracket range
MAX_HOSTS = 4194304          # hosts in one hostlist
MAX_TEXT = 16 * 1024 * 1024  # characters in one hostlist string

# A segment is (prefix, lo, hi, width, suffix); width -1 marks a literal name in prefix.
Segment = Tuple[str, int, int, int, str]

# ASCII digits only, and whole-string matches (a '$' would also match before a
# final newline).
_TRAILING_DIGITS = re.compile(r"(.*?)([0-9]+)", re.S)
_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_BRACKET_BODY = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"[^, \t]+")


def _error(text: str, why: str) -> ValueError:
    shown = text if len(text) <= 200 else text[:200] + "..."
    return ValueError(f"invalid hostlist {shown!r}: {why}")


def _tokens(text: str) -> Iterator[str]:
    """Split at commas, spaces and tabs outside brackets; empty tokens vanish."""
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise _error(text, "']' without '['")
        elif depth == 0 and ch in ", \t":
            if i > start:
                yield text[start:i]
            start = i + 1
    if depth != 0:
        raise _error(text, "unclosed '['")
    if start < len(text):
        yield text[start:]


def _segments(text: str) -> List[Segment]:
    """Parse hostlist text into segments, checking every bound before expanding."""
    if not isinstance(text, str):
        raise TypeError(f"hostlist must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"hostlist of {len(text)} characters exceeds the maximum of {MAX_TEXT}")
    if len(text) > 2 * MAX_HOSTS:
        # Each token names at least one host: count them, holding nothing per
        # token, and refuse before a segment is made for any of them.
        bare = _BRACKET_BODY.sub("", text) if "[" in text else text
        ntokens = sum(1 for _ in _TOKEN.finditer(bare))
        if ntokens > MAX_HOSTS:
            raise _error(text, f"more than {MAX_HOSTS} hosts")
    out: List[Segment] = []
    total = 0
    for token in _tokens(text):
        open_at = token.find("[")
        if open_at < 0:
            out.append((token, 0, 0, -1, ""))
            total += 1
            if total > MAX_HOSTS:
                raise _error(text, f"more than {MAX_HOSTS} hosts")
            continue
        close_at = token.find("]", open_at)
        prefix, body, suffix = token[:open_at], token[open_at + 1:close_at], token[close_at + 1:]
        if "[" in body or "[" in suffix or "]" in suffix:
            raise _error(text, "more than one bracket group in a host name")
        if not body:
            raise _error(text, "empty brackets")
        for item in body.split(","):
            m = _ITEM.fullmatch(item)
            if not m:
                raise _error(text, f"bad range {item!r}")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise _error(text, f"range {item!r} ends before it starts")
            if hi - lo + 1 > MAX_RANGE:
                raise _error(text, f"range {item!r} has more than {MAX_RANGE} hosts")
            out.append((prefix, lo, hi, len(m.group(1)), suffix))
            total += hi - lo + 1
        if total > MAX_HOSTS:
            raise _error(text, f"more than {MAX_HOSTS} hosts")
    if not out and text.strip(", \t"):
        raise _error(text, "no host names")
    return out


def _segment_size(seg: Segment) -> int:
    return 1 if seg[3] < 0 else seg[2] - seg[1] + 1


def _segment_name(seg: Segment, offset: int) -> str:
    prefix, lo, _, width, suffix = seg
    if width < 0:
        return prefix
    return f"{prefix}{lo + offset:0{width}d}{suffix}"


def expand(text: str) -> List[str]:
    """Expand RFC 29 hostlist text into host names, in written order.

    Tokens are separated by commas, spaces or tabs outside brackets; ``prefix[items]suffix``
    expands each item ``N`` or ``LO-HI`` in the order written, each number printed
    with at least as many digits as its low bound was written with:
    ``"node[0-2,7],login[01-02]"`` is ``node0 node1 node2 node7 login01 login02``.
    Nothing is sorted or deduplicated (``"n[3,2],n3"`` is ``n3 n2 n3``), as the R
    nodelist needs: the i-th name belongs to the i-th lowest rank.

    Args:
        text: Hostlist text.

    Returns:
        A new list of host names.

    Raises:
        ValueError: Malformed text (unbalanced or empty brackets, a bad range, a
            range ending before it starts), a range of more than 1,048,576 hosts,
            more than 4,194,304 hosts in all, or text longer than 16 MiB; the
            message quotes the text (cut at 200 characters).
        TypeError: ``text`` is not a string.
    """
    names: List[str] = []
    for seg in _segments(text):
        if seg[3] < 0:
            names.append(seg[0])
        else:
            prefix, lo, hi, width, suffix = seg
            names.extend(f"{prefix}{v:0{width}d}{suffix}" for v in range(lo, hi + 1))
    return names


class _Compressor:
    """compress()'s output built incrementally: from single names, or from whole
    runs of numbered names at once, with the same result as name by name."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        # (prefix, runs); prefix None marks a literal name (runs == [[name]]);
        # a run is [lo, hi, width, lo_text].
        self._groups: List[Tuple[Optional[str], List[List]]] = []

    def _add(self, prefix: str, value: int, digits: str) -> List:
        """Add one numbered name; returns the run that now ends with it."""
        groups = self._groups
        if groups and groups[-1][0] == prefix:
            run = groups[-1][1][-1]
            # A run stops at MAX_RANGE hosts so that expand() accepts what this writes.
            if (value == run[1] + 1 and f"{value:0{run[2]}d}" == digits
                    and value - run[0] < MAX_RANGE):
                run[1] = value
                return run
            run = [value, value, len(digits), digits]
            groups[-1][1].append(run)
            return run
        run = [value, value, len(digits), digits]
        groups.append((prefix, [run]))
        return run

    def name(self, name: str) -> None:
        """Add one host name."""
        m = _TRAILING_DIGITS.fullmatch(name)
        if m is None:
            self._groups.append((None, [[name]]))
        else:
            self._add(m.group(1), int(m.group(2)), m.group(2))

    def numbered(self, prefix: str, lo: int, hi: int, width: int) -> None:
        """Add the names ``prefix + f"{v:0{width}d}"`` for v in lo..hi; ``prefix``
        must not end with an ASCII digit (then each name splits as written).
        Within one such range a run never breaks on width (a zero-padded value
        and the wider values after it format alike), only at MAX_RANGE hosts,
        so the cost is per MAX_RANGE hosts, not per host."""
        v = lo
        while v <= hi:
            run = self._add(prefix, v, f"{v:0{width}d}")
            end = min(hi, run[0] + MAX_RANGE - 1)
            if end > v:
                run[1] = end
            v = end + 1

    def text(self) -> str:
        parts = []
        for prefix, runs in self._groups:
            if prefix is None:
                parts.append(runs[0][0])
            elif len(runs) == 1 and runs[0][0] == runs[0][1]:
                parts.append(prefix + runs[0][3])
            else:
                items = [r[3] if r[0] == r[1] else f"{r[3]}-{r[1]:0{r[2]}d}" for r in runs]
                parts.append(f"{prefix}[{','.join(items)}]")
        return ",".join(parts)


def compress(names: Iterable[str]) -> str:
    """Compress host names into hostlist text, keeping their order, as Flux writes
    an R nodelist.

    A name ending in decimal digits extends the run before it when the prefix is
    the same, its number is one more and the zero padding agrees; consecutive runs
    with one prefix share a bracket group: ``node0 node1 node2 node3`` is
    ``"node[0-3]"``, ``foo12 foo4 foo1 foo2`` is ``"foo[12,4,1-2]"``, ``n01 n02`` is
    ``"n[01-02]"``. Names without trailing digits stand alone. Nothing is sorted
    or deduplicated, so ``expand(compress(names)) == names``.

    Args:
        names: Host names (strings), in order.

    Returns:
        The hostlist text (``""`` for no names).
    """
    out = _Compressor()
    for name in names:
        out.name(name)
    return out.text()


class HostMatcher:
    """Membership in a hostlist without expanding it: ``name in matcher``.

    Used to evaluate ``hostlist`` constraints against many ranks: a few bracket
    ranges may name millions of hosts. ``len()`` is the number of hosts the
    hostlist names (duplicates counted).

    Args:
        text: Hostlist text.

    Raises:
        ValueError: As :func:`expand`, for malformed or too large text.
        TypeError: ``text`` is not a string.
    """

    __slots__ = ("_literals", "_ranges", "_size")

    def __init__(self, text: str) -> None:
        self._literals = set()
        self._ranges: Dict[Tuple[str, str], List[Tuple[int, int, int]]] = {}
        self._size = 0
        for seg in _segments(text):
            self._size += _segment_size(seg)
            prefix, lo, hi, width, suffix = seg
            if width < 0:
                self._literals.add(prefix)
            else:
                self._ranges.setdefault((prefix, suffix), []).append((lo, hi, width))

    def __len__(self) -> int:
        return self._size

    def __contains__(self, name: object) -> bool:
        if name in self._literals:
            return True
        if not isinstance(name, str):
            return False
        for (prefix, suffix), ranges in self._ranges.items():
            if not (name.startswith(prefix) and name.endswith(suffix)):
                continue
            digits = name[len(prefix):len(name) - len(suffix)]
            if not digits or not digits.isascii() or not digits.isdigit():
                continue
            value = int(digits)
            for lo, hi, width in ranges:
                if lo <= value <= hi and f"{value:0{width}d}" == digits:
                    return True
        return False


class Hostlist:
    """An immutable, ordered list of host names (RFC 29), like flux-core's
    ``flux.hostlist.Hostlist``.

    Supports iteration in order, ``len()``, indexing, ``in``, ``==`` and hashing;
    ``str()`` is the compressed form (:func:`compress`). Pools return one from
    ``nodelist()``, views from ``nodelist``.

    Args:
        hosts: Hostlist text (expanded with :func:`expand`), an iterable of host
            names (kept as given, in order), or ``None`` for an empty list.

    Raises:
        ValueError: Malformed or too large hostlist text (see :func:`expand`).
        TypeError: An item of the iterable is not a string.
    """

    __slots__ = ("_names",)

    def __init__(self, hosts: Union[str, Iterable[str], None] = None) -> None:
        if hosts is None:
            self._names: Tuple[str, ...] = ()
        elif isinstance(hosts, str):
            self._names = tuple(expand(hosts))
        else:
            self._names = tuple(hosts)
            for name in self._names:
                if not isinstance(name, str):
                    raise TypeError(f"host names must be strings, got {name!r}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: int) -> str:
        return self._names[index]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Hostlist):
            return self._names == other._names
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._names)

    def __str__(self) -> str:
        return compress(self._names)

    def __repr__(self) -> str:
        return f"Hostlist({str(self)!r})"


class NameTable:
    """Host names of a pool's ranks, computed on demand from bracket segments.

    The i-th name of the nodelist names the i-th lowest rank of ``ranks``; a rank
    with no name (a short nodelist, or none) is ``rank<N>``, as in flux-core. A
    table for 100,000 ranks holds a few segments, not 100,000 strings. Build one
    with :meth:`from_nodelist` or :meth:`from_names`.

    Args:
        segments: Parsed hostlist segments (internal form).
        ranks: The pool's ranks, ascending.
    """

    __slots__ = ("_ranks", "_starts", "_cum", "_segs", "_seg_cum", "_by_name", "host_count")

    def __init__(self, segments: Sequence[Segment], ranks: IdRanges) -> None:
        self._ranks = ranks
        runs = ranks.intervals()
        self._starts = [lo for lo, _ in runs]
        self._cum = []
        count = 0
        for lo, hi in runs:
            self._cum.append(count)
            count += hi - lo + 1
        self._segs = list(segments)
        self._seg_cum = []
        count = 0
        for seg in self._segs:
            self._seg_cum.append(count)
            count += _segment_size(seg)
        self.host_count = count  # hosts the nodelist names (may differ from len(ranks))
        self._by_name: Optional[Dict[str, List[int]]] = None

    @classmethod
    def from_nodelist(cls, nodelist: Sequence[str], ranks: IdRanges) -> "NameTable":
        """Names from R's ``nodelist``.

        Args:
            nodelist: A list of hostlist strings, expanded and concatenated in order.
            ranks: The pool's ranks.

        Raises:
            ValueError: A malformed or too large hostlist string.
            TypeError: An item is not a string.
        """
        segments: List[Segment] = []
        for text in nodelist:
            segments.extend(_segments(text))
        return cls(segments, ranks)

    @classmethod
    def from_names(cls, names: Sequence[str], ranks: IdRanges) -> "NameTable":
        """Names given one per rank.

        Args:
            names: Host names, one per rank, in ascending rank order.
            ranks: The pool's ranks.
        """
        return cls([(name, 0, 0, -1, "") for name in names], ranks)

    def name(self, rank: int) -> str:
        """The host name of ``rank`` (an int): its nodelist name, else ``"rank<N>"``."""
        k = bisect.bisect_right(self._starts, rank) - 1
        if k >= 0:
            pos = self._cum[k] + rank - self._starts[k]
            s = bisect.bisect_right(self._seg_cum, pos) - 1
            if s >= 0:
                seg = self._segs[s]
                offset = pos - self._seg_cum[s]
                if offset < _segment_size(seg):
                    return _segment_name(seg, offset)
        return f"rank{rank}"

    def hostlist(self, ranks: IdRanges) -> str:
        """``compress(self.names(ranks))``, computed per interval of ``ranks`` and
        per bracket segment of the nodelist, never per host (a rank outside the
        table's ranks is named exactly as ``name()`` names it)."""
        out = _Compressor()
        starts, cum = self._starts, self._cum
        for a, b in ranks.intervals():
            # Between two run starts a rank's position grows with the rank,
            # as name() computes it.
            k = bisect.bisect_right(starts, a) - 1
            while a <= b:
                if k < 0:
                    end = b if not starts else min(b, starts[0] - 1)
                    out.numbered("rank", a, end, 1)
                else:
                    end = b if k + 1 == len(starts) else min(b, starts[k + 1] - 1)
                    self._positions(out, cum[k] + a - starts[k], end - a + 1, a)
                a = end + 1
                k += 1
        return out.text()

    def _positions(self, out: "_Compressor", pos: int, count: int, rank: int) -> None:
        """Add the names of nodelist positions pos..pos+count-1 (ranks rank...)."""
        seg_cum, segs = self._seg_cum, self._segs
        s = bisect.bisect_right(seg_cum, pos) - 1
        while count > 0:
            if s < 0 or s >= len(segs) or pos - seg_cum[s] >= _segment_size(segs[s]):
                out.numbered("rank", rank, rank + count - 1, 1)  # past the nodelist
                return
            prefix, lo, _, width, suffix = seg = segs[s]
            offset = pos - seg_cum[s]
            take = min(count, _segment_size(seg) - offset)
            if width < 0:
                out.name(prefix)
            elif not suffix and not prefix[-1:].isdigit():
                out.numbered(prefix, lo + offset, lo + offset + take - 1, width)
            else:
                for v in range(lo + offset, lo + offset + take):
                    out.name(f"{prefix}{v:0{width}d}{suffix}")
            pos += take
            rank += take
            count -= take
            s += 1

    def names(self, ranks: Iterable[int]) -> List[str]:
        """Host names of ``ranks`` (an iterable of ints), in the order given, as a list."""
        return [self.name(r) for r in ranks]

    def ranks_named(self, name: str) -> List[int]:
        """The ranks (a list of ints, ascending) whose host name is ``name``; empty
        when none. The first call builds a lookup table over all ranks."""
        if self._by_name is None:
            table: Dict[str, List[int]] = {}
            for rank in self._ranks:
                table.setdefault(self.name(rank), []).append(rank)
            self._by_name = table
        return self._by_name.get(name, [])
