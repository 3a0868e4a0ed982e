"""Feasibility: SPEC §6 and §14 cases 88-93 (messages exactly as the SPEC writes them)."""

import pytest

from fluxpool import InfeasibleRequest, InsufficientResources

from specdata import POLICIES, make_pool, nodes, request, slots, snapshot


def infeasible(pool, resources, constraint=None):
    """check_feasibility's message; alloc must raise the same InfeasibleRequest, unchanged."""
    req = request(pool, resources, constraint=constraint)
    before = snapshot(pool)
    with pytest.raises(InfeasibleRequest) as info:
        pool.check_feasibility(req)
    message = str(info.value)
    with pytest.raises(InfeasibleRequest) as info:
        pool.alloc(1, req)
    assert str(info.value) == message
    assert snapshot(pool) == before
    return message


@pytest.mark.parametrize("policy", POLICIES)
def test_case_88_feasibility_ignores_allocations_and_down(policy):
    """case 88: (all) GRID fully allocated and all down: slots(1) is still feasible."""
    pool = make_pool("GRID", policy)
    pool.alloc(1, request(pool, slots(32)))
    pool.mark_down("all")
    req = request(pool, slots(1))
    before = snapshot(pool)
    assert pool.check_feasibility(req) is None
    assert snapshot(pool) == before
    # and alloc reports "not now", not "never"
    with pytest.raises(InsufficientResources) as info:
        pool.alloc(2, req)
    assert not isinstance(info.value, InfeasibleRequest)
    # node and exclusive requests too
    for resources in (nodes(4, slots(1, cores=8)), nodes(4, slots(1), exclusive=True)):
        assert pool.check_feasibility(request(pool, resources)) is None
    assert snapshot(pool) == before


@pytest.mark.parametrize("policy", POLICIES)
def test_case_89_too_many_nodes(policy):
    """case 89: GRID nodes(5, slots(1)) → need 5 node(s), only 4 eligible."""
    pool = make_pool("GRID", policy)
    assert infeasible(pool, nodes(5, slots(1))) == (
        "unsatisfiable request: need 5 node(s) with 1 cores each, only 4 eligible"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_case_89_node_message_with_gpus(policy):
    """case 89 (§6): the node message names GPUs when the slot asks for them."""
    pool = make_pool("G2", policy)
    assert infeasible(pool, nodes(3, slots(1, cores=2, gpus=1))) == (
        "unsatisfiable request: need 3 node(s) with 2 cores and 1 GPUs each, only 2 eligible"
    )
    # per-node size counts: 2 slots of 5 cores need 10 cores per node, no rank has that
    assert infeasible(pool, nodes(1, slots(2, cores=5))) == (
        "unsatisfiable request: need 1 node(s) with 10 cores each, only 0 eligible"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_case_90_slot_too_big(policy):
    """case 90: GRID slots(1, cores=9) → no 9-core slot anywhere."""
    pool = make_pool("GRID", policy)
    assert infeasible(pool, slots(1, cores=9)) == (
        "unsatisfiable request: need 1 slot(s) of 9 core(s), only 0 such slot(s) available"
        " (total cores: 32)"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_case_90_slots_counted_per_rank(policy):
    """case 90 (§6): slots are counted per rank (cores // slot_size), not from total cores."""
    pool = make_pool("GRID", policy)
    # 32 cores would hold 10 3-core slots, but each 8-core rank holds only 2: 8 in all
    assert infeasible(pool, slots(9, cores=3)) == (
        "unsatisfiable request: need 9 slot(s) of 3 core(s), only 8 such slot(s) available"
        " (total cores: 32)"
    )
    assert pool.check_feasibility(request(pool, slots(8, cores=3))) is None


@pytest.mark.parametrize("policy", POLICIES)
def test_case_91_too_many_exclusive_nodes(policy):
    """case 91: GRID exclusive nodes(5, slots(1)) → need 5 exclusive node(s)."""
    pool = make_pool("GRID", policy)
    assert infeasible(pool, nodes(5, slots(1), exclusive=True)) == (
        "unsatisfiable request: need 5 exclusive node(s), only 4 eligible"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_case_92_not_enough_gpu_slots(policy):
    """case 92: G2 slots(5, cores=1, gpus=1) → only 4 GPU slots exist."""
    pool = make_pool("G2", policy)
    assert infeasible(pool, slots(5, cores=1, gpus=1)) == (
        "unsatisfiable request: need 5 slot(s) with 1 GPU(s) each, only 4 available"
        " (total GPUs: 4)"
    )
    assert pool.check_feasibility(request(pool, slots(4, cores=1, gpus=1))) is None


@pytest.mark.parametrize("policy", POLICIES)
def test_case_93_constraint_limits_eligible_nodes(policy):
    """case 93: MIX nodes(5, slots(1)) restricted to the 4 fat ranks is infeasible."""
    pool = make_pool("MIX", policy)
    message = infeasible(pool, nodes(5, slots(1)), constraint={"properties": ["fat"]})
    assert message == "unsatisfiable request: need 5 node(s) with 1 cores each, only 4 eligible"
    # without the constraint, or with 4 nodes, it is feasible
    assert pool.check_feasibility(request(pool, nodes(5, slots(1)))) is None
    req4 = request(pool, nodes(4, slots(1)), constraint={"properties": ["fat"]})
    assert pool.check_feasibility(req4) is None
