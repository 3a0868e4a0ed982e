"""R version 1 (RFC 20): reading R into core values and writing it back.

``parse`` turns an R dict into a ``Topology`` plus the Python-side parts (host
names, properties, times, scheduling); ``encode`` writes the exact key order
and grouping of SPEC §2.4; ``dumps`` is the one-line summary of §2.5. Pools,
allocation results and views all go through these three functions.
"""

import json
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Tuple

from ._rv1core import IdRanges, Topology, decode_idset
from .hostlist import NameTable

__all__ = ["RParts", "parse", "parse_allocation", "parse_text", "encode", "dumps",
           "properties_within"]


class RParts:
    """Everything R v1 carries, in the form the pool keeps it."""

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


def _time(execution: Mapping, key: str) -> float:
    value = execution.get(key)
    if value is None:
        return 0.0
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


def parse_text(text: str) -> Any:
    """Decode JSON text; ``ValueError`` when malformed, including nesting too
    deep for the decoder (which would otherwise raise ``RecursionError``)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON text is nested too deeply") from None


def _version_and_execution(R: Mapping) -> Mapping:
    version = R["version"]
    if version != 1 or isinstance(version, bool):
        raise ValueError(f"R version {version} not supported")
    return _typed(R, "execution", Mapping, {}, "")


def _topology(execution: Mapping) -> Topology:
    entries = []
    for entry in _typed(execution, "R_lite", list, [], "execution."):
        if not isinstance(entry, Mapping):
            raise TypeError(f"R_lite entry must be an object, got {entry!r}")
        rank = entry["rank"]
        if not isinstance(rank, str):
            raise TypeError(f"R_lite rank must be an idset string, got {rank!r}")
        children = _typed(entry, "children", Mapping, {}, "R_lite entry ")
        cores = _typed(children, "core", str, None, "R_lite children.")
        gpus = _typed(children, "gpu", str, None, "R_lite children.")
        entries.append((decode_idset(rank), cores, gpus))
    return Topology.from_entries(entries)


def parse_allocation(R: Mapping) -> Tuple[Topology, float]:
    """Only what a free or a hello needs of R: its ranks, cores and GPUs, and
    its expiration (the same checks as ``parse`` on those parts)."""
    execution = _version_and_execution(R)
    return _topology(execution), _time(execution, "expiration")


def parse(R: Mapping) -> RParts:
    """Read an R v1 dict. ``KeyError`` when ``version`` or an entry's ``rank`` is
    missing, ``ValueError`` for other versions and bad idsets, ``TypeError`` for
    values of the wrong type; the dict is never kept or changed."""
    execution = _version_and_execution(R)
    topo = _topology(execution)

    nodelist = _typed(execution, "nodelist", list, [], "execution.")
    for item in nodelist:
        if not isinstance(item, str):
            raise TypeError(f"R execution.nodelist entries must be strings, got {item!r}")
    names = NameTable.from_nodelist(nodelist, topo.ranks())

    properties: Dict[str, IdRanges] = {}
    for name, ranks in _typed(execution, "properties", Mapping, {}, "execution.").items():
        if not isinstance(ranks, str):
            raise TypeError(f"R property {name!r} must be an idset string, got {ranks!r}")
        properties[str(name)] = decode_idset(ranks)

    nslots = _typed(execution, "nslots", int, 0, "execution.")
    scheduling = R.get("scheduling")
    return RParts(
        topo,
        names,
        bool(nodelist),
        properties,
        _time(execution, "starttime"),
        _time(execution, "expiration"),
        nslots if nslots > 0 else 0,
        json.dumps(scheduling) if scheduling else None,
    )


def properties_within(properties: Mapping, ranks: IdRanges, local: bool) -> Dict[str, IdRanges]:
    """Each property intersected with ``ranks``, dropping empty ones (and, unless
    ``local``, the instance-local names that begin with ``+``)."""
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


def encode(topo: Topology, names: Optional[NameTable], properties: Optional[Mapping],
           starttime: float, expiration: float, nslots: int = 0,
           scheduling: Optional[str] = None) -> Dict[str, Any]:
    """R v1 as a new dict, keys in SPEC §2.4 order. ``names`` None: no nodelist;
    ``properties`` None or empty: no properties key."""
    groups = topo.cache.get("rlite")
    if groups is None:
        # A topology never changes: its groups are encoded once.
        groups = [(ranks.encode(), cores, gpus) for ranks, cores, gpus in topo.groups()]
        topo.cache["rlite"] = groups
    rlite: List[Dict[str, Any]] = []
    for ranks, cores, gpus in groups:
        children = {"core": cores}
        if gpus:
            children["gpu"] = gpus
        rlite.append({"rank": ranks, "children": children})
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
    """One-line summary: ``rank<R>/core<C>[,gpu<G>]`` per group of identical ranks."""
    return " ".join(
        f"rank{ranks.display()}/core{cores}" + (f",gpu{gpus}" if gpus else "")
        for ranks, cores, gpus in topo.groups(True)
    )
