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
    """A read-only snapshot of resources as R version 1: ranks with their cores and
    GPUs, host names, properties and times, without allocation or up/down state.

    Returned by a pool's ``to_resource_set()``, ``copy_allocated()`` and
    ``copy_down()``; later changes to the pool do not show in it. It answers what
    flux-core's ``flux.resource.ResourceSet`` answers for these views: ``ranks``,
    ``nodelist``, ``nnodes`` (properties, as in flux-core, not methods as on a pool),
    ``ncores``, ``ngpus``, ``count(name)``, ``starttime``, ``expiration``,
    ``properties``, ``to_dict()``, ``encode()`` and ``dumps()`` (also ``str()``).
    It may be shared between threads, and passed as ``R`` to ``free`` and
    ``register_alloc``.

    Views are built by the pool; the constructor's arguments are internal forms.
    """

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
        """The set as a new R version 1 dict, written as Flux writes R.

        Keys in this order: ``version`` (1), ``execution`` with ``R_lite`` (ranks with
        identical cores and GPUs grouped, groups ordered by their lowest rank, ``gpu``
        only when non-empty), ``starttime``, ``expiration`` (floats, seconds since the
        epoch), ``nodelist`` (one compressed hostlist, only when the view carries
        host names), ``properties`` (names sorted, each an idset of ranks; only when
        there are any). Changing the dict does not change the view."""
        return rformat.encode(
            self._topo,
            self._names if self._has_nodelist else None,
            self._properties,
            self._starttime,
            self._expiration,
        )

    def encode(self) -> str:
        """The set as R version 1 JSON text: ``json.dumps(to_dict())``."""
        return json.dumps(self.to_dict())

    def dumps(self) -> str:
        """The one-line summary Flux logs: per group of ranks with identical cores and
        GPUs, ``rank<R>/core<C>`` plus ``,gpu<G>`` when the group has GPUs, idsets in
        brackets when they have two or more members; groups joined by a space, e.g.
        ``"rank[0,2]/core[0-3],gpu0 rank1/core[0-3]"``. An empty set is ``""``."""
        return rformat.dumps(self._topo)

    def __str__(self) -> str:
        return self.dumps()

    def __repr__(self) -> str:
        return f"ResourceSet({self.dumps()!r})"

    def count(self, name: str) -> int:
        """Number of cores (``name == "core"``) or GPUs (``"gpu"``) in the set; 0 for
        any other name, as flux-core answers for resource types it does not track."""
        if name == "core":
            return self._topo.ncores
        if name == "gpu":
            return self._topo.ngpus
        return 0

    @property
    def ranks(self) -> IDset:
        """The ranks of the set, as an :class:`IDset`."""
        return IDset(self._topo.ranks())

    @property
    def nodelist(self) -> Hostlist:
        """Host names of the ranks in ascending rank order, as a :class:`Hostlist`
        (``rank<N>`` for ranks without a name)."""
        return Hostlist(self._names.names(self._topo.ranks()))

    @property
    def nnodes(self) -> int:
        """Number of ranks (nodes) in the set."""
        return len(self._topo)

    @property
    def ncores(self) -> int:
        """Number of cores in the set (over all ranks)."""
        return self._topo.ncores

    @property
    def ngpus(self) -> int:
        """Number of GPUs in the set (over all ranks)."""
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
        """The properties as JSON object text, as RFC 20 writes them.

        Each property name maps to the idset of its ranks; names sorted, empty
        properties left out (``"{}"`` when none)."""
        return json.dumps({n: self._properties[n].encode()
                           for n in sorted(self._properties) if self._properties[n]})

    @property
    def topology(self) -> Topology:
        """The view's ranks, cores and GPUs in the compiled core's form (for fluxpool's
        own use: a pool reads a view given as ``R`` through it)."""
        return self._topo

