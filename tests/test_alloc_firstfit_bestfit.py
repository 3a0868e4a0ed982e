"""Allocation under first-fit and best-fit: SPEC §5 and §14 cases 80-87, 135."""

import pytest

from fluxpool import InfeasibleRequest, InsufficientResources

from specdata import POLICIES, make_pool, nodes, place, request, slots, snapshot


def ff(name="GRID"):
    return make_pool(name, "first-fit")


def bf(name="MIX"):
    return make_pool(name, "best-fit")


# ---------------------------------------------------------------- first-fit


def test_case_80_first_fit_packs_rank_zero():
    """case 80: (ff) GRID, five 1-core jobs all on rank 0; an 8-core slot goes to rank 1."""
    pool = ff()
    got = [place(pool, j, slots(1)) for j in range(1, 6)]
    assert got == [f"rank0/core{i}" for i in range(5)]
    assert place(pool, 6, slots(1, cores=8)) == "rank1/core[0-7]"
    assert pool.copy_allocated().dumps() == "rank0/core[0-4] rank1/core[0-7]"


def test_case_80_default_policy_is_first_fit():
    """case 80: the default policy places like first-fit."""
    from fluxpool import ResourcePool
    from specdata import fixture

    pool = ResourcePool(fixture("GRID"))
    got = [place(pool, j, slots(1)) for j in range(1, 3)]
    assert got == ["rank0/core0", "rank0/core1"]


def test_case_81_first_fit_skips_small_ranks():
    """case 81: (ff) MIX, a 24-core slot goes to the first rank that has 24 cores."""
    assert place(ff("MIX"), 1, slots(1, cores=24)) == "rank10/core[0-23]"


def test_case_82_first_fit_slot_count():
    """case 82: (ff) GRID, slots(12) fills rank 0 then half of rank 1."""
    pool = ff()
    result = pool.alloc(1, request(pool, slots(12)))
    assert result.dumps() == "rank0/core[0-7] rank1/core[0-3]"
    assert result.to_dict()["execution"]["nslots"] == 12


def test_case_83_first_fit_node_request_skips_too_small_rank():
    """case 83: (ff) GRID with 6 cores of rank 0 taken: 2 nodes x 4 cores → ranks 1-2."""
    pool = ff()
    assert place(pool, 1, slots(6)) == "rank0/core[0-5]"
    assert place(pool, 2, nodes(2, slots(1, cores=4))) == "rank[1-2]/core[0-3]"


# ---------------------------------------------------------------- best-fit


def test_case_84_best_fit_fills_smallest_rank_first():
    """case 84: (bf) MIX, three 4-core jobs: rank 4 twice, then rank 5."""
    pool = bf()
    got = [place(pool, j, slots(1, cores=4)) for j in range(1, 4)]
    assert got == ["rank4/core[0-3]", "rank4/core[4-7]", "rank5/core[0-3]"]


def test_case_85_best_fit_exclusive_takes_smallest_node():
    """case 85: (bf) MIX, an exclusive node goes to the smallest rank, rank 4."""
    pool = bf()
    result = pool.alloc(1, request(pool, nodes(1, slots(1), exclusive=True)))
    assert result.dumps() == "rank4/core[0-7]"


def test_case_86_best_fit_gpu_slot():
    """case 86: (bf) MIX, a 1-core 1-GPU slot goes to rank 0 (fewest free cores among GPU ranks)."""
    assert place(bf(), 1, slots(1, cores=1, gpus=1)) == "rank0/core0,gpu0"


def test_case_86_best_fit_gpu_tie_break_on_fewest_gpus():
    """case 86 (§5 step 4): best-fit orders by free cores, then by free GPUs ascending."""
    from fluxpool import ResourcePool
    from specdata import R

    # ranks 0 and 1 both have 4 cores; rank 0 has 2 GPUs and rank 1 has 1
    pool = ResourcePool(R([("0", "0-3", "0-1"), ("1", "0-3", "0")]), policy="best-fit")
    assert place(pool, 1, slots(1, cores=1, gpus=1)) == "rank1/core0,gpu0"


# ---------------------------------------------------------------- all policies


@pytest.mark.parametrize("policy", POLICIES)
def test_case_87_lowest_free_cores_first(policy):
    """case 87: (all) within a rank the lowest free cores are taken, and reused after a free."""
    pool = make_pool("GRID", policy)
    c = {"ranks": ["0"]}
    got = [place(pool, j, slots(1), constraint=c) for j in range(1, 5)]
    assert got == ["rank0/core0", "rank0/core1", "rank0/core2", "rank0/core3"]
    pool.free(2)
    assert pool.copy_allocated().dumps() == "rank0/core[0,2-3]"
    assert place(pool, 5, slots(1), constraint=c) == "rank0/core1"
    assert place(pool, 6, slots(1), constraint=c) == "rank0/core4"


@pytest.mark.parametrize("policy", POLICIES)
def test_case_87_lowest_free_gpus_first(policy):
    """case 87: (all) the lowest free GPUs are taken, and reused after a free."""
    pool = make_pool("MIX", policy)
    c = {"ranks": ["1"]}
    got = [place(pool, j, slots(1, cores=1, gpus=1), constraint=c) for j in range(1, 4)]
    assert got == ["rank1/core0,gpu0", "rank1/core1,gpu1", "rank1/core2,gpu2"]
    pool.free(1)
    assert place(pool, 4, slots(1, cores=1, gpus=1), constraint=c) == "rank1/core0,gpu0"


# ---------------------------------------------------------------- 135 exclusive size (F9)


@pytest.mark.parametrize("policy", ["first-fit", "best-fit"])
def test_case_135_exclusive_needs_big_enough_node(policy):
    """case 135: (F9, ff and bf) HET, rank 0 busy: an exclusive 3-core node is insufficient."""
    pool = make_pool("HET", policy)
    # Under best-fit an unconstrained slots(1) goes to rank 1 (fewest free cores, §5 step 4),
    # so the first job is pinned to rank 0 to make "rank 0 busy" hold for both policies.
    first = None if policy == "first-fit" else {"ranks": ["0"]}
    assert place(pool, 1, slots(1), constraint=first) == "rank0/core0"
    req = request(pool, nodes(1, slots(1, cores=3), exclusive=True))
    pool.check_feasibility(req)  # rank 0 is big enough: feasible
    before = snapshot(pool)
    with pytest.raises(InsufficientResources) as info:
        pool.alloc(2, req)
    assert not isinstance(info.value, InfeasibleRequest)
    assert snapshot(pool) == before
    # once rank 0 is free again it is the one taken
    pool.free(1)
    assert pool.alloc(3, req).dumps() == "rank0/core[0-3]"


def test_case_135_worst_fit_takes_any_free_node():
    """case 135: under worst-fit the same sequence gives rank 1 whole (M8)."""
    pool = make_pool("HET", "worst-fit")
    assert place(pool, 1, slots(1)) == "rank0/core0"
    assert place(pool, 2, nodes(1, slots(1, cores=3), exclusive=True)) == "rank1/core[0-1]"


def test_case_135_best_fit_exclusive_after_small_job():
    """case 135 (bf): unpinned, slots(1) goes to rank 1; the 3-core exclusive node is rank 0."""
    pool = make_pool("HET", "best-fit")
    assert place(pool, 1, slots(1)) == "rank1/core0"
    assert place(pool, 2, nodes(1, slots(1, cores=3), exclusive=True)) == "rank0/core[0-3]"
