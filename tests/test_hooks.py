"""flux-core's subclass override points (SPEC §16).

A site customises placement by subclassing ``Rv1Pool`` and overriding
``_sort_candidates``, ``_select_resources``, ``_check_feasibility``,
``parse_resource_request`` and ``_init_from_state``. The same subclass source,
based on flux-core's ``Rv1Pool`` or on fluxpool's, must place every job
identically; a class that overrides none keeps the compiled path.
"""

import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fluxpool
from fluxpool import InfeasibleRequest, InsufficientResources, Rv1Pool
from specdata import POLICIES, R, fixture, nodes, slots, spec

try:  # flux-core, where installed (never in CI): the reference the hooks follow
    from flux.resource import InfeasibleRequest as FluxInfeasible
    from flux.resource.Rv1Pool import Rv1Pool as FluxRv1Pool
except ImportError:
    FluxRv1Pool = None

needs_flux = pytest.mark.skipif(FluxRv1Pool is None,
                                reason="flux-core's Python bindings are not installed")


# ------------------------------------------------- subclasses, written once


def site_pools(base, infeasible):
    """Two site pools written once against flux-core's documented hooks, built
    on ``base`` (flux-core's Rv1Pool or fluxpool's). ``infeasible`` is the
    base library's InfeasibleRequest."""

    class RackPool(base):
        """Prefers ranks of the rack with the most candidates, and puts a
        multi-node job on one rack when one rack can hold it."""

        def _rack(self, rank):
            for name, members in sorted(self._properties.items()):
                if name.startswith("rack") and rank in members:
                    return name
            return None

        def _sort_candidates(self, candidates):
            ordered = super()._sort_candidates(candidates)
            size = Counter(self._rack(c[0]) for c in ordered)
            return sorted(ordered, key=lambda c: -size[self._rack(c[0])])

        def _select_resources(self, candidates, request):
            if request.nnodes > 1:
                for rack in dict.fromkeys(self._rack(c[0]) for c in candidates):
                    same = [c for c in candidates if self._rack(c[0]) == rack]
                    if len(same) >= request.nnodes:
                        return super()._select_resources(same, request)
            return super()._select_resources(candidates, request)

    class QuotaPool(base):
        """Adds a feasibility rule: no job may ask for more than 24 cores."""

        calls = 0

        def _check_feasibility(self, request):
            type(self).calls += 1
            super()._check_feasibility(request)
            if request.nslots * request.slot_size > 24:
                raise infeasible("site quota: at most 24 cores per job")

    return RackPool, QuotaPool


RACKS = {
    "version": 1,
    "execution": {
        "R_lite": [
            {"rank": "0-5", "children": {"core": "0-7", "gpu": "0-1"}},
            {"rank": "6-11", "children": {"core": "0-3"}},
        ],
        "starttime": 0,
        "expiration": 0,
        "nodelist": ["n[0-11]"],
        "properties": {"rackA": "0-2,6-7", "rackB": "3-5,8-11", "gpu": "0-5"},
    },
}


def random_jobspec(rng):
    kind = rng.randrange(5)
    if kind == 0:
        resources = slots(rng.randint(1, 12), cores=rng.randint(1, 4))
    elif kind == 1:
        resources = nodes(rng.randint(1, 4), slots(rng.randint(1, 2), cores=rng.randint(1, 2)))
    elif kind == 2:
        resources = nodes(rng.randint(1, 3), slots(1), exclusive=True)
    elif kind == 3:
        resources = slots(rng.randint(1, 4), cores=1, gpus=rng.randint(1, 2))
    else:
        resources = nodes({"min": 1, "max": rng.randint(2, 5)}, slots(1, cores=2))
    constraint = rng.choice([None, None, {"properties": ["rackB"]}, {"hostlist": "n[2-9]"},
                             {"not": [{"ranks": "0-1"}]}])
    return spec(resources, constraint=constraint)


def outcome(call):
    try:
        value = call()
    except (InsufficientResources, InfeasibleRequest, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))
    except Exception as exc:  # flux-core's own exception classes
        return ("error", type(exc).__name__, str(exc))
    return ("ok", value)


def run_sequence(pool, seed, steps=30):
    """Random allocs, frees, partial frees and up/down on ``pool``; the trace of
    what happened (placements, errors, R) after every step."""
    rng = random.Random(seed)
    trace, live, jobid = [], {}, 0
    for _ in range(steps):
        op = rng.random()
        if op < 0.55 or not live:
            jobid += 1
            js = random_jobspec(rng)

            def alloc():
                result = pool.alloc(jobid, pool.parse_resource_request(js))
                live[jobid] = result
                return result.dumps(), json.dumps(result.to_dict(), sort_keys=True)
            trace.append(("alloc", outcome(alloc)))
        elif op < 0.8:
            victim = rng.choice(sorted(live))
            pool.free(victim, live.pop(victim), True)
            trace.append(("free", victim))
        elif op < 0.9:
            feas = js if live else random_jobspec(rng)
            trace.append(("feasible", outcome(
                lambda: pool.check_feasibility(pool.parse_resource_request(feas)))))
        else:
            rank = str(rng.randrange(12))
            (pool.mark_down if rng.random() < 0.5 else pool.mark_up)(rank)
            trace.append(("updown", rank))
        trace.append(json.dumps(pool.to_dict(), sort_keys=True))
        trace.append(pool.copy_allocated().dumps() if hasattr(pool, "copy_allocated") else "")
    return trace


# ---------------------------------------------------------------- the tests


@needs_flux
@pytest.mark.parametrize("which", [0, 1], ids=["rack-sort-select", "quota-feasibility"])
def test_same_subclass_source_places_identically_on_both_bases(which):
    """§16: a subclass written for flux-core's Rv1Pool, based on fluxpool's
    (worst-fit, flux-core's placement) instead, gives equal placements, errors
    and to_dict() on 300 random sequences."""
    ours = site_pools(Rv1Pool, InfeasibleRequest)[which]
    theirs = site_pools(FluxRv1Pool, FluxInfeasible)[which]
    for seed in range(300):
        a = run_sequence(ours(RACKS, policy="worst-fit"), seed)
        b = run_sequence(theirs(RACKS), seed)
        assert a == b, seed


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_hook_path_with_default_hooks_equals_the_compiled_path(policy, seed):
    """§16: a subclass whose hooks only call super() goes through flux-core's
    candidate path and must place exactly as the compiled path does, under
    every policy."""

    class Relay(Rv1Pool):
        def _sort_candidates(self, candidates):
            return super()._sort_candidates(candidates)

    assert Relay._hooked_placement and not Rv1Pool._hooked_placement
    plain = run_sequence(Rv1Pool(RACKS, policy=policy), seed)
    hooked = run_sequence(Relay(RACKS, policy=policy), seed)
    assert plain == hooked


def test_candidates_have_flux_cores_shape():
    """§16: candidates are (rank, info, free_cores, free_gpus) in ascending rank
    order, already filtered for up state, size and constraint; info is a
    read-only mapping with hostname, cores, gpus and up."""
    seen = []

    class Spy(Rv1Pool):
        def _sort_candidates(self, candidates):
            seen.append(candidates)
            return super()._sort_candidates(candidates)

    pool = Spy(RACKS, policy="worst-fit")
    pool.alloc(1, pool.parse_resource_request(spec(slots(1, cores=6))))
    pool.mark_down("1")
    req = pool.parse_resource_request(spec(slots(1, cores=5), constraint={"properties": ["rackA"]}))
    pool.alloc(2, req)
    first, second = seen
    assert [c[0] for c in first] == list(range(6))  # 8-core ranks only
    rank, info, free_cores, free_gpus = first[0]
    assert free_cores == frozenset(range(8)) and free_gpus == frozenset({0, 1})
    assert info["hostname"] == "n0" and info["up"] is True
    assert info["cores"] == frozenset(range(8)) and info["gpus"] == frozenset({0, 1})
    assert set(info) >= {"hostname", "cores", "gpus", "up"}
    with pytest.raises(TypeError):
        info["cores"] = frozenset()
    # rank 0 holds job 1's six cores; rank 1 is down; rackA of 8 cores: 2
    assert [c[0] for c in second] == [2]
    assert second[0][1]["allocated_cores"] == frozenset()


def test_select_resources_result_is_checked():
    """§16: what _select_resources returns is allocated as given, and a
    selection of resources that are not free is refused with the pool unchanged."""

    class Greedy(Rv1Pool):
        def _select_resources(self, candidates, request):
            return [(0, frozenset({0, 1}), frozenset())], 7

    pool = Greedy(RACKS)
    result = pool.alloc(1, pool.parse_resource_request(spec(slots(1))))
    assert result.dumps() == "rank0/core[0-1]"
    assert result.to_dict()["execution"]["nslots"] == 7
    before = json.dumps(pool.copy_allocated().to_dict())
    with pytest.raises(ValueError, match="not free"):
        pool.alloc(2, pool.parse_resource_request(spec(slots(1))))
    assert json.dumps(pool.copy_allocated().to_dict()) == before
    assert [j for j, _ in pool.job_end_times()] == [1]


def test_feasibility_hook_keeps_the_compiled_path():
    """§16: overriding only _check_feasibility (or parse_resource_request)
    keeps the compiled placement; the hook runs in check_feasibility and when
    an allocation finds too little, as in flux-core."""
    _, Quota = site_pools(Rv1Pool, InfeasibleRequest)
    assert not Quota._hooked_placement
    pool = Quota(RACKS, policy="worst-fit")
    with pytest.raises(InfeasibleRequest, match="site quota"):
        pool.check_feasibility(pool.parse_resource_request(spec(slots(25))))
    calls = Quota.calls
    assert pool.alloc(1, pool.parse_resource_request(spec(slots(1)))).dumps() == "rank0/core0"
    assert Quota.calls == calls  # a successful alloc does not ask
    pool.mark_down("all")
    with pytest.raises(InsufficientResources):
        pool.alloc(2, pool.parse_resource_request(spec(slots(2))))
    assert Quota.calls == calls + 1


def test_parse_and_init_from_state_hooks():
    """§16: parse_resource_request is the pool's (the wrapper calls it), and
    _init_from_state carries a subclass's attributes to copies and results."""

    class Site(Rv1Pool):
        def __init__(self, R=None, **kwargs):
            super().__init__(R, **kwargs)
            self.site = "lab"

        def parse_resource_request(self, jobspec):
            request = super().parse_resource_request(jobspec)
            request.duration = 60.0
            return request

        def _init_from_state(self, source):
            self.site = source.site

    wrapper = fluxpool.ResourcePool(Site(RACKS))
    request = wrapper.parse_resource_request(spec(slots(1)))
    assert request.duration == 60.0
    result = wrapper.alloc(1, request)
    assert result.impl.site == "lab" and wrapper.copy().impl.site == "lab"
    assert isinstance(result.impl, Site)


def test_a_hook_exception_propagates():
    """§16: an exception raised by a hook propagates, with the pool unchanged."""

    class Broken(Rv1Pool):
        def _sort_candidates(self, candidates):
            raise RuntimeError("site bug")

    pool = Broken(fixture("GRID"))
    with pytest.raises(RuntimeError, match="site bug"):
        pool.alloc(1, pool.parse_resource_request(spec(slots(1))))
    assert pool.copy_allocated().dumps() == "" and pool.generation == 0


def test_hooked_alloc_errors_are_the_documented_ones():
    """§16: through the hook path, too little free is InsufficientResources and
    never enough is InfeasibleRequest, with flux-core's messages."""

    class Relay(Rv1Pool):
        def _select_resources(self, candidates, request):
            return super()._select_resources(candidates, request)

    pool = Relay(R([("0-1", "0-3")]), policy="worst-fit")
    with pytest.raises(InfeasibleRequest, match="need 3 node"):
        pool.alloc(1, pool.parse_resource_request(spec(nodes(3, slots(1)))))
    pool.alloc(1, pool.parse_resource_request(spec(slots(8))))
    with pytest.raises(InsufficientResources, match="insufficient resources"):
        pool.alloc(2, pool.parse_resource_request(spec(slots(1))))
