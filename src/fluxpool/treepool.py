"""``TreePool``: topology-aware placement (SPEC §17), flux-core's ``TreePool`` on
the compiled core.

The pool reads a digested node topology from ``R.scheduling.children``
(:mod:`fluxpool.topotree`) and places, on each candidate rank (fewest free
cores, then GPUs, first):

- GPU+core slots in the finest topology level that can hold them, level by
  level up to the whole node;
- CPU-only slots best-fit inside the finest level that holds one slot, so
  whole groups stay free for GPU jobs;
- container-exclusive requests (``numa{x}``, ``socket{x}``, any named level)
  as whole containers;
- node-exclusive requests as whole nodes.

Allocation results carry R's ``scheduling`` with ``children`` trimmed to the
allocated ranks. Where flux-core's TreePool is wrong (SPEC §17 T1–T9) this
pool fixes T1–T4 always and T5–T9 under ``strict=True``.
"""

import json
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from . import rformat
from ._rv1core import (
    MODE_CONTAINER,
    MODE_CPU,
    MODE_GPU,
    TREE_STRICT_NOCORE,
    TREE_STRICT_PACK,
    RankMask,
    Topology,
    TreeIndex,
    tree_allocate,
    tree_capacity,
    tree_hint,
    tree_hint_copy,
    tree_hint_touch,
)
from .errors import InfeasibleRequest, InsufficientResources
from .jobspec import ResourceCount, ResourceRequest, _system_fields, _Walk, _walk_jobspec
from .pool import ResourcePool
from .rv1 import Logger, Rv1Pool, _count_arg, _max_arg
from .topotree import Tree, read_children, trim_children

__all__ = ["TreePool", "TreeRv1Pool", "TreeResourceRequest"]

_STRICT_FLAGS = TREE_STRICT_PACK | TREE_STRICT_NOCORE   # T5, T7


class _TreeWalk(_Walk):
    """flux-core's TreePool walk: also notes a node below a slot and an
    exclusive leaf vertex of another type (a container level)."""

    __slots__ = ("slot_above_node", "container_level", "container_count")

    def __init__(self) -> None:
        super().__init__()
        self.slot_above_node = False
        self.container_level: Optional[str] = None
        self.container_count = 1

    def _node_vertex(self) -> None:
        if self.slots is not None:
            self.slot_above_node = True

    def _other_vertex(self, kind: Any, vertex: Mapping, low: int, children: Any) -> None:
        if vertex.get("exclusive", False) and not children:
            self.container_level = kind
            self.container_count = low


class TreeResourceRequest(ResourceRequest):
    """A request as flux-core's TreePool parses it (SPEC §17).

    Beyond :class:`ResourceRequest`: ``container_level`` names the level of an
    exclusive leaf vertex that is not node/slot/core/gpu (``numa{x}``); a
    node-exclusive request needs no core vertex (``slot_size`` is then 0); and a
    slot above the node (``slot[4]/node[2]``) has its slot count divided back by
    the node factor when it divides evenly. ``container_count`` is the count
    of the container vertex (flux-core ignores it; strict pools honour it, T9).
    """

    __slots__ = ("container_level", "container_count")

    def __init__(self, *args: Any, container_level: Optional[str] = None,
                 container_count: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.container_level = container_level
        self.container_count = container_count

    @classmethod
    def from_jobspec(cls, jobspec: Mapping, strict: bool = False) -> "TreeResourceRequest":
        """Parse a jobspec dict as :meth:`ResourceRequest.from_jobspec` does (with
        ``strict``, RFC 14 counts and RFC 31 constraints to the letter), plus the
        forms above; raises ``ValueError``/``TypeError`` with a message for
        anything it cannot use (the messages of flux-core's parser)."""
        walk, system = _walk_jobspec(jobspec, _TreeWalk(), strict)
        if walk.slots is None:
            raise ValueError("Unable to determine slot count")
        container = walk.container_level
        if walk.slot_size is None and container is None and not walk.exclusive:
            raise ValueError("Unable to determine slot size")
        nf = walk.node_factor
        slots = walk.slots
        if walk.nodes is not None:
            node_count = walk.nodes.scaled(nf)
            if walk.slot_above_node and nf > 1 and slots.min % nf == 0:
                slot_count = ResourceCount(
                    slots.min // nf, None if slots.max is None else slots.max // nf
                )
            else:
                slot_count = slots
        else:
            node_count, slot_count = None, slots
        if walk.exclusive and node_count is None and container is None:
            node_count, slot_count = slot_count, ResourceCount(1, 1)
        duration, constraint = _system_fields(system, strict)
        return cls(
            node_count,
            slot_count,
            walk.slot_size if walk.slot_size is not None else 0,
            walk.gpu_per_slot,
            duration,
            constraint,
            walk.exclusive,
            jobspec,
            container_level=container,
            container_count=walk.container_count,
        )


class TreeRv1Pool(Rv1Pool):
    """The R version 1 implementation behind :class:`TreePool` (flux-core's
    ``_TreePoolV1``): an :class:`Rv1Pool` whose placement follows the node
    topology in ``R.scheduling.children``.

    ``R`` is R JSON text or a dict with ``scheduling.children``; ``strict=True``
    fixes SPEC §17 T5–T9 (and §15). ``policy`` is accepted and ignored:
    TreePool has its own candidate order. Raises ``ValueError`` when R has no
    ``scheduling`` or ``children``, or the children are malformed or do not
    describe every rank (:func:`fluxpool.topotree.read_children`), ``TypeError``
    for values of the wrong JSON type.
    """

    _min_slot_size = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._hooked_placement:
            raise TypeError(
                f"{cls.__name__}: TreePool places on its own compiled path; it has no "
                "_sort_candidates/_select_resources hooks to override"
            )

    def __init__(self, R: Any = None, log: Optional[Logger] = None, strict: bool = False,
                 **kwargs: Any) -> None:
        kwargs.pop("policy", None)
        super().__init__(R, log=log, policy="best-fit", strict=strict, **kwargs)
        scheduling = None if self._scheduling is None else json.loads(self._scheduling)
        if scheduling is None and _raw_scheduling(R) is not None:
            scheduling = {}
        topo = self._core.topo
        tree = read_children(scheduling, topo.ranks(), topo.wc, topo.wg, self.strict)
        index = TreeIndex(tree.types, topo, tree.assign)
        if index.untyped():
            raise ValueError(
                f"TreePool: no topology for ranks {index.untyped().encode()}"
            )
        self._tree: Tree = tree
        self._tindex = index
        self._hints: Dict[str, RankMask] = {}
        self._scheduling = json.dumps(tree.scheduling)

    def _init_from_state(self, source: Rv1Pool) -> None:
        self.strict = getattr(source, "strict", False)
        self._tree = source._tree
        topo = self._core.topo
        if source._tindex.topo is topo:     # a copy: same ranks and state
            self._tindex = source._tindex
            self._hints = {name: tree_hint_copy(m) for name, m in source._hints.items()}
        else:                               # an allocation result
            self._tindex = source._tindex.restrict(topo)
            self._hints = {}

    def _hint(self, container: str) -> RankMask:
        """The ranks that may have a free ``container`` (kept conservative:
        placement clears ranks it finds without one, frees mark ranks again)."""
        hint = self._hints.get(container)
        if hint is None:
            hint = tree_hint(self._tindex, self._tree.container_sets(container))
            self._hints[container] = hint
        return hint

    @property
    def name(self) -> str:
        """``"TreePool"``, as flux-core names it."""
        return "TreePool"

    # -- requests ---------------------------------------------------------

    def parse_resource_request(self, jobspec: Mapping) -> TreeResourceRequest:
        """Parse a jobspec with TreePool's parser (container levels, node-exclusive
        without cores, slot above node); strict pools check it to the letter."""
        return TreeResourceRequest.from_jobspec(jobspec, self.strict)

    def _check_feasibility(self, request: Any) -> None:
        """flux-core's hook, as its TreePool decides it: container requests by the
        containers of each allowed rank, node-exclusive ones by node size (strict:
        by the slots a node holds, T6), others as :class:`Rv1Pool`."""
        self._tree_feasibility(request, self._mask(request))

    def _tree_feasibility(self, request: Any, mask: Optional[RankMask]) -> None:
        container = getattr(request, "container_level", None)
        nnodes, nslots = request.nnodes, request.nslots
        strict = self.strict
        if container is not None:
            per_type = self._tindex.type_counts(mask)
            per_slot = self._per_slot(request)
            have = [c // per_slot for c in self._tree.container_counts(container)]
            if nnodes > 0:
                per_node = nslots // nnodes
                eligible = sum(n for n, c in zip(per_type, have) if c >= per_node)
                if eligible < nnodes:
                    raise InfeasibleRequest(
                        f"unsatisfiable request: need {nnodes} node(s) with "
                        f"{per_node} exclusive '{container}' container(s) each, "
                        f"only {eligible} eligible"
                    )
                return
            total = sum(n * c for n, c in zip(per_type, have))
            if total < nslots:
                raise InfeasibleRequest(
                    f"unsatisfiable request: need {nslots} exclusive '{container}' "
                    f"container(s), only {total} available"
                )
            return
        size, gpus = request.slot_size, request.gpu_per_slot
        if request.exclusive:
            need = max(nnodes, 1)
            if strict:
                # T6/T7: a node must hold its share of slots, as placement counts them.
                eligible = tree_capacity(
                    self._tindex, MODE_GPU if gpus > 0 else MODE_CPU,
                    nslots // need, size, gpus, True, mask, None, _STRICT_FLAGS)
            else:
                counts = self._core.topo.shape_counts(mask)
                eligible = sum(n for (c, g), n in counts.items()
                               if c >= size and (gpus == 0 or g >= gpus))
            if eligible < need:
                raise InfeasibleRequest(
                    f"unsatisfiable request: need {need} exclusive node(s), "
                    f"only {eligible} eligible"
                )
            return
        if size == 0 and nnodes == 0:
            raise ValueError("request slot_size must be at least 1 without a container "
                             "or node-exclusive vertex")
        self._feasibility(request, mask)

    def _per_slot(self, request: Any) -> int:
        """Containers one slot takes: the container vertex's count when strict (T9)."""
        if not self.strict:
            return 1
        return _count_arg(getattr(request, "container_count", 1), "container count", 1)

    # -- allocation -------------------------------------------------------

    def _place(self, request: Any, mask: Optional[RankMask], size: int,
               gpus: int) -> Tuple[Topology, int]:
        """Place ``request`` the way flux-core's TreePool does (see the module
        docstring) on the compiled core; ``alloc`` calls it after checking the
        request, and records the result."""
        container = getattr(request, "container_level", None)
        exclusive = bool(request.exclusive)
        sets = None
        if container is not None:
            mode = MODE_CONTAINER
            sets = self._tree.container_sets(container)
        elif gpus > 0:
            mode = MODE_GPU
        else:
            mode = MODE_CPU
        nnodes = _count_arg(request.nnodes, "nnodes", 0)
        placed = tree_allocate(
            self._core, self._tindex, mode,
            nnodes,
            _max_arg(request.nnodes_max, "nnodes_max") if nnodes > 0 else -1,
            _count_arg(request.nslots, "nslots", 0),
            _max_arg(request.nslots_max, "nslots_max"),
            size, gpus, exclusive, mask, sets,
            self.strict and exclusive,      # T8: node{x}/slot/numa{x} claims the node
            _STRICT_FLAGS if self.strict else 0,
            self._per_slot(request),
            self._hint(container) if container is not None and mask is None else None,
        )
        if placed is None:
            self._check_feasibility(request)
            raise InsufficientResources("insufficient resources")
        return placed

    def remove_ranks(self, ranks: Any) -> None:
        """Remove ranks from the pool; its topology children lose them too (T3)."""
        super().remove_ranks(ranks)
        self._tindex = self._tindex.restrict(self._core.topo)
        self._hints = {}

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources, as :meth:`Rv1Pool.free` does."""
        touched: Optional[Topology] = None
        if self._hints:
            record = self._jobs.get(jobid)
            if record is not None:
                touched = record[1]
            elif R is not None:
                touched = self._allocation_of(R)[0]
        super().free(jobid, R, final)
        if touched is not None:
            for name, hint in self._hints.items():
                tree_hint_touch(hint, self._tindex, self._tree.container_sets(name), touched)

    # -- R ----------------------------------------------------------------

    @property
    def scheduling(self) -> Any:
        """R's ``scheduling`` with ``children`` cut to this pool's ranks (a fresh
        copy every time, T3/T4), or None."""
        if self._scheduling is None:
            return None
        value = json.loads(self._scheduling)
        if isinstance(value, dict):
            value = trim_children(value, self._core.topo.ranks())
        return value

    @scheduling.setter
    def scheduling(self, value: Any) -> None:
        self._scheduling = json.dumps(value) if value else None

    def to_dict(self) -> Dict[str, Any]:
        """R v1 as a new dict, ``scheduling.children`` cut to this pool's ranks."""
        R = super().to_dict()
        if "scheduling" in R:
            R["scheduling"] = self.scheduling
        return R


def _raw_scheduling(R: Any) -> Any:
    if isinstance(R, str):
        try:
            R = json.loads(R)
        except ValueError:
            return None
    return R.get("scheduling") if isinstance(R, Mapping) else None


class TreePool(ResourcePool):
    """flux-core's ``flux.resource.TreePool`` on fluxpool's core: a
    :class:`ResourcePool` whose implementation is :class:`TreeRv1Pool`.

    ``TreePool(R, log=None, strict=False)`` with R as JSON text, a dict or a
    ``TreeRv1Pool``. Raises ``ValueError`` for an R version other than 1 and
    everything :class:`TreeRv1Pool` raises.
    """

    _impl_map = {1: TreeRv1Pool}

    def __init__(self, R: Any = None, log: Optional[Logger] = None, **kwargs: Any) -> None:
        if isinstance(R, Rv1Pool):
            super().__init__(R)
            return
        if isinstance(R, str):
            R = rformat.parse_text(R)
        version = R.get("version", 1) if isinstance(R, Mapping) else 1
        impl = self._impl_map.get(version) if type(version) is int else None
        if impl is None:
            raise ValueError(f"R version {version} not supported by TreePool")
        super().__init__(impl(R, log=log, **kwargs))
