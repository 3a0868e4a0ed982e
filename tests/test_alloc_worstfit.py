"""Allocation under worst-fit (flux-core's placement): SPEC §5 and §14 cases 55-79, 134."""

import json
import time

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


def wf(name="GRID", **kwargs):
    return make_pool(name, "worst-fit", **kwargs)


def alloc(pool, jobid, resources, **kw):
    return pool.alloc(jobid, request(pool, resources, **kw))


def execution(result):
    return result.to_dict()["execution"]


# ---------------------------------------------------------------- 55-59 node and slot requests


def test_case_55_het_three_nodes_one_core_each():
    """case 55: HET, nodes(3, slots(1)) takes core 0 of every rank."""
    pool = wf("HET")
    result = alloc(pool, 1, nodes(3, slots(1)))
    assert result.dumps() == "rank[0-2]/core0"
    assert pool.copy_allocated().dumps() == "rank[0-2]/core0"
    assert execution(result)["nslots"] == 3


def test_case_56_het_worst_fit_prefers_most_free_cores():
    """case 56: HET, slots(1) then nodes(2, slots(1)) spreads by free cores."""
    pool = wf("HET")
    assert place(pool, 1, slots(1)) == "rank0/core0"
    # rank 0 still has 3 free cores, ranks 1-2 have 2: rank 0 first, then rank 1.
    assert place(pool, 2, nodes(2, slots(1))) == "rank0/core1 rank1/core0"
    assert pool.copy_allocated().dumps() == "rank0/core[0-1] rank1/core0"


def test_case_57_slot_range_takes_up_to_max():
    """case 57: GRID, slots("5-12") takes 12 slots: all of rank 0, half of rank 1."""
    pool = wf()
    result = alloc(pool, 1, slots("5-12"))
    assert result.dumps() == "rank0/core[0-7] rank1/core[0-3]"
    assert execution(result)["nslots"] == 12
    assert result.count("core") == 12


def test_case_58_slot_range_under_node_uses_minimum():
    """case 58: GRID, nodes(2, slots("2-4")) takes 2 slots per node, nslots 4 (M7)."""
    pool = wf()
    result = alloc(pool, 1, nodes(2, slots("2-4")))
    assert result.dumps() == "rank[0-1]/core[0-1]"
    assert execution(result)["nslots"] == 4


def test_case_59_two_core_jobs_rotate_over_ranks():
    """case 59: GRID, five 2-core jobs land on ranks 0,1,2,3 then 0 again."""
    pool = wf()
    got = [place(pool, j, slots(1, cores=2)) for j in range(1, 6)]
    assert got == [
        "rank0/core[0-1]",
        "rank1/core[0-1]",
        "rank2/core[0-1]",
        "rank3/core[0-1]",
        "rank0/core[2-3]",
    ]


# ---------------------------------------------------------------- 60-62 exclusive


def test_case_60_exclusive_node_skips_busy_rank():
    """case 60: GRID after a 1-core job: an exclusive node takes a whole free rank."""
    pool = wf()
    assert place(pool, 1, slots(1)) == "rank0/core0"
    result = alloc(pool, 2, nodes(1, slots(1), exclusive=True))
    assert result.dumps() == "rank1/core[0-7]"
    assert pool.copy_allocated().dumps() == "rank0/core0 rank1/core[0-7]"


def test_case_61_exclusive_slot_range_takes_whole_nodes():
    """case 61: GRID, exclusive slots("2-3") takes three whole ranks."""
    pool = wf()
    result = alloc(pool, 1, slots("2-3", exclusive=True))
    assert result.dumps() == "rank[0-2]/core[0-7]"
    assert pool.copy_allocated().dumps() == "rank[0-2]/core[0-7]"


def test_case_62_exclusive_oversized_slot_infeasible_but_placed():
    """case 62: GRID, exclusive 12-core slot: check_feasibility says no, alloc says rank 0 (M8)."""
    pool = wf()
    req = request(pool, nodes(1, slots(1, cores=12), exclusive=True))
    before = snapshot(pool)
    with pytest.raises(InfeasibleRequest):
        pool.check_feasibility(req)
    assert snapshot(pool) == before
    result = pool.alloc(1, req)
    assert result.dumps() == "rank0/core[0-7]"


# ---------------------------------------------------------------- 63-65 GPUs, down ranks


def test_case_63_gpu_slots_alternate_then_run_out():
    """case 63: G2, four 1-core 1-GPU jobs alternate ranks; a fifth is insufficient."""
    pool = wf("G2")
    got = [place(pool, j, slots(1, cores=1, gpus=1)) for j in range(1, 5)]
    assert got == [
        "rank0/core0,gpu0",
        "rank1/core0,gpu0",
        "rank0/core1,gpu1",
        "rank1/core1,gpu1",
    ]
    before = snapshot(pool)
    with pytest.raises(InsufficientResources) as info:
        alloc(pool, 5, slots(1, cores=1, gpus=1))
    assert not isinstance(info.value, InfeasibleRequest)
    assert str(info.value) == "insufficient resources"
    assert snapshot(pool) == before


def test_case_64_three_gpus_per_slot_infeasible():
    """case 64: G2, a slot needing 3 GPUs can never fit (nodes have 2)."""
    pool = wf("G2")
    before = snapshot(pool)
    with pytest.raises(InfeasibleRequest):
        alloc(pool, 1, slots(1, cores=1, gpus=3))
    assert snapshot(pool) == before


def test_case_65_down_ranks_get_nothing():
    """case 65: GRID with ranks 0-2 down places on rank 3; all down → insufficient."""
    pool = wf()
    pool.mark_down("0-2")
    assert place(pool, 1, slots(1)) == "rank3/core0"
    pool.mark_down("all")
    before = snapshot(pool)
    with pytest.raises(InsufficientResources) as info:
        alloc(pool, 2, slots(1))
    assert not isinstance(info.value, InfeasibleRequest)
    assert snapshot(pool) == before


# ---------------------------------------------------------------- 66-72 constraints


def test_case_66_property_constraint():
    """case 66: MIX, properties fat → rank 0; ^fat → rank 10 (most free cores)."""
    assert place(wf("MIX"), 1, slots(1), constraint={"properties": ["fat"]}) == "rank0/core0"
    assert place(wf("MIX"), 1, slots(1), constraint={"properties": ["^fat"]}) == "rank10/core0"


def test_case_66_property_constraint_on_one_pool():
    """case 66: both constraints in sequence on the same MIX pool."""
    pool = wf("MIX")
    assert place(pool, 1, slots(1), constraint={"properties": ["fat"]}) == "rank0/core0"
    assert place(pool, 2, slots(1), constraint={"properties": ["^fat"]}) == "rank10/core0"


def test_case_67_unknown_property_infeasible():
    """case 67: MIX, a property no rank has makes the request infeasible."""
    pool = wf("MIX")
    req = request(pool, slots(1), constraint={"properties": ["quantum"]})
    before = snapshot(pool)
    with pytest.raises(InfeasibleRequest):
        pool.check_feasibility(req)
    with pytest.raises(InfeasibleRequest):
        pool.alloc(1, req)
    assert snapshot(pool) == before


def test_case_68_hostlist_and_ranks_constraints():
    """case 68: MIX, hostlist node7 → rank 7; ranks ["2"] → rank 2."""
    assert place(wf("MIX"), 1, slots(1), constraint={"hostlist": ["node7"]}) == "rank7/core0"
    assert place(wf("MIX"), 1, slots(1), constraint={"ranks": ["2"]}) == "rank2/core0"


def test_case_69_and_not_or_constraints():
    """case 69: MIX, fat and not 0-2 → rank 3; ranks 9 or 5 → rank 5 (worst-fit tie)."""
    c_and = {"and": [{"properties": ["fat"]}, {"not": [{"ranks": ["0-2"]}]}]}
    c_or = {"or": [{"ranks": ["9"]}, {"ranks": ["5"]}]}
    assert place(wf("MIX"), 1, slots(1), constraint=c_and) == "rank3/core0"
    assert place(wf("MIX"), 1, slots(1), constraint=c_or) == "rank5/core0"


CONSTRAINTS_66_69 = [
    {"properties": ["fat"]},
    {"properties": ["^fat"]},
    {"hostlist": ["node7"]},
    {"ranks": ["2"]},
    {"and": [{"properties": ["fat"]}, {"not": [{"ranks": ["0-2"]}]}]},
    {"or": [{"ranks": ["9"]}, {"ranks": ["5"]}]},
]


@pytest.mark.parametrize("constraint", CONSTRAINTS_66_69, ids=json.dumps)
def test_case_70_constraint_as_json_string(constraint):
    """case 70: MIX, the constraint as JSON text places exactly like the dict."""
    as_dict = place(wf("MIX"), 1, slots(1), constraint=constraint)
    text = json.dumps(constraint)
    assert place(wf("MIX"), 1, slots(1), constraint=text) == as_dict
    # also through a hand-built request, where alloc decodes the string itself (§5 step 2)
    req = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0, text, False)
    assert wf("MIX").alloc(1, req).dumps() == as_dict


@pytest.mark.parametrize("policy", POLICIES)
def test_case_71_unknown_constraint_operator_is_value_error(policy):
    """case 71: MIX, {"frobnicate": ...} is a ValueError; the pool is unchanged (F3)."""
    bad = {"frobnicate": ["x"]}
    pool = make_pool("MIX", policy)
    place(pool, 1, slots(2))
    pool.mark_down("5")
    before = snapshot(pool)
    with pytest.raises(ValueError):
        request(pool, slots(1), constraint=bad)
    for constraint in (bad, json.dumps(bad)):
        req = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0, constraint, False)
        with pytest.raises(ValueError) as info:
            pool.alloc(2, req)
        assert not isinstance(info.value, OSError)
        with pytest.raises(ValueError):
            pool.check_feasibility(req)
    assert snapshot(pool) == before


@pytest.mark.parametrize("policy", POLICIES)
def test_case_71_unknown_constraint_operator_on_empty_pool(policy):
    """case 71: the same ValueError on an empty pool and a fully down one (F3)."""
    req = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0, {"frobnicate": ["x"]}, False)
    empty = ResourcePool(policy=policy)
    with pytest.raises(ValueError):
        empty.parse_resource_request(spec(slots(1), constraint={"frobnicate": ["x"]}))
    before = snapshot(empty)
    with pytest.raises(ValueError) as info:
        empty.alloc(1, req)
    assert not isinstance(info.value, OSError)
    with pytest.raises(ValueError) as info:
        empty.check_feasibility(req)
    assert not isinstance(info.value, OSError)
    assert snapshot(empty) == before
    down = make_pool("MIX", policy)
    down.mark_down("all")
    before = snapshot(down)
    with pytest.raises(ValueError) as info:
        down.alloc(1, req)
    assert not isinstance(info.value, OSError)
    assert snapshot(down) == before


def test_case_72_hostlist_matches_default_rank_names():
    """case 72: SPARSE (no nodelist), hostlist ["rank9"] → rank 9 (M2)."""
    pool = wf("SPARSE")
    assert place(pool, 1, slots(1), constraint={"hostlist": ["rank9"]}) == "rank9/core0"


# ---------------------------------------------------------------- 73 discrete counts

DISCRETE = (
    "slot count specifies discrete valid values that this scheduler does not support;"
    " use a simple min-max range instead"
)


@pytest.mark.parametrize("policy", POLICIES)
def test_case_73_discrete_slot_count_infeasible(policy):
    """case 73: GRID, slot count "1,3" → InfeasibleRequest about discrete valid values."""
    pool = make_pool("GRID", policy)
    req = request(pool, slots("1,3"))
    before = snapshot(pool)
    with pytest.raises(InfeasibleRequest) as info:
        pool.alloc(1, req)
    assert "discrete valid values" in str(info.value)
    assert str(info.value) == DISCRETE
    with pytest.raises(InfeasibleRequest) as info:
        pool.check_feasibility(req)
    assert str(info.value) == DISCRETE
    assert snapshot(pool) == before


def test_case_73_discrete_node_count_infeasible():
    """case 73 (§5 step 1): a stepped node count is refused the same way, naming the node count."""
    pool = wf()
    req = request(pool, nodes("1-4:2:*", slots(1)))
    with pytest.raises(InfeasibleRequest) as info:
        pool.alloc(1, req)
    assert str(info.value).startswith("node count specifies discrete valid values")
    with pytest.raises(InfeasibleRequest) as info:
        pool.check_feasibility(req)
    assert "discrete valid values" in str(info.value)


# ---------------------------------------------------------------- 74-76 the allocation result


def test_case_74_result_to_dict_fields():
    """case 74: MIX on rank 0: nodelist, properties without +local, times 0.0, nslots (M9)."""
    pool = wf("MIX")
    result = alloc(pool, 1, slots(1), constraint={"ranks": ["0"]})
    ex = execution(result)
    assert ex["R_lite"] == [{"rank": "0", "children": {"core": "0"}}]
    assert ex["nodelist"] == ["node0"]
    assert ex["properties"] == {"fat": "0"}
    assert ex["starttime"] == 0.0 and isinstance(ex["starttime"], float)
    assert ex["expiration"] == 0.0 and isinstance(ex["expiration"], float)
    assert ex["nslots"] == 1
    result4 = alloc(pool, 2, slots(1), constraint={"ranks": ["4"]})
    ex4 = execution(result4)
    assert ex4["nodelist"] == ["node4"]
    assert "properties" not in ex4


def test_case_74_result_times_zero_even_when_pool_has_times():
    """case 74 (M9): a pool with starttime/expiration still gives results with 0.0 times."""
    R_ = fixture("MIX")
    R_["execution"]["starttime"] = 50
    R_["execution"]["expiration"] = 9000
    pool = ResourcePool(R_, policy="worst-fit")
    result = alloc(pool, 1, slots(1), constraint={"ranks": ["9"]})
    ex = execution(result)
    assert ex["starttime"] == 0.0
    assert ex["expiration"] == 0.0
    assert ex["properties"] == {"debug": "9"}
    assert result.expiration == 0.0


def test_case_75_sparse_result_has_default_names():
    """case 75: SPARSE, nodes(2, slots(1)) → ranks 7, 9 with nodelist rank[7,9] (M10)."""
    pool = wf("SPARSE")
    result = alloc(pool, 1, nodes(2, slots(1)))
    assert result.dumps() == "rank[7,9]/core0"
    assert execution(result)["nodelist"] == ["rank[7,9]"]
    # the pool itself still has no nodelist
    assert "nodelist" not in pool.to_dict()["execution"]


def test_case_76_results_carry_scheduling():
    """case 76: every allocation result's to_dict() carries the pool's scheduling."""
    S = {"writer": "x", "blob": [1, 2]}
    R_ = fixture("GRID")
    R_["scheduling"] = S
    pool = ResourcePool(R_, policy="worst-fit")
    results = [
        alloc(pool, 1, slots(1)),
        alloc(pool, 2, nodes(2, slots(2))),
        alloc(pool, 3, slots(1, cores=2, exclusive=True)),
        pool.copy().alloc(4, request(pool, slots(3))),
    ]
    for result in results:
        assert result.to_dict()["scheduling"] == S


# ---------------------------------------------------------------- 77-78 job records


def test_case_77_end_time_from_pool_expiration():
    """case 77: duration 0 on a pool expiring at 9000 → end time 9000.0."""
    R_ = fixture("GRID")
    R_["execution"]["expiration"] = 9000
    pool = ResourcePool(R_, policy="worst-fit")
    alloc(pool, 1, slots(1))
    assert pool.job_end_times() == [(1, 9000.0)]


def test_case_77_end_time_from_duration():
    """case 77: duration 60 → end time is time.time() + 60, read during the alloc."""
    R_ = fixture("GRID")
    R_["execution"]["expiration"] = 9000
    pool = ResourcePool(R_, policy="worst-fit")
    clock_before = time.time()
    alloc(pool, 1, slots(1), duration=60)
    clock_after = time.time()
    (jobid, end), = pool.job_end_times()
    assert jobid == 1
    assert clock_before + 60 <= end <= clock_after + 60


def test_case_77_end_time_zero_without_either():
    """case 77: no duration and no pool expiration → end time 0.0."""
    pool = wf()
    alloc(pool, 1, slots(1))
    assert pool.job_end_times() == [(1, 0.0)]


def test_case_78_realloc_same_jobid_replaces_record():
    """case 78: alloc(5) twice then free(5): the first allocation stays (M11)."""
    pool = wf()
    assert place(pool, 5, slots(1)) == "rank0/core0"
    assert place(pool, 5, slots(1)) == "rank1/core0"
    assert pool.job_end_times() == [(5, 0.0)]
    pool.free(5)
    assert pool.copy_allocated().dumps() == "rank0/core0"
    assert pool.job_end_times() == []


# ---------------------------------------------------------------- 79 node range under rack


def test_case_79_node_range_scaled_by_enclosing_vertex():
    """case 79: 10 ranks x 2 cores, rack(2) → nodes("1-3", slots(1)) takes 6 nodes."""
    pool = ResourcePool(R([("0-9", "0-1")]), policy="worst-fit")
    rack = {"type": "rack", "count": 2, "with": [nodes("1-3", slots(1))]}
    result = alloc(pool, 1, rack)
    assert result.dumps() == "rank[0-5]/core0"
    assert pool.copy_allocated().dumps() == "rank[0-5]/core0"


# ---------------------------------------------------------------- 134 ranks union (F8)


def test_case_134_ranks_constraint_items_are_unioned():
    """case 134: MIX, {"ranks": ["2", "10"]} → rank 10 (union of both items, F8)."""
    pool = wf("MIX")
    assert place(pool, 1, slots(1), constraint={"ranks": ["2", "10"]}) == "rank10/core0"
    # the next 17-core slot only fits rank 10 among the two allowed ranks
    assert place(pool, 2, slots(1, cores=17), constraint={"ranks": ["2", "10"]}) == (
        "rank10/core[1-17]"
    )
    with pytest.raises(InsufficientResources):
        alloc(pool, 3, slots(1, cores=17), constraint={"ranks": ["2", "10"]})


def test_case_134_overlapping_ranks_items():
    """case 134 (F8): overlapping items are unioned rather than rejected."""
    pool = wf("MIX")
    c = {"ranks": ["4-6", "5-7"]}
    got = [place(pool, j, slots(1, cores=8), constraint=c) for j in range(1, 5)]
    assert got == ["rank4/core[0-7]", "rank5/core[0-7]", "rank6/core[0-7]", "rank7/core[0-7]"]
    with pytest.raises(InsufficientResources):
        alloc(pool, 5, slots(1), constraint=c)


# ---------------------------------------------------------------- ordering keys (§5 step 4)


def test_case_56_worst_fit_core_tie_prefers_more_free_gpus():
    """case 56 (§5 step 4, M20): on a core tie worst-fit puts a CPU-only slot on the GPU rank."""
    pool = ResourcePool(R([("0", "0-7"), ("1", "0-7", "0-1")]), policy="worst-fit")
    assert place(pool, 1, slots(1)) == "rank1/core0"
    # now rank 0 has more free cores
    assert place(pool, 2, slots(1)) == "rank0/core0"
    # tie again (7 and 7): the GPU rank wins again
    assert place(pool, 3, slots(1)) == "rank1/core1"


def test_case_56_worst_fit_ties_go_to_lowest_rank():
    """case 56 (§5 step 4): equal free cores and GPUs → ascending rank order."""
    pool = ResourcePool(R([("0-5", "0-1")]), policy="worst-fit")
    got = [place(pool, j, slots(1)) for j in range(1, 7)]
    assert got == [f"rank{r}/core0" for r in range(6)]
