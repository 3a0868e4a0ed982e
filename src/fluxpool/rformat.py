"""R version 1 (RFC 20): reading R into core values and writing it back.

``parse`` turns an R dict into a ``Topology`` plus the Python-side parts (host
names, properties, times, scheduling); ``encode`` writes R with Flux's key order
and grouping; ``dumps`` is the one-line summary Flux logs. Pools, allocation
results and views all go through these three functions.
"""

import json
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Tuple

from ._rv1core import IdRanges, Topology, decode_idset
from .hostlist import NameTable
from .idset import ids_of

__all__ = ["RParts", "bad_property_name", "parse", "parse_allocation", "parse_text", "encode", "dumps",
           "properties_within"]


class RParts:
    """Everything R version 1 carries, in the form the pool keeps it.

    Attributes:
        topo: The ranks with their cores and GPUs (the core's ``Topology``).
        names: Host names of the ranks (a :class:`~fluxpool.hostlist.NameTable`).
        has_nodelist: Whether R had a non-empty ``nodelist`` (only then is one
            written back).
        properties: Property name to ``IdRanges`` of ranks, as given.
        starttime: Seconds since the epoch (0.0 when missing, null or 0).
        expiration: Seconds since the epoch (0.0 when missing, null or 0).
        nslots: ``execution.nslots`` when positive, else 0 (not written back).
        scheduling: JSON text of a truthy ``scheduling`` value, else ``None``.
    """

    __slots__ = ("topo", "names", "has_nodelist", "properties", "starttime",
                 "expiration", "nslots", "scheduling")

    def __init__(self, topo: Topology, names: NameTable, has_nodelist: bool,
                 properties: Dict[str, IdRanges], starttime: float, expiration: float,
                 nslots: int, scheduling: Optional[str]) -> None:
        self.topo = topo
        self.names = names
        self.has_nodelist = has_nodelist
        self.properties = properties
        self.starttime = starttime
        self.expiration = expiration
        self.nslots = nslots
        self.scheduling = scheduling  # JSON text of a truthy value, else None


# Property names (RFC 20, RFC 31): no operator characters, no white space (librlist).
_BAD_PROPERTY_CHARS = frozenset("!&'\"^`|() \t\n\r\f\v")


def bad_property_name(name: str) -> bool:
    """True when ``name`` cannot be an RFC 20/31 property name: empty, or holding
    one of ``! & ' " ^ ` | ( )`` or white space."""
    return not name or any(ch in _BAD_PROPERTY_CHARS or ch.isspace() for ch in name)


def _time(execution: Mapping, key: str, strict: bool = False) -> float:
    value = execution.get(key)
    if value is None:
        return 0.0
    if isinstance(value, str) and not strict:
        # flux-core reads R's times with float(): "5" is 5.0.
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"R execution.{key} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"R execution.{key} must be a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"R execution.{key} {value} is too large") from None


def _typed(container: Mapping, key: str, kind: type, default: Any, where: str) -> Any:
    value = container.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise TypeError(f"R {where}{key} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _ids(value: Any, where: str, strict: bool) -> IdRanges:
    """An idset field of R. RFC 20 writes idset text; flux-core also reads an
    integer or a list of integers (or of idset text), as its ``IDset()`` does,
    and so does fluxpool except in strict mode."""
    if isinstance(value, str):
        return decode_idset(value)
    if strict:
        raise TypeError(f"R {where} must be an idset string, got {value!r}")
    return ids_of(value, f"R {where}")


def parse_text(text: str) -> Any:
    """Decode JSON text (``json.loads``).

    Raises:
        ValueError: Malformed JSON (``json.JSONDecodeError`` is a ``ValueError``),
            including nesting too deep for the decoder, which would otherwise raise
            ``RecursionError``.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON text is nested too deeply") from None


def _version_and_execution(R: Mapping) -> Mapping:
    version = R["version"]
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 1:
        raise ValueError(f"R version {version} not supported")
    return _typed(R, "execution", Mapping, {}, "")


def _topology(execution: Mapping, strict: bool = False) -> Topology:
    entries = []
    for entry in _typed(execution, "R_lite", list, [], "execution."):
        if not isinstance(entry, Mapping):
            raise TypeError(f"R_lite entry must be an object, got {entry!r}")
        ranks = entry["rank"]
        ranks = decode_idset(ranks) if type(ranks) is str else _ids(ranks, "R_lite rank", strict)
        children = _typed(entry, "children", Mapping, {}, "R_lite entry ")
        cores = children.get("core")
        if cores is not None and type(cores) is not str:
            cores = _child_text(cores, "core", strict)
        gpus = children.get("gpu")
        if gpus is not None and type(gpus) is not str:
            gpus = _child_text(gpus, "gpu", strict)
        entries.append((ranks, cores, gpus))
    return Topology.from_entries(entries)


def _child_text(value: Any, kind: str, strict: bool) -> str:
    """A ``children`` idset as idset text (what the core decodes)."""
    if isinstance(value, str):
        return value
    return _ids(value, f"R_lite children.{kind}", strict).encode()


def parse_allocation(R: Mapping) -> Tuple[Topology, float]:
    """Only what a free or a hello needs of R: ``(topology, expiration)``, the ranks
    with their cores and GPUs and the expiration in seconds since the epoch. The
    same checks and errors as :func:`parse` on those parts; host names and
    properties are not read."""
    execution = _version_and_execution(R)
    return _topology(execution), _time(execution, "expiration")


def parse(R: Mapping, strict: bool = False) -> RParts:
    """Read an R version 1 dict into :class:`RParts`; the dict is never kept or changed.

    Idset fields may also be an integer or a list of integers or idset text, and
    numbers may be numeric strings, as flux-core's Python pool reads them.

    Args:
        R: The R dict.
        strict: Also refuse, with a ``ValueError``, what Flux's C code (librlist)
            refuses: a nodelist naming more or fewer hosts than there are ranks, a
            property name that is empty or holds an operator character or white
            space, a property naming a rank R does not have; and R fields in the
            forms only flux-core's Python pool reads (integers or lists for
            idsets, strings for numbers).

    Raises:
        KeyError: ``version`` is missing (flux-core raises the same bare
            ``KeyError('version')``), or an ``R_lite`` entry has no ``rank``.
        ValueError: A version other than 1; a malformed idset or hostlist; a rank
            in two ``R_lite`` entries (flux-core silently merges them); a bound
            exceeded (ids, ranks, row memory); a time too large for a float; in
            strict mode, the cases above.
        TypeError: A value of the wrong type, naming its key (``R_lite`` not a list,
            an entry not an object, ``rank`` not an idset, ``properties`` not an
            object, a time not a number, ``nodelist`` not a list of strings).
    """
    execution = _version_and_execution(R)
    topo = _topology(execution, strict)

    nodelist = execution.get("nodelist")
    if nodelist is None:
        nodelist = []
    if not isinstance(nodelist, (list, tuple)) or (strict and not isinstance(nodelist, list)):
        raise TypeError(f"R execution.nodelist must be a list, got {type(nodelist).__name__}")
    for item in nodelist:
        if not isinstance(item, str):
            raise TypeError(f"R execution.nodelist entries must be strings, got {item!r}")
    names = NameTable.from_nodelist(nodelist, topo.ranks())
    if strict and nodelist and names.host_count != len(topo):
        relation = "less" if names.host_count < len(topo) else "greater"
        raise ValueError(
            f"R nodelist: number of hosts ({names.host_count}) is {relation} than "
            f"node count ({len(topo)})"
        )

    properties: Dict[str, IdRanges] = {}
    for name, ranks in _typed(execution, "properties", Mapping, {}, "execution.").items():
        members = _ids(ranks, f"property {name!r}", strict)
        if strict:
            if not isinstance(name, str) or bad_property_name(name):
                raise ValueError(f"R property name {name!r} is not a valid property name")
            outside = members.difference(topo.ranks())
            if outside:
                raise ValueError(
                    f"R property {name!r} names ranks that R does not have: {outside.encode()}"
                )
        properties[str(name)] = members

    nslots = execution.get("nslots")
    if isinstance(nslots, (str, float)) and not strict:
        # flux-core reads nslots with int()
        try:
            nslots = int(nslots)
        except (ValueError, OverflowError):
            raise ValueError(f"R execution.nslots must be an integer, got {nslots!r}") from None
    if nslots is None:
        nslots = 0
    if isinstance(nslots, bool) or not isinstance(nslots, int):
        raise TypeError(f"R execution.nslots must be a int, got {type(nslots).__name__}")
    scheduling = R.get("scheduling")
    try:
        scheduling_text = json.dumps(scheduling) if scheduling else None
    except RecursionError:
        raise ValueError("R.scheduling nests too deeply") from None
    except (TypeError, ValueError) as exc:
        raise TypeError(f"R.scheduling is not JSON: {exc}") from None
    return RParts(
        topo,
        names,
        bool(nodelist),
        properties,
        _time(execution, "starttime", strict),
        _time(execution, "expiration", strict),
        nslots if nslots > 0 else 0,
        scheduling_text,
    )


def properties_within(properties: Mapping, ranks: IdRanges, local: bool) -> Dict[str, IdRanges]:
    """Each property intersected with ``ranks``, dropping empty ones and, unless
    ``local`` is true, the instance-local names that begin with ``+`` (RFC 20), as
    flux-core does for allocation results. Returns a new dict."""
    out = {}
    for name, members in properties.items():
        if not local and name.startswith("+"):
            continue
        common = members.intersection(ranks)
        if common:
            out[name] = common
    return out


def _nodelist(topo: Topology, names: NameTable) -> str:
    cached = topo.cache.get("nodelist")
    if cached is not None and cached[0] is names:
        return cached[1]
    if len(topo) == 1:
        text = names.name(topo.rank_at(0))  # one host: its name is its hostlist
    else:
        text = names.hostlist(topo.ranks())
    topo.cache["nodelist"] = (names, text)
    return text


_CACHE_RLITE_RANKS = 256  # topologies this large keep their encoded R_lite groups


def encode(topo: Topology, names: Optional[NameTable], properties: Optional[Mapping],
           starttime: float, expiration: float, nslots: int = 0,
           scheduling: Optional[str] = None) -> Dict[str, Any]:
    """R version 1 as a new dict, with Flux's key order and grouping.

    ``names`` ``None``: no ``nodelist`` key; ``properties`` ``None`` or empty: no
    ``properties`` key; ``nslots`` 0: no ``nslots`` key; ``scheduling`` (JSON text)
    ``None``: no ``scheduling`` key. Times are seconds since the epoch."""
    cached = topo.cache.get("rlite")
    rlite: List[Dict[str, Any]] = []
    for ranks, cores, gpus in (topo.groups() if cached is None else cached):
        children = {"core": cores}
        if gpus:
            children["gpu"] = gpus
        rlite.append({"rank": ranks.encode() if cached is None else ranks, "children": children})
    if cached is None and len(topo) >= _CACHE_RLITE_RANKS:
        # A topology never changes: a large one's groups are encoded once (an
        # allocation result is written once; keeping its groups costs more).
        topo.cache["rlite"] = [(e["rank"], e["children"]["core"], e["children"].get("gpu"))
                               for e in rlite]
    execution: Dict[str, Any] = {"R_lite": rlite, "starttime": starttime, "expiration": expiration}
    if nslots > 0:
        execution["nslots"] = nslots
    if names is not None:
        execution["nodelist"] = [_nodelist(topo, names)]
    if properties:
        execution["properties"] = {
            name: properties[name].encode() for name in sorted(properties) if properties[name]
        }
    R: Dict[str, Any] = {"version": 1, "execution": execution}
    if scheduling is not None:
        R["scheduling"] = json.loads(scheduling)
    return R


def dumps(topo: Topology) -> str:
    """The one-line summary: ``rank<R>/core<C>[,gpu<G>]`` per group of ranks with
    identical cores and GPUs, ordered by lowest rank, joined by a space; idsets in
    display form (bracketed when two or more members). ``""`` for no ranks."""
    return " ".join(
        f"rank{ranks.display()}/core{cores}" + (f",gpu{gpus}" if gpus else "")
        for ranks, cores, gpus in topo.groups(True)
    )
