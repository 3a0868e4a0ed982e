"""Shim: a Scheduler subclass binding flux.resource.TreePool.TreePool gets fluxpool's."""

try:
    import flux.resource.TreePool as _flux_tree
    from fluxpool.flux import TreePool as _FluxpoolTreePool
except ImportError:
    pass
else:
    _flux_tree.TreePool = _FluxpoolTreePool
    _flux_tree.pool_class = _FluxpoolTreePool
