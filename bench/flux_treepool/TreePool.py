"""Shim: `pool-class=TreePool` and `scheduling.writer: "TreePool"` load fluxpool's TreePool.

flux-core resolves the name "TreePool" by importing a top-level module TreePool
first (falling back to flux.resource.TreePool), so this file on PYTHONPATH makes
flux-core's sharness tests run with fluxpool.flux:TreePool.
"""
import os

from fluxpool.flux import TreePool

pool_class = TreePool
with open(os.path.join(os.path.dirname(__file__), "used.log"), "a") as _f:
    _f.write(f"TreePool shim loaded in pid {os.getpid()}\n")
