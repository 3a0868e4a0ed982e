"""Plug fluxpool into a live Flux: pool classes for flux-core's schedulers (SPEC §11).

flux-core's Python schedulers (sched-simple, sched-fifo, sched-backfill) load a
pool class by name::

    flux module reload sched-simple pool-class=fluxpool.flux:WorstFitPool
    flux module reload sched-simple pool-class=fluxpool.flux     # pool_class, first-fit
    flux module reload sched-simple pool-class=fluxpool.flux:TreePool   # SPEC §17

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
from typing import Any, Optional

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
    "TreePool",
    "FluxTreeRv1Pool",
    "pool_class",
    "InsufficientResources",
    "InfeasibleRequest",
]


class InsufficientResources(_errors.InsufficientResources, _FluxInsufficientResources):
    """Not now: both fluxpool's and flux-core's ``InsufficientResources``."""


class InfeasibleRequest(_errors.InfeasibleRequest, _FluxInfeasibleRequest):
    """Never: both fluxpool's and flux-core's ``InfeasibleRequest``."""


def _as_flux_error(exc: OSError) -> OSError:
    """The dual-class twin of a fluxpool allocation error (same args, same message)."""
    if isinstance(exc, _errors.InfeasibleRequest):
        twin = InfeasibleRequest(*exc.args)
    else:
        twin = InsufficientResources(*exc.args)
    twin.__cause__ = None
    twin.__suppress_context__ = True
    return twin


class _DualErrors:
    """Mixin for an implementation class: ``alloc`` / ``check_feasibility`` raise
    the dual-class exceptions of this module."""

    def alloc(self, jobid: Any, request: Any) -> Any:
        try:
            return super().alloc(jobid, request)  # type: ignore[misc]
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None

    def check_feasibility(self, request: Any) -> None:
        try:
            super().check_feasibility(request)  # type: ignore[misc]
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None


class FluxRv1Pool(_DualErrors, Rv1Pool):
    """fluxpool's ``Rv1Pool`` as the implementation behind a Flux adapter pool.

    Identical to ``Rv1Pool`` except for ``name`` (shown by the scheduler as
    ``pool-class=...`` in its ready message) and for ``alloc`` /
    ``check_feasibility`` raising the dual-class exceptions of this module, so
    code holding ``pool.impl`` sees the same errors as code holding the pool.
    """

    @property
    def name(self) -> str:
        """``fluxpool-<version>:Rv1Pool(<policy>)``."""
        return f"fluxpool-{__version__}:Rv1Pool({self.policy})"


class FluxTreeRv1Pool(_DualErrors, TreeRv1Pool):
    """fluxpool's ``TreeRv1Pool`` (SPEC §17) behind the ``TreePool`` adapter,
    raising this module's dual-class exceptions."""

    @property
    def name(self) -> str:
        """``fluxpool-<version>:TreePool``."""
        return f"fluxpool-{__version__}:TreePool"


class FluxPool(_FluxResourcePool):
    """A flux-core ``ResourcePool`` whose implementation is fluxpool's ``Rv1Pool``.

    ``FluxPool(R=None, log=None, **kwargs)``: ``R`` is R version 1 (JSON text or
    a dict), ``log`` the scheduler's ``(level, message)`` logger; ``policy`` in
    ``kwargs`` overrides the class's ``policy``; other keyword arguments are
    accepted and ignored, as by ``Rv1Pool``. flux-core's constructor is not called.
    """

    #: Placement policy used when the scheduler passes none (SPEC §5).
    policy = "first-fit"
    #: The fluxpool implementation class behind the adapter.
    _impl_class: type = FluxRv1Pool

    InsufficientResources = InsufficientResources
    InfeasibleRequest = InfeasibleRequest

    def __init__(self, R: Any = None, log: Optional[Any] = None, **kwargs: Any) -> None:
        policy = kwargs.pop("policy", None) or self.policy
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
            self.impl = self._impl_class(R, log=log, policy=policy, **kwargs)
        self.version = 1

    def __str__(self) -> str:
        return self.impl.dumps()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.impl.dumps()!r})"

    # -- exceptions flux-core's scheduler can catch -----------------------

    def alloc(self, jobid: Any, request: Any) -> "FluxPool":
        """Allocate ``request`` for ``jobid``; the result is a pool of this class.

        Raises this module's ``InsufficientResources`` / ``InfeasibleRequest``
        (instances of both flux-core's and fluxpool's classes)."""
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
        """Raise ``InfeasibleRequest`` (both libraries' class) if ``request``
        can never fit this pool."""
        try:
            self.impl.check_feasibility(request)
        except (InsufficientResources, InfeasibleRequest):
            raise
        except (_errors.InsufficientResources, _errors.InfeasibleRequest) as exc:
            raise _as_flux_error(exc) from None

    def copy(self) -> "FluxPool":
        """An independent copy (jobs, up/down state, generation), of this class."""
        new = object.__new__(type(self))
        new.impl = self.impl.copy()
        new.version = 1
        return new

    # -- flux-core objects in, flux-core objects out ----------------------

    def to_resource_set(self) -> _FluxResourceSet:
        """The whole topology as a flux-core ``ResourceSet``."""
        return _FluxResourceSet(self.impl.to_resource_set().to_dict())

    def copy_allocated(self) -> _FluxResourceSet:
        """The allocated cores and GPUs as a flux-core ``ResourceSet``."""
        return _FluxResourceSet(self.impl.copy_allocated().to_dict())

    def copy_down(self) -> _FluxResourceSet:
        """The down ranks as a flux-core ``ResourceSet``."""
        return _FluxResourceSet(self.impl.copy_down().to_dict())

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources; ``R`` may be a flux-core or fluxpool pool,
        a flux-core ``ResourceSet``, a dict or JSON text."""
        self.impl.free(jobid, _unwrap(R), final)

    def register_alloc(self, jobid: Any, R: Any) -> None:
        """Record a running job's allocation (the scheduler's hello)."""
        self.impl.register_alloc(jobid, _unwrap(R))

    # -- what flux's wrapper lacks but fluxpool's offers ------------------

    def encode(self) -> str:
        """R v1 as JSON text."""
        return self.impl.encode()

    def count(self, name: str) -> int:
        """Number of ``"core"`` or ``"gpu"`` resources."""
        return self.impl.count(name)

    def nnodes(self) -> int:
        """Number of ranks."""
        return self.impl.nnodes()


def _unwrap(R: Any) -> Any:
    """The object fluxpool should read ``R`` from: a pool's implementation (a
    fluxpool ``Rv1Pool`` is read directly; flux-core's through ``to_dict()``)."""
    impl = getattr(R, "impl", None)
    if impl is not None and isinstance(R, _FluxResourcePool):
        return impl
    return R



class FirstFitPool(FluxPool):
    """fluxpool, first-fit: the lowest ranks that fit."""

    policy = "first-fit"


class WorstFitPool(FluxPool):
    """fluxpool, worst-fit: flux-core's own placement (most free cores, then GPUs)."""

    policy = "worst-fit"


class BestFitPool(FluxPool):
    """fluxpool, best-fit: the fullest ranks that still fit."""

    policy = "best-fit"


class TreePool(FluxPool):
    """fluxpool's TreePool (SPEC §17): flux-core's ``flux.resource.TreePool``
    placement (NUMA/socket locality, GPU affinity, container-exclusive and
    node-exclusive requests) on fluxpool's core. Load it with
    ``pool-class=fluxpool.flux:TreePool`` or name it in R as
    ``scheduling.writer = "fluxpool.flux:TreePool"``; ``strict=True`` in the
    scheduler's ``pool_kwargs`` fixes flux-core's T5–T9. R must carry
    ``scheduling.children`` (``ValueError`` otherwise)."""

    policy = "best-fit"
    _impl_class = FluxTreeRv1Pool


#: The class ``pool-class=fluxpool.flux`` loads.
pool_class = FirstFitPool
