"""``ResourcePool``: the public wrapper that scheduler code holds.

It dispatches on R's version to an implementation (``Rv1Pool``) kept in
``self.impl`` and delegates to it. ``alloc()`` and ``copy()`` return the
wrapper's own class, made without calling ``__init__``, so a subclass with a
different constructor keeps working.
"""

from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Tuple

from .errors import InfeasibleRequest, InsufficientResources
from .hostlist import Hostlist
from .idset import IDset
from .jobspec import ResourceRequest
from .resourceset import ResourceSet
from .rformat import parse_text
from .rv1 import Logger, Rv1Pool

__all__ = ["ResourcePool"]

_IMPLEMENTATIONS = {1: Rv1Pool}


class ResourcePool:
    """The resource pool a scheduler holds: flux-core's ``flux.resource.ResourcePool``.

    A thin wrapper that picks the implementation for R's version (only R version 1,
    :class:`Rv1Pool`, exists), keeps it in :attr:`impl` and delegates every method to
    it, as flux-core's wrapper does. ``alloc()`` and ``copy()`` return an instance of
    the wrapper's own class (a subclass stays a subclass), made without calling
    ``__init__``, so a subclass whose constructor takes other arguments keeps working.

    Args:
        arg: R version 1 (RFC 20) as JSON text (``str``) or a ``Mapping``; an
            :class:`Rv1Pool` instance (wrapped as is, its ``version`` kept); or
            ``None`` for an empty pool of ``version``.
        version: The R version used when ``arg`` is ``None`` (default 1). A
            ``version`` key inside R wins over this argument.
        log: Optional callable ``log(level, message)`` with syslog levels; the pool
            calls it after each successful alloc, free and register_alloc, like
            flux-core's pool. Copies never log.
        **kwargs: Passed to the implementation: ``policy`` is ``"first-fit"``
            (default), ``"worst-fit"`` (flux-core's placement) or ``"best-fit"``;
            ``strict=True`` selects strict mode (see :attr:`strict`); unknown names
            are accepted and ignored (flux-core's schedulers forward their
            ``pool_kwargs``).

    Raises:
        TypeError: ``arg`` is not ``None``, ``str``, a ``Mapping`` or an ``Rv1Pool``
            (``"ResourcePool cannot be instantiated from <type>"``), or JSON text that
            is not an object.
        ValueError: Malformed JSON; a version other than 1 (``1.0`` counts as 1, as
            in flux-core; otherwise ``"R version <v> not supported by
            ResourcePool"``); an unknown ``policy``; malformed R content (bad idsets
            or hostlists, a rank listed twice, a bound exceeded; in strict mode also
            what Flux's C code refuses).
        KeyError: R without ``version``, or an ``R_lite`` entry without ``rank``
            (flux-core raises ``KeyError`` there too).

    Attributes:
        impl: The implementation (an :class:`Rv1Pool`).
        version: The R version (1).
        InsufficientResources: The class :class:`fluxpool.InsufficientResources`.
        InfeasibleRequest: The class :class:`fluxpool.InfeasibleRequest`.
    """

    InsufficientResources = InsufficientResources
    InfeasibleRequest = InfeasibleRequest

    def __init__(self, arg: Any = None, version: int = 1, log: Optional[Logger] = None,
                 **kwargs: Any) -> None:
        if isinstance(arg, Rv1Pool):
            self.impl = arg
            self.version = arg.version
            return
        if isinstance(arg, str):
            arg = parse_text(arg)
            if not isinstance(arg, Mapping):
                raise TypeError(f"ResourcePool cannot be instantiated from {type(arg)}")
        if isinstance(arg, Mapping):
            version = arg.get("version", version)
        elif arg is not None:
            raise TypeError(f"ResourcePool cannot be instantiated from {type(arg)}")
        # flux-core looks the version up in a dict, so 1.0 selects version 1 too.
        if type(version) is float and version.is_integer():
            version = int(version)
        implementation = _IMPLEMENTATIONS.get(version) if type(version) is int else None
        if implementation is None:
            raise ValueError(f"R version {version} not supported by ResourcePool")
        self.impl = implementation(arg, log=log, **kwargs)
        self.version = version

    def _wrap(self, impl: Rv1Pool) -> "ResourcePool":
        new = object.__new__(type(self))
        new.impl = impl
        new.version = self.version
        return new

    @staticmethod
    def _unwrap(R: Any) -> Any:
        return R.impl if isinstance(R, ResourcePool) else R

    def __str__(self) -> str:
        return self.impl.dumps()

    # -- delegation -------------------------------------------------------

    @property
    def generation(self) -> int:
        """Mutation counter (``int``, 0 for a new pool).

        Goes up by exactly one with every successful ``alloc``, every ``free`` that
        released or changed something, ``register_alloc``, ``update_expiration`` of a
        recorded job, ``mark_up``, ``mark_down`` and ``remove_ranks``; never with a
        failed call, a query, a copy or a view, or a change of start or expiration
        time. flux-core's sched-backfill uses it as a cache key."""
        return self.impl.generation

    @property
    def policy(self) -> str:
        """The placement policy, ``"first-fit"``, ``"worst-fit"`` or ``"best-fit"``."""
        return self.impl.policy

    @property
    def strict(self) -> bool:
        """True when the pool runs in strict mode (``strict=True``).

        In strict mode, input that Flux's own C code refuses, and flux-core's
        lenient job handling (a reused jobid, a free of an unknown job, a partial
        free of part of a rank, an overlapping register_alloc), raise
        ``ValueError``."""
        return self.impl.strict

    @property
    def expiration(self) -> float:
        """The pool's expiration, seconds since the epoch (0.0 = none).

        A job allocated without a duration ends at this time. Setting it does not
        change :attr:`generation` (flux-core behaviour)."""
        return self.impl.expiration

    @expiration.setter
    def expiration(self, value: float) -> None:
        self.impl.expiration = value

    @property
    def scheduling(self) -> Any:
        """R's opaque ``scheduling`` value (a fresh copy), or ``None`` when R had none
        or a falsy one."""
        return self.impl.scheduling

    def parse_resource_request(self, jobspec: Mapping) -> ResourceRequest:
        """Parse a jobspec into a :class:`ResourceRequest`; see
        :meth:`Rv1Pool.parse_resource_request` for the rules and errors."""
        return self.impl.parse_resource_request(jobspec)

    def check_feasibility(self, request: Any) -> None:
        """Check that ``request`` could ever be met; see :meth:`Rv1Pool.check_feasibility`.

        Raises:
            InfeasibleRequest: Not even the pool's total capacity can meet it.
            ValueError: The request's constraint is malformed."""
        self.impl.check_feasibility(request)

    def alloc(self, jobid: Any, request: Any) -> "ResourcePool":
        """Allocate ``request`` for ``jobid``; see :meth:`Rv1Pool.alloc`.

        Returns:
            The allocated resources as a new pool of this wrapper's class.

        Raises:
            InsufficientResources: Not now: not enough free resources.
            InfeasibleRequest: Never: the pool's total capacity cannot meet it.
            ValueError: The request's constraint or fields are malformed."""
        return self._wrap(self.impl.alloc(jobid, request))

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources; see :meth:`Rv1Pool.free`. A wrapper given as
        ``R`` is read through its ``impl``."""
        self.impl.free(jobid, R if R is None else self._unwrap(R), final)

    def register_alloc(self, jobid: Any, R: Any) -> None:
        """Record a running job's allocation (the scheduler's hello after a reload);
        see :meth:`Rv1Pool.register_alloc`."""
        self.impl.register_alloc(jobid, self._unwrap(R))

    def update_expiration(self, jobid: Any, expiration: float) -> None:
        """Set a recorded job's end time (seconds since the epoch); see
        :meth:`Rv1Pool.update_expiration`."""
        self.impl.update_expiration(jobid, expiration)

    def job_end_times(self) -> List[Tuple[Any, Any]]:
        """``[(jobid, end_time), ...]`` for every recorded job, in the order the jobs
        were first recorded; end times in seconds since the epoch (0.0 = none)."""
        return self.impl.job_end_times()

    def mark_up(self, ids: Any) -> None:
        """Let ranks receive new allocations; see :meth:`Rv1Pool.mark_up`."""
        self.impl.mark_up(ids)

    def mark_down(self, ids: Any) -> None:
        """Stop ranks from receiving new allocations; see :meth:`Rv1Pool.mark_down`."""
        self.impl.mark_down(ids)

    def remove_ranks(self, ranks: Any) -> None:
        """Remove ranks from the pool for good; see :meth:`Rv1Pool.remove_ranks`."""
        self.impl.remove_ranks(ranks)

    def copy(self) -> "ResourcePool":
        """An independent copy (see :meth:`Rv1Pool.copy`), of this wrapper's class,
        made without calling ``__init__``."""
        return self._wrap(self.impl.copy())

    def copy_allocated(self) -> ResourceSet:
        """A :class:`ResourceSet` of the allocated cores and GPUs; see
        :meth:`Rv1Pool.copy_allocated`."""
        return self.impl.copy_allocated()

    def copy_down(self) -> ResourceSet:
        """A :class:`ResourceSet` of the down ranks; see :meth:`Rv1Pool.copy_down`."""
        return self.impl.copy_down()

    def to_resource_set(self) -> ResourceSet:
        """A :class:`ResourceSet` of the whole topology; see
        :meth:`Rv1Pool.to_resource_set`."""
        return self.impl.to_resource_set()

    def to_dict(self) -> Dict[str, Any]:
        """The pool as a new R version 1 dict; see :meth:`Rv1Pool.to_dict`."""
        return self.impl.to_dict()

    def encode(self) -> str:
        """The pool as R version 1 JSON text: ``json.dumps(to_dict())``."""
        return self.impl.encode()

    def dumps(self) -> str:
        """The one-line summary Flux logs, e.g. ``"rank[0-3]/core[0-7]"``; see
        :meth:`Rv1Pool.dumps`."""
        return self.impl.dumps()

    def count(self, name: str) -> int:
        """Number of cores (``"core"``) or GPUs (``"gpu"``) in the topology; 0 for
        any other name."""
        return self.impl.count(name)

    def ranks(self) -> IDset:
        """The pool's ranks as an :class:`IDset` (a method, as on flux-core's pool)."""
        return self.impl.ranks()

    def nodelist(self) -> Hostlist:
        """Host names of the ranks in ascending rank order, as a :class:`Hostlist`."""
        return self.impl.nodelist()

    def nnodes(self) -> int:
        """Number of ranks (nodes) in the pool (a method, as on flux-core's pool)."""
        return self.impl.nnodes()

    def set_expiration(self, expiration: float) -> None:
        """Set the pool's expiration (seconds since the epoch; 0.0 = none). Does not
        change :attr:`generation`."""
        self.impl.set_expiration(expiration)

    def set_starttime(self, starttime: float) -> None:
        """Set the start time (seconds since the epoch) written by ``to_dict()``; a
        scheduler stamps allocation results with it. Does not change
        :attr:`generation`."""
        self.impl.set_starttime(starttime)
