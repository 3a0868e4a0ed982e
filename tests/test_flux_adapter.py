"""The optional Flux adapter fluxpool.flux: SPEC §11 and §14 case 137.

Runs only where flux-core's Python bindings can be imported."""

import importlib

import pytest

pytest.importorskip(
    "flux.resource",
    reason="flux-core's Python bindings (the flux package) are not installed",
    exc_type=ImportError,
)

import fluxpool  # noqa: E402
from fluxpool import ResourceSet as FluxpoolResourceSet  # noqa: E402

from specdata import R, fixture, nodes, request, slots  # noqa: E402


def flux_class(module, name):
    """A class from flux.resource.<module> (flux-core keeps one class per module)."""
    return getattr(importlib.import_module(f"flux.resource.{module}"), name)


@pytest.fixture(scope="module")
def flux_api():
    impl = importlib.import_module("flux.resource.ResourcePoolImplementation")
    return {
        "ResourcePool": flux_class("ResourcePool", "ResourcePool"),
        "ResourceSet": flux_class("ResourceSet", "ResourceSet"),
        "InsufficientResources": impl.InsufficientResources,
        "InfeasibleRequest": impl.InfeasibleRequest,
        "IDset": importlib.import_module("flux.idset").IDset,
    }


@pytest.fixture(scope="module")
def adapter():
    return importlib.import_module("fluxpool.flux")


def test_case_137_adapter_classes(adapter, flux_api):
    """case 137: the adapter's pools are flux-core ResourcePools holding a fluxpool Rv1Pool."""
    FluxPool = flux_api["ResourcePool"]
    for cls, policy in ((adapter.FirstFitPool, "first-fit"),
                        (adapter.WorstFitPool, "worst-fit"),
                        (adapter.BestFitPool, "best-fit")):
        pool = cls(fixture("GRID"))
        assert isinstance(pool, FluxPool)
        assert isinstance(pool.impl, fluxpool.Rv1Pool)
        assert pool.impl.policy == policy
        assert pool.version == 1
    assert adapter.pool_class is adapter.FirstFitPool
    assert adapter.WorstFitPool(fixture("GRID"), policy="best-fit").impl.policy == "best-fit"


def test_case_137_exceptions_are_both_kinds(adapter, flux_api):
    """case 137: an alloc that cannot fit raises an exception of both libraries' classes."""
    pool = adapter.WorstFitPool(fixture("GRID"))
    pool.alloc(1, request(pool, slots(32)))
    with pytest.raises(flux_api["InsufficientResources"]) as info:
        pool.alloc(2, request(pool, slots(1)))
    assert isinstance(info.value, fluxpool.InsufficientResources)
    assert str(info.value) == "insufficient resources"
    for call in (lambda r: pool.alloc(3, r), pool.check_feasibility):
        with pytest.raises(flux_api["InfeasibleRequest"]) as info:
            call(request(pool, slots(1, cores=9)))
        assert isinstance(info.value, fluxpool.InfeasibleRequest)


def test_case_137_views_are_flux_resource_sets(adapter, flux_api):
    """case 137: copy_allocated() etc. return flux-core ResourceSets equal to fluxpool's views."""
    pool = adapter.WorstFitPool(fixture("GRID"))
    reference = fluxpool.ResourcePool(fixture("GRID"), policy="worst-fit")
    for p in (pool, reference):
        p.alloc(1, request(p, nodes(2, slots(3))))
        p.mark_down("3")
    for method in ("copy_allocated", "copy_down", "to_resource_set"):
        view = getattr(pool, method)()
        assert isinstance(view, flux_api["ResourceSet"])
        assert not isinstance(view, FluxpoolResourceSet)
        assert view.to_dict() == getattr(reference, method)().to_dict()


def test_case_137_alloc_and_copy_stay_adapter_instances(adapter):
    """case 137 (§11 item 3): alloc() and copy() return adapter instances."""
    pool = adapter.WorstFitPool(fixture("GRID"))
    result = pool.alloc(1, request(pool, slots(1)))
    assert isinstance(result, adapter.WorstFitPool)
    assert result.dumps() == "rank0/core0"
    assert isinstance(pool.copy(), adapter.WorstFitPool)


def test_case_137_flux_objects_as_arguments(adapter, flux_api):
    """case 137: free(jobid, flux ResourcePool(R)) and remove_ranks(flux IDset("1")) work."""
    pool = adapter.WorstFitPool(fixture("GRID"))
    assert pool.alloc(11, request(pool, nodes(3, slots(1, cores=2)))).dumps() == (
        "rank[0-2]/core[0-1]"
    )
    pool.free(11, flux_api["ResourcePool"](R([("1", "0-1")])))
    assert pool.impl.copy_allocated().dumps() == "rank[0,2]/core[0-1]"
    assert [j for j, _ in pool.job_end_times()] == [11]
    pool.free(11, flux_api["ResourcePool"](R([("0,2", "0-1")])), final=True)
    assert pool.job_end_times() == []
    gen = pool.generation
    pool.remove_ranks(flux_api["IDset"]("1"))
    assert str(pool.impl.ranks()) == "0,2-3"
    assert pool.generation == gen + 1
    pool.mark_down(flux_api["IDset"]("2"))
    assert pool.impl.copy_down().dumps() == "rank2/core[0-7]"
    pool.register_alloc(5, flux_api["ResourcePool"](R([("0", "0-3")])))
    assert pool.impl.copy_allocated().dumps() == "rank0/core[0-3]"


def test_strict_adapter_classes(adapter, flux_api):
    """§15: the adapter offers strict classes; their pools refuse what strict
    mode refuses and say so in their name."""
    for name, policy in (("StrictFirstFitPool", "first-fit"),
                         ("StrictWorstFitPool", "worst-fit"),
                         ("StrictBestFitPool", "best-fit")):
        cls = getattr(adapter, name)
        pool = cls(fixture("GRID"))
        assert isinstance(pool, flux_api["ResourcePool"])
        assert pool.impl.strict and pool.impl.policy == policy
        assert pool.impl.name.endswith(f"({policy}, strict)")
        with pytest.raises(ValueError, match="already holds"):
            pool.alloc(1, request(pool, slots(1)))
            pool.alloc(1, request(pool, slots(1)))
    with pytest.raises(ValueError, match="nodelist"):
        adapter.StrictFirstFitPool(R([("0-3", "0")], nodelist=["n[0-1]"]))
    assert not adapter.WorstFitPool(fixture("GRID")).impl.strict
    assert adapter.WorstFitPool(fixture("GRID"), strict=True).impl.strict


def test_pool_class_for_a_site_subclass(adapter, flux_api):
    """§16: fluxpool.flux turns a site's subclass of fluxpool's Rv1Pool into a
    pool class flux-core's scheduler accepts, with the subclass's hooks live
    and the adapter's exceptions."""

    class LastRankFirst(fluxpool.Rv1Pool):
        def _sort_candidates(self, candidates):
            return sorted(candidates, key=lambda c: -c[0])

    cls = adapter.pool_class_for(LastRankFirst, policy="worst-fit")
    assert cls is adapter.pool_class_for(LastRankFirst, policy="worst-fit")
    assert issubclass(cls, flux_api["ResourcePool"])
    pool = cls(fixture("GRID"), log=None)
    assert isinstance(pool.impl, LastRankFirst)
    assert pool.impl.name.endswith(":LastRankFirst(worst-fit)")
    assert pool.alloc(1, request(pool, slots(1))).dumps() == "rank3/core0"
    with pytest.raises(flux_api["InfeasibleRequest"]):
        pool.alloc(2, request(pool, nodes(5, slots(1))))
    assert type(pool.copy()) is cls
    with pytest.raises(TypeError):
        adapter.pool_class_for(dict)
    with pytest.raises(ValueError):
        adapter.pool_class_for(LastRankFirst, policy="random-fit")
