"""The nodelist that ``to_dict()`` writes, computed from the bracket segments of
the pool's nodelist instead of host by host: SPEC §2.2 (compressing), §2.3-§2.4
(the i-th host names the i-th lowest rank, ``rank<N>`` past a short nodelist),
§9 (views), M2, M10 and cases 16-17.

The reference is always ``compress(names.names(ranks))``: the same text host by
host. Byte-identical output is the contract."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluxpool import ResourcePool
from fluxpool._rv1core import IdRanges
from fluxpool.hostlist import MAX_RANGE, NameTable, compress, expand

from specdata import R, MiB, traced_peak


def reference(table, ranks):
    return compress(table.names(ranks))


def idr(ids):
    return IdRanges.from_ints(sorted(set(ids)))


# ---------------------------------------------------------------- shapes named in the brief


@pytest.mark.parametrize(
    "nodelist, pool_ranks, written",
    [
        # sparse ranks of a dense pool
        (["node[0-99]"], range(100), [0, 2, 3, 4, 50, 98, 99]),
        # a short nodelist: ranks past it are rank<N>
        (["node[0-3]"], range(10), range(10)),
        (["node[0-3]"], range(10), [2, 3, 4, 5, 9]),
        # no nodelist at all
        ([], [7, 9, 20], [7, 9, 20]),
        ([], range(5), range(1, 5)),
        # rank<N> names next to a nodelist that also says "rank"
        (["rank[0-2]"], range(6), range(6)),
        (["rank[0-1]"], [0, 1, 3, 4], [0, 1, 3, 4]),
        # mixed literal and bracket nodelists, several strings concatenated
        (["login", "node[1-3]", "node4,node5", "n[7-8]-ib"], range(8), range(8)),
        (["alpha,node[0-2],beta", "node[3-4]"], range(7), [0, 1, 3, 5, 6]),
        # zero-padded widths, widening values, width changes between segments
        (["n[008-012]"], range(5), range(5)),
        (["n[8-12]"], range(5), range(5)),
        (["n[098-101],n[102-103]"], range(6), range(6)),
        (["n[9],n[010-011]"], range(3), range(3)),
        (["n[01-02],n[3-4]"], range(4), range(4)),
        (["n[1-2],n[03-04]"], range(4), range(4)),
        # a prefix ending in a digit, a suffix ending in a digit, an empty prefix
        (["rack1n[0-3]"], range(4), range(4)),
        (["node1[0-3]"], range(4), range(4)),
        (["n1[8-9],n[110-111]"], range(4), range(4)),
        (["n[0-3]x1"], range(4), range(4)),
        (["[0-3]"], range(4), range(4)),
        # written order kept, duplicates kept
        (["n[5-6],n[0-1]"], range(4), range(4)),
        (["n[1,1]"], range(2), range(2)),
        # the pool's ranks are not contiguous: names follow rank order, not rank value
        (["node[0-5]"], [0, 1, 2, 10, 11, 12], [1, 2, 10, 11]),
        # ranks outside the table's ranks are named as name() names them
        (["node[0-5]"], [3, 4, 10, 11], [0, 1, 5, 6, 12, 20]),
    ],
)
def test_segment_nodelist_equals_host_by_host(nodelist, pool_ranks, written):
    table = NameTable.from_nodelist(nodelist, idr(pool_ranks))
    ranks = idr(written)
    assert table.hostlist(ranks) == reference(table, ranks)


def test_segment_nodelist_of_names_given_one_per_rank():
    """NameTable.from_names (literal names) goes through the same path."""
    names = ["a1", "a2", "b", "a3", "c07", "c08"]
    table = NameTable.from_names(names, idr(range(6)))
    for written in ([0, 1, 2, 3, 4, 5], [0, 1, 3], [4, 5], [3]):
        ranks = idr(written)
        assert table.hostlist(ranks) == reference(table, ranks)


def test_segment_runs_break_at_max_range():
    """A run written by compress() never names more than MAX_RANGE hosts (so that
    expand() accepts it); the segment path breaks runs at the same places."""
    table = NameTable.from_nodelist(
        [f"n[0-{MAX_RANGE - 1}],n[{MAX_RANGE}-{MAX_RANGE + 9}]"], idr(range(MAX_RANGE + 10)))
    ranks = idr(range(MAX_RANGE + 10))
    text = table.hostlist(ranks)
    assert text == f"n[0-{MAX_RANGE - 1},{MAX_RANGE}-{MAX_RANGE + 9}]"
    assert len(expand(text)) == MAX_RANGE + 10
    small = idr(range(5, 20))
    assert table.hostlist(small) == reference(table, small)


# ---------------------------------------------------------------- random differential


_PREFIXES = st.sampled_from(["n", "node", "rank", "", "r1n", "a-b", "node1", "n0"])
_SUFFIXES = st.sampled_from(["", "", "", "-ib", "x2"])


@st.composite
def nodelists(draw):
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(["login", "n7", "rank3", "b01", "zeta"])))
        else:
            width = draw(st.integers(1, 4))
            lo = draw(st.integers(0, 120))
            hi = lo + draw(st.integers(0, 30))
            parts.append(f"{draw(_PREFIXES)}[{lo:0{width}d}-{hi}]{draw(_SUFFIXES)}")
    return [",".join(parts)] if parts and draw(st.booleans()) else parts


@settings(max_examples=400, deadline=None)
@given(
    nodelist=nodelists(),
    pool_ranks=st.sets(st.integers(0, 200), max_size=120),
    written=st.sets(st.integers(0, 220), max_size=120),
    take_subset=st.booleans(),
)
def test_segment_nodelist_random(nodelist, pool_ranks, written, take_subset):
    """Any nodelist, any pool ranks, any written ranks (a subset of the pool's,
    as the pool writes, or any ranks at all): the same text as host by host."""
    table = NameTable.from_nodelist(nodelist, idr(pool_ranks))
    chosen = (written & pool_ranks) if take_subset else written
    ranks = idr(chosen)
    assert table.hostlist(ranks) == reference(table, ranks)


# ---------------------------------------------------------------- through the pool


def nodelist_of(obj):
    return obj.to_dict()["execution"].get("nodelist")


def names_of(pool_names, ranks):
    return [compress(pool_names.names(idr(ranks)))]


@pytest.mark.parametrize("policy", ["first-fit", "worst-fit", "best-fit"])
def test_pool_views_and_results_write_segment_nodelists(policy):
    """§9, M10: to_dict() of the pool, of a many-rank allocation, of
    to_resource_set(), and of a pool with a removed middle rank, each equal to
    the host-by-host text."""
    r = R([("0-11", "0-3")], nodelist=["login,n[01-04]", "n[5-9]x"])
    pool = ResourcePool(r, policy=policy)
    names = NameTable.from_nodelist(r["execution"]["nodelist"], idr(range(12)))
    assert nodelist_of(pool) == names_of(names, range(12)) == ["login,n[01-04],n5x,n6x,n7x,n8x,n9x,rank[10-11]"]
    alloc = pool.alloc(1, pool.parse_resource_request(
        {"version": 1, "resources": [{"type": "node", "count": 7, "with": [
            {"type": "slot", "count": 1, "label": "task", "with": [{"type": "core", "count": 4}]}]}],
         "tasks": [], "attributes": {"system": {"duration": 0}}}))
    ranks = list(alloc.ranks())
    assert nodelist_of(alloc) == names_of(names, ranks)
    assert nodelist_of(pool.to_resource_set()) == names_of(names, range(12))
    pool.remove_ranks("5")
    assert nodelist_of(pool) == names_of(names, [r for r in range(12) if r != 5])
    assert nodelist_of(pool.copy()) == nodelist_of(pool)
    assert nodelist_of(pool.to_resource_set()) == nodelist_of(pool)
    # copy_allocated and copy_down write no nodelist (M17, §9)
    pool.mark_down("2-3")
    assert nodelist_of(pool.copy_allocated()) is None
    assert nodelist_of(pool.copy_down()) is None


def test_sparse_allocation_result_nodelist():
    """A result of scattered ranks (the others busy) names exactly those hosts."""
    pool = ResourcePool(R([("0-15", "0-1")], nodelist=["node[00-15]"]), policy="first-fit")
    for rank in range(0, 16, 3):
        pool.register_alloc(100 + rank, R([(str(rank), "0-1")]))
    alloc = pool.alloc(1, pool.parse_resource_request(
        {"version": 1, "resources": [{"type": "slot", "count": 10, "label": "task",
                                      "with": [{"type": "core", "count": 2}]}],
         "tasks": [], "attributes": {"system": {"duration": 0}}}))
    assert nodelist_of(alloc) == ["node[01-02,04-05,07-08,10-11,13-14]"]


def test_large_pool_nodelist_is_not_built_per_host():
    """The first to_dict() of a 1,048,576-rank pool never holds a name per host:
    a list of that many names alone is tens of MiB; the segment path's peak is
    well under 1 MiB (memory, never time, is asserted)."""
    n = 1048576
    r = {"version": 1, "execution": {
        "R_lite": [{"rank": f"0-{n - 1}", "children": {"core": "0-1"}}],
        "nodelist": [f"node[0-{n // 2 - 1}]", f"big[{n // 2}-{n - 1}]"]}}
    pool = ResourcePool(r)
    out, peak = traced_peak(pool.to_dict)
    assert out["execution"]["nodelist"] == [f"node[0-{n // 2 - 1}],big[{n // 2}-{n - 1}]"]
    assert peak < MiB
    pool.remove_ranks("1000")
    out, peak = traced_peak(pool.to_dict)
    assert out["execution"]["nodelist"] == [
        f"node[0-999,1001-{n // 2 - 1}],big[{n // 2}-{n - 1}]"]
    assert peak < MiB
