"""The two allocation failures a scheduler distinguishes.

Both are ``OSError`` subclasses built from one message string, as in flux-core,
so a scheduler's ``except`` clauses and errno mapping work unchanged.
"""


class InsufficientResources(OSError):
    """Not now: the request fits the pool but not its free resources; retry after a free."""


class InfeasibleRequest(OSError):
    """Never: the request cannot be met even by the pool's total capacity."""
