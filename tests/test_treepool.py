"""TreePool: topology-aware placement (SPEC §17), its requests, feasibility,
results, copies, the hello path, the T1–T9 decisions and malformed children."""

import json

import pytest

from fluxpool import InfeasibleRequest, InsufficientResources, ResourcePool, TreePool
from fluxpool.treepool import TreeResourceRequest, TreeRv1Pool

from specdata import core, nodes, slots, snapshot, spec

# Two sockets of two NUMA domains, 4 cores and 1 GPU each.
NODE = {"socket": [
    {"numa": [{"cores": "0-3", "gpus": "0"}, {"cores": "4-7", "gpus": "1"}]},
    {"numa": [{"cores": "8-11", "gpus": "2"}, {"cores": "12-15", "gpus": "3"}]},
]}


def tree_R(topo=NODE, ranks="0-3", cores="0-15", gpus="0-3", children_ranks=None, extra=None):
    """R of ``ranks`` (each with ``cores``/``gpus``) and one children entry."""
    R = {"version": 1,
         "execution": {"R_lite": [{"rank": ranks, "children": {"core": cores}}],
                       "starttime": 0.0, "expiration": 0.0},
         "scheduling": {"writer": "TreePool",
                        "children": [{"ranks": children_ranks or ranks, "topo": topo}]}}
    if gpus:
        R["execution"]["R_lite"][0]["children"]["gpu"] = gpus
    R["scheduling"]["children"].extend(extra or [])
    return R


def container(name, count=1):
    return {"type": name, "count": count, "exclusive": True}


def slot_of(n, *children, exclusive=False):
    vertex = {"type": "slot", "count": n, "label": "task", "with": list(children)}
    if exclusive:
        vertex["exclusive"] = True
    return vertex


def alloc(pool, jobid, resources, **kw):
    return pool.alloc(jobid, pool.parse_resource_request(spec(resources, **kw)))


def place(pool, jobid, resources, **kw):
    return alloc(pool, jobid, resources, **kw).dumps()


def outcome(pool, jobid, resources):
    try:
        return place(pool, jobid, resources)
    except (InsufficientResources, InfeasibleRequest) as exc:
        return type(exc).__name__


# -- placement (SPEC §17) ---------------------------------------------------


def test_gpu_slot_lands_in_one_numa_domain():
    pool = TreePool(tree_R())
    assert place(pool, 1, slots(1, cores=2, gpus=1)) == "rank0/core[0-1],gpu0"
    # the next slot fits the rest of that domain: fewest free cores first
    assert place(pool, 2, slots(1, cores=2, gpus=0)) == "rank0/core[2-3]"
    # GPU slots pair each GPU with cores of its own domain
    assert place(pool, 3, slots(2, cores=4, gpus=1)) == "rank0/core[4-11],gpu[1-2]"


def test_gpu_slots_fall_back_to_coarser_levels():
    pool = TreePool(tree_R(ranks="0"))
    # 6 cores + 2 GPUs fit no NUMA domain, but one socket
    assert place(pool, 1, slots(1, cores=6, gpus=2)) == "rank0/core[0-5],gpu[0-1]"
    # 10 cores + 3 GPUs: only the whole node
    assert outcome(pool, 2, slots(1, cores=10, gpus=3)) == "InsufficientResources"
    pool.free(1)
    assert place(pool, 2, slots(1, cores=10, gpus=3)) == "rank0/core[0-9],gpu[0-2]"


def test_cpu_slots_best_fit_inside_the_finest_level():
    pool = TreePool(tree_R(ranks="0"))
    place(pool, 1, slots(1, cores=3))                     # NUMA 0 keeps 1 core
    # best fit: the fullest domain that still holds a 1-core slot
    assert place(pool, 2, slots(1, cores=1)) == "rank0/core3"
    # a 2-core slot leaves NUMA domains 2 and 3 whole (for GPU jobs)
    assert place(pool, 3, slots(1, cores=2)) == "rank0/core[4-5]"


def test_candidates_fewest_free_cores_first():
    pool = TreePool(tree_R())
    assert place(pool, 1, slots(1, cores=1)) == "rank0/core0"
    assert place(pool, 2, slots(1, cores=1)) == "rank0/core1"
    # node requests: the fullest ranks that still fit come first
    assert place(pool, 3, nodes(1, slots(1, cores=12))) == "rank0/core[2-13]"
    assert place(pool, 4, nodes(2, slots(1, cores=2))) == "rank0/core[14-15] rank1/core[0-1]"
    assert place(pool, 5, slots(1, cores=3)) == "rank1/core[4-6]"


@pytest.mark.parametrize("level, per_node", [("numa", 4), ("socket", 2)])
def test_container_exclusive_at_each_level(level, per_node):
    pool = TreePool(tree_R(ranks="0-1"))
    first = alloc(pool, 1, slot_of(1, container(level)))
    width = 16 // per_node
    assert first.dumps() == f"rank0/core[0-{width - 1}],gpu" + (
        "0" if per_node == 4 else "[0-1]")
    # every container of both nodes, then nothing
    got = alloc(pool, 2, slot_of(2 * per_node - 1, container(level)))
    assert got.dumps() == f"rank0/core[{width}-15],gpu[{4 // per_node}-3] rank1/core[0-15],gpu[0-3]"
    assert outcome(pool, 3, slot_of(1, container(level))) == "InsufficientResources"
    with pytest.raises(InfeasibleRequest, match=f"need {2 * per_node + 1} exclusive '{level}'"):
        pool.check_feasibility(pool.parse_resource_request(
            spec(slot_of(2 * per_node + 1, container(level)))))


def test_container_exclusive_with_node_count_spreads_over_nodes():
    pool = TreePool(tree_R(ranks="0-1"))
    assert place(pool, 1, nodes(2, slot_of(1, container("socket")))) == \
        "rank[0-1]/core[0-7],gpu[0-1]"
    with pytest.raises(InfeasibleRequest, match="need 2 node\\(s\\) with 3 exclusive 'socket'"):
        pool.check_feasibility(pool.parse_resource_request(
            spec(nodes(2, slot_of(3, container("socket"))))))


def test_unknown_container_level_is_infeasible():
    pool = TreePool(tree_R())
    with pytest.raises(InfeasibleRequest, match="only 0 available"):
        alloc(pool, 1, slot_of(1, container("rack")))


def test_custom_level_names_are_containers():
    topo = {"package": [{"apu": [{"cores": "0-1", "gpus": "0"}, {"cores": "2-3", "gpus": "1"}]}]}
    pool = TreePool(tree_R(topo, ranks="0", cores="0-3", gpus="0-1"))
    assert place(pool, 1, slot_of(1, container("apu"))) == "rank0/core[0-1],gpu0"
    assert outcome(pool, 2, slot_of(1, container("package"))) == "InsufficientResources"
    assert place(pool, 3, slot_of(1, container("apu"))) == "rank0/core[2-3],gpu1"


def test_node_exclusive_takes_whole_nodes_without_cores():
    pool = TreePool(tree_R())
    place(pool, 1, slots(1))
    got = alloc(pool, 2, {"type": "node", "count": 2, "exclusive": True,
                          "with": [{"type": "slot", "count": 1, "label": "task"}]})
    assert got.dumps() == "rank[1-2]/core[0-15],gpu[0-3]"
    req = pool.parse_resource_request(spec({"type": "node", "count": 1, "exclusive": True,
                                            "with": [{"type": "slot", "count": 1,
                                                      "label": "task"}]}))
    assert isinstance(req, TreeResourceRequest) and req.slot_size == 0 and req.exclusive


def test_slot_above_node_form():
    pool = TreePool(tree_R())
    req = pool.parse_resource_request(spec(
        {"type": "slot", "count": 2, "label": "task",
         "with": [{"type": "node", "count": 2, "exclusive": True, "with": [core(1)]}]}))
    assert (req.nnodes, req.nslots) == (4, 4)     # slot count divided back by node factor
    assert pool.alloc(1, req).dumps() == "rank[0-3]/core[0-15],gpu[0-3]"


def test_parse_errors_are_flux_cores():
    pool = TreePool(tree_R())
    with pytest.raises(ValueError, match="Unable to determine slot size"):
        pool.parse_resource_request(spec(slot_of(1, {"type": "numa", "count": 1})))
    with pytest.raises(ValueError, match="Unable to determine slot count"):
        pool.parse_resource_request(spec({"type": "node", "count": 1, "with": [core(1)]}))


# -- results, copies, views ------------------------------------------------


def test_result_carries_children_trimmed_to_its_ranks():
    R = tree_R(extra=[])
    pool = TreePool(R)
    got = alloc(pool, 1, nodes(2, slots(1, cores=16)))
    sched = got.to_dict()["scheduling"]
    assert sched["writer"] == "TreePool"
    assert sched["children"] == [{"ranks": "0-1", "topo": NODE}]
    assert got.impl.scheduling == sched
    # a result is a TreePool over its own ranks
    assert isinstance(got, TreePool) and got.impl.name == "TreePool"


def test_copy_is_independent_and_places_the_same():
    pool = TreePool(tree_R())
    place(pool, 1, slots(3, cores=2, gpus=1))
    copy = pool.copy()
    assert snapshot(copy)[:3] == snapshot(pool)[:3]
    a = place(copy, 2, slot_of(1, container("numa")))
    b = place(pool, 2, slot_of(1, container("numa")))
    assert a == b
    place(copy, 3, slots(1))
    assert snapshot(copy) != snapshot(pool)


def test_views_and_failed_alloc_leave_pool_unchanged():
    pool = TreePool(tree_R())
    place(pool, 1, slots(1, cores=2, gpus=1))
    pool.mark_down("3")
    before = snapshot(pool)
    assert outcome(pool, 2, nodes(4, slots(1, cores=16))) == "InsufficientResources"
    assert snapshot(pool) == before
    assert pool.copy_allocated().dumps() == "rank0/core[0-1],gpu0"
    assert pool.copy_down().dumps() == "rank3/core[0-15],gpu[0-3]"


# -- hello path, T1-T4 (always fixed) --------------------------------------


def test_T1_pool_from_a_jobs_R_on_ranks_other_than_0():
    pool = TreePool(tree_R())
    assert place(pool, 1, nodes(1, slots(1, cores=16))) == "rank0/core[0-15]"
    job = alloc(pool, 2, nodes(2, slots(1, cores=4, gpus=1)))
    assert job.dumps() == "rank[1-2]/core[0-3],gpu0"
    again = TreePool(job.to_dict())       # flux-core: "not the zero-origin range"
    assert again.dumps() == job.dumps()
    # the scheduler's reload: a new pool, the job registered from its own R
    fresh = TreePool(pool.to_dict())
    fresh.register_alloc(2, again)
    assert fresh.copy_allocated().dumps() == "rank[1-2]/core[0-3],gpu0"
    assert place(fresh, 3, nodes(1, slots(1, cores=16))) == "rank0/core[0-15]"


def test_T2_pool_from_a_partly_released_jobs_R():
    pool = TreePool(tree_R())
    job = alloc(pool, 1, nodes(3, slots(1, cores=2)))
    R = job.to_dict()
    partial = ResourcePool(R)
    partial.remove_ranks("0")       # the hello path's partial-ok strip
    again = TreePool(partial.to_dict())    # children still name rank 0: ignored
    assert again.dumps() == "rank[1-2]/core[0-1]"
    assert again.to_dict()["scheduling"]["children"][0]["ranks"] == "1-2"


def test_T3_pool_after_shrink_reads_back():
    pool = TreePool(tree_R())
    pool.remove_ranks("1-2")
    R = pool.to_dict()
    assert R["scheduling"]["children"][0]["ranks"] == "0,3"
    again = TreePool(R)
    assert again.dumps() == "rank[0,3]/core[0-15],gpu[0-3]"
    assert place(again, 1, nodes(2, slot_of(1, container("socket")))) == \
        "rank[0,3]/core[0-7],gpu[0-1]"


def test_T4_to_dict_scheduling_is_a_fresh_copy():
    pool = TreePool(tree_R())
    R = pool.to_dict()
    R["scheduling"]["children"].clear()
    R["scheduling"]["writer"] = "x"
    assert pool.to_dict()["scheduling"]["writer"] == "TreePool"
    assert len(pool.to_dict()["scheduling"]["children"]) == 1
    sched = pool.impl.scheduling
    sched["children"][0]["topo"]["socket"].clear()
    assert place(pool, 1, slots(1, cores=2, gpus=1)) == "rank0/core[0-1],gpu0"
    assert alloc(pool, 2, slots(1)).to_dict()["scheduling"]["children"][0]["topo"] == NODE


def test_children_in_a_parents_rank_space_are_renumbered():
    pool = TreePool(tree_R(ranks="0-3", children_ranks="10-13"))
    assert pool.to_dict()["scheduling"]["children"][0]["ranks"] == "0-3"
    assert place(pool, 1, slot_of(1, container("numa"))) == "rank0/core[0-3],gpu0"


# -- T5-T9: flux-core's behaviour by default, fixed under strict=True -------

T5_NODE = {"numa": [{"cores": "0-2"}, {"cores": "3-5"}]}


@pytest.mark.parametrize("strict", [False, True])
def test_T5_cpu_slots_across_levels(strict):
    pool = TreePool(tree_R(T5_NODE, ranks="0", cores="0-5", gpus=None), strict=strict)
    req = pool.parse_resource_request(spec(slots(3, cores=2)))
    pool.check_feasibility(req)     # feasible either way
    if strict:
        assert pool.alloc(1, req).dumps() == "rank0/core[0-5]"
    else:
        with pytest.raises(InsufficientResources):
            pool.alloc(1, req)


T6_NODE = {"numa": [{"cores": "0-3", "gpus": "0"}, {"cores": "4-7", "gpus": "1"}]}


@pytest.mark.parametrize("strict", [False, True])
def test_T6_node_exclusive_feasibility_counts_slots_per_node(strict):
    pool = TreePool(tree_R(T6_NODE, ranks="0", cores="0-7", gpus="0-1"), strict=strict)
    req = pool.parse_resource_request(spec(nodes(1, slots(4, cores=1, gpus=1), exclusive=True)))
    if strict:
        with pytest.raises(InfeasibleRequest, match="need 1 exclusive node"):
            pool.check_feasibility(req)
    else:
        pool.check_feasibility(req)
    with pytest.raises(InfeasibleRequest if strict else InsufficientResources):
        pool.alloc(1, req)


@pytest.mark.parametrize("strict", [False, True])
def test_T7_node_exclusive_slots_without_cores(strict):
    pool = TreePool(tree_R(T6_NODE, ranks="0", cores="0-7", gpus="0-1"), strict=strict)
    req = pool.parse_resource_request(spec({"type": "node", "count": 1, "exclusive": True,
                                            "with": [{"type": "slot", "count": 3,
                                                      "label": "task"}]}))
    if strict:
        got = pool.alloc(1, req)
        assert got.dumps() == "rank0/core[0-7],gpu[0-1]"
        assert got.to_dict()["execution"]["nslots"] == 3
    else:
        with pytest.raises(InsufficientResources):
            pool.alloc(1, req)


@pytest.mark.parametrize("strict", [False, True])
def test_T8_node_exclusive_container_claims_the_node(strict):
    pool = TreePool(tree_R(T6_NODE, ranks="0", cores="0-7", gpus="0-1"), strict=strict)
    got = alloc(pool, 1, nodes(1, slot_of(1, container("numa")), exclusive=True))
    if strict:
        assert got.dumps() == "rank0/core[0-7],gpu[0-1]"
        assert outcome(pool, 2, slots(1)) == "InsufficientResources"
    else:
        assert got.dumps() == "rank0/core[0-3],gpu0"
        assert outcome(pool, 2, slots(1)) == "rank0/core4"


@pytest.mark.parametrize("strict", [False, True])
def test_T9_container_count_is_honoured(strict):
    pool = TreePool(tree_R(T6_NODE, ranks="0", cores="0-7", gpus="0-1"), strict=strict)
    got = alloc(pool, 1, slot_of(1, container("numa", 2)))
    assert got.dumps() == ("rank0/core[0-7],gpu[0-1]" if strict else "rank0/core[0-3],gpu0")


@pytest.mark.parametrize("strict", [False, True])
def test_T9_node_types_keep_their_level_names(strict):
    socket = {"socket": T6_NODE["numa"]}
    R = tree_R(socket, ranks="0", cores="0-7", gpus="0-1")
    R["execution"]["R_lite"].append({"rank": "1", "children": {"core": "0-7", "gpu": "0-1"}})
    R["scheduling"]["children"].append({"ranks": "1", "topo": T6_NODE})
    pool = TreePool(R, strict=strict)
    req = pool.parse_resource_request(spec(slot_of(1, container("numa"))))
    if strict:
        assert pool.alloc(1, req).dumps() == "rank1/core[0-3],gpu0"
    else:  # merged with rank 0's type, whose levels are called "socket"
        with pytest.raises(InfeasibleRequest, match="only 0 available"):
            pool.alloc(1, req)


def test_strict_is_carried_to_copies_and_results():
    pool = TreePool(tree_R(T5_NODE, ranks="0-1", cores="0-5", gpus=None), strict=True)
    assert pool.copy().impl.strict and pool.impl.strict
    assert alloc(pool, 1, slots(1, cores=1)).impl.strict


# -- malformed children (SPEC §17, bounds) ---------------------------------


@pytest.mark.parametrize("scheduling, exc, message", [
    (None, ValueError, "requires R.scheduling"),
    ({"writer": "TreePool"}, ValueError, "requires scheduling.children"),
    ({"children": {"ranks": "0"}}, TypeError, "must be a list"),
    ({"children": ["x"]}, TypeError, "must be an object"),
    ({"children": [{"topo": NODE}]}, ValueError, "has no 'ranks'"),
    ({"children": [{"ranks": "0-3"}]}, ValueError, "has no 'topo'"),
    ({"children": [{"ranks": 3, "topo": NODE}]}, TypeError, "idset string"),
    ({"children": [{"ranks": "0-3", "topo": {"cores": 4}}]}, TypeError, "idset string"),
    ({"children": [{"ranks": "0-3", "topo": {"cores": "x-y"}}]}, ValueError, "cores"),
    ({"children": [{"ranks": "0-2", "topo": NODE}]}, ValueError, "rank count mismatch"),
    ({"children": [{"ranks": "0-3", "topo": {"memory": 4}}]}, ValueError, "no groups"),
])
def test_malformed_children_are_refused(scheduling, exc, message):
    R = tree_R()
    if scheduling is None:
        del R["scheduling"]
    else:
        R["scheduling"] = scheduling
    with pytest.raises(exc, match=message):
        TreePool(R)


def test_absurd_nesting_is_refused():
    topo = {"cores": "0"}
    for _ in range(100):
        topo = {"l": [topo]}
    with pytest.raises(ValueError, match="nests deeper"):
        TreePool(tree_R(topo, ranks="0", cores="0", gpus=None))


def test_absurd_sizes_are_refused():
    topo = {"numa": [{"cores": str(i % 64)} for i in range(140000)]}
    with pytest.raises(ValueError, match="topology groups"):
        TreePool(tree_R(topo, ranks="0", cores="0", gpus=None))
    # masks: 40,000 groups over 16,384-bit rows would take 80 MiB
    topo = {"numa": [{"cores": "16383"} for i in range(40000)]}
    with pytest.raises(ValueError, match="bytes of masks"):
        TreePool(tree_R(topo, ranks="0", cores="0-16383", gpus=None))


def test_scheduling_nested_past_json_is_a_value_error():
    topo = {"cores": "0"}
    for _ in range(2000):
        topo = {"l": [topo]}
    with pytest.raises(ValueError, match="nests too deeply"):
        TreePool(tree_R(topo, ranks="0", cores="0", gpus=None))


def test_core_ids_beyond_the_ranks_row_never_count_as_free():
    # a job's R: the rank has 2 of the 8 cores its topology describes
    pool = TreePool(tree_R(T6_NODE, ranks="0", cores="0-1", gpus="0"))
    assert outcome(pool, 1, slot_of(1, container("numa"))) == "InsufficientResources"
    assert place(pool, 2, slots(1, cores=2, gpus=1)) == "rank0/core[0-1],gpu0"


def test_treepool_impl_is_an_rv1pool():
    pool = TreePool(tree_R())
    assert isinstance(pool.impl, TreeRv1Pool)
    assert json.loads(pool.impl.encode())["scheduling"]["writer"] == "TreePool"
    with pytest.raises(ValueError, match="R version 2 not supported by TreePool"):
        TreePool({"version": 2})


def test_node_types_are_deduplicated():
    """SPEC §17: one compiled type per distinct topology, however many entries."""
    R = tree_R(ranks="0-63")
    R["scheduling"]["children"] = [{"ranks": str(r), "topo": NODE} for r in range(64)]
    other = {"numa": [{"cores": "0-15", "gpus": "0-3"}]}
    R["scheduling"]["children"].append({"ranks": "60-63", "topo": other})   # later wins
    pool = TreePool(R)
    assert pool.impl._tree.ntypes == 2
    assert pool.impl._tindex.type_counts() == [60, 4]
    assert place(pool, 1, nodes(4, slot_of(2, container("socket")))) == \
        "rank[0-3]/core[0-15],gpu[0-3]"
    # rank 60's type has no sockets: it is never a socket candidate
    assert pool.impl._tindex.type_at(60) == 1


def test_container_hint_never_hides_a_freed_container():
    """The index skips ranks found without a free container until resources
    come back to them (SPEC §17 placement index); frees, partial frees and
    copies must keep every free container findable."""
    pool = TreePool(tree_R(ranks="0-3"))
    one_per_domain = {"version": 1, "execution": {"R_lite": [
        {"rank": "0-3", "children": {"core": "0,4,8,12"}}]}}
    pool.register_alloc(99, one_per_domain)          # every domain has a busy core
    assert outcome(pool, 1, slot_of(1, container("numa"))) == "InsufficientResources"
    copy = pool.copy()
    rank2 = {"version": 1, "execution": {"R_lite": [{"rank": "2", "children": {"core": "0,4,8,12"}}]}}
    pool.free(99, rank2)                              # a partial free gives rank 2 back
    assert place(pool, 2, slot_of(1, container("numa"))) == "rank2/core[0-3],gpu0"
    assert outcome(copy, 2, slot_of(1, container("numa"))) == "InsufficientResources"
    copy.free(99)                                     # the whole job
    assert place(copy, 3, slot_of(1, container("numa"))) == "rank0/core[0-3],gpu0"


def test_tree_subclass_cannot_override_placement_hooks():
    """TreePool places on its compiled path (SPEC §16 hooks are Rv1Pool's)."""
    with pytest.raises(TypeError, match="no _sort_candidates/_select_resources hooks"):
        type("Mine", (TreeRv1Pool,), {"_sort_candidates": lambda self, c: c})


def test_strict_treepool_parses_counts_to_the_letter():
    """SPEC §15 in a TreePool: a float count reads as 1 only outside strict mode."""
    jobspec = spec(slot_of(1, {"type": "core", "count": 2.5}))
    assert TreePool(tree_R()).parse_resource_request(jobspec).slot_size == 1
    with pytest.raises(ValueError, match="must be an integer or an RFC 14 range"):
        TreePool(tree_R(), strict=True).parse_resource_request(jobspec)


def test_index_examines_few_ranks_whatever_the_pool_size():
    """SPEC §17: the placement index finds the first rank that fits without
    visiting every rank; pinned by the count of ranks examined (never by time)."""
    from fluxpool._rv1core import tree_last_visits

    n = 65536
    pool = TreePool(tree_R(ranks=f"0-{n - 1}"))
    place(pool, 1, slots(1))
    assert tree_last_visits() == 1
    assert place(pool, 2, slots(1, cores=4, gpus=1)) == "rank0/core[4-7],gpu1"
    assert tree_last_visits() == 1
    assert place(pool, 3, nodes(2, slots(4, cores=4, gpus=1))).startswith("rank[1-2]/")
    assert tree_last_visits() <= 3
    # every rank but the last loses one core in each NUMA domain: the first
    # container request examines them all once, later ones skip them
    pool.register_alloc(9, {"version": 1, "execution": {"R_lite": [
        {"rank": f"0-{n - 2}", "children": {"core": "3,7,11,15"}}]}})
    assert place(pool, 4, slot_of(1, container("numa"))) == f"rank{n - 1}/core[0-3],gpu0"
    first = tree_last_visits()
    assert place(pool, 5, slot_of(1, container("numa"))) == f"rank{n - 1}/core[4-7],gpu1"
    assert tree_last_visits() <= 2 < first
