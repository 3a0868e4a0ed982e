"""``ResourcePool``: the public wrapper that scheduler code holds (SPEC §4.1).

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
    """A resource pool built from R (JSON text or dict), an ``Rv1Pool``, or None.

    Keyword arguments (``policy=...``) go to the implementation.
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
        """Mutation counter (SPEC §10)."""
        return self.impl.generation

    @property
    def policy(self) -> str:
        """The placement policy."""
        return self.impl.policy

    @property
    def strict(self) -> bool:
        """True when the pool runs in strict mode (SPEC §15)."""
        return self.impl.strict

    @property
    def expiration(self) -> float:
        """The pool's expiration (0.0 = none)."""
        return self.impl.expiration

    @expiration.setter
    def expiration(self, value: float) -> None:
        self.impl.expiration = value

    @property
    def scheduling(self) -> Any:
        """R's opaque ``scheduling`` value, or None."""
        return self.impl.scheduling

    def parse_resource_request(self, jobspec: Mapping) -> ResourceRequest:
        """Parse a jobspec into a request."""
        return self.impl.parse_resource_request(jobspec)

    def check_feasibility(self, request: Any) -> None:
        """Raise ``InfeasibleRequest`` if the request can never fit."""
        self.impl.check_feasibility(request)

    def alloc(self, jobid: Any, request: Any) -> "ResourcePool":
        """Allocate and return the allocated resources as a pool of this class."""
        return self._wrap(self.impl.alloc(jobid, request))

    def free(self, jobid: Any, R: Any = None, final: bool = False) -> None:
        """Release a job's resources (all, or those of ``R``)."""
        self.impl.free(jobid, self._unwrap(R), final)

    def register_alloc(self, jobid: Any, R: Any) -> None:
        """Record a running job's allocation (scheduler reconnect)."""
        self.impl.register_alloc(jobid, self._unwrap(R))

    def update_expiration(self, jobid: Any, expiration: float) -> None:
        """Set a recorded job's end time."""
        self.impl.update_expiration(jobid, expiration)

    def job_end_times(self) -> List[Tuple[Any, Any]]:
        """``(jobid, end_time)`` of every recorded job."""
        return self.impl.job_end_times()

    def mark_up(self, ids: Any) -> None:
        """Mark ranks up (``"all"`` or rank ids)."""
        self.impl.mark_up(ids)

    def mark_down(self, ids: Any) -> None:
        """Mark ranks down (``"all"`` or rank ids)."""
        self.impl.mark_down(ids)

    def remove_ranks(self, ranks: Any) -> None:
        """Remove ranks from the pool."""
        self.impl.remove_ranks(ranks)

    def copy(self) -> "ResourcePool":
        """An independent copy, of this class."""
        return self._wrap(self.impl.copy())

    def copy_allocated(self) -> ResourceSet:
        """A view of what is allocated."""
        return self.impl.copy_allocated()

    def copy_down(self) -> ResourceSet:
        """A view of the down ranks."""
        return self.impl.copy_down()

    def to_resource_set(self) -> ResourceSet:
        """A view of the whole topology."""
        return self.impl.to_resource_set()

    def to_dict(self) -> Dict[str, Any]:
        """R v1 as a dict."""
        return self.impl.to_dict()

    def encode(self) -> str:
        """R v1 as JSON text."""
        return self.impl.encode()

    def dumps(self) -> str:
        """One-line summary."""
        return self.impl.dumps()

    def count(self, name: str) -> int:
        """Number of cores or GPUs."""
        return self.impl.count(name)

    def ranks(self) -> IDset:
        """The ranks."""
        return self.impl.ranks()

    def nodelist(self) -> Hostlist:
        """Host names in rank order."""
        return self.impl.nodelist()

    def nnodes(self) -> int:
        """Number of ranks."""
        return self.impl.nnodes()

    def set_expiration(self, expiration: float) -> None:
        """Set the expiration."""
        self.impl.set_expiration(expiration)

    def set_starttime(self, starttime: float) -> None:
        """Set the start time."""
        self.impl.set_starttime(starttime)
