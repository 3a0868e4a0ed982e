"""Plug fluxpool into a live Flux: pool classes for flux-core's schedulers.

flux-core's Python schedulers (sched-simple, sched-fifo, sched-backfill) load a
pool class by name::

    flux module reload sched-simple pool-class=fluxpool.flux:WorstFitPool
    flux module reload sched-simple pool-class=fluxpool.flux     # pool_class, first-fit
    flux module reload sched-simple pool-class=fluxpool.flux:StrictWorstFitPool
    flux module reload sched-simple pool-class=fluxpool.flux:TreePool   # SPEC §17

A site's own subclass of fluxpool's ``Rv1Pool`` (overriding flux-core's
placement hooks) is loaded through ``pool_class_for``: in the site's module,
``pool_class = fluxpool.flux.pool_class_for(RackPool, policy="worst-fit")``,
then ``pool-class=site_module``.

Each class here is a subclass of flux-core's own ``flux.resource.ResourcePool``
(so the scheduler accepts it and flux's wrapper methods apply) whose ``impl`` is
a fluxpool ``Rv1Pool``. The adapter only translates at the boundary:

- ``alloc`` / ``check_feasibility`` raise exceptions that are instances of both
  fluxpool's and flux-core's ``InsufficientResources`` / ``InfeasibleRequest``,
  because flux's scheduling loop catches only its own classes;
- ``to_resource_set`` / ``copy_allocated`` / ``copy_down`` return flux-core
  ``ResourceSet`` objects (the scheduler's status RPC calls ``to_dict()`` on them);
- ``alloc`` / ``copy`` return instances of the adapter class (flux's
  ``_from_impl`` builds them without calling ``__init__``);
- flux-core objects given as ``R`` (``free``, ``register_alloc``) and flux
  ``IDset`` values (``remove_ranks``, ``mark_up``, ``mark_down``) are read by
  fluxpool directly (through ``to_dict()`` and ``str()``).

This module imports flux-core and so is importable only where flux-core's
Python bindings are installed; elsewhere importing it raises ``ImportError``.
Nothing else in fluxpool imports it.
"""

from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

try:
    from flux.resource.ResourcePool import ResourcePool as _FluxResourcePool
    from flux.resource.ResourcePoolImplementation import (
        InfeasibleRequest as _FluxInfeasibleRequest,
        InsufficientResources as _FluxInsufficientResources,
    )
    from flux.resource.ResourceSet import ResourceSet as _FluxResourceSet
except ImportError as _exc:  # pragma: no cover - exercised only without flux-core
    raise ImportError(
        "fluxpool.flux needs flux-core's Python bindings (the 'flux' package with "
        "flux.resource.ResourcePool), which could not be imported "
        f"({_exc}). Run it inside a Flux instance or put flux-core's python "
        "directory (e.g. <prefix>/lib/flux/python3.X) on PYTHONPATH. The rest of "
        "fluxpool works without Flux."
    ) from _exc

from . import errors as _errors
from ._version import __version__
from .rv1 import POLICIES, Rv1Pool
from .treepool import TreeRv1Pool

__all__ = [
    "FluxRv1Pool",
    "FluxPool",
    "FirstFitPool",
    "WorstFitPool",
    "BestFitPool",
    "StrictFirstFitPool",
    "StrictWorstFitPool",
    "StrictBestFitPool",
    "TreePool",
    "StrictTreePool",
    "pool_class",
    "pool_class_for",
    "InsufficientResources",
    "InfeasibleRequest",
]


class InsufficientResources(_errors.InsufficientResources, _FluxInsufficientResources):
    """Not now: an instance of both :class:`fluxpool.InsufficientResources` and
    flux-core's ``flux.resource.InsufficientResources``, with the same message.
    flux-core's scheduling loop catches only its own class."""


class InfeasibleRequest(_errors.InfeasibleRequest, _FluxInfeasibleRequest):
    """Never: an instance of both :class:`fluxpool.InfeasibleRequest` and flux-core's
    ``flux.resource.InfeasibleRequest``, with the same message. flux-core's
    scheduler denies the job with it (the feasibility RPC answers ``EOVERFLOW``)."""


def _as_flux_error(exc: OSError) -> OSError:
    """The dual-class twin of a fluxpool allocation error (same args, same message)."""
    if isinstance(exc, _errors.InfeasibleRequest):
        twin = InfeasibleRequest(*exc.args)
    else:
        twin = InsufficientResources(*exc.args)
    twin.__cause__ = None
    twin.__suppress_context__ = True
    return twin


class _FluxImplementation:
    """What a Flux adapter's implementation adds to a fluxpool ``Rv1Pool`` (or a
    site's subclass of it): ``name`` (shown by the scheduler as
    ``pool-class=...`` in its ready message) and ``alloc`` /
    ``check_feasibility`` raising the dual-class exceptions of this module, so
    code holding ``pool.impl`` sees the same errors as code holding the pool."""

    @property
    def name(self) -> str:
        """The name the scheduler's ready message shows as ``pool-class=``:
        ``fluxpool-<version>:<class>(<policy>[, strict])``, e.g.
        ``"fluxpool-0.1.0:Rv1Pool(worst-fit)"`` (see ``flux dmesg | grep pool-class``)."""
        base = next(c for c in type(self).__mro__ if issubclass(c, Rv1Pool)
                    and not issubclass(c, _FluxImplementation))
        mode = f"{self.policy}, strict" if self.strict else self.policy
        return f"fluxpool-{__version__}:{base.__name__}({mode})"

    def alloc(self, jobid: Any, request: Any) -> Any:
        """:meth:`fluxpool.Rv1Pool.alloc`, raising this module's dual-class
        :class:`InsufficientResources` / :class:`InfeasibleRequest`."""
        try:
            return super().alloc(jobid, request)
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None

    def check_feasibility(self, request: Any) -> None:
        """:meth:`fluxpool.Rv1Pool.check_feasibility`, raising this module's
        dual-class :class:`InfeasibleRequest`."""
        try:
            super().check_feasibility(request)
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None


class FluxRv1Pool(_FluxImplementation, Rv1Pool):
    """fluxpool's ``Rv1Pool`` as the implementation behind a Flux adapter pool."""


_IMPLEMENTATIONS: Dict[type, type] = {Rv1Pool: FluxRv1Pool}


def _flux_implementation(impl_class: type) -> type:
    """``impl_class`` (fluxpool's ``Rv1Pool`` or a subclass) with the adapter's
    additions, made once per class."""
    flux_class = _IMPLEMENTATIONS.get(impl_class)
    if flux_class is None:
        if not (isinstance(impl_class, type) and issubclass(impl_class, Rv1Pool)):
            raise TypeError(
                f"impl_class must be fluxpool.Rv1Pool or a subclass of it, got {impl_class!r}")
        flux_class = type(f"Flux{impl_class.__name__}", (_FluxImplementation, impl_class),
                          {"__module__": impl_class.__module__,
                           "__doc__": f"{impl_class.__name__} behind a Flux adapter pool."})
        _IMPLEMENTATIONS[impl_class] = flux_class
    return flux_class


class FluxPool(_FluxResourcePool):
    """A flux-core ``flux.resource.ResourcePool`` whose implementation is fluxpool's.

    The base of :class:`FirstFitPool`, :class:`WorstFitPool`, :class:`BestFitPool`,
    their strict variants and the classes :func:`pool_class_for` makes, which
    flux-core's schedulers load with
    ``flux module reload sched-simple pool-class=fluxpool.flux:<Class>``. The
    scheduler constructs it as ``cls(R, log=<logger>, **pool_kwargs)``. It sets
    ``impl`` (an instance of :attr:`impl_class` with this module's exceptions,
    e.g. :class:`FluxRv1Pool`) and ``version`` (1) without calling
    flux-core's constructor, so flux-core's inherited wrapper methods delegate to
    fluxpool.

    Args:
        R: R version 1 as JSON text or a dict; a flux-core pool or ``ResourceSet``
            (read through its ``to_dict()``); a fluxpool :class:`~fluxpool.Rv1Pool`
            (wrapped as is); or ``None`` for an empty pool.
        log: The scheduler's logger, called ``log(level, message)`` with syslog
            levels after allocs, frees and hellos.
        **kwargs: ``policy`` and ``strict`` override the class's :attr:`policy`
            and :attr:`strict`; other names are passed on and ignored, as by
            :class:`~fluxpool.Rv1Pool`.

    Raises:
        ValueError: An unknown policy, or malformed R (see :class:`fluxpool.Rv1Pool`).
        TypeError: R of a type the pool cannot read, or ``strict`` not a bool.
        KeyError: R without ``version`` (as flux-core).
    """

    #: Placement policy used when the scheduler passes none:
    #: ``"first-fit"``, ``"worst-fit"`` or ``"best-fit"``.
    policy = "first-fit"
    #: Strict mode (see :attr:`fluxpool.ResourcePool.strict`) when the scheduler
    #: passes none.
    strict = False
    #: The fluxpool implementation class: ``Rv1Pool`` or a site's subclass that
    #: overrides flux-core's placement hooks.
    impl_class: type = Rv1Pool

    InsufficientResources = InsufficientResources
    InfeasibleRequest = InfeasibleRequest

    def __init__(self, R: Any = None, log: Optional[Any] = None, **kwargs: Any) -> None:
        policy = kwargs.pop("policy", None) or self.policy
        strict = kwargs.pop("strict", self.strict)
        if policy not in POLICIES:
            raise ValueError(
                f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}"
            )
        if isinstance(R, Rv1Pool):
            # An existing fluxpool implementation is wrapped as is.
            self.impl = R
        else:
            if R is not None and not isinstance(R, (str, Mapping)) and hasattr(R, "to_dict"):
                R = R.to_dict()  # a flux-core ResourcePool / ResourceSet
            self.impl = _flux_implementation(self.impl_class)(
                R, log=log, policy=policy, strict=strict, **kwargs)
        self.version = 1

    def __str__(self) -> str:
        return self.impl.dumps()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.impl.dumps()!r})"

    # -- exceptions flux-core's scheduler can catch -----------------------

    def alloc(self, jobid: Any, request: Any) -> "FluxPool":
        """Allocate ``request`` for ``jobid`` (see :meth:`fluxpool.Rv1Pool.alloc`).

        Returns:
            The allocated resources as a pool of this class (made without calling
            ``__init__``, as flux-core's ``_from_impl`` does).

        Raises:
            InsufficientResources: Not now (this module's dual class).
            InfeasibleRequest: Never (this module's dual class).
            ValueError: A malformed request or constraint.
        """
        try:
            impl = self.impl.alloc(jobid, request)
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None
        new = object.__new__(type(self))
        new.impl = impl
        new.version = 1
        return new

    def check_feasibility(self, request: Any) -> None:
        """Check that ``request`` could ever fit this pool (see
        :meth:`fluxpool.Rv1Pool.check_feasibility`).

        Raises:
            InfeasibleRequest: It never can (this module's dual class).
            ValueError: A malformed request or constraint.
        """
        try:
            self.impl.check_feasibility(request)
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None

    def copy(self) -> "FluxPool":
        """An independent copy (jobs, end times, up/down state, generation) of this
        class, for flux-core's backfill forecasts; see :meth:`fluxpool.Rv1Pool.copy`."""
        new = object.__new__(type(self))
        new.impl = self.impl.copy()
        new.version = 1
        return new

    # -- flux-core objects in, flux-core objects out ----------------------

    def to_resource_set(self) -> _FluxResourceSet:
        """The whole topology as a flux-core ``flux.resource.ResourceSet`` (built from
        fluxpool's view's ``to_dict()``)."""
        return _FluxResourceSet(self.impl.to_resource_set().to_dict())

    def copy_allocated(self) -> _FluxResourceSet:
        """The allocated cores and GPUs as a flux-core ``flux.resource.ResourceSet``,
        for the scheduler's status request."""
        return _FluxResourceSet(self.impl.copy_allocated().to_dict())

    def copy_down(self) -> _FluxResourceSet:
        """The down ranks (all their cores and GPUs) as a flux-core
        ``flux.resource.ResourceSet``, for the scheduler's status request."""
        return _FluxResourceSet(self.impl.copy_down().to_dict())

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources (see :meth:`fluxpool.Rv1Pool.free`). ``R`` may be
        a flux-core or fluxpool pool, a flux-core ``ResourceSet``, a dict or JSON
        text; the scheduler passes a flux-core pool built from the freed R.

        Raises:
            ValueError: ``R`` names ranks the job does not hold, or a final ``R``
                differs from the job's allocation.
            TypeError: ``R`` cannot be read as R.
        """
        self.impl.free(jobid, _unwrap(R), final)

    def register_alloc(self, jobid: Any, R: Any) -> None:
        """Record a running job's allocation, the scheduler's hello after a reload
        (see :meth:`fluxpool.Rv1Pool.register_alloc`); ``R`` in any form
        :meth:`free` accepts.

        Raises:
            ValueError: ``R`` names ranks the pool does not have.
            TypeError: ``R`` cannot be read as R.
        """
        self.impl.register_alloc(jobid, _unwrap(R))

    # -- what flux's wrapper lacks but fluxpool's offers ------------------

    def encode(self) -> str:
        """The pool as R version 1 JSON text."""
        return self.impl.encode()

    def count(self, name: str) -> int:
        """Number of cores (``"core"``) or GPUs (``"gpu"``); 0 for other names."""
        return self.impl.count(name)

    def nnodes(self) -> int:
        """Number of ranks (nodes) in the pool."""
        return self.impl.nnodes()


def _unwrap(R: Any) -> Any:
    """The object fluxpool should read ``R`` from: a pool's implementation (a
    fluxpool ``Rv1Pool`` is read directly; flux-core's through ``to_dict()``)."""
    impl = getattr(R, "impl", None)
    if impl is not None and isinstance(R, _FluxResourcePool):
        return impl
    return R



class FirstFitPool(FluxPool):
    """fluxpool with first-fit placement: the lowest ranks that fit.

    ``pool-class=fluxpool.flux:FirstFitPool`` (or ``pool-class=fluxpool.flux``).
    Under first-fit an exclusive request only takes nodes big enough for its slots.
    """

    policy = "first-fit"


class WorstFitPool(FluxPool):
    """fluxpool with worst-fit placement: flux-core's own ``Rv1Pool`` placement.

    ``pool-class=fluxpool.flux:WorstFitPool``. Most free cores first, then most free
    GPUs, ties by ascending rank: a Flux instance places, refuses and reports every
    job exactly as with flux-core's default pool.
    """

    policy = "worst-fit"


class BestFitPool(FluxPool):
    """fluxpool with best-fit placement: the fullest ranks that still fit.

    ``pool-class=fluxpool.flux:BestFitPool``. Fewest free cores first, then fewest
    free GPUs, ties by ascending rank; whole nodes stay free for large jobs.
    """

    policy = "best-fit"


class StrictFirstFitPool(FirstFitPool):
    """fluxpool with first-fit placement in strict mode.

    ``pool-class=fluxpool.flux:StrictFirstFitPool``. Placement as
    :class:`FirstFitPool`; input Flux's own C code refuses, and flux-core's lenient
    job handling (a reused jobid, a free of an unknown job, a partial free of part
    of a rank, an overlapping hello), raise ``ValueError`` (see
    :attr:`fluxpool.ResourcePool.strict`).
    """

    strict = True


class StrictWorstFitPool(WorstFitPool):
    """fluxpool with worst-fit (flux-core's) placement in strict mode.

    ``pool-class=fluxpool.flux:StrictWorstFitPool``; see :class:`StrictFirstFitPool`.
    """

    strict = True


class StrictBestFitPool(BestFitPool):
    """fluxpool with best-fit placement in strict mode.

    ``pool-class=fluxpool.flux:StrictBestFitPool``; see :class:`StrictFirstFitPool`.
    """

    strict = True


class TreePool(FluxPool):
    """fluxpool's TreePool (SPEC §17): flux-core's ``flux.resource.TreePool``
    placement (NUMA/socket locality, GPU affinity, container-exclusive and
    node-exclusive requests) on fluxpool's core, for R with
    ``scheduling.children`` (``ValueError`` otherwise).

    Load it with ``pool-class=fluxpool.flux:TreePool``, or name it in R as
    ``scheduling.writer = "fluxpool.flux:TreePool"`` (flux-core resolves
    writers). ``strict`` (here, or in the scheduler's ``pool_kwargs``) fixes
    flux-core's T5–T9; T1–T4 are always fixed, so running jobs on any rank
    survive a scheduler reload. The policy is TreePool's own order (fewest
    free cores, then GPUs, i.e. best-fit).
    """

    policy = "best-fit"
    impl_class = TreeRv1Pool


class StrictTreePool(TreePool):
    """:class:`TreePool` in strict mode (SPEC §15, §17 T5–T9)."""

    strict = True


#: The class ``pool-class=fluxpool.flux`` loads.
pool_class = FirstFitPool

_ADAPTERS: Dict[Tuple[type, str, bool], type] = {}


def pool_class_for(impl_class: type, policy: str = "first-fit",
                   strict: bool = False) -> type:
    """A Flux adapter class whose implementation is ``impl_class``.

    For a site's subclass of fluxpool's ``Rv1Pool`` that overrides flux-core's
    placement hooks (``_sort_candidates``, ``_select_resources``, ...): in the
    site's module, ``pool_class = pool_class_for(MyPool, policy="worst-fit")``,
    then ``flux module reload sched-simple pool-class=site_module``.

    Args:
        impl_class: :class:`fluxpool.Rv1Pool` or a subclass of it.
        policy: ``"first-fit"`` (default), ``"worst-fit"`` or ``"best-fit"``.
        strict: Whether the pools run in strict mode.

    Returns:
        A subclass of :class:`FluxPool` (so of flux-core's ``ResourcePool``); the
        same arguments give the same class.

    Raises:
        TypeError: ``impl_class`` is not ``Rv1Pool`` or a subclass, or ``strict``
            is not a bool.
        ValueError: An unknown ``policy``.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}")
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be True or False, got {strict!r}")
    _flux_implementation(impl_class)
    key = (impl_class, policy, strict)
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        adapter = type(f"{impl_class.__name__}FluxPool", (FluxPool,),
                       {"impl_class": impl_class, "policy": policy, "strict": strict,
                        "__module__": impl_class.__module__,
                        "__doc__": f"Flux adapter pool over {impl_class.__name__} ({policy})."})
        _ADAPTERS[key] = adapter
    return adapter
