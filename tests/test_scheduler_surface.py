"""What flux-core's Python schedulers do with a pool: SPEC §11 and §14 cases 127-130."""

import json

import pytest

from fluxpool import InfeasibleRequest, InsufficientResources, ResourcePool, Rv1Pool

from specdata import POLICIES, fixture, make_pool, nodes, place, request, slots, snapshot

LOG_DEBUG = 7  # syslog levels
LOG_INFO = 6


# ---------------------------------------------------------------- 127 forecast on a copy


@pytest.mark.parametrize("policy", POLICIES)
def test_case_127_forecast_on_copy_leaves_pool_unchanged(policy):
    """case 127: a backfill-style forecast on copy() never touches the original pool."""
    pool = make_pool("GRID", policy)
    place(pool, 1, slots(8))
    place(pool, 2, nodes(2, slots(4)))
    pool.update_expiration(1, 100.0)
    pool.update_expiration(2, 200.0)
    pool.mark_down("3")
    before = snapshot(pool)

    sim = pool.copy()
    queue = [slots(8), slots(16), nodes(3, slots(8)), slots(1)]
    now = 0.0
    started = []
    jobid = 100
    for res in queue:
        req = request(sim, res)
        while True:
            try:
                sim.alloc(jobid, req)
            except InsufficientResources:
                ends = sorted(sim.job_end_times(), key=lambda item: item[1])
                assert ends, "a job must be running if resources are short"
                now = max(now, ends[0][1])
                for j, end in ends:
                    if end <= now:
                        sim.free(j)
                continue
            except InfeasibleRequest:  # pragma: no cover - not expected here
                pytest.fail("feasible request reported infeasible")
            sim.update_expiration(jobid, now + 50.0)
            started.append((jobid, now))
            jobid += 1
            break
    assert [j for j, _ in started] == [100, 101, 102, 103]
    assert sim.generation > pool.generation
    assert snapshot(pool) == before


# ---------------------------------------------------------------- 128 stamping a result


@pytest.mark.parametrize("policy", POLICIES)
def test_case_128_result_times(policy):
    """case 128: set_starttime/set_expiration on a result show in its to_dict()."""
    pool = make_pool("GRID", policy)
    result = pool.alloc(1, request(pool, slots(2), duration=60))
    gen = pool.generation
    before = snapshot(pool)
    result.set_starttime(100.0)
    result.set_expiration(160.0)
    ex = result.to_dict()["execution"]
    assert ex["starttime"] == 100.0
    assert ex["expiration"] == 160.0
    assert result.expiration == 160.0
    assert json.loads(result.encode())["execution"]["expiration"] == 160.0
    # the pool is not affected
    assert pool.generation == gen
    assert snapshot(pool) == before
    # the expiration property setter works on a result too
    result.expiration = 170.0
    assert result.to_dict()["execution"]["expiration"] == 170.0


# ---------------------------------------------------------------- 129 status RPC round trips


@pytest.mark.parametrize("name", ["GRID", "HET", "G2", "MIX", "SPARSE"])
def test_case_129_status_dicts_build_pools(name):
    """case 129: to_dict(), copy_allocated().to_dict(), copy_down().to_dict() rebuild pools."""
    pool = make_pool(name)
    place(pool, 1, slots(3))
    place(pool, 2, nodes(1, slots(1)), duration=60)
    ranks = list(pool.ranks())
    pool.mark_down(str(ranks[-1]))
    pool.set_expiration(9000.0)
    for d in (pool.to_dict(), pool.copy_allocated().to_dict(), pool.copy_down().to_dict()):
        assert d["execution"]["R_lite"], d
        text = json.dumps(d)
        rebuilt = ResourcePool(d)
        assert rebuilt.to_dict() == d
        assert ResourcePool(text).to_dict() == d
        assert Rv1Pool(d).to_dict() == d
        assert rebuilt.dumps() == ResourcePool(json.loads(text)).dumps()
    assert ResourcePool(pool.copy_allocated().to_dict()).dumps() == pool.copy_allocated().dumps()
    assert ResourcePool(pool.copy_down().to_dict()).dumps() == pool.copy_down().dumps()
    assert ResourcePool(pool.to_dict()).dumps() == pool.dumps()


# ---------------------------------------------------------------- 130 logging


def test_case_130_alloc_logs_once_copy_never():
    """case 130: a successful alloc logs one debug "alloc: " message; copies never log."""
    calls = []

    def log(level, message):
        calls.append((level, message))

    pool = ResourcePool(fixture("GRID"), log=log, policy="worst-fit")
    assert calls == []
    result = pool.alloc(1, request(pool, slots(2)))
    assert len(calls) == 1
    level, message = calls[0]
    assert level == LOG_DEBUG
    assert message.startswith("alloc: ")
    assert message.endswith(result.dumps())

    calls.clear()
    sim = pool.copy()
    sim.alloc(2, request(sim, slots(1)))
    sim.free(2)
    sim.free(1)
    sim.register_alloc(3, pool.copy_allocated().to_dict())
    assert calls == []


def test_case_130_free_and_hello_log():
    """case 130 (§4.2): free logs debug "free: ", "(final)" for a final free; hello logs info."""
    calls = []
    pool = Rv1Pool(fixture("GRID"), log=lambda level, msg: calls.append((level, msg)))
    result = pool.alloc(1, request(pool, slots(1)))
    calls.clear()
    pool.free(1, result, final=True)
    assert len(calls) == 1
    assert calls[0][0] == LOG_DEBUG
    assert calls[0][1].startswith("free: ")
    assert calls[0][1].endswith(" (final)")
    calls.clear()
    pool.register_alloc(2, result.to_dict())
    assert len(calls) == 1
    assert calls[0][0] == LOG_INFO
    assert calls[0][1].startswith("hello: ")


def test_case_130_no_logger_is_fine():
    """case 130: without a logger, alloc/free work and nothing is required of the caller."""
    pool = make_pool("GRID")
    pool.free(1, pool.alloc(1, request(pool, slots(1))), final=True)
    assert pool.job_end_times() == []
