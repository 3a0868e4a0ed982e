"""The two allocation failures a scheduler distinguishes.

Both are ``OSError`` subclasses built from one message string, as in flux-core,
so a scheduler's ``except`` clauses and errno mapping work unchanged.
"""


class InsufficientResources(OSError):
    """Not now: the request fits the pool but not its free resources; retry after a free.

    Raised by ``alloc`` only, with the message ``"insufficient resources"``. The pool
    is unchanged. flux-core's schedulers keep the job queued (``sched-simple`` and
    ``sched-fifo`` stop the pass at it, ``sched-backfill`` looks past it). Also
    available as ``ResourcePool.InsufficientResources``.
    """


class InfeasibleRequest(OSError):
    """Never: the request cannot be met even by the pool's total capacity.

    Raised by ``check_feasibility`` and ``alloc`` when no combination of the pool's
    ranks allowed by the request's constraint (up or down, allocated or not) could
    hold the request, and for node or slot counts with discrete values (which the
    pool does not support). The message says what was needed, e.g.
    ``"unsatisfiable request: need 5 node(s) with 1 cores each, only 4 eligible"``.
    The pool is unchanged. flux-core's schedulers deny the job with this message
    (the feasibility RPC answers ``EOVERFLOW``). Also available as
    ``ResourcePool.InfeasibleRequest``.
    """
