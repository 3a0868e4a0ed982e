"""fluxpool: a fast, drop-in resource pool for Flux schedulers.

The public API is that of flux-core's ``flux.resource.ResourcePool`` and its
R version 1 implementation ``Rv1Pool``; the hot path is a compiled core over
packed bitsets. See SPEC.md for the contract.
"""

from ._version import __version__
from .errors import InfeasibleRequest, InsufficientResources
from .hostlist import Hostlist
from .idset import IDset
from .jobspec import ResourceCount, ResourceRequest
from .pool import ResourcePool
from .resourceset import ResourceSet
from .rv1 import Rv1Pool
from .treepool import TreePool

__all__ = [
    "ResourcePool",
    "Rv1Pool",
    "TreePool",
    "ResourceRequest",
    "ResourceCount",
    "ResourceSet",
    "InsufficientResources",
    "InfeasibleRequest",
    "IDset",
    "Hostlist",
    "__version__",
]
