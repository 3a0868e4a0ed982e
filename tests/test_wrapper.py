"""The ResourcePool wrapper and the Rv1Pool constructor: SPEC §1.1, §4 and §14 cases 32-36."""

import pytest

import fluxpool
from fluxpool import (
    InfeasibleRequest,
    InsufficientResources,
    ResourcePool,
    Rv1Pool,
)

from specdata import POLICIES, fixture, slots, spec


def test_case_32_exception_classes():
    """case 32: the wrapper's exception attributes are the package's classes, OSErrors."""
    assert ResourcePool.InsufficientResources is fluxpool.InsufficientResources
    assert ResourcePool.InfeasibleRequest is fluxpool.InfeasibleRequest
    assert issubclass(InsufficientResources, OSError)
    assert issubclass(InfeasibleRequest, OSError)
    assert not issubclass(InsufficientResources, InfeasibleRequest)
    assert not issubclass(InfeasibleRequest, InsufficientResources)
    exc = InsufficientResources("insufficient resources")
    assert str(exc) == "insufficient resources"
    assert str(InfeasibleRequest("nope")) == "nope"


def test_case_32_pool_raises_the_same_classes():
    """case 32: Rv1Pool and the wrapper raise the exported classes."""
    for p in (ResourcePool(fixture("GRID")), Rv1Pool(fixture("GRID"))):
        with pytest.raises(fluxpool.InfeasibleRequest):
            p.alloc(1, p.parse_resource_request(spec(slots(1, cores=9))))
        p.alloc(2, p.parse_resource_request(spec(slots(32))))
        with pytest.raises(ResourcePool.InsufficientResources) as info:
            p.alloc(3, p.parse_resource_request(spec(slots(1))))
        assert str(info.value) == "insufficient resources"


def test_case_32_exports():
    """case 32 (§1.1): the package's public names."""
    for name in ("ResourcePool", "Rv1Pool", "ResourceRequest", "ResourceCount",
                 "ResourceSet", "InsufficientResources", "InfeasibleRequest",
                 "IDset", "Hostlist"):
        assert hasattr(fluxpool, name), name
    assert isinstance(fluxpool.__version__, str) and fluxpool.__version__


def test_case_33_policies():
    """case 33: an unknown policy lists the three names; first-fit is the default."""
    with pytest.raises(ValueError) as info:
        ResourcePool(fixture("GRID"), policy="random-fit")
    msg = str(info.value)
    for name in POLICIES:
        assert name in msg
    with pytest.raises(ValueError):
        Rv1Pool(fixture("GRID"), policy="random-fit")
    assert ResourcePool(fixture("GRID")).policy == "first-fit"
    assert Rv1Pool(fixture("GRID")).policy == "first-fit"
    assert Rv1Pool().policy == "first-fit"
    assert "policy" in Rv1Pool.known_options
    assert Rv1Pool.known_options == frozenset({"policy", "strict"})  # §15
    for name in POLICIES:
        p = ResourcePool(fixture("GRID"), policy=name)
        assert p.policy == name
        assert p.impl.policy == name
        assert p.copy().policy == name
        assert p.alloc(1, p.parse_resource_request(spec(slots(1)))).policy == name


def test_case_33_class_attributes():
    """case 33 (§4.1, §4.2): version, name, impl."""
    p = ResourcePool(fixture("GRID"))
    assert isinstance(p.impl, Rv1Pool)
    assert p.version == 1
    assert Rv1Pool.version == 1
    assert p.impl.name == "Rv1Pool"

    class Custom(Rv1Pool):
        pass

    assert Custom(fixture("GRID")).name == "Custom"
    wrapped = ResourcePool(Custom(fixture("GRID")))
    assert isinstance(wrapped.impl, Custom)
    assert wrapped.version == 1


def test_case_34_subclass_without_init():
    """case 34: alloc() and copy() return the subclass without calling __init__."""
    calls = []

    class MyPool(ResourcePool):
        def __init__(self, R, tag):
            calls.append(tag)
            super().__init__(R, policy="worst-fit")
            self.tag = tag

    p = MyPool(fixture("GRID"), "t")
    assert calls == ["t"]
    result = p.alloc(1, p.parse_resource_request(spec(slots(2))))
    assert type(result) is MyPool
    assert isinstance(result.impl, Rv1Pool)
    assert result.dumps() == "rank0/core[0-1]"
    c = p.copy()
    assert type(c) is MyPool
    assert c.dumps() == p.dumps()
    assert c.copy_allocated().dumps() == "rank0/core[0-1]"
    assert calls == ["t"]
    # the copy works as a pool in its own right
    r2 = c.alloc(2, c.parse_resource_request(spec(slots(1))))
    assert type(r2) is MyPool
    assert calls == ["t"]


def test_case_34_wrapper_unwraps_r_in_free():
    """case 34 (§4.1): free and register_alloc unwrap a wrapper's impl."""
    p = ResourcePool(fixture("GRID"), policy="worst-fit")
    result = p.alloc(1, p.parse_resource_request(spec(slots(2))))
    p.free(1, result, final=True)
    assert p.copy_allocated().dumps() == ""
    p.register_alloc(2, result)
    assert p.copy_allocated().dumps() == "rank0/core[0-1]"


def test_case_35_wrap_an_instance():
    """case 35: ResourcePool(Rv1Pool(GRID)) wraps the instance as is."""
    impl = Rv1Pool(fixture("GRID"))
    p = ResourcePool(impl)
    assert p.dumps() == "rank[0-3]/core[0-7]"
    assert p.impl is impl


def test_case_36_unknown_keyword_accepted():
    """case 36: unknown keyword arguments are accepted and ignored."""
    p = ResourcePool(fixture("GRID"), unknown_option=1)
    assert p.dumps() == "rank[0-3]/core[0-7]"
    assert p.policy == "first-fit"
    assert Rv1Pool(fixture("GRID"), unknown_option=1, other="x").dumps() == "rank[0-3]/core[0-7]"


def test_case_36_log_keyword():
    """case 36 (§4.1): log= is accepted by both classes."""
    seen = []
    p = ResourcePool(fixture("GRID"), log=lambda level, msg: seen.append((level, msg)))
    p.alloc(1, p.parse_resource_request(spec(slots(1))))
    assert len(seen) == 1 and seen[0][1].startswith("alloc: ")
