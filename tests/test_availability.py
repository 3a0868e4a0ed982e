"""mark_up, mark_down, remove_ranks: SPEC §8 and §14 cases 110-116."""

import pytest

from fluxpool import InsufficientResources, ResourcePool

from specdata import R, make_pool, nodes, place, request, slots, snapshot


def test_case_110_mark_down_and_up():
    """case 110: GRID mark_down("1") shows rank 1 down; mark_up("all") clears it."""
    pool = make_pool("GRID")
    gen = pool.generation
    pool.mark_down("1")
    assert pool.copy_down().dumps() == "rank1/core[0-7]"
    assert pool.generation == gen + 1
    pool.mark_up("all")
    assert pool.copy_down().dumps() == ""
    assert pool.generation == gen + 2


def test_case_110_down_rank_gets_no_allocation():
    """case 110: a down rank is skipped by placement; back up, it is used again."""
    pool = make_pool("GRID")
    pool.mark_down("0")
    assert place(pool, 1, slots(1), constraint={"ranks": ["0-1"]}) == "rank1/core0"
    with pytest.raises(InsufficientResources):
        pool.alloc(2, request(pool, slots(1), constraint={"ranks": ["0"]}))
    pool.mark_up("0")
    assert place(pool, 3, slots(1), constraint={"ranks": ["0"]}) == "rank0/core0"


def test_case_110_mark_accepts_int_and_iterable():
    """case 110 (§8): mark_down/mark_up also take an int or an iterable of ints."""
    pool = make_pool("GRID")
    pool.mark_down(2)
    assert pool.copy_down().dumps() == "rank2/core[0-7]"
    pool.mark_down([0, 3])
    assert pool.copy_down().dumps() == "rank[0,2-3]/core[0-7]"
    pool.mark_up([0, 2])
    assert pool.copy_down().dumps() == "rank3/core[0-7]"
    pool.mark_up(3)
    assert pool.copy_down().dumps() == ""


def test_case_111_mark_down_unknown_rank():
    """case 111: mark_down("9") on GRID is accepted, changes nothing but generation."""
    pool = make_pool("GRID")
    gen = pool.generation
    pool.mark_down("9")
    assert pool.generation == gen + 1
    assert pool.copy_down().dumps() == ""
    pool.mark_up("9")
    assert pool.generation == gen + 2
    # a mix of known and unknown ranks applies to the known ones
    pool.mark_down("3-5")
    assert pool.copy_down().dumps() == "rank3/core[0-7]"


@pytest.mark.parametrize("method", ["mark_down", "mark_up"])
@pytest.mark.parametrize("ids", ["x", "3-1", "1,,2", "0-4000000000", "-1"])
def test_case_112_invalid_idset(method, ids):
    """case 112: an invalid idset is a ValueError and the pool is unchanged."""
    pool = make_pool("GRID")
    place(pool, 1, slots(1))
    pool.mark_down("2")
    before = snapshot(pool)
    with pytest.raises(ValueError):
        getattr(pool, method)(ids)
    assert snapshot(pool) == before


def test_case_113_allocations_survive_mark_down():
    """case 113: a down rank keeps its allocation; copy_down() shows the whole rank."""
    pool = make_pool("GRID")
    assert place(pool, 1, slots(1)) == "rank0/core0"
    pool.mark_down("0")
    assert pool.copy_allocated().dumps() == "rank0/core0"
    assert pool.copy_down().dumps() == "rank0/core[0-7]"
    assert pool.job_end_times() == [(1, 0.0)]
    pool.mark_up("0")
    # core 0 is still taken after coming back up
    assert place(pool, 2, slots(1), constraint={"ranks": ["0"]}) == "rank0/core1"
    pool.mark_down("0")
    pool.free(1)
    assert pool.copy_allocated().dumps() == "rank0/core1"


def test_case_114_remove_ranks_rewrites_R():
    """case 114: GRID remove_ranks("1") leaves ranks 0,2-3 and nodelist node[0,2-3]."""
    pool = make_pool("GRID")
    gen = pool.generation
    pool.remove_ranks("1")
    ex = pool.to_dict()["execution"]
    assert ex["R_lite"] == [{"rank": "0,2-3", "children": {"core": "0-7"}}]
    assert ex["nodelist"] == ["node[0,2-3]"]
    assert pool.generation == gen + 1
    assert pool.dumps() == "rank[0,2-3]/core[0-7]"
    # rank 1 can no longer be allocated
    assert place(pool, 1, nodes(3, slots(8))) == "rank[0,2-3]/core[0-7]"


def test_case_114_remove_ranks_drops_allocation_and_down_state():
    """case 114 (§8): a removed rank leaves allocations and the down set too."""
    pool = make_pool("GRID")
    assert place(pool, 1, slots(1)) == "rank0/core0"
    pool.mark_down("0,2")
    pool.remove_ranks("0")
    assert pool.copy_allocated().dumps() == ""
    assert pool.copy_down().dumps() == "rank2/core[0-7]"
    assert pool.job_end_times() == [(1, 0.0)]  # job records are not touched


def test_case_115_removed_property_leaves_empty_table():
    """case 115: removing the only rank of a property leaves "properties": {} (M15)."""
    R_ = R([("0-2", "0-3")], nodelist=["n[0-2]"])
    R_["execution"]["properties"] = {"odd": "1"}
    pool = ResourcePool(R_, policy="worst-fit")
    assert pool.to_dict()["execution"]["properties"] == {"odd": "1"}
    pool.remove_ranks("1")
    ex = pool.to_dict()["execution"]
    assert ex["properties"] == {}
    assert ex["R_lite"] == [{"rank": "0,2", "children": {"core": "0-3"}}]


def test_case_115_property_rank_sets_shrink():
    """case 115 (§8): remove_ranks removes the ranks from every property."""
    pool = make_pool("MIX")
    pool.remove_ranks("1-2,9")
    assert pool.to_dict()["execution"]["properties"] == {"+local": "0", "fat": "0,3"}


class StrIdset:
    """An object whose str() is an idset, like flux-core's IDset."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


@pytest.mark.parametrize(
    "arg, left",
    [
        ("1-2", "0,3"),
        (1, "0,2-3"),
        ([1, 2], "0,3"),
        (StrIdset("1-2"), "0,3"),
    ],
    ids=["str", "int", "list", "str-object"],
)
def test_case_116_remove_ranks_argument_forms(arg, left):
    """case 116: remove_ranks takes an idset string, an int, a list, or any str()-able idset."""
    pool = make_pool("GRID")
    gen = pool.generation
    pool.remove_ranks(arg)
    assert str(pool.ranks()) == left
    assert pool.to_dict()["execution"]["R_lite"][0]["rank"] == left
    assert pool.generation == gen + 1


def test_case_116_remove_ranks_invalid_is_unchanged():
    """case 116 (§10): an invalid idset for remove_ranks is a ValueError, nothing changes."""
    pool = make_pool("GRID")
    place(pool, 1, slots(1))
    before = snapshot(pool)
    for bad in ("x", "2-1", StrIdset("1,,2")):
        with pytest.raises(ValueError):
            pool.remove_ranks(bad)
        assert snapshot(pool) == before
