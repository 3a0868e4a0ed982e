"""``Rv1Pool``: the R version 1 resource pool (SPEC §4.2–§10).

The pool keeps its hardware and allocation state in the compiled core
(``RankPool`` over a ``Topology``) and, here, what the Flux formats and the
API need around it: host names, properties, times, the job table and the
generation counter. Every method validates before it mutates, so a call that
raises leaves the pool exactly as it was.
"""

import json
import syslog
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import constraint as _constraint
from . import rformat
from ._rv1core import BEST_FIT, FIRST_FIT, WORST_FIT, IdRanges, RankMask, RankPool, Topology
from .errors import InfeasibleRequest, InsufficientResources
from .hostlist import Hostlist
from .idset import IDset, as_idranges
from .jobspec import ResourceRequest
from .resourceset import ResourceSet

__all__ = ["Rv1Pool", "POLICIES"]

POLICIES = {"first-fit": FIRST_FIT, "worst-fit": WORST_FIT, "best-fit": BEST_FIT}
_MAX_ARG = 2**62           # request numbers are clamped here before reaching C
_CONSTRAINT_CACHE = 256    # compiled constraints kept per topology

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

Logger = Callable[[int, str], Any]
JobRecord = Tuple[Any, Topology]  # (end time, allocated resources)


def f58(jobid: Any) -> str:
    """Flux's base58 job id form (``ƒ`` + base58), or ``str(jobid)`` for non-ints."""
    if not isinstance(jobid, int) or jobid < 0:
        return str(jobid)
    digits = ""
    n = jobid
    while True:
        n, r = divmod(n, 58)
        digits = _B58[r] + digits
        if n == 0:
            return "ƒ" + digits


def _count_arg(value: Any, what: str, minimum: int) -> int:
    if type(value) is int and minimum <= value <= _MAX_ARG:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"request {what} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"request {what} must be at least {minimum}, got {value}")
    return min(value, _MAX_ARG)


def _max_arg(value: Any, what: str) -> int:
    return -1 if value is None else _count_arg(value, what, 0)


def _discrete_check(request: Any) -> None:
    for what, count in (("node", request.node_count), ("slot", request.slot_count)):
        if count is not None and count._values is not None:
            raise InfeasibleRequest(
                f"{what} count specifies discrete valid values that this scheduler "
                "does not support; use a simple min-max range instead"
            )


def _ints_repr(ranks: IdRanges, brackets: str) -> str:
    return brackets[0] + ", ".join(str(r) for r in ranks) + brackets[1]


class Rv1Pool:
    """A pool of ranks with cores and GPUs, built from R version 1.

    ``R`` is None (empty), R JSON text or a dict; ``policy`` chooses placement:
    ``"first-fit"`` (default), ``"worst-fit"`` (flux-core's placement) or
    ``"best-fit"``. Unknown keyword arguments are ignored, as flux's schedulers
    forward their ``pool_kwargs``. ``log(level, message)`` is called after
    allocs, frees and hellos when given.
    """

    version = 1
    known_options = frozenset({"policy"})
    InsufficientResources = InsufficientResources
    InfeasibleRequest = InfeasibleRequest

    def __init__(self, R: Any = None, log: Optional[Logger] = None,
                 policy: str = "first-fit", **kwargs: Any) -> None:
        if policy not in POLICIES:
            raise ValueError(
                f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}"
            )
        if R is None:
            parts = rformat.parse({"version": 1})
        elif isinstance(R, str):
            decoded = rformat.parse_text(R)
            if not isinstance(decoded, Mapping):
                raise TypeError(f"R must be a JSON object, got {type(decoded).__name__}")
            parts = rformat.parse(decoded)
        elif isinstance(R, Mapping):
            parts = rformat.parse(R)
        else:
            raise TypeError(f"Rv1Pool cannot be instantiated from {type(R)}")
        self._core = RankPool(parts.topo)
        self._names = parts.names
        self._has_nodelist = parts.has_nodelist
        self._properties = parts.properties
        self._starttime = parts.starttime
        self._expiration = parts.expiration
        self._nslots = parts.nslots
        self._scheduling = parts.scheduling
        self._jobs: Dict[Any, JobRecord] = {}
        self.generation = 0
        self.policy = policy
        self.log = log

    def _init_from_state(self, source: "Rv1Pool") -> None:
        """Hook for subclasses: copy extra attributes from ``source`` into a new
        instance made by ``copy()`` or ``alloc()`` (which bypass ``__init__``)."""

    def _derived(self, core: RankPool) -> "Rv1Pool":
        """A new instance of this class sharing the immutable parts of ``self``."""
        new = object.__new__(type(self))
        new._core = core
        new._names = self._names
        new._has_nodelist = self._has_nodelist
        new._properties = self._properties
        new._starttime = self._starttime
        new._expiration = self._expiration
        new._nslots = 0
        new._scheduling = self._scheduling
        new._jobs = {}
        new.generation = 0
        new.policy = self.policy
        new.log = None
        new._init_from_state(self)
        return new

    @property
    def name(self) -> str:
        """The implementation's name: the class name."""
        return type(self).__name__

    # -- requests ---------------------------------------------------------

    def parse_resource_request(self, jobspec: Mapping) -> ResourceRequest:
        """Parse a jobspec into a request (SPEC §3.2); the jobspec is not changed."""
        return ResourceRequest.from_jobspec(jobspec)

    def _mask(self, request: Any) -> Optional[RankMask]:
        """The compiled constraint of ``request`` for this pool (None: no constraint)."""
        expr = request.constraint
        if expr is None:
            return None
        topo = self._core.topo
        cached = getattr(request, "_compiled", None)
        if cached is not None and cached[0] is expr and cached[1] is topo:
            return cached[2]
        if isinstance(expr, str):
            key = expr
        else:
            try:
                key = json.dumps(expr, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"constraint is not JSON: {exc}") from None
            except RecursionError:
                raise ValueError("constraint is nested too deeply") from None
        cache = topo.cache.setdefault("constraints", OrderedDict())
        mask = cache.get(key)
        if mask is None:
            mask = _constraint.compile_mask(expr, topo, self._names, self._properties)
            cache[key] = mask
            if len(cache) > _CONSTRAINT_CACHE:
                cache.popitem(last=False)
        if isinstance(request, ResourceRequest):
            request._compiled = (expr, topo, mask)
        return mask

    def check_feasibility(self, request: Any) -> None:
        """Raise ``InfeasibleRequest`` if the request can never fit this pool's
        total capacity (all ranks, up or down, ignoring allocations)."""
        _discrete_check(request)
        self._feasibility(request, self._mask(request))

    def _feasibility(self, request: Any, mask: Optional[RankMask]) -> None:
        counts = self._core.topo.shape_counts(mask)
        nnodes, nslots = request.nnodes, request.nslots
        size, gpus = request.slot_size, request.gpu_per_slot
        if request.exclusive:
            need = max(nnodes, 1)
            per_node = 1 if self.policy == "worst-fit" else nslots // need
            eligible = sum(n for (c, g), n in counts.items()
                           if c >= per_node * size and (gpus == 0 or g >= per_node * gpus))
            if eligible < need:
                raise InfeasibleRequest(
                    f"unsatisfiable request: need {need} exclusive node(s), only {eligible} eligible"
                )
            return
        if nnodes > 0:
            per_node = nslots // nnodes
            cores, gpn = per_node * size, per_node * gpus
            eligible = sum(n for (c, g), n in counts.items() if c >= cores and g >= gpn)
            if eligible < nnodes:
                raise InfeasibleRequest(
                    f"unsatisfiable request: need {nnodes} node(s) with {cores} cores"
                    + (f" and {gpn} GPUs" if gpn else "")
                    + f" each, only {eligible} eligible"
                )
            return
        slots = sum(c // size * n for (c, g), n in counts.items())
        if slots < nslots:
            total = sum(c * n for (c, g), n in counts.items())
            raise InfeasibleRequest(
                f"unsatisfiable request: need {nslots} slot(s) of {size} core(s), only "
                f"{slots} such slot(s) available (total cores: {total})"
            )
        if gpus > 0:
            slots = sum(min(c // size, g // gpus) * n for (c, g), n in counts.items())
            if slots < nslots:
                total = sum(g * n for (c, g), n in counts.items())
                raise InfeasibleRequest(
                    f"unsatisfiable request: need {nslots} slot(s) with {gpus} GPU(s) each, "
                    f"only {slots} available (total GPUs: {total})"
                )

    def alloc(self, jobid: Any, request: Any) -> "Rv1Pool":
        """Allocate ``request`` for ``jobid`` and return the allocated resources
        as a new pool (SPEC §5). Raises ``InsufficientResources`` (not now),
        ``InfeasibleRequest`` (never) or ``ValueError`` (malformed request);
        the pool is unchanged when it raises."""
        _discrete_check(request)
        mask = self._mask(request)
        size = _count_arg(request.slot_size, "slot_size", 1)
        gpus = _count_arg(request.gpu_per_slot, "gpu_per_slot", 0)
        duration = request.duration
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            raise ValueError(f"request duration must be a number, got {duration!r}")
        placed = self._core.allocate(
            POLICIES[self.policy],
            _count_arg(request.nnodes, "nnodes", 0),
            _max_arg(request.nnodes_max, "nnodes_max"),
            _count_arg(request.nslots, "nslots", 0),
            _max_arg(request.nslots_max, "nslots_max"),
            size,
            gpus,
            bool(request.exclusive),
            mask,
        )
        if placed is None:
            self._feasibility(request, mask)
            raise InsufficientResources("insufficient resources")
        return self._record_alloc(jobid, duration, placed)

    def _record_alloc(self, jobid: Any, duration: float,
                      placed: Tuple[Topology, int]) -> "Rv1Pool":
        """Record a placement ``(allocation, nslots)`` for ``jobid`` (end time from
        ``duration`` seconds, else the pool's expiration) and return it as a pool."""
        topo, nslots = placed
        if duration > 0.0:
            end = time.time() + duration
        elif self._expiration > 0.0:
            end = self._expiration
        else:
            end = 0.0
        result = self._derived(RankPool(topo))
        result._has_nodelist = True
        result._properties = (
            rformat.properties_within(self._properties, topo.ranks(), local=False)
            if self._properties else {}
        )
        result._starttime = 0.0
        result._expiration = 0.0
        result._nslots = nslots
        result.log = self.log
        self._jobs[jobid] = (end, topo)
        self.generation += 1
        if self.log is not None:
            self.log(syslog.LOG_DEBUG, f"alloc: {f58(jobid)}: {rformat.dumps(topo)}")
        return result

    # -- jobs -------------------------------------------------------------

    def _allocation_of(self, R: Any) -> Tuple[Topology, float]:
        """The ranks/cores/GPUs (and expiration) of whatever R form was given."""
        if type(R) is dict:
            return rformat.parse_allocation(R)
        if isinstance(R, Rv1Pool):
            return R._core.topo, R._expiration
        if isinstance(R, ResourceSet):
            return R.topology, R.expiration
        if isinstance(R, str):
            R = rformat.parse_text(R)
        elif not isinstance(R, Mapping):
            to_dict = getattr(R, "to_dict", None)
            if not callable(to_dict):
                raise TypeError(f"cannot read R from {type(R).__name__}")
            R = to_dict()
        if not isinstance(R, Mapping):
            raise TypeError(f"R must be a JSON object, got {type(R).__name__}")
        return rformat.parse_allocation(R)

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources (SPEC §7): all of them (no ``R``, or
        ``final``), or the ranks of ``R`` (a partial free)."""
        given = None if R is None else self._allocation_of(R)[0]
        record = self._jobs.get(jobid)
        if given is not None and record is not None:
            held = record[1]
            extra = given.ranks_not_in(held)
            if extra:
                raise ValueError(
                    f"free: {f58(jobid)}: R contains ranks not in job allocation: "
                    f"{_ints_repr(extra, '{}')}"
                )
            if final and not given.same_as(held):
                raise ValueError(
                    f"free: {f58(jobid)}: final R mismatch: got {rformat.dumps(given)}, "
                    f"expected {rformat.dumps(held)}"
                )
        if final or given is None:
            if record is None:
                return
            del self._jobs[jobid]
            freed = record[1]
            self._core.release(freed)
        else:
            freed = given
            self._core.release(given)
            if record is not None:
                self._jobs[jobid] = (record[0], record[1].without(given.ranks()))
        self.generation += 1
        if self.log is not None:
            self.log(
                syslog.LOG_DEBUG,
                f"free: {f58(jobid)}: {rformat.dumps(freed)}" + (" (final)" if final else ""),
            )

    def register_alloc(self, jobid: Any, R: Any) -> None:
        """Record a running job's allocation on reconnect (the scheduler's hello)."""
        topo, expiration = self._allocation_of(R)
        missing = topo.ranks_not_in(self._core.topo)
        if missing:
            raise ValueError(
                f"allocation contains ranks not in resource pool: {_ints_repr(missing, '[]')}"
            )
        self._core.occupy(topo)
        self._jobs[jobid] = (expiration, topo)
        self.generation += 1
        if self.log is not None:
            self.log(syslog.LOG_INFO, f"hello: {f58(jobid)}: {rformat.dumps(topo)}")

    def update_expiration(self, jobid: Any, expiration: float) -> None:
        """Set a recorded job's end time; an unknown job is ignored."""
        record = self._jobs.get(jobid)
        if record is not None:
            self._jobs[jobid] = (expiration, record[1])
            self.generation += 1

    def job_end_times(self) -> List[Tuple[Any, Any]]:
        """``(jobid, end_time)`` of every recorded job, in first-recorded order."""
        return [(jobid, record[0]) for jobid, record in self._jobs.items()]

    # -- availability -----------------------------------------------------

    def mark_up(self, ids: Any) -> None:
        """Let ``ids`` (``"all"`` or rank ids) receive new allocations."""
        self._set_up(ids, True)

    def mark_down(self, ids: Any) -> None:
        """Stop ``ids`` (``"all"`` or rank ids) from receiving new allocations."""
        self._set_up(ids, False)

    def _set_up(self, ids: Any, up: bool) -> None:
        # Only a str can be "all"; other id objects (flux's IDset) may not compare with str.
        ranks = None if isinstance(ids, str) and ids == "all" else as_idranges(ids)
        self._core.set_up(ranks, up)
        self.generation += 1

    def remove_ranks(self, ranks: Any) -> None:
        """Remove ranks from the pool entirely (topology, state and properties)."""
        gone = as_idranges(ranks)
        self._core = self._core.without(gone)
        self._properties = {name: members.difference(gone)
                            for name, members in self._properties.items()}
        self.generation += 1

    # -- copies and views -------------------------------------------------

    def copy(self) -> "Rv1Pool":
        """An independent copy with the same state and job records (no logger,
        no ``nslots``); array copies, never a re-parse."""
        new = self._derived(self._core.copy())
        new._jobs = dict(self._jobs)
        new.generation = self.generation
        return new

    def to_resource_set(self) -> ResourceSet:
        """A view of the whole topology, without allocation or up/down state."""
        return ResourceSet(self._core.topo, self._names, self._has_nodelist,
                           self._properties, self._starttime, self._expiration)

    def copy_allocated(self) -> ResourceSet:
        """A view of the allocated cores and GPUs of each rank that has any."""
        topo = self._core.allocated()
        return ResourceSet(topo, self._names, False,
                           rformat.properties_within(self._properties, topo.ranks(), local=True),
                           self._starttime, self._expiration)

    def copy_down(self) -> ResourceSet:
        """A view of the down ranks with all their cores and GPUs."""
        return ResourceSet(self._core.down(), self._names, False, {},
                           self._starttime, self._expiration)

    # -- R and summaries --------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """R v1 as a new dict (SPEC §2.4)."""
        return rformat.encode(
            self._core.topo,
            self._names if self._has_nodelist else None,
            self._properties,
            self._starttime,
            self._expiration,
            self._nslots,
            self._scheduling,
        )

    def encode(self) -> str:
        """R v1 as JSON text."""
        return json.dumps(self.to_dict())

    def dumps(self) -> str:
        """The one-line summary of the whole topology (SPEC §2.5)."""
        return rformat.dumps(self._core.topo)

    def __str__(self) -> str:
        return self.dumps()

    def count(self, name: str) -> int:
        """Number of ``"core"`` or ``"gpu"`` resources in the topology; 0 otherwise."""
        if name == "core":
            return self._core.topo.ncores
        if name == "gpu":
            return self._core.topo.ngpus
        return 0

    def ranks(self) -> IDset:
        """The ranks of the pool."""
        return IDset(self._core.topo.ranks())

    def nodelist(self) -> Hostlist:
        """Host names of the ranks, in rank order."""
        return Hostlist(self._names.names(self._core.topo.ranks()))

    def nnodes(self) -> int:
        """Number of ranks."""
        return len(self._core.topo)

    # -- times and scheduling ----------------------------------------------

    @property
    def expiration(self) -> float:
        """The pool's expiration (seconds since the epoch; 0.0 = none)."""
        return self._expiration

    @expiration.setter
    def expiration(self, value: float) -> None:
        self._expiration = value

    def set_expiration(self, expiration: float) -> None:
        """Set the expiration (does not count as a mutation for ``generation``)."""
        self._expiration = expiration

    def get_expiration(self) -> float:
        """The expiration."""
        return self._expiration

    def set_starttime(self, starttime: float) -> None:
        """Set the start time."""
        self._starttime = starttime

    def get_starttime(self) -> float:
        """The start time."""
        return self._starttime

    @property
    def scheduling(self) -> Any:
        """R's opaque ``scheduling`` value (a fresh copy), or None."""
        return None if self._scheduling is None else json.loads(self._scheduling)

    @scheduling.setter
    def scheduling(self, value: Any) -> None:
        self._scheduling = json.dumps(value) if value else None
