"""free(): SPEC §7 and §14 cases 94-104, on the "three-node job" of GRID."""

import json

import pytest

from fluxpool import ResourcePool, Rv1Pool

from specdata import POLICIES, R, make_pool, nodes, place, request, slots, snapshot

FULL = [("0-2", "0-1")]


@pytest.fixture
def pool():
    """GRID (worst-fit) with job 11 = nodes(3, slots(1, cores=2)) → rank[0-2]/core[0-1]."""
    p = make_pool("GRID", "worst-fit")
    assert place(p, 11, nodes(3, slots(1, cores=2))) == "rank[0-2]/core[0-1]"
    return p


def allocated(p):
    return p.copy_allocated().dumps()


# ---------------------------------------------------------------- 94-95


def test_case_94_free_whole_job(pool):
    """case 94: free(11) releases everything and drops the record."""
    gen = pool.generation
    pool.free(11)
    assert allocated(pool) == ""
    assert pool.job_end_times() == []
    assert pool.generation == gen + 1
    # the cores are really free again
    assert place(pool, 12, nodes(4, slots(8))) == "rank[0-3]/core[0-7]"


def test_case_95_partial_free_then_final(pool):
    """case 95: free rank 1, the record stays; a final free releases the rest."""
    gen = pool.generation
    pool.free(11, R([("1", "0-1")]))
    assert allocated(pool) == "rank[0,2]/core[0-1]"
    assert pool.job_end_times() == [(11, 0.0)]
    assert pool.generation == gen + 1
    pool.free(11, final=True)
    assert allocated(pool) == ""
    assert pool.job_end_times() == []
    assert pool.generation == gen + 2


def test_case_95_partial_free_removes_whole_ranks(pool):
    """case 95 (M13): freeing part of a rank drops that whole rank from the job's record."""
    pool.free(11, R([("1", "0")]))
    assert allocated(pool) == "rank[0,2]/core[0-1] rank1/core1"
    assert pool.job_end_times() == [(11, 0.0)]
    pool.free(11, final=True)
    # rank 1 left the record, so its remaining core stays allocated
    assert allocated(pool) == "rank1/core1"
    assert pool.job_end_times() == []


# ---------------------------------------------------------------- 96-98 errors


@pytest.mark.parametrize("final", [False, True])
def test_case_96_rank_not_in_job(pool, final):
    """case 96: R naming rank 3 (not in job 11) → ValueError, nothing changes."""
    before = snapshot(pool)
    with pytest.raises(ValueError) as info:
        pool.free(11, R([("1,3", "0-1")]), final=final)
    assert "R contains ranks not in job allocation" in str(info.value)
    assert str(info.value).startswith("free: ")
    assert snapshot(pool) == before


@pytest.mark.parametrize(
    "ranks_cores, got",
    [
        ([("0-1", "0-1")], "rank[0-1]/core[0-1]"),
        ([("0-2", "0")], "rank[0-2]/core0"),
    ],
)
def test_case_97_final_mismatch(pool, ranks_cores, got):
    """case 97: a final free whose R is not exactly the job's allocation → ValueError."""
    before = snapshot(pool)
    with pytest.raises(ValueError) as info:
        pool.free(11, R(ranks_cores), final=True)
    message = str(info.value)
    assert message.startswith("free: ")
    assert f"final R mismatch: got {got}, expected rank[0-2]/core[0-1]" in message
    assert snapshot(pool) == before


def test_case_98_final_full_after_partial(pool):
    """case 98: after freeing rank 1, a final free of the original R is an error."""
    pool.free(11, R([("1", "0-1")]))
    before = snapshot(pool)
    with pytest.raises(ValueError):
        pool.free(11, R(FULL), final=True)
    assert snapshot(pool) == before
    # the remaining exact R is accepted
    pool.free(11, R([("0,2", "0-1")]), final=True)
    assert allocated(pool) == ""
    assert pool.job_end_times() == []


# ---------------------------------------------------------------- 99-102


def test_case_99_final_exact(pool):
    """case 99: a final free with exactly the job's R releases it and drops the record."""
    gen = pool.generation
    pool.free(11, R(FULL), final=True)
    assert allocated(pool) == ""
    assert pool.job_end_times() == []
    assert pool.generation == gen + 1


def test_case_100_unknown_job_is_noop(pool):
    """case 100: free(4242) and free(4243, final=True) change nothing, not even generation."""
    before = snapshot(pool)
    pool.free(4242)
    assert snapshot(pool) == before
    pool.free(4243, final=True)
    assert snapshot(pool) == before


def test_case_101_unknown_job_with_R_still_releases(pool):
    """case 101: free(4242, R) releases R's cores though they belong to job 11 (M12)."""
    gen = pool.generation
    pool.free(4242, R([("0", "0-1")]))
    assert allocated(pool) == "rank[1-2]/core[0-1]"
    assert pool.job_end_times() == [(11, 0.0)]
    assert pool.generation == gen + 1


def test_case_102_double_free(pool):
    """case 102: a second free(11) is a no-op."""
    pool.free(11)
    before = snapshot(pool)
    pool.free(11)
    assert snapshot(pool) == before
    pool.free(11, final=True)
    assert snapshot(pool) == before


# ---------------------------------------------------------------- 103 R argument forms


class OnlyToDict:
    """An object that only has to_dict(), like a flux-core pool seen from fluxpool."""

    def __init__(self, d):
        self._d = d

    def to_dict(self):
        return json.loads(json.dumps(self._d))


def r_forms(ranks_cores):
    d = R(ranks_cores)
    return {
        "ResourcePool": ResourcePool(d),
        "Rv1Pool": Rv1Pool(d),
        "ResourceSet": ResourcePool(d).to_resource_set(),
        "dict": d,
        "json": json.dumps(d),
        "to_dict-object": OnlyToDict(d),
    }


@pytest.mark.parametrize("form", list(r_forms(FULL)))
def test_case_103_R_forms_partial(form):
    """case 103: a partial free gives the same result whatever form R takes."""
    p = make_pool("GRID", "worst-fit")
    place(p, 11, nodes(3, slots(1, cores=2)))
    reference = make_pool("GRID", "worst-fit")
    place(reference, 11, nodes(3, slots(1, cores=2)))
    reference.free(11, R([("1", "0-1")]))
    p.free(11, r_forms([("1", "0-1")])[form])
    assert snapshot(p) == snapshot(reference)
    assert allocated(p) == "rank[0,2]/core[0-1]"


@pytest.mark.parametrize("form", list(r_forms(FULL)))
def test_case_103_R_forms_final(form):
    """case 103: a final exact free works with every form of R."""
    p = make_pool("GRID", "worst-fit")
    place(p, 11, nodes(3, slots(1, cores=2)))
    gen = p.generation
    p.free(11, r_forms(FULL)[form], final=True)
    assert allocated(p) == ""
    assert p.job_end_times() == []
    assert p.generation == gen + 1


@pytest.mark.parametrize("form", list(r_forms(FULL)))
def test_case_103_R_forms_mismatch(form):
    """case 103: every form of R is checked the same way on a final mismatch."""
    p = make_pool("GRID", "worst-fit")
    place(p, 11, nodes(3, slots(1, cores=2)))
    before = snapshot(p)
    with pytest.raises(ValueError):
        p.free(11, r_forms([("0-1", "0-1")])[form], final=True)
    assert snapshot(p) == before


@pytest.mark.parametrize("policy", POLICIES)
def test_case_103_alloc_result_and_view_as_R(policy):
    """case 103: the allocation result itself and copy_allocated() serve as R."""
    for use_view in (False, True):
        p = make_pool("GRID", policy)
        result = p.alloc(11, request(p, nodes(3, slots(1, cores=2))))
        R_arg = p.copy_allocated() if use_view else result
        p.free(11, R_arg, final=True)
        assert allocated(p) == ""
        assert p.job_end_times() == []


# ---------------------------------------------------------------- 104 removed ranks


def test_case_104_free_after_remove_ranks(pool):
    """case 104: after remove_ranks("0"), free(11) releases ranks 1-2 without error."""
    pool.remove_ranks("0")
    gen = pool.generation
    pool.free(11)
    assert allocated(pool) == ""
    assert pool.job_end_times() == []
    assert pool.generation == gen + 1
    assert str(pool.ranks()) == "1-3"
    assert place(pool, 12, nodes(3, slots(8))) == "rank[1-3]/core[0-7]"


def test_case_104_final_exact_free_after_remove_ranks(pool):
    """case 104: a final free with the job's original R skips the removed rank."""
    pool.remove_ranks("0")
    pool.free(11, R(FULL), final=True)
    assert allocated(pool) == ""
    assert pool.job_end_times() == []


def test_case_104_partial_free_naming_removed_rank(pool):
    """case 104: a partial free naming a removed rank skips it."""
    pool.remove_ranks("0")
    pool.free(11, R([("0-1", "0-1")]))
    assert allocated(pool) == "rank2/core[0-1]"
    assert pool.job_end_times() == [(11, 0.0)]
