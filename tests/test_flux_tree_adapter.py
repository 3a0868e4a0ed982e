"""The Flux adapter's TreePool, ``fluxpool.flux:TreePool`` (SPEC §11, §17).

Runs only where flux-core's Python bindings can be imported."""

import importlib
import types

import pytest

try:
    from flux.idset import IDset
    from flux.resource.ResourcePoolImplementation import (
        InfeasibleRequest as FluxInfeasible,
        InsufficientResources as FluxInsufficient,
    )
    from flux.resource.ResourceSet import ResourceSet as FluxResourceSet
except ImportError:
    pytest.skip("flux-core's Python bindings (the flux package) are not installed",
                allow_module_level=True)

import fluxpool  # noqa: E402
from fluxpool.treepool import TreeRv1Pool  # noqa: E402

from specdata import nodes, slots, spec  # noqa: E402
from test_treepool import NODE, container, slot_of, tree_R  # noqa: E402

adapter = importlib.import_module("fluxpool.flux")
flux_rp = importlib.import_module("flux.resource.ResourcePool")   # the module


def req(pool, resources):
    return pool.parse_resource_request(spec(resources))


def test_adapter_treepool_is_a_flux_resource_pool():
    pool = adapter.TreePool(tree_R(), log=None)
    assert isinstance(pool, flux_rp.ResourcePool)
    assert isinstance(pool.impl, TreeRv1Pool)
    assert pool.impl.name == f"fluxpool-{fluxpool.__version__}:TreeRv1Pool(best-fit)"
    assert adapter.StrictTreePool(tree_R()).impl.name.endswith("TreeRv1Pool(best-fit, strict)")
    assert pool.version == 1 and "strict" in pool.impl.known_options


def test_adapter_treepool_exceptions_are_both_kinds():
    pool = adapter.TreePool(tree_R())
    with pytest.raises(FluxInfeasible) as info:
        pool.alloc(1, req(pool, slot_of(1, container("rack"))))
    assert isinstance(info.value, fluxpool.InfeasibleRequest)
    pool.alloc(1, req(pool, nodes(4, slot_of(1, container("socket"), ))))
    pool.alloc(2, req(pool, nodes(4, slot_of(1, container("socket")))))
    with pytest.raises(FluxInsufficient) as info:
        pool.alloc(3, req(pool, slot_of(1, container("numa"))))
    assert isinstance(info.value, fluxpool.InsufficientResources)
    with pytest.raises(FluxInfeasible):
        pool.impl.check_feasibility(req(pool, slot_of(17, container("numa"))))


def test_adapter_treepool_results_views_and_copies():
    pool = adapter.TreePool(tree_R())
    got = pool.alloc(1, req(pool, slots(1, cores=2, gpus=1)))
    assert type(got) is adapter.TreePool and type(pool.copy()) is adapter.TreePool
    assert got.to_dict()["scheduling"]["children"] == [{"ranks": "0", "topo": NODE}]
    assert isinstance(pool.copy_allocated(), FluxResourceSet)
    assert pool.copy_allocated().dumps() == "rank0/core[0-1],gpu0"
    pool.mark_down(IDset("3"))
    pool.remove_ranks(IDset("2"))
    assert pool.copy_down().dumps() == "rank3/core[0-15],gpu[0-3]"
    assert pool.to_dict()["scheduling"]["children"][0]["ranks"] == "0-1,3"


def test_writer_uri_resolves_to_the_adapter():
    cls = flux_rp._pool_class_from_uri("fluxpool.flux:TreePool")
    assert cls is adapter.TreePool
    scheduler = importlib.import_module("flux.scheduler").Scheduler
    R = tree_R()
    R["scheduling"]["writer"] = "fluxpool.flux:TreePool"
    fake = types.SimpleNamespace(pool_class=None, log=None, pool_kwargs={"strict": True})
    pool = scheduler._make_pool(fake, R)
    assert type(pool) is adapter.TreePool and pool.impl.strict


def test_scheduler_hello_path_with_jobs_off_rank_0():
    """The scheduler's reload (SPEC §11 Restart): each job's R through the pool
    class, then register_alloc; flux-core's TreePool refuses the first (T1)."""
    pool = adapter.TreePool(tree_R())
    pool.alloc(1, req(pool, nodes(1, slots(1, cores=16))))
    job = pool.alloc(2, req(pool, nodes(2, slots(1, cores=4, gpus=1))))
    R_job = job.to_dict()
    with pytest.raises(ValueError, match="zero-origin"):
        importlib.import_module("flux.resource.TreePool").TreePool(R_job)
    fresh = adapter.TreePool(pool.to_dict())
    stripped = adapter.TreePool(R_job)
    stripped.remove_ranks(IDset("1"))                # the partial-ok strip
    fresh.register_alloc(2, adapter.TreePool(stripped.to_dict()))
    assert fresh.copy_allocated().dumps() == "rank2/core[0-3],gpu0"
    fresh.free(2, flux_rp.ResourcePool(stripped.to_dict()), final=True)
    assert fresh.copy_allocated().dumps() == ""
