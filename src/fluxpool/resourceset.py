"""Read-only resource-set views: what ``to_resource_set``, ``copy_allocated``
and ``copy_down`` return. A view is a snapshot; later pool changes don't show."""

import json
from typing import Any, Dict, Mapping

from . import rformat
from ._rv1core import IdRanges, Topology
from .hostlist import Hostlist, NameTable
from .idset import IDset

__all__ = ["ResourceSet"]


class ResourceSet:
    """An immutable R v1 resource set: ranks with their cores and GPUs, host
    names, properties and times, but no allocation or up/down state."""

    __slots__ = ("_topo", "_names", "_has_nodelist", "_properties", "_starttime", "_expiration")

    def __init__(self, topo: Topology, names: NameTable, has_nodelist: bool,
                 properties: Mapping[str, IdRanges], starttime: float, expiration: float) -> None:
        self._topo = topo
        self._names = names
        self._has_nodelist = has_nodelist
        self._properties = dict(properties)
        self._starttime = starttime
        self._expiration = expiration

    def to_dict(self) -> Dict[str, Any]:
        """R v1 as a new dict (SPEC §2.4)."""
        return rformat.encode(
            self._topo,
            self._names if self._has_nodelist else None,
            self._properties,
            self._starttime,
            self._expiration,
        )

    def encode(self) -> str:
        """R v1 as JSON text."""
        return json.dumps(self.to_dict())

    def dumps(self) -> str:
        """The one-line summary (SPEC §2.5)."""
        return rformat.dumps(self._topo)

    def __str__(self) -> str:
        return self.dumps()

    def __repr__(self) -> str:
        return f"ResourceSet({self.dumps()!r})"

    def count(self, name: str) -> int:
        """Number of ``"core"`` or ``"gpu"`` resources; 0 for any other name."""
        if name == "core":
            return self._topo.ncores
        if name == "gpu":
            return self._topo.ngpus
        return 0

    @property
    def ranks(self) -> IDset:
        """The ranks of the set."""
        return IDset(self._topo.ranks())

    @property
    def nodelist(self) -> Hostlist:
        """Host names of the ranks, in rank order."""
        return Hostlist(self._names.names(self._topo.ranks()))

    @property
    def nnodes(self) -> int:
        """Number of ranks."""
        return len(self._topo)

    @property
    def ncores(self) -> int:
        """Number of cores."""
        return self._topo.ncores

    @property
    def ngpus(self) -> int:
        """Number of GPUs."""
        return self._topo.ngpus

    @property
    def starttime(self) -> float:
        """Start time (seconds since the epoch, 0.0 when unset)."""
        return self._starttime

    @property
    def expiration(self) -> float:
        """Expiration time (seconds since the epoch, 0.0 when unset)."""
        return self._expiration

    @property
    def properties(self) -> str:
        """The properties as the JSON object text RFC 20 writes."""
        return json.dumps({n: self._properties[n].encode()
                           for n in sorted(self._properties) if self._properties[n]})

    @property
    def topology(self) -> Topology:
        """The view's ranks, cores and GPUs (for fluxpool's own use)."""
        return self._topo

