"""Generation and atomicity: SPEC §10 and §14 cases 125-126."""

import json

import pytest

from fluxpool import (
    InfeasibleRequest,
    InsufficientResources,
    ResourceCount,
    ResourcePool,
    ResourceRequest,
)

from specdata import (
    POLICIES,
    R,
    fixture,
    make_pool,
    nodes,
    place,
    request,
    slots,
    snapshot,
    spec,
)


# ---------------------------------------------------------------- 125


@pytest.mark.parametrize("policy", POLICIES)
def test_case_125_generation_sequence(policy):
    """case 125: generation after each step of the sequence in the SPEC."""
    pool = make_pool("GRID", policy)
    results = []
    assert pool.generation == 0
    results.append(pool.alloc(1, request(pool, slots(1))))
    assert pool.generation == 1
    with pytest.raises(InfeasibleRequest):
        pool.alloc(2, request(pool, slots(1, cores=9)))
    assert pool.generation == 1
    with pytest.raises(InsufficientResources):
        pool.alloc(2, request(pool, slots(32)))
    assert pool.generation == 1
    assert pool.check_feasibility(request(pool, slots(1))) is None
    assert pool.generation == 1
    pool.free(1)
    assert pool.generation == 2
    pool.mark_down("0")
    assert pool.generation == 3
    pool.mark_up("0")
    assert pool.generation == 4
    pool.set_expiration(5.0)
    assert pool.generation == 4
    assert pool.expiration == 5.0
    pool.expiration = 6.0
    assert pool.generation == 4
    assert pool.expiration == 6.0
    results.append(pool.alloc(3, request(pool, slots(2))))
    assert pool.generation == 5
    pool.update_expiration(3, 100.0)
    assert pool.generation == 6
    pool.remove_ranks("3")
    assert pool.generation == 7
    assert pool.copy().generation == 7
    for result in results:
        assert result.generation == 0


def test_case_125_no_bump_for_reads():
    """case 125: parsing, views, serialisation and set_starttime do not bump generation."""
    pool = make_pool("MIX")
    place(pool, 1, slots(1))
    gen = pool.generation
    pool.parse_resource_request(spec(slots(3)))
    pool.copy()
    pool.copy_allocated()
    pool.copy_down()
    pool.to_resource_set()
    pool.to_dict()
    pool.encode()
    pool.dumps()
    pool.count("core")
    pool.job_end_times()
    pool.set_starttime(3.0)
    pool.ranks()
    pool.nodelist()
    pool.nnodes()
    assert pool.generation == gen


def test_case_125_calls_on_result_do_not_bump():
    """case 125: any call on an allocation result leaves the pool's generation alone."""
    pool = make_pool("GRID")
    result = pool.alloc(1, request(pool, slots(4)))
    gen = pool.generation
    result.set_starttime(1.0)
    result.set_expiration(2.0)
    result.alloc(9, request(result, slots(1)))
    result.free(9)
    result.mark_down("all")
    result.remove_ranks("0")
    assert pool.generation == gen
    assert pool.copy_allocated().dumps() == "rank0/core[0-3]"


def test_case_125_no_op_frees_and_unknown_updates_do_not_bump():
    """case 125: free of an unknown job and update_expiration of one do not bump."""
    pool = make_pool("GRID")
    place(pool, 1, slots(1))
    gen = pool.generation
    pool.free(77)
    pool.free(77, final=True)
    pool.update_expiration(77, 5.0)
    assert pool.generation == gen
    pool.register_alloc(8, R([("2", "0")]))
    assert pool.generation == gen + 1


# ---------------------------------------------------------------- 126


def busy_grid():
    """GRID with the three-node job 11, job 12 and rank 3 down."""
    pool = make_pool("GRID")
    assert place(pool, 11, nodes(3, slots(1, cores=2))) == "rank[0-2]/core[0-1]"
    place(pool, 12, slots(1), duration=60)
    pool.mark_down("3")
    return pool


def assert_unchanged(pool, call, exc):
    before = snapshot(pool)
    with pytest.raises(exc):
        call()
    assert snapshot(pool) == before


BAD_IDSETS = [  # cases 5-7
    "3-1", "1-1", "a", "-1", "01", " 1", "1 ", "3,1", "1,1", "0-4,3", "[1", "1]", "[[1]]",
    "1-", "+1", "1.5", "1,,2", ",1", "1,", "0-4000000000",
]


@pytest.mark.parametrize("ids", BAD_IDSETS)
def test_case_126_bad_idsets_change_nothing(ids):
    """case 126 (cases 5-7): an invalid idset given to any pool method changes nothing."""
    pool = busy_grid()
    assert_unchanged(pool, lambda: pool.mark_down(ids), ValueError)
    assert_unchanged(pool, lambda: pool.mark_up(ids), ValueError)
    assert_unchanged(pool, lambda: pool.remove_ranks(ids), ValueError)
    bad_rank = {"version": 1, "execution": {"R_lite": [{"rank": ids, "children": {"core": "0"}}]}}
    bad_core = {"version": 1, "execution": {"R_lite": [{"rank": "1", "children": {"core": ids}}]}}
    for bad in (bad_rank, bad_core):
        assert_unchanged(pool, lambda: pool.free(11, bad), ValueError)
        assert_unchanged(pool, lambda: pool.free(11, bad, final=True), ValueError)
        assert_unchanged(pool, lambda: pool.register_alloc(50, bad), ValueError)


def _r(**execution):
    d = R([("0", "0-1")])
    d["execution"].update(execution)
    return d


def _no_version():
    d = R([("0", "0-1")])
    del d["version"]
    return d


def _no_rank():
    return {"version": 1, "execution": {"R_lite": [{"children": {"core": "0"}}]}}


BAD_R = [  # cases 25-29
    ("no-version", _no_version(), KeyError),
    ("version-2", dict(R([("0", "0")]), version=2), ValueError),
    ("list", [fixture("GRID")], TypeError),
    ("int", 42, TypeError),
    ("float", 3.5, TypeError),
    ("bytes", b"{}", TypeError),
    ("bad-json", '{"version": 1, "execution": ', ValueError),
    ("dup-rank", R([("0-1", "0"), ("1-2", "0")]), ValueError),
    ("no-rank", _no_rank(), KeyError),
    ("rlite-str", _r(R_lite="0-1"), (ValueError, TypeError)),
    ("props-list", _r(properties=["x"]), (ValueError, TypeError)),
    ("starttime-str", _r(starttime="soon"), (ValueError, TypeError)),
    ("nodelist-ints", _r(nodelist=[1, 2]), (ValueError, TypeError)),
]


# keys free/register_alloc read no further than ranks and ids (§7): a bad value there need
# not be an error, but if it is one it must be a documented type and change nothing
IGNORABLE = {"props-list", "starttime-str", "nodelist-ints"}


@pytest.mark.parametrize("name, bad, exc", BAD_R, ids=[b[0] for b in BAD_R])
def test_case_126_bad_R_changes_nothing(name, bad, exc):
    """case 126 (cases 25-29): a bad R given to free or register_alloc changes nothing."""
    calls = [
        lambda p: p.free(11, bad),
        lambda p: p.free(11, bad, final=True),
        lambda p: p.free(4242, bad),
        lambda p: p.register_alloc(50, bad),
    ]
    for call in calls:
        pool = busy_grid()
        if name in IGNORABLE:
            before = snapshot(pool)
            try:
                call(pool)
            except (ValueError, TypeError):
                assert snapshot(pool) == before
        else:
            assert_unchanged(pool, lambda: call(pool), exc)
    pool = busy_grid()
    before = snapshot(pool)
    with pytest.raises(exc):
        ResourcePool(bad)
    assert snapshot(pool) == before


BAD_COUNTS = [  # case 48
    0, -2, {"min": 0, "max": 3}, {"min": 5, "max": 2}, "6-3", "0", "many",
    {"min": 2, "operator": "*", "operand": 2}, "3+:2:*",
    {"min": 1, "max": 9, "operator": "/", "operand": 3},
]


@pytest.mark.parametrize("count", BAD_COUNTS, ids=json.dumps)
def test_case_126_bad_counts_change_nothing(count):
    """case 126 (case 48): a bad count fails parse_resource_request and changes nothing."""
    pool = busy_grid()
    assert_unchanged(pool, lambda: pool.parse_resource_request(spec(slots(count))), ValueError)
    assert_unchanged(
        pool, lambda: pool.parse_resource_request(spec(nodes(count, slots(1)))), ValueError
    )


def test_case_126_g2_failures_change_nothing():
    """case 126 (cases 63, 64): a fifth GPU job and a 3-GPU slot change nothing."""
    pool = make_pool("G2")
    for j in range(1, 5):
        place(pool, j, slots(1, cores=1, gpus=1))
    pool.mark_down("1")
    assert_unchanged(pool, lambda: place(pool, 5, slots(1, cores=1, gpus=1)),
                     InsufficientResources)
    assert_unchanged(pool, lambda: place(pool, 6, slots(1, cores=1, gpus=3)),
                     InfeasibleRequest)
    assert_unchanged(pool, lambda: pool.check_feasibility(request(pool, slots(1, gpus=3))),
                     InfeasibleRequest)


@pytest.mark.parametrize("policy", POLICIES)
def test_case_126_bad_constraint_changes_nothing(policy):
    """case 126 (case 71): an unknown constraint operator changes nothing."""
    pool = make_pool("MIX", policy)
    place(pool, 1, slots(3), duration=60)
    pool.mark_down("2")
    bad = {"frobnicate": ["x"]}
    req = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0, bad, False)
    assert_unchanged(pool, lambda: request(pool, slots(1), constraint=bad), ValueError)
    assert_unchanged(pool, lambda: pool.alloc(2, req), ValueError)
    assert_unchanged(pool, lambda: pool.check_feasibility(req), ValueError)


def test_case_126_discrete_counts_change_nothing():
    """case 126 (case 73): a discrete slot count changes nothing."""
    pool = busy_grid()
    req = request(pool, slots("1,3"))
    assert_unchanged(pool, lambda: pool.alloc(1, req), InfeasibleRequest)
    assert_unchanged(pool, lambda: pool.check_feasibility(req), InfeasibleRequest)


def test_case_126_free_errors_change_nothing():
    """case 126 (cases 96-98): free inconsistencies change nothing."""
    pool = busy_grid()
    for final in (False, True):
        assert_unchanged(pool, lambda: pool.free(11, R([("1,3", "0-1")]), final=final),
                         ValueError)
    assert_unchanged(pool, lambda: pool.free(11, R([("0-1", "0-1")]), final=True), ValueError)
    assert_unchanged(pool, lambda: pool.free(11, R([("0-2", "0")]), final=True), ValueError)
    pool.free(11, R([("1", "0-1")]))
    assert_unchanged(pool, lambda: pool.free(11, R([("0-2", "0-1")]), final=True), ValueError)


def test_case_126_register_and_mark_errors_change_nothing():
    """case 126 (cases 106, 112): register_alloc on unknown ranks and mark_down("x")."""
    pool = busy_grid()
    assert_unchanged(pool, lambda: pool.register_alloc(43, R([("2,9", "0")])), ValueError)
    assert_unchanged(pool, lambda: pool.mark_down("x"), ValueError)
    assert_unchanged(pool, lambda: pool.mark_up("x"), ValueError)
