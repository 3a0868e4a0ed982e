"""register_alloc, update_expiration, job_end_times: SPEC §7 and §14 cases 105-109."""

import json

import pytest

from fluxpool import ResourcePool

from specdata import R, make_pool, place, slots, snapshot


def test_case_105_register_alloc_records_job():
    """case 105: GRID register_alloc(42, rank 1 cores 0-3, expiration 9000)."""
    pool = make_pool("GRID")
    gen = pool.generation
    pool.register_alloc(42, R([("1", "0-3")], expiration=9000))
    assert pool.job_end_times() == [(42, 9000.0)]
    assert pool.copy_allocated().dumps() == "rank1/core[0-3]"
    assert pool.generation == gen + 1
    pool.free(42)
    assert pool.copy_allocated().dumps() == ""
    assert pool.job_end_times() == []


def test_case_105_registered_cores_are_not_reallocated():
    """case 105: cores registered for job 42 are not handed out again."""
    pool = make_pool("GRID")
    pool.register_alloc(42, R([("1", "0-3")], expiration=9000))
    assert place(pool, 1, slots(1), constraint={"ranks": ["1"]}) == "rank1/core4"
    pool.free(42, final=True)
    assert pool.copy_allocated().dumps() == "rank1/core4"
    assert pool.job_end_times() == [(1, 0.0)]


@pytest.mark.parametrize(
    "as_arg",
    [lambda d: d, json.dumps, ResourcePool, lambda d: ResourcePool(d).to_resource_set()],
    ids=["dict", "json", "pool", "view"],
)
def test_case_105_register_alloc_R_forms(as_arg):
    """case 105: R may be a dict, JSON text, a pool or a view (§7)."""
    pool = make_pool("GRID")
    pool.register_alloc(42, as_arg(R([("1", "0-3")], expiration=9000)))
    assert pool.job_end_times() == [(42, 9000.0)]
    assert pool.copy_allocated().dumps() == "rank1/core[0-3]"


def test_case_106_register_unknown_rank():
    """case 106: R naming rank 9 (not in GRID) → ValueError mentioning 9, nothing changes."""
    pool = make_pool("GRID")
    place(pool, 1, slots(1))
    before = snapshot(pool)
    with pytest.raises(ValueError) as info:
        pool.register_alloc(43, R([("2,9", "0")]))
    assert "9" in str(info.value)
    assert "allocation contains ranks not in resource pool" in str(info.value)
    assert snapshot(pool) == before


def test_case_107_register_on_down_rank():
    """case 107: registering on a down rank is accepted."""
    pool = make_pool("GRID")
    pool.mark_down("1")
    gen = pool.generation
    pool.register_alloc(7, R([("1", "0-3")]))
    assert pool.copy_allocated().dumps() == "rank1/core[0-3]"
    assert pool.copy_down().dumps() == "rank1/core[0-7]"
    assert pool.job_end_times() == [(7, 0.0)]
    assert pool.generation == gen + 1


def test_case_107_register_over_existing_allocation():
    """case 107: registering over an existing allocation is accepted (M14)."""
    pool = make_pool("GRID")
    assert place(pool, 5, slots(1)) == "rank0/core0"
    pool.register_alloc(6, R([("0", "0-1")]))
    assert pool.copy_allocated().dumps() == "rank0/core[0-1]"
    assert pool.job_end_times() == [(5, 0.0), (6, 0.0)]


def test_case_108_update_expiration():
    """case 108: update_expiration of a recorded job bumps generation; unknown job does nothing."""
    pool = make_pool("GRID")
    place(pool, 11, slots(1))
    gen = pool.generation
    pool.update_expiration(11, 500.0)
    assert pool.job_end_times() == [(11, 500.0)]
    assert pool.generation == gen + 1
    before = snapshot(pool)
    pool.update_expiration(999, 1.0)
    assert snapshot(pool) == before
    assert pool.job_end_times() == [(11, 500.0)]


def test_case_109_job_end_times_in_first_recorded_order():
    """case 109: jobs 3, 1, 2 listed in that order; re-allocating 3 keeps it first."""
    pool = make_pool("GRID")
    for jobid in (3, 1, 2):
        place(pool, jobid, slots(1))
    assert [j for j, _ in pool.job_end_times()] == [3, 1, 2]
    place(pool, 3, slots(1), duration=60)
    ends = pool.job_end_times()
    assert [j for j, _ in ends] == [3, 1, 2]
    assert ends[0][1] > 0.0  # the replaced record has the new end time


def test_case_109_partial_free_keeps_place():
    """case 109: a partially freed record keeps its place in job_end_times()."""
    pool = make_pool("GRID")
    place(pool, 3, slots(2), constraint={"ranks": ["0-1"]})
    place(pool, 1, slots(1))
    place(pool, 2, slots(1))
    pool.free(3, R([("0", "0")]))
    assert [j for j, _ in pool.job_end_times()] == [3, 1, 2]
    pool.update_expiration(3, 77.0)
    assert pool.job_end_times()[0] == (3, 77.0)
