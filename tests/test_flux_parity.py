"""Worst-fit parity with flux-core's own Rv1Pool (SPEC §12, "Parity domain").

Random operation sequences run on flux-core's pure-Python pool and on
fluxpool's worst-fit pool; placements, exception types and messages, R,
views, job end times and generation must agree after every step. Skipped
where flux-core's Python bindings are not installed (as in CI).
"""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

flux_resource = pytest.importorskip(
    "flux.resource", reason="flux-core's Python bindings (the flux package) are not installed",
    exc_type=ImportError,
)

import fluxpool  # noqa: E402
from specdata import nodes, slots, spec  # noqa: E402


def idset_of(count):
    """Ids 0..count-1 as RFC 22 text."""
    return "0" if count == 1 else f"0-{count - 1}"


@st.composite
def topologies(draw):
    nranks = draw(st.integers(1, 8))
    entries = []
    for rank in range(nranks):
        children = {"core": idset_of(draw(st.integers(1, 8)))}
        ngpus = draw(st.integers(0, 2))
        if ngpus:
            children["gpu"] = idset_of(ngpus)
        entries.append({"rank": str(rank), "children": children})
    return {"version": 1, "execution": {"R_lite": entries, "starttime": 0, "expiration": 0,
                                        "nodelist": [f"n[0-{nranks - 1}]"]}}


@st.composite
def jobspecs(draw):
    cores = draw(st.integers(1, 4))
    gpus = draw(st.integers(0, 1))
    count = draw(st.one_of(st.integers(1, 6), st.just("2-5"), st.just("1+"),
                           st.just({"min": "2", "max": 4.0})))  # int() forms, §3.1
    # RFC 31 constraints in every operand form flux-core reads (SPEC M22)
    constraint = draw(st.sampled_from([
        None, None, {"hostlist": "n[1-3]"}, {"hostlist": ["n0", "n[4-6]"]}, {"ranks": "2-3"},
        {"ranks": 1}, {"ranks": ["0", "4-5"]}, {"not": [{"hostlist": "n0"}]},
        {"or": [{"ranks": "5"}, {"hostlist": "n2"}]}, {"and": []}, {"hostlist": ""},
    ]))
    if draw(st.booleans()):
        child = slots(draw(st.integers(1, 2)), cores=cores, gpus=gpus)
        return spec(nodes(count, child, exclusive=draw(st.booleans())), constraint=constraint)
    return spec(slots(count, cores=cores, gpus=gpus, exclusive=draw(st.booleans())),
                constraint=constraint)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(1, 6), jobspecs()),
        st.tuples(st.just("free"), st.integers(1, 6), st.none()),
        st.tuples(st.just("free-first-rank"), st.integers(1, 6), st.booleans()),
        st.tuples(st.just("remove"), st.integers(0, 7), st.none()),
        st.tuples(st.just("down"), st.integers(0, 7), st.none()),
        st.tuples(st.just("up"), st.integers(0, 7), st.none()),
    ),
    max_size=25,
)


def first_rank_of(R):
    """R holding only the first R_lite entry's first rank (a partial free)."""
    entry = R["execution"]["R_lite"][0]
    rank = entry["rank"].split(",")[0].split("-")[0]
    return {"version": 1, "execution": {"R_lite": [{"rank": rank, "children": entry["children"]}],
                                        "starttime": 0.0, "expiration": 0.0}}


def outcome(pool, op, arg, extra, allocated, make_pool):
    """What one operation shows a caller: a placement or an exception.
    ``allocated`` maps jobid -> R of its allocation (kept per pool)."""
    try:
        if op == "alloc":
            result = pool.alloc(arg, pool.parse_resource_request(extra))
            allocated[arg] = result.to_dict()
            return ("ok", result.dumps(), json.dumps(allocated[arg], sort_keys=True))
        if op == "free":
            pool.free(arg)
        elif op == "free-first-rank":
            if arg not in allocated:
                return ("skip",)
            R = first_rank_of(allocated[arg])
            pool.free(arg, make_pool(R), final=extra)
        elif op == "remove":
            pool.remove_ranks(str(arg))
        elif op == "down":
            pool.mark_down(str(arg))
        else:
            pool.mark_up(str(arg))
        return ("ok",)
    except (fluxpool.InsufficientResources, flux_resource.InsufficientResources) as exc:
        return ("insufficient", str(exc))
    except (fluxpool.InfeasibleRequest, flux_resource.InfeasibleRequest) as exc:
        return ("infeasible", str(exc))
    except ValueError as exc:  # a free whose R does not match the job
        return ("ValueError", str(exc))


def state(pool):
    return (
        json.dumps(pool.to_dict(), sort_keys=True),
        json.dumps(pool.copy_allocated().to_dict(), sort_keys=True),
        json.dumps(pool.copy_down().to_dict(), sort_keys=True),
        [jobid for jobid, _ in pool.job_end_times()],
        pool.generation,
    )


@settings(max_examples=int(os.environ.get("FLUXPOOL_PARITY_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(R=topologies(), ops=operations)
def test_worst_fit_matches_flux_core_rv1pool(R, ops):
    theirs = flux_resource.ResourcePool(R)
    ours = fluxpool.ResourcePool(R, policy="worst-fit")
    ours_allocated, theirs_allocated = {}, {}
    assert state(ours) == state(theirs)
    for op, arg, extra in ops:
        mine = outcome(ours, op, arg, extra, ours_allocated, dict)
        other = outcome(theirs, op, arg, extra, theirs_allocated, flux_resource.ResourcePool)
        assert mine == other, (op, arg)
        assert state(ours) == state(theirs), (op, arg)
