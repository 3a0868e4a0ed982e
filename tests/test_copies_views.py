"""copy(), to_resource_set(), copy_allocated(), copy_down(), ResourceSet:
SPEC §9 and §14 cases 117-124."""

import json

import pytest

from fluxpool import (
    Hostlist,
    IDset,
    InfeasibleRequest,
    InsufficientResources,
    ResourcePool,
    ResourceSet,
)

from specdata import POLICIES, R, fixture, make_pool, nodes, place, request, slots, snapshot


def busy(name="GRID", policy="worst-fit"):
    """A pool with two jobs and a down rank."""
    pool = make_pool(name, policy)
    place(pool, 1, slots(1))
    place(pool, 2, nodes(2, slots(2)), duration=60)
    pool.mark_down("3")
    return pool


def outcome(p, jobid, resources, **kw):
    try:
        return p.alloc(jobid, request(p, resources, **kw)).dumps()
    except (InsufficientResources, InfeasibleRequest) as exc:
        return type(exc).__name__, str(exc)


def mutate(p, base):
    """A sequence of mutations (job ids from ``base``); returns what it observed."""
    seen = [outcome(p, base + 1, slots(3)), outcome(p, base + 2, nodes(1, slots(1), exclusive=True))]
    p.free(1)
    p.mark_down("0")
    p.mark_up("3")
    p.update_expiration(2, 1234.0)
    p.remove_ranks("2")
    p.register_alloc(base + 3, R([("1", "7")]))
    seen.append(snapshot(p))
    return seen


# ---------------------------------------------------------------- 117-119 copy()


@pytest.mark.parametrize("policy", POLICIES)
def test_case_117_copy_is_independent(policy):
    """case 117: mutating a copy leaves the original unchanged, and vice versa."""
    pool = busy(policy=policy)
    before = snapshot(pool)
    c = pool.copy()
    assert snapshot(c) == before
    mutate(c, 100)
    assert snapshot(pool) == before
    assert snapshot(c) != before

    pool = busy(policy=policy)
    c = pool.copy()
    c_before = snapshot(c)
    mutate(pool, 100)
    assert snapshot(c) == c_before


def test_case_117_copy_does_not_share_input_or_results():
    """case 117: results of the copy and of the original do not alias each other."""
    pool = busy()
    c = pool.copy()
    r1 = c.alloc(10, request(c, slots(1)))
    r1.set_expiration(55.0)
    r1.mark_down("all")
    assert pool.to_dict()["execution"]["expiration"] == 0.0
    assert pool.copy_down().dumps() == "rank3/core[0-7]"


def test_case_118_copy_keeps_state():
    """case 118: copy() keeps generation, job records, up/down, policy and subclass."""

    class MyPool(ResourcePool):
        pass

    pool = MyPool(fixture("MIX"), policy="best-fit")
    place(pool, 1, slots(1, cores=4))
    place(pool, 2, slots(1, cores=1, gpus=1), duration=60)
    pool.update_expiration(1, 42.0)
    pool.mark_down("9-11")
    c = pool.copy()
    assert type(c) is MyPool
    assert c.impl.policy == "best-fit"
    assert c.generation == pool.generation
    assert c.job_end_times() == pool.job_end_times()
    assert c.job_end_times()[0] == (1, 42.0)
    assert c.copy_down().dumps() == pool.copy_down().dumps() != ""
    assert c.copy_allocated().to_dict() == pool.copy_allocated().to_dict()
    assert c.to_dict() == pool.to_dict()
    # the job records carry their allocations: freeing on the copy releases the right cores
    c.free(2)
    assert c.copy_allocated().dumps() == "rank4/core[0-3]"
    # and the copy keeps placing by best-fit
    assert place(c, 3, slots(1, cores=4)) == "rank4/core[4-7]"


def test_case_118_copy_keeps_times_scheduling_nodelist_not_nslots():
    """case 118 (§9): times, nodelist flag and scheduling are copied; nslots is not (M16)."""
    R_ = fixture("SPARSE")
    R_["execution"].update({"starttime": 5, "expiration": 9000, "nslots": 3})
    R_["scheduling"] = {"writer": "w"}
    pool = ResourcePool(R_)
    c = pool.copy()
    ex = c.to_dict()["execution"]
    assert ex["starttime"] == 5.0 and ex["expiration"] == 9000.0
    assert "nslots" not in ex
    assert "nodelist" not in ex
    assert c.to_dict()["scheduling"] == {"writer": "w"}
    assert pool.to_dict()["execution"]["nslots"] == 3


@pytest.mark.parametrize("policy", POLICIES)
def test_case_119_copy_behaves_identically(policy):
    """case 119: the same operations on a pool and on its copy give identical results."""
    pool = busy("MIX", policy)
    c = pool.copy()
    logs = []
    for p in (pool, c):
        log = []
        for j, res in enumerate([slots(5, cores=3), nodes(2, slots(1, gpus=1)),
                                 slots(1, cores=32), nodes(3, slots(1), exclusive=True),
                                 slots("2-40", cores=2), nodes(20, slots(1))], start=10):
            log.append(outcome(p, j, res))
        p.free(11)
        p.mark_down("4-5")
        log.append(outcome(p, 20, slots(1, cores=8)))
        p.free(20, final=True)
        log.append(snapshot(p))
        logs.append(log)
    assert logs[0] == logs[1]


# ---------------------------------------------------------------- 120-123 views


def test_case_120_copy_allocated_no_nodelist_properties_intersected():
    """case 120: copy_allocated() has no nodelist; properties ∩ allocated ranks, + names kept."""
    R_ = fixture("MIX")
    R_["execution"].update({"starttime": 7, "expiration": 9000})
    R_["scheduling"] = {"writer": "x"}
    pool = ResourcePool(R_, policy="worst-fit")
    place(pool, 1, slots(1), constraint={"ranks": ["0"]})
    place(pool, 2, slots(2), constraint={"ranks": ["9"]})
    place(pool, 3, slots(1), constraint={"ranks": ["5"]})
    view = pool.copy_allocated()
    assert isinstance(view, ResourceSet)
    d = view.to_dict()
    ex = d["execution"]
    assert "nodelist" not in ex
    assert ex["properties"] == {"+local": "0", "debug": "9", "fat": "0"}
    assert list(ex["properties"]) == ["+local", "debug", "fat"]
    assert ex["R_lite"] == [
        {"rank": "0,5", "children": {"core": "0"}},
        {"rank": "9", "children": {"core": "0-1"}},
    ]
    assert ex["starttime"] == 7.0 and ex["expiration"] == 9000.0
    assert "nslots" not in ex
    assert "scheduling" not in d
    assert view.dumps() == "rank[0,5]/core0 rank9/core[0-1]"


def test_case_120_copy_allocated_without_matching_properties():
    """case 120: allocated ranks with no property → no properties key."""
    pool = make_pool("MIX")
    place(pool, 1, slots(1), constraint={"ranks": ["5"]})
    ex = pool.copy_allocated().to_dict()["execution"]
    assert "properties" not in ex
    assert "nodelist" not in ex


def test_case_121_copy_down_no_properties_no_nodelist():
    """case 121: copy_down() shows whole down ranks, no properties, no nodelist."""
    R_ = fixture("MIX")
    R_["execution"].update({"starttime": 7, "expiration": 9000})
    pool = ResourcePool(R_, policy="worst-fit")
    place(pool, 1, slots(1), constraint={"ranks": ["0"]})
    pool.mark_down("0,9")
    view = pool.copy_down()
    ex = view.to_dict()["execution"]
    assert "properties" not in ex
    assert "nodelist" not in ex
    assert ex["R_lite"] == [
        {"rank": "0", "children": {"core": "0-15", "gpu": "0-3"}},
        {"rank": "9", "children": {"core": "0-7"}},
    ]
    assert ex["starttime"] == 7.0 and ex["expiration"] == 9000.0
    assert view.dumps() == "rank0/core[0-15],gpu[0-3] rank9/core[0-7]"


def test_case_122_to_resource_set_is_whole_topology():
    """case 122: to_resource_set() is the whole topology with nodelist, no allocation state."""
    fresh = make_pool("MIX")
    pool = busy("MIX")
    pool.mark_down("0-5")
    view = pool.to_resource_set()
    assert isinstance(view, ResourceSet)
    assert view.dumps() == pool.dumps() == fresh.dumps()
    d = view.to_dict()
    assert d == fresh.to_resource_set().to_dict()
    ex = d["execution"]
    assert ex["nodelist"] == ["node[0-11]"]
    assert ex["properties"] == {"+local": "0", "debug": "9", "fat": "0-3"}
    assert "nslots" not in ex
    assert "scheduling" not in d


def test_case_122_to_resource_set_without_nodelist():
    """case 122: a pool without a nodelist gives a view without one; no nslots/scheduling."""
    R_ = fixture("SPARSE")
    R_["execution"]["nslots"] = 2
    R_["scheduling"] = {"writer": "w"}
    pool = ResourcePool(R_)
    view = pool.to_resource_set()
    d = view.to_dict()
    assert "nodelist" not in d["execution"]
    assert "nslots" not in d["execution"]
    assert "scheduling" not in d
    assert view.dumps() == pool.dumps() == "rank[7,9,20]/core[0-3]"


def test_case_123_views_are_snapshots():
    """case 123: later pool changes do not show in an earlier view."""
    pool = make_pool("GRID")
    place(pool, 1, slots(1))
    alloc_view = pool.copy_allocated()
    alloc_dict = json.dumps(alloc_view.to_dict())
    pool.mark_down("2")
    down_view = pool.copy_down()
    whole = pool.to_resource_set()
    whole_dict = json.dumps(whole.to_dict())

    place(pool, 2, slots(9))
    pool.free(1)
    pool.mark_down("1")
    pool.set_expiration(500.0)
    pool.remove_ranks("3")

    assert json.dumps(alloc_view.to_dict()) == alloc_dict
    assert alloc_view.dumps() == "rank0/core0"
    assert down_view.dumps() == "rank2/core[0-7]"
    assert json.dumps(whole.to_dict()) == whole_dict
    assert whole.dumps() == "rank[0-3]/core[0-7]"
    assert whole.expiration == 0.0


def test_case_124_resource_set_interface():
    """case 124: ResourceSet's ranks, nodelist, count, nnodes, str."""
    pool = make_pool("G2")
    view = pool.to_resource_set()
    assert isinstance(view.ranks, IDset)
    assert str(view.ranks) == "0-1"
    assert list(view.ranks) == [0, 1]
    assert isinstance(view.nodelist, Hostlist)
    assert list(view.nodelist) == ["gpu0", "gpu1"]
    assert str(view.nodelist) == "gpu[0-1]"
    assert view.count("core") == 16
    assert view.count("gpu") == 4
    assert view.count("memory") == 0
    assert view.nnodes == 2
    assert view.ncores == 16
    assert view.ngpus == 4
    assert str(view) == view.dumps() == "rank[0-1]/core[0-7],gpu[0-1]"


def test_case_124_allocated_view_interface():
    """case 124: the same on copy_allocated() of a partly allocated pool."""
    pool = make_pool("MIX")
    place(pool, 1, slots(1, cores=2, gpus=1), constraint={"ranks": ["1"]})
    place(pool, 2, slots(3), constraint={"ranks": ["7"]})
    view = pool.copy_allocated()
    assert isinstance(view.ranks, IDset)
    assert str(view.ranks) == "1,7"
    assert len(view.ranks) == 2 and 7 in view.ranks and 0 not in view.ranks
    assert isinstance(view.nodelist, Hostlist)
    assert list(view.nodelist) == ["node1", "node7"]
    assert view.count("core") == 5
    assert view.count("gpu") == 1
    assert view.count("memory") == 0
    assert view.nnodes == 2
    assert str(view) == view.dumps() == "rank1/core[0-1],gpu0 rank7/core[0-2]"


def test_case_124_pool_methods_vs_view_properties():
    """case 124 (§9): on pools ranks(), nodelist(), nnodes() are methods."""
    pool = make_pool("SPARSE")
    assert isinstance(pool.ranks(), IDset)
    assert str(pool.ranks()) == "7,9,20"
    assert isinstance(pool.nodelist(), Hostlist)
    assert list(pool.nodelist()) == ["rank7", "rank9", "rank20"]
    assert pool.nnodes() == 3
    assert pool.count("core") == 12 and pool.count("gpu") == 0 and pool.count("memory") == 0
