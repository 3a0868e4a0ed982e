"""Reader of ``R.scheduling.children``: the digested node topology TreePool uses.

``children`` (draft RFC 49) is a list of ``{"ranks": IDSET, "topo": TREE}``.
TREE is an object whose list-valued keys are named levels (``socket``,
``numa``, any site name) holding child objects; an object with a ``cores``
key is a leaf (``cores`` and optional ``gpus`` are RFC 22 idsets of
node-local ids). This module reads that format the way flux-core's TreePool
does (v0.88.0-59: levels are merged by height above the leaves, a whole-node
level is added unless it repeats the level below, node types with the same
levels share one structure, entries with empty ``ranks`` or ``topo`` are
skipped, later entries win for a rank) and turns it into the compiled core's
:class:`TreeTypes` (group bit masks) and per-rank type assignments.

Rank matching (SPEC §17 T1/T2): when the children name every rank of the
pool, each rank takes its own entry and ranks the pool lacks are ignored;
otherwise, when they name as many ranks as the pool has, the i-th lowest
child rank describes the i-th lowest pool rank (flux-core's renumbering for
sub-instances). Anything else is a ``ValueError``.
"""

import json
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Tuple

from ._rv1core import IdRanges, TreeTypes, decode_idset

__all__ = ["Tree", "read_children", "node_resources", "MAX_TREE_DEPTH", "MAX_TREE_GROUPS", "MAX_TREE_ENTRIES"]

MAX_TREE_DEPTH = 64          # deepest nesting of a topology tree
MAX_TREE_GROUPS = 1 << 17    # groups over all levels, containers and node types
MAX_TREE_MASK_BYTES = 64 * 1024 * 1024  # compiled group masks of one pool
MAX_TREE_ENTRIES = 65536     # entries in scheduling.children

Group = Tuple[IdRanges, IdRanges]
Levels = List[List[Group]]
_EMPTY = decode_idset("")


def _ids(node: Mapping, key: str) -> IdRanges:
    value = node.get(key)
    if value is None:
        return _EMPTY
    if not isinstance(value, str):
        raise TypeError(
            f"scheduling.children: topo {key!r} must be an RFC 22 idset string, got {value!r}"
        )
    try:
        return decode_idset(value)
    except ValueError as exc:
        raise ValueError(f"scheduling.children: topo {key!r}: {exc}") from None


def _kids(node: Mapping, depth: int) -> List[Mapping]:
    """The child objects of ``node``, in key order (non-object items ignored)."""
    if depth > MAX_TREE_DEPTH:
        raise ValueError(f"scheduling.children: topology nests deeper than {MAX_TREE_DEPTH}")
    out = []
    for value in node.values():
        if isinstance(value, list):
            out.extend(child for child in value if isinstance(child, Mapping))
    return out


class _Budget:
    """Counts groups built so far, to refuse absurd sizes before building more."""

    def __init__(self) -> None:
        self.groups = 0

    def add(self, n: int) -> None:
        self.groups += n
        if self.groups > MAX_TREE_GROUPS:
            raise ValueError(
                f"scheduling.children: more than {MAX_TREE_GROUPS} topology groups"
            )


def _all_resources(node: Mapping, depth: int) -> Group:
    cores, gpus = _ids(node, "cores"), _ids(node, "gpus")
    for child in _kids(node, depth):
        c, g = _all_resources(child, depth + 1)
        cores, gpus = cores.union(c), gpus.union(g)
    return cores, gpus


def node_resources(topo: Any) -> Group:
    """All cores and GPUs a node topology TREE names (the union of its leaves),
    as ``(cores, gpus)`` idsets. ``TypeError`` when ``topo`` is not an object
    or an idset is not a string, ``ValueError`` for a malformed idset or
    nesting deeper than ``MAX_TREE_DEPTH``."""
    if not isinstance(topo, Mapping):
        raise TypeError(f"a node topology must be an object, got {type(topo).__name__}")
    return _all_resources(topo, 0)


def _levels(node: Mapping, depth: int, budget: _Budget) -> Tuple[Levels, IdRanges, IdRanges]:
    if "cores" in node:
        cores, gpus = _ids(node, "cores"), _ids(node, "gpus")
        budget.add(1)
        return [[(cores, gpus)]], cores, gpus
    merged: Levels = []
    cores = gpus = _EMPTY
    for child in _kids(node, depth):
        child_levels, c, g = _levels(child, depth + 1, budget)
        cores, gpus = cores.union(c), gpus.union(g)
        for i, groups in enumerate(child_levels):
            if i >= len(merged):
                merged.append([])
            merged[i].extend(groups)
    if cores:
        whole = (cores, gpus)
        if not (merged and all(group == whole for group in merged[-1])):
            budget.add(1)
            merged.append([whole])
    return merged, cores, gpus


def container_groups(topo: Mapping, name: str, depth: int = 0) -> List[Group]:
    """The instances of level ``name`` in ``topo``: at each branch, the first
    depth where the name appears; each as all the cores and GPUs under it."""
    value = topo.get(name)
    if isinstance(value, list):
        return [_all_resources(item, depth + 1) for item in value if isinstance(item, Mapping)]
    out: List[Group] = []
    for child in _kids(topo, depth):
        out.extend(container_groups(child, name, depth + 1))
    return out


def _level_names(topo: Mapping, depth: int, into: Dict[str, None]) -> None:
    for key, value in topo.items():
        if isinstance(value, list):
            into.setdefault(key)
    for child in _kids(topo, depth):
        _level_names(child, depth + 1, into)


def _prefix(ids: IdRanges) -> Tuple[List[int], List[int], List[int]]:
    """Interval starts, ends and the count of ids before each interval."""
    los, his, before = [], [], []
    n = 0
    for lo, hi in ids.intervals():
        los.append(lo)
        his.append(hi)
        before.append(n)
        n += hi - lo + 1
    return los, his, before


def _renumber(ids: IdRanges, src: IdRanges, dst: IdRanges) -> IdRanges:
    """Map ``ids`` (a subset of ``src``) so the i-th lowest of ``src`` becomes
    the i-th lowest of ``dst`` (``len(src) == len(dst)``); works on intervals."""
    slo, _shi, sbefore = _prefix(src)
    dlo, dhi, dbefore = _prefix(dst)
    parts = []
    for lo, hi in ids.intervals():
        k = bisect_right(slo, lo) - 1
        start = sbefore[k] + lo - slo[k]
        count = hi - lo + 1
        while count > 0:
            j = bisect_right(dbefore, start) - 1
            a = dlo[j] + start - dbefore[j]
            b = min(dhi[j], a + count - 1)
            parts.append(f"{a}-{b}" if b > a else str(a))
            count -= b - a + 1
            start += b - a + 1
    return decode_idset(",".join(parts))


class Tree:
    """The node types of a pool and the type of each of its ranks.

    ``types`` is the compiled :class:`TreeTypes`; ``assign`` lists
    ``(ranks, type)`` with the pool's own rank ids; ``scheduling`` is R's
    scheduling object with ``children`` renumbered to the pool's ranks.
    """

    def __init__(self, types: TreeTypes, assign: List[Tuple[IdRanges, int]],
                 containers: Dict[str, List[int]], container_counts: Dict[str, List[int]],
                 scheduling: Dict[str, Any]) -> None:
        self.types = types
        self.assign = assign
        self._containers = containers
        self._counts = container_counts
        self.scheduling = scheduling

    @property
    def ntypes(self) -> int:
        return self.types.ntypes

    def container_sets(self, name: str) -> List[int]:
        """Per type, the compiled set of level ``name``'s instances (-1: none)."""
        return self._containers.get(name, [-1] * self.types.ntypes)

    def container_counts(self, name: str) -> List[int]:
        """Per type, how many instances of level ``name`` a node has."""
        return self._counts.get(name, [0] * self.types.ntypes)


class _Entry:
    __slots__ = ("ranks", "levels", "topo", "key")

    def __init__(self, ranks: IdRanges, levels: Levels, topo: Mapping, key: Any) -> None:
        self.ranks = ranks
        self.levels = levels
        self.topo = topo
        self.key = key


def read_children(scheduling: Any, pool_ranks: IdRanges, wc: int, wg: int,
                  strict: bool = False) -> Tree:
    """Read R's ``scheduling`` object for a pool of ``pool_ranks`` whose rows are
    ``wc``/``wg`` words wide.

    A pool without ranks takes an empty ``children`` list (its own R, written
    after every rank was removed). Raises ``ValueError`` when there is no
    ``children`` list, no entry with a
    topology, the children do not describe every rank of the pool (see the
    module docstring), a tree nests deeper than ``MAX_TREE_DEPTH`` or has more
    than ``MAX_TREE_GROUPS`` groups, an idset is malformed, or an entry lacks
    ``ranks`` or ``topo``; ``TypeError`` when a value has the wrong JSON type.
    ``strict`` keeps node types with different level names apart (T9).
    """
    if scheduling is None:
        raise ValueError("TreePool requires R.scheduling")
    if not isinstance(scheduling, Mapping):
        raise TypeError(f"R.scheduling must be an object, got {type(scheduling).__name__}")
    children = scheduling.get("children")
    if not children and (pool_ranks or not isinstance(children, list)):
        raise ValueError("TreePool requires scheduling.children")
    if not isinstance(children, list):
        raise TypeError(
            f"scheduling.children must be a list, got {type(children).__name__}"
        )
    if len(children) > MAX_TREE_ENTRIES:
        raise ValueError(f"scheduling.children: more than {MAX_TREE_ENTRIES} entries")
    budget = _Budget()
    entries: List[_Entry] = []
    all_ranks: List[Optional[IdRanges]] = []
    memo: Dict[str, Tuple[Levels, Any]] = {}
    for i, entry in enumerate(children):
        if not isinstance(entry, Mapping):
            raise TypeError(f"scheduling.children[{i}] must be an object, got {entry!r}")
        for key in ("ranks", "topo"):
            if key not in entry:
                raise ValueError(f"scheduling.children[{i}] has no {key!r}")
        rank_text, topo = entry["ranks"], entry["topo"]
        if not isinstance(rank_text, str):
            raise TypeError(f"scheduling.children[{i}].ranks must be an idset string")
        if not isinstance(topo, Mapping):
            raise TypeError(f"scheduling.children[{i}].topo must be an object")
        try:
            ranks = decode_idset(rank_text) if rank_text else _EMPTY
        except ValueError as exc:
            raise ValueError(f"scheduling.children[{i}].ranks: {exc}") from None
        all_ranks.append(ranks)
        if not rank_text or not topo:
            continue
        try:
            text = json.dumps(topo, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"scheduling.children[{i}].topo is not JSON: {exc}") from None
        except RecursionError:
            raise ValueError(
                f"scheduling.children: topology nests deeper than {MAX_TREE_DEPTH}"
            ) from None
        if text not in memo:
            levels, _c, _g = _levels(topo, 0, budget)
            key = tuple(tuple(level) for level in levels)
            memo[text] = (levels, (key, text) if strict else key)
        levels, key = memo[text]
        if levels:
            entries.append(_Entry(ranks, levels, topo, key))
    if not entries and pool_ranks:
        raise ValueError("TreePool: children contains no groups")

    covered = _EMPTY
    for e in entries:
        covered = covered.union(e.ranks)
    if not pool_ranks.difference(covered):
        def to_pool(ids: IdRanges) -> IdRanges:
            return ids.intersection(pool_ranks)
        usable = pool_ranks
    elif len(covered) == len(pool_ranks):
        def to_pool(ids: IdRanges) -> IdRanges:
            return _renumber(ids.intersection(covered), covered, pool_ranks)
        usable = covered
    else:
        raise ValueError(
            f"TreePool: rank count mismatch: {len(covered)} in children vs "
            f"{len(pool_ranks)} in pool"
        )

    # Later entries win for a rank: each entry keeps what no later entry names.
    effective: List[IdRanges] = [_EMPTY] * len(entries)
    later = _EMPTY
    for k in range(len(entries) - 1, -1, -1):
        effective[k] = entries[k].ranks.difference(later).intersection(usable)
        later = later.union(entries[k].ranks)

    # Types in flux-core's order; a type's named levels come from the entry of
    # its first rank in (first entry naming the rank, rank) order.
    type_of_key: Dict[Any, int] = {}
    type_entries: List[List[int]] = []
    for k, e in enumerate(entries):
        if not effective[k]:
            continue
        if e.key not in type_of_key:
            type_of_key[e.key] = len(type_entries)
            type_entries.append([])
        type_entries[type_of_key[e.key]].append(k)
    representative: List[Optional[int]] = [None] * len(type_entries)
    type_ranks = []
    for members in type_entries:
        ranks = _EMPTY
        for k in members:
            ranks = ranks.union(effective[k])
        type_ranks.append(ranks)
    seen = _EMPTY
    pending = set(range(len(type_entries)))
    for e in entries:
        if not pending:
            break
        firsts = e.ranks.difference(seen)
        seen = seen.union(e.ranks)
        if not firsts:
            continue
        for t in sorted(pending):
            hit = firsts.intersection(type_ranks[t])
            if hit:
                first = hit.first
                representative[t] = next(k for k in type_entries[t] if first in effective[k])
                pending.discard(t)

    sets: List[List[Group]] = []
    type_levels: List[List[int]] = []
    topos: List[Mapping] = []
    for t, members in enumerate(type_entries):
        rep = entries[representative[t] if representative[t] is not None else members[0]]
        ids = []
        for level in rep.levels:
            ids.append(len(sets))
            sets.append(level)
        type_levels.append(ids)
        topos.append(rep.topo)
    names: Dict[str, None] = {}
    for topo in topos:
        _level_names(topo, 0, names)
    containers: Dict[str, List[int]] = {}
    counts: Dict[str, List[int]] = {}
    for name in names:
        per_type, per_count = [], []
        for topo in topos:
            groups = container_groups(topo, name)
            budget.add(len(groups))
            per_count.append(len(groups))
            if groups:
                per_type.append(len(sets))
                sets.append(groups)
            else:
                per_type.append(-1)
        containers[name] = per_type
        counts[name] = per_count
    ngroups = sum(len(groups) for groups in sets)
    if ngroups * (wc + wg) * 8 > MAX_TREE_MASK_BYTES:
        raise ValueError(
            f"scheduling.children: {ngroups} topology groups of {(wc + wg) * 64} bits "
            f"exceed {MAX_TREE_MASK_BYTES} bytes of masks"
        )
    types = TreeTypes(wc, wg, sets, type_levels)
    assign = []
    for t, members in enumerate(type_entries):
        for k in members:
            assign.append((to_pool(effective[k]), t))

    out = dict(scheduling)
    rewritten = []
    for entry, ranks in zip(children, all_ranks):
        if ranks is None or not ranks:
            continue
        mine = to_pool(ranks)
        if mine:
            new_entry = dict(entry)
            new_entry["ranks"] = mine.encode()
            rewritten.append(new_entry)
    out["children"] = rewritten
    return Tree(types, assign, containers, counts, out)


def trim_children(scheduling: Dict[str, Any], ranks: IdRanges) -> Dict[str, Any]:
    """``scheduling`` with each ``children`` entry's ranks cut to ``ranks``;
    entries left with none are dropped (the input is not changed)."""
    children = scheduling.get("children")
    if not isinstance(children, list):
        return scheduling
    kept = []
    for entry in children:
        try:
            mine = decode_idset(entry["ranks"]).intersection(ranks)
        except (KeyError, TypeError, ValueError):
            kept.append(entry)
            continue
        if mine:
            new_entry = dict(entry)
            new_entry["ranks"] = mine.encode()
            kept.append(new_entry)
    out = dict(scheduling)
    out["children"] = kept
    return out
