"""``Rv1Pool``: the R version 1 resource pool.

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
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

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
    """Flux's base58 job id form (``"ƒ"`` followed by base58 of the id), as Flux's
    log messages show job ids; ``str(jobid)`` for anything but a non-negative int."""
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


def _request_counts(request: Any) -> Tuple[int, int, int, int]:
    """``(nnodes, nnodes_max, nslots, nslots_max)`` of ``request`` as the compiled
    core takes them: ints from 0 to ``_MAX_ARG``, -1 for an unbounded maximum;
    ``ValueError`` names the first bad one, in that order. A plain
    :class:`ResourceRequest` whose counts are plain ints in range is read
    without its properties (the same arithmetic, no calls)."""
    if type(request) is ResourceRequest:
        node_count, slot_count = request.node_count, request.slot_count
        nmin, nmax = (0, 0) if node_count is None else (node_count.min, node_count.max)
        smin, smax = slot_count.min, slot_count.max
        if (type(nmin) is int and type(smin) is int and 0 <= nmin and 0 <= smin
                and (nmax is None or type(nmax) is int and nmax >= 0)
                and (smax is None or type(smax) is int and smax >= 0)):
            if node_count is None:
                nslots, nslots_max = smin, smax
            else:
                nslots = smin * nmin
                nslots_max = None if nmax is None or smax is None else smax * nmax
            if (nmin <= _MAX_ARG and nslots <= _MAX_ARG and (nmax is None or nmax <= _MAX_ARG)
                    and (nslots_max is None or nslots_max <= _MAX_ARG)):
                return (nmin, -1 if nmax is None else nmax, nslots, -1 if nslots_max is None else nslots_max)
    return (_count_arg(request.nnodes, "nnodes", 0), _max_arg(request.nnodes_max, "nnodes_max"),
            _count_arg(request.nslots, "nslots", 0), _max_arg(request.nslots_max, "nslots_max"))


def _discrete_check(request: Any) -> None:
    node_count, slot_count = request.node_count, request.slot_count
    if node_count is not None and node_count._values is not None:
        what = "node"
    elif slot_count is not None and slot_count._values is not None:
        what = "slot"
    else:
        return
    raise InfeasibleRequest(
        f"{what} count specifies discrete valid values that this scheduler "
        "does not support; use a simple min-max range instead"
    )


def _ints_repr(ranks: IdRanges, brackets: str) -> str:
    return brackets[0] + ", ".join(str(r) for r in ranks) + brackets[1]


# What alloc() and check_feasibility() read of a request (flux-core's shape).
_REQUEST_FIELDS = ("node_count", "slot_count", "slot_size", "gpu_per_slot", "duration",
                   "constraint", "exclusive", "nnodes", "nnodes_max", "nslots", "nslots_max")


def _check_request(request: Any, method: str) -> None:
    """``TypeError`` unless ``request`` looks like a parsed request."""
    if isinstance(request, ResourceRequest):
        return
    if isinstance(request, (Mapping, str)) or any(
            not hasattr(request, field) for field in _REQUEST_FIELDS):
        raise TypeError(
            f"{method} takes a request from parse_resource_request(jobspec), not a "
            f"{type(request).__name__}; parse the jobspec first"
        )


def _check_jobid(jobid: Any) -> None:
    """``TypeError`` unless ``jobid`` can key the job table."""
    try:
        hash(jobid)
    except TypeError:
        raise TypeError(f"jobid must be hashable (an int), got {type(jobid).__name__}") from None


def _float(value: Any, what: str) -> float:
    """``float(value)`` as flux-core stores times (SPEC M23), with a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{what} must be a number (seconds since the epoch), got {value!r}")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{what} must be a number (seconds since the epoch), got {value!r}") from None


class CandidateInfo(Mapping):
    """What flux-core's placement hooks read of a candidate rank: the ``info`` of a
    ``(rank, info, free_cores, free_gpus)`` candidate given to ``_sort_candidates``
    and ``_select_resources``.

    A read-only mapping with ``"hostname"`` (str), ``"cores"`` and ``"gpus"`` (all
    the rank's ids, frozensets of ints), ``"up"`` (always True: only up ranks are
    candidates), ``"allocated_cores"`` and ``"allocated_gpus"`` (frozensets), the
    keys flux-core's ``Rv1Pool`` keeps per rank. Values are computed when read;
    an unknown key raises ``KeyError``.
    """

    __slots__ = ("_pool", "_rank", "_pos", "_free_cores", "_free_gpus")
    _KEYS = ("hostname", "cores", "gpus", "up", "allocated_cores", "allocated_gpus")

    def __init__(self, pool: "Rv1Pool", rank: int, pos: int,
                 free_cores: FrozenSet[int], free_gpus: FrozenSet[int]) -> None:
        self._pool = pool
        self._rank = rank
        self._pos = pos
        self._free_cores = free_cores
        self._free_gpus = free_gpus

    def __getitem__(self, key: str) -> Any:
        if key == "hostname":
            return self._pool._names.name(self._rank)
        if key == "up":
            return True
        if key in ("cores", "gpus", "allocated_cores", "allocated_gpus"):
            cores, gpus = self._pool._core.topo.ids_at(self._pos)
            if key == "cores":
                return cores
            if key == "gpus":
                return gpus
            return (cores - self._free_cores) if key == "allocated_cores" else (
                gpus - self._free_gpus)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)

    def __repr__(self) -> str:
        return f"CandidateInfo(rank={self._rank})"


_HOOKS = ("_sort_candidates", "_select_resources")


class Rv1Pool:
    """The R version 1 resource pool: flux-core's ``flux.resource.Rv1Pool``, compiled.

    Holds ranks (nodes) with their cores and GPUs, which ranks are up, what is
    allocated to which job and each job's end time. All ranks start up, nothing is
    allocated, :attr:`generation` is 0. Usually reached as ``ResourcePool(R).impl``.

    Args:
        R: ``None`` (an empty pool), R version 1 (RFC 20) JSON text, or a
            ``Mapping``. The pool never keeps or changes the caller's dict.
        log: Optional callable ``log(level, message)`` with syslog levels, called
            where flux-core's pool logs: after a successful alloc
            (``LOG_DEBUG``, ``"alloc: <jobid f58>: <dumps>"``), after a free
            (``LOG_DEBUG``, ``"free: ..."``, ``" (final)"`` appended for a final
            free) and after register_alloc (``LOG_INFO``, ``"hello: ..."``).
            Copies never log; without a logger no message is formatted.
        policy: ``"first-fit"`` (default: ascending rank), ``"worst-fit"``
            (flux-core's placement: most free cores, then most free GPUs) or
            ``"best-fit"`` (fewest free cores that fit, then fewest free GPUs).
            Ties go to the lowest rank; within a rank the lowest free ids are taken.
        strict: ``True`` refuses, with a ``ValueError`` naming the input, what
            Flux's C code refuses and what flux-core's pool accepts only for
            compatibility (a reused jobid, a free of an unknown job, a partial
            free of part of a rank, an overlapping register_alloc, malformed R
            fields, counts and constraints RFC 14 and RFC 31 do not allow).
            Default ``False``: flux-core's behaviour.
        **kwargs: Accepted and ignored (flux-core's schedulers forward their
            ``pool_kwargs`` and warn about names not in :attr:`known_options`).

    Raises:
        ValueError: An unknown policy; malformed JSON; an R version other than 1;
            malformed R content (an idset or hostlist, a rank in two ``R_lite``
            entries, a bound exceeded; in strict mode also a nodelist that does
            not name every rank, a bad property name, a property naming a rank R
            lacks).
        TypeError: ``R`` of another type, JSON text that is not an object, a
            value of the wrong type inside R, or ``strict`` not a bool.
        KeyError: R without ``version``, or an ``R_lite`` entry without
            ``rank`` (as in flux-core).

    Subclasses may override flux-core's hooks ``_sort_candidates``,
    ``_select_resources``, ``_check_feasibility``, ``parse_resource_request``
    and ``_init_from_state`` with flux-core's argument and return shapes; a class
    that overrides none places through the compiled core only.

    Attributes:
        policy: The placement policy (kept by copies and allocation results).
        strict: Whether the pool runs in strict mode.
        generation: The mutation counter (see :attr:`ResourcePool.generation`).
        log: The logger, or ``None``.
    """

    version = 1
    known_options = frozenset({"policy", "strict"})
    InsufficientResources = InsufficientResources
    InfeasibleRequest = InfeasibleRequest
    #: True when a subclass overrides ``_sort_candidates`` or ``_select_resources``:
    #: then ``alloc`` builds flux-core's candidate list and calls them.
    _hooked_placement = False
    #: True when a subclass overrides ``_init_from_state`` (``copy`` and ``alloc`` call it).
    _inits_state = False
    #: The smallest ``slot_size`` a request may have (TreePool's requests may have 0).
    _min_slot_size = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._hooked_placement = any(
            getattr(cls, name) is not getattr(Rv1Pool, name) for name in _HOOKS)
        cls._inits_state = cls._init_from_state is not Rv1Pool._init_from_state

    def __init__(self, R: Any = None, log: Optional[Logger] = None,
                 policy: str = "first-fit", strict: bool = False, **kwargs: Any) -> None:
        if not isinstance(policy, str) or policy not in POLICIES:
            raise ValueError(
                f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}"
            )
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be True or False, got {strict!r}")
        if R is None:
            parts = rformat.parse({"version": 1})
        elif isinstance(R, str):
            decoded = rformat.parse_text(R)
            if not isinstance(decoded, Mapping):
                raise TypeError(f"R must be a JSON object, got {type(decoded).__name__}")
            parts = rformat.parse(decoded, strict)
        elif isinstance(R, Mapping):
            parts = rformat.parse(R, strict)
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
        self.strict = strict
        self.log = log

    def _init_from_state(self, source: "Rv1Pool") -> None:
        """flux-core's hook for subclasses: copy extra attributes from ``source``
        (the pool being copied or allocated from) into ``self``, a new instance made
        by ``copy()`` or ``alloc()`` without calling ``__init__``. The default does
        nothing."""

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
        new.strict = self.strict
        new.log = None
        if self._inits_state:
            new._init_from_state(self)
        return new

    @property
    def name(self) -> str:
        """The class name (``"Rv1Pool"`` for this class); flux-core's scheduler shows
        it as ``pool-class=`` in its ready message."""
        return type(self).__name__

    # -- requests ---------------------------------------------------------

    def parse_resource_request(self, jobspec: Mapping) -> ResourceRequest:
        """Parse a jobspec into a :class:`ResourceRequest`, as flux-core's
        schedulers do once per job; the jobspec is not changed.

        See :meth:`ResourceRequest.from_jobspec` for how the resource tree is read.
        In strict mode RFC 14 counts and RFC 31 constraints are checked to the
        letter. A subclass may override it (flux-core's hook).

        Args:
            jobspec: A jobspec dict (RFC 14/25, version 1 or later).

        Returns:
            The request.

        Raises:
            ValueError: Anything the pool cannot use, with a message: no
                resources, no slot or core vertex, a bad count, a duration that is
                not a number, a malformed constraint, nesting deeper than 100.
                flux-core's schedulers deny the job with ``"cannot parse jobspec:
                <message>"``.
            TypeError: ``jobspec`` or a part of it has the wrong type.
        """
        return ResourceRequest.from_jobspec(jobspec, self.strict)

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
                key = json.dumps(expr, sort_keys=True, default=list)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"constraint is not JSON: {exc}") from None
            except RecursionError:
                raise ValueError("constraint is nested too deeply") from None
        cache = topo.cache.setdefault(
            "strict constraints" if self.strict else "constraints", OrderedDict())
        mask = cache.get(key)
        if mask is None:
            mask = _constraint.compile_mask(expr, topo, self._names, self._properties,
                                            self.strict)
            cache[key] = mask
            if len(cache) > _CONSTRAINT_CACHE:
                cache.popitem(last=False)
        if isinstance(request, ResourceRequest):
            request._compiled = (expr, topo, mask)
        return mask

    def check_feasibility(self, request: Any) -> None:
        """Check that ``request`` could ever be met by this pool's total capacity:
        all ranks allowed by its constraint, up or down, ignoring allocations.
        Changes nothing. The capacity rule is ``_check_feasibility``, which
        subclasses may extend (flux-core's hook).

        Args:
            request: A :class:`ResourceRequest` from :meth:`parse_resource_request`
                (or an object with its attributes).

        Returns:
            ``None`` when the request is feasible.

        Raises:
            InfeasibleRequest: It never fits, with a message saying what was
                needed, e.g. ``"unsatisfiable request: need 5 node(s) with 1 cores
                each, only 4 eligible"``; also for node or slot counts with
                discrete values. flux-core's scheduler denies the job.
            ValueError: The constraint is malformed (checked whatever the pool's
                state; flux-core notices only while testing a rank).
            TypeError: ``request`` is not a parsed request (e.g. a jobspec dict).
        """
        _check_request(request, "check_feasibility")
        _discrete_check(request)
        self._mask(request)
        self._check_feasibility(request)

    def _check_feasibility(self, request: Any) -> None:
        """flux-core's hook: raise ``InfeasibleRequest`` when ``request`` can never
        fit this pool's total capacity. Called by :meth:`check_feasibility` and
        whenever an allocation finds too little (so a request that can never fit
        is reported as infeasible rather than insufficient)."""
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
        """Allocate ``request`` for ``jobid`` and return the allocated resources.

        Candidates are the ranks that are up, allowed by the constraint and have
        room for the request (an exclusive request needs every core of a rank
        free; under first-fit and best-fit the rank must also be big enough for
        its slots, worst-fit takes any fully free rank, as flux-core does). They
        are tried in the order of :attr:`policy`. A node request takes
        ``nslots // nnodes`` slots on each of up to ``nnodes_max`` ranks; a slot
        request takes as many whole slots per rank as fit, up to ``nslots_max``.
        Within a rank the lowest-numbered free cores and GPUs are taken. A range
        takes as much as is free, up to its maximum; its minimum decides success.

        The job is recorded with an end time of ``time.time() + duration``
        (wall-clock seconds since the epoch, as in flux-core) when the duration
        is positive, else the pool's expiration when set, else 0.0; a simulator
        sets its own with :meth:`update_expiration`. Outside strict mode, a jobid
        that is still recorded has its record replaced (flux-core behaviour).
        :attr:`generation` goes up by one.

        Args:
            jobid: Any hashable, normally the Flux job id (an int).
            request: A :class:`ResourceRequest` from :meth:`parse_resource_request`.

        Returns:
            A new pool of this class holding only the allocated ranks, each with
            exactly its allocated cores and GPUs: its ``to_dict()`` always carries
            a ``nodelist`` (``rank<N>`` names when the pool has none), the pool's
            properties on those ranks (without ``+`` names), ``nslots`` (slots
            allocated), ``starttime`` and ``expiration`` 0.0 (schedulers stamp
            them) and the pool's ``scheduling``.

        Raises:
            InsufficientResources: Not now: too little is free (``"insufficient
                resources"``).
            InfeasibleRequest: Never: the pool's total capacity cannot meet it
                (see :meth:`check_feasibility`), or discrete count values.
            ValueError: A malformed constraint or request field; in strict mode,
                a jobid that still holds an allocation.
            TypeError: ``request`` is not a parsed request, or ``jobid`` is not
                hashable.

        The pool is unchanged when it raises.
        """
        if type(request) is not ResourceRequest:
            _check_request(request, "alloc")
        if type(jobid) is not int:
            _check_jobid(jobid)
        if self.strict and jobid in self._jobs:
            raise ValueError(
                f"alloc: {f58(jobid)}: the job already holds an allocation "
                f"({rformat.dumps(self._jobs[jobid][1])}); free it first"
            )
        _discrete_check(request)
        mask = None if request.constraint is None else self._mask(request)
        # the checks below pass plain ints and floats without a call
        size, gpus, duration = request.slot_size, request.gpu_per_slot, request.duration
        if type(size) is not int or not self._min_slot_size <= size <= _MAX_ARG:
            size = _count_arg(size, "slot_size", self._min_slot_size)
        if type(gpus) is not int or not 0 <= gpus <= _MAX_ARG:
            gpus = _count_arg(gpus, "gpu_per_slot", 0)
        if type(duration) is not float and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
            raise ValueError(f"request duration must be a number, got {duration!r}")
        if self._hooked_placement:
            topo, nslots = self._place_with_hooks(request, mask, size, gpus)
        else:
            topo, nslots = self._place(request, mask, size, gpus)
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

    def _place(self, request: Any, mask: Optional[RankMask], size: int,
               gpus: int) -> Tuple[Topology, int]:
        """Place ``request`` on the compiled core under :attr:`policy` and mark it
        allocated: ``(allocation, nslots)``. Raises ``InsufficientResources`` (or
        ``InfeasibleRequest`` from ``_check_feasibility``) with nothing changed.
        A subclass with its own compiled placement (TreePool) overrides it."""
        placed = self._core.allocate(POLICIES[self.policy], *_request_counts(request),
                                     size, gpus, bool(request.exclusive), mask)
        if placed is None:
            self._check_feasibility(request)
            raise InsufficientResources("insufficient resources")
        return placed

    # -- flux-core's placement hooks (SPEC §16) -----------------------------

    def _place_with_hooks(self, request: Any, mask: Optional[RankMask], size: int,
                          gpus: int) -> Tuple[Topology, int]:
        """Place through ``_sort_candidates`` and ``_select_resources`` the way
        flux-core's ``Rv1Pool.alloc`` does, then occupy what was selected."""
        exclusive = bool(request.exclusive)
        candidates = [
            (rank, CandidateInfo(self, rank, pos, free_cores, free_gpus), free_cores, free_gpus)
            for rank, pos, free_cores, free_gpus
            in self._core.candidates(exclusive, size, gpus, mask)
        ]
        selected, nslots = self._select_resources(self._sort_candidates(candidates), request)
        entries = []
        for rank, cores, gpus_ in selected:
            entries.append((IdRanges.from_ints([rank]),
                            IdRanges.from_ints(cores).encode(),
                            IdRanges.from_ints(gpus_).encode() or None))
        topo = Topology.from_entries(entries)
        if len(topo) != len(entries) or not self._core.is_free(topo):
            raise ValueError(
                f"{type(self).__name__}._select_resources selected resources that are not "
                f"free in this pool: {rformat.dumps(topo)}"
            )
        self._core.occupy(topo)
        return topo, nslots

    def _sort_candidates(self, candidates: List[Tuple[Any, ...]]) -> List[Tuple[Any, ...]]:
        """flux-core's hook: order ``candidates``, a list of
        ``(rank, info, free_cores, free_gpus)`` in ascending rank order, for
        selection. The default is this pool's policy: first-fit keeps rank
        order; worst-fit puts most free cores, then most free GPUs, first
        (flux-core's default); best-fit puts fewest free cores, then fewest
        free GPUs, first. Ties keep rank order."""
        if self.policy == "worst-fit":
            return sorted(candidates, key=lambda c: (len(c[2]), len(c[3])), reverse=True)
        if self.policy == "best-fit":
            return sorted(candidates, key=lambda c: (len(c[2]), len(c[3])))
        return list(candidates)

    def _select_resources(self, candidates: List[Tuple[Any, ...]],
                          request: Any) -> Tuple[List[Tuple[int, FrozenSet[int], FrozenSet[int]]], int]:
        """flux-core's hook: choose resources from ``candidates``
        (sorted by ``_sort_candidates``) for ``request``.

        Returns ``(selected, nslots)``: ``selected`` a list of ``(rank,
        cores, gpus)`` with the cores and GPUs to allocate as sets of ids,
        ``nslots`` the slot count written into the result's R. When too
        little is free it calls ``self._check_feasibility(request)`` and then
        raises ``InsufficientResources``, as flux-core's does. The default
        takes, in candidate order, the lowest free ids a rank can give:
        whole free ranks for exclusive requests (of a size that fits, except
        under worst-fit, as flux-core), ``nslots / nnodes`` slots per rank for node
        requests, as many slots as fit for slot requests, up to the maximum.
        """
        nnodes, nslots = request.nnodes, request.nslots
        size, gpus = request.slot_size, request.gpu_per_slot
        selected: List[Tuple[int, FrozenSet[int], FrozenSet[int]]] = []
        if nnodes > 0:
            target = request.nnodes_max
            per_node = nslots // nnodes
            sized = not request.exclusive or self.policy != "worst-fit"
            for rank, info, free_cores, free_gpus in candidates:
                if target is not None and len(selected) >= target:
                    break
                if request.exclusive:
                    if len(free_cores) < len(info["cores"]):
                        continue
                    if sized and (len(free_cores) < per_node * size
                                  or (gpus > 0 and len(free_gpus) < per_node * gpus)):
                        continue
                    selected.append((rank, frozenset(free_cores), frozenset(free_gpus)))
                    continue
                need_cores, need_gpus = per_node * size, per_node * gpus
                if len(free_cores) < need_cores or len(free_gpus) < need_gpus:
                    continue
                selected.append((rank, frozenset(sorted(free_cores)[:need_cores]),
                                 frozenset(sorted(free_gpus)[:need_gpus])))
            if len(selected) < nnodes:
                self._check_feasibility(request)
                raise InsufficientResources("insufficient resources")
            return selected, per_node * len(selected)
        target = request.nslots_max
        taken = 0
        for rank, info, free_cores, free_gpus in candidates:
            if target is not None and taken >= target:
                break
            fit = len(free_cores) // size
            if gpus > 0:
                fit = min(fit, len(free_gpus) // gpus)
            if target is not None:
                fit = min(fit, target - taken)
            if fit > 0:
                selected.append((rank, frozenset(sorted(free_cores)[:fit * size]),
                                 frozenset(sorted(free_gpus)[:fit * gpus])))
                taken += fit
        if taken < nslots:
            self._check_feasibility(request)
            raise InsufficientResources("insufficient resources")
        return selected, taken

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
            try:
                R = rformat.parse_text(R)
            except ValueError as exc:
                hint = (" (that is dumps() output, a summary: pass the R itself, e.g. "
                        "alloc_result.to_dict())" if R.lstrip().startswith("rank") else "")
                raise ValueError(
                    f"R text is not JSON: {exc}{hint}; free() and register_alloc() take R "
                    "as a dict, JSON text, or a pool") from None
        elif not isinstance(R, Mapping):
            to_dict = getattr(R, "to_dict", None)
            if not callable(to_dict):
                raise TypeError(f"cannot read R from {type(R).__name__}")
            R = to_dict()
        if not isinstance(R, Mapping):
            raise TypeError(f"R must be a JSON object, got {type(R).__name__}")
        return rformat.parse_allocation(R)

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources, as flux-core's ``sched.free`` handler asks.

        - ``final=True``, or no ``R``: everything the job still holds is released
          and its record removed; for an unknown job nothing happens.
        - ``R`` given and not final (a partial release): ``R``'s cores and GPUs
          are released on the ranks still in the pool, and those whole ranks
          leave the job's record (which stays, possibly empty, until a final
          free). Outside strict mode this releases ``R`` even for an unknown job
          and removes whole ranks even when ``R`` named only some of their cores
          (flux-core behaviour).

        Ranks removed from the pool since the allocation are skipped. A free that
        released or changed something raises :attr:`generation` by one.

        Args:
            jobid: The job's id (any hashable).
            R: ``None``, or the resources to release: an R dict, R JSON text, a
                fluxpool pool or view, or any object with ``to_dict()`` (flux-core's
                scheduler passes its own pool built from the freed R). Only its
                ranks and their core and GPU ids are read.
            final: Whether this is the job's last free; ``R`` must then match
                what the job holds exactly.

        Raises:
            ValueError: ``R`` names ranks the job does not hold; a final ``R``
                differs from the job's allocation (``"final R mismatch"``);
                malformed R; in strict mode, ``R`` for an unknown job, or ``R``
                naming cores or GPUs the job does not hold or only part of a
                rank's cores.
            TypeError: ``R`` cannot be read as R, or ``jobid`` is not hashable.
            KeyError: An R dict without ``version``.

        The pool is unchanged when it raises.
        """
        if type(jobid) is not int:
            _check_jobid(jobid)
        given = None if R is None else self._allocation_of(R)[0]
        record = self._jobs.get(jobid)
        if self.strict and given is not None:
            if record is None:
                raise ValueError(f"free: {f58(jobid)}: no allocation is recorded for this job")
            if not record[1].rows_match_on(given):
                raise ValueError(
                    f"free: {f58(jobid)}: R names cores or GPUs the job does not hold, or "
                    f"only part of a rank's: got {rformat.dumps(given)}, the job holds "
                    f"{rformat.dumps(record[1])}"
                )
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
        """Record a job that is already running: the scheduler's *hello* after a
        reload. ``R``'s cores and GPUs become allocated (down ranks included) and
        the job's end time is ``R``'s expiration (seconds since the epoch).
        Outside strict mode there is no check for overlap with other jobs
        (flux-core behaviour). :attr:`generation` goes up by one.

        Args:
            jobid: The job's id (any hashable).
            R: The job's resources, in any form :meth:`free` takes.

        Raises:
            ValueError: ``R`` names ranks the pool does not have
                (``"allocation contains ranks not in resource pool: [...]"``);
                malformed R; in strict mode, a jobid that already holds an
                allocation, or ``R`` overlapping another job's resources.
            TypeError: ``R`` cannot be read as R, or ``jobid`` is not hashable.
            KeyError: An R dict without ``version``.

        The pool is unchanged when it raises.
        """
        if type(jobid) is not int:
            _check_jobid(jobid)
        topo, expiration = self._allocation_of(R)
        missing = topo.ranks_not_in(self._core.topo)
        if missing:
            raise ValueError(
                f"allocation contains ranks not in resource pool: {_ints_repr(missing, '[]')}"
            )
        if self.strict:
            if jobid in self._jobs:
                raise ValueError(
                    f"hello: {f58(jobid)}: the job already holds an allocation "
                    f"({rformat.dumps(self._jobs[jobid][1])})"
                )
            if not self._core.is_free(topo):
                raise ValueError(
                    f"hello: {f58(jobid)}: {rformat.dumps(topo)} overlaps resources "
                    "already allocated to another job"
                )
        self._core.occupy(topo)
        self._jobs[jobid] = (expiration, topo)
        self.generation += 1
        if self.log is not None:
            self.log(syslog.LOG_INFO, f"hello: {f58(jobid)}: {rformat.dumps(topo)}")

    def update_expiration(self, jobid: Any, expiration: float) -> None:
        """Set a recorded job's end time.

        Args:
            jobid: The job's id; an unknown job is ignored (no change to
                :attr:`generation`).
            expiration: The end time, seconds since the epoch. A simulator sets
                simulated end times this way.

        Raises:
            TypeError: ``jobid`` is not hashable.

        Changes :attr:`generation` by one when the job is recorded.
        """
        if type(jobid) is not int:
            _check_jobid(jobid)
        record = self._jobs.get(jobid)
        if record is not None:
            self._jobs[jobid] = (expiration, record[1])
            self.generation += 1

    def job_end_times(self) -> List[Tuple[Any, Any]]:
        """Every recorded job's end time.

        Returns:
            A new list of ``(jobid, end_time)`` tuples, in the order the jobs were
            first recorded (a replaced or partly freed record keeps its place);
            end times in seconds since the epoch, 0.0 when none. flux-core's
            sched-backfill reads it on a :meth:`copy` to find reservations.
        """
        return [(jobid, record[0]) for jobid, record in self._jobs.items()]

    # -- availability -----------------------------------------------------

    def mark_up(self, ids: Any) -> None:
        """Let ranks receive new allocations again. Ranks not in the pool are
        ignored. :attr:`generation` goes up by one, even if nothing changed.

        Args:
            ids: ``"all"``, idset text (``"0-3"``), an int, an iterable of ints,
                or any object whose ``str()`` is idset text (flux-core's
                ``IDset``).

        Raises:
            ValueError: Malformed idset text or an id out of range; nothing changes.
            TypeError: ``ids`` is a bool or holds non-integers.
        """
        self._set_up(ids, True)

    def mark_down(self, ids: Any) -> None:
        """Stop ranks from receiving new allocations; what is allocated on them stays
        allocated. Ranks not in the pool are ignored. :attr:`generation` goes up
        by one, even if nothing changed. flux-core's schedulers call
        ``mark_down("all")`` at start and then follow resource events.

        Args:
            ids: As for :meth:`mark_up`.

        Raises:
            ValueError: Malformed idset text or an id out of range; nothing changes.
            TypeError: ``ids`` is a bool or holds non-integers.
        """
        self._set_up(ids, False)

    def _set_up(self, ids: Any, up: bool) -> None:
        # Only a str can be "all"; other id objects (flux's IDset) may not compare with str.
        ranks = None if isinstance(ids, str) and ids == "all" else as_idranges(ids)
        self._core.set_up(ranks, up)
        self.generation += 1

    def remove_ranks(self, ranks: Any) -> None:
        """Remove ranks from the pool for good: their topology, up/down and
        allocation state, and their membership of every property (the property
        names stay). Job records are not changed; freeing such a job later skips
        the missing ranks. Ranks not in the pool are ignored. :attr:`generation`
        goes up by one.

        Args:
            ranks: Idset text, an int, an iterable of ints, or any object whose
                ``str()`` is idset text (flux-core passes its ``IDset``).

        Raises:
            ValueError: Malformed idset text or an id out of range; nothing changes.
            TypeError: ``ranks`` is a bool or holds non-integers.
        """
        gone = as_idranges(ranks)
        self._core = self._core.without(gone)
        self._properties = {name: members.difference(gone)
                            for name, members in self._properties.items()}
        self.generation += 1

    # -- copies and views -------------------------------------------------

    def copy(self) -> "Rv1Pool":
        """An independent pool of the same class: the same ranks, up/down state,
        allocations, job records and end times, properties, times, policy,
        strictness and :attr:`generation`. It carries no logger and not the
        ``nslots`` of the R the pool was built from (flux-core behaviour).
        Changes to either never show in the other. It costs array copies, never
        a re-parse, so a backfilling scheduler can make one per pass."""
        new = self._derived(self._core.copy())
        new._jobs = dict(self._jobs)
        new.generation = self.generation
        return new

    def to_resource_set(self) -> ResourceSet:
        """A :class:`ResourceSet` snapshot of the whole topology: every rank with all
        its cores and GPUs, the properties, times and the nodelist when the pool
        has one; no allocation or up/down state, no ``nslots``, no scheduling."""
        return ResourceSet(self._core.topo, self._names, self._has_nodelist,
                           self._properties, self._starttime, self._expiration)

    def copy_allocated(self) -> ResourceSet:
        """A :class:`ResourceSet` snapshot of what is allocated: each rank with any
        allocation, with exactly its allocated cores and GPUs; properties
        intersected with those ranks (``+`` names included); the pool's times; no
        nodelist (flux-core behaviour). flux-core's status request writes its
        ``to_dict()``."""
        topo = self._core.allocated()
        return ResourceSet(topo, self._names, False,
                           rformat.properties_within(self._properties, topo.ranks(), local=True),
                           self._starttime, self._expiration)

    def copy_down(self) -> ResourceSet:
        """A :class:`ResourceSet` snapshot of the down ranks, with all their cores
        and GPUs, allocated or not; no properties and no nodelist; the pool's
        times."""
        return ResourceSet(self._core.down(), self._names, False, {},
                           self._starttime, self._expiration)

    # -- R and summaries --------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """The pool as a new R version 1 dict, written as Flux writes R.

        Keys in this order: ``version`` (1); ``execution`` with ``R_lite`` (ranks
        with identical cores and GPUs grouped, groups ordered by their lowest
        rank, ``core`` always present, ``gpu`` only when non-empty),
        ``starttime`` and ``expiration`` (floats, seconds since the epoch),
        ``nslots`` (only when positive), ``nodelist`` (one compressed hostlist,
        only when the source R had one), ``properties`` (names sorted; only when
        the pool has properties); ``scheduling`` when truthy. Changing the dict
        changes neither the pool nor a later ``to_dict()``."""
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
        """The pool as R version 1 JSON text: ``json.dumps(to_dict())``."""
        return json.dumps(self.to_dict())

    def dumps(self) -> str:
        """The one-line summary Flux logs, of the whole topology (allocation and
        up/down state do not show): per group of ranks with identical cores and
        GPUs, ``rank<R>/core<C>`` plus ``,gpu<G>`` when it has GPUs, idsets in
        brackets when they have two or more members, groups joined by a space,
        e.g. ``"rank[0-3]/core[0-15],gpu[0-1] rank[4-7]/core[0-31]"``; ``""`` for
        an empty pool."""
        return rformat.dumps(self._core.topo)

    def __str__(self) -> str:
        return self.dumps()

    def count(self, name: str) -> int:
        """Number of cores (``name == "core"``) or GPUs (``"gpu"``) in the whole
        topology, allocated or not; 0 for any other name."""
        if name == "core":
            return self._core.topo.ncores
        if name == "gpu":
            return self._core.topo.ngpus
        return 0

    def ranks(self) -> IDset:
        """The pool's ranks as an :class:`IDset` (a method, as on flux-core's
        ``Rv1Pool``; on a :class:`ResourceSet` it is a property)."""
        return IDset(self._core.topo.ranks())

    def nodelist(self) -> Hostlist:
        """Host names of the ranks in ascending rank order, as a :class:`Hostlist`
        (``rank<N>`` for ranks the nodelist does not name)."""
        return Hostlist(self._names.names(self._core.topo.ranks()))

    def nnodes(self) -> int:
        """Number of ranks (nodes) in the pool."""
        return len(self._core.topo)

    # -- times and scheduling ----------------------------------------------

    @property
    def expiration(self) -> float:
        """The pool's expiration, seconds since the epoch (0.0 = none).

        A job allocated without a duration ends at this time. Setting it stores
        ``float(value)`` (``TypeError``/``ValueError`` when it is not a number)
        and does not change :attr:`generation` (flux-core behaviour)."""
        return self._expiration

    @expiration.setter
    def expiration(self, value: float) -> None:
        self._expiration = _float(value, "expiration")

    def set_expiration(self, expiration: float) -> None:
        """Set the expiration (seconds since the epoch; 0.0 = none), stored as
        ``float`` as flux-core does; a scheduler stamps allocation results with
        it. Does not change :attr:`generation`.

        Raises:
            TypeError: ``expiration`` is not a number or numeric string.
            ValueError: A string that is not a number, or a value too large.
        """
        self._expiration = _float(expiration, "expiration")

    def get_expiration(self) -> float:
        """The expiration, seconds since the epoch (0.0 = none)."""
        return self._expiration

    def set_starttime(self, starttime: float) -> None:
        """Set the start time (seconds since the epoch) that ``to_dict()`` writes,
        stored as ``float`` as flux-core does; a scheduler stamps allocation
        results with it. Does not change :attr:`generation`.

        Raises:
            TypeError: ``starttime`` is not a number or numeric string.
            ValueError: A string that is not a number, or a value too large.
        """
        self._starttime = _float(starttime, "starttime")

    def get_starttime(self) -> float:
        """The start time, seconds since the epoch (0.0 = unset)."""
        return self._starttime

    @property
    def scheduling(self) -> Any:
        """R's opaque ``scheduling`` value (a fresh copy each time), or ``None`` when
        R had none or a falsy one. Setting it to a falsy value removes it."""
        return None if self._scheduling is None else json.loads(self._scheduling)

    @scheduling.setter
    def scheduling(self, value: Any) -> None:
        self._scheduling = json.dumps(value) if value else None
