"""The compiled cold paths give the same values as the plain definitions:
RFC 22 idset encoding (SPEC §2.1) written into one buffer, and topologies
built from R_lite entries (SPEC §2.3, cases 16-17, 28) by copying each entry's
rows to its ranks."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fluxpool import ResourcePool
from fluxpool._rv1core import MAX_ID, IdRanges, Topology, decode_idset

from specdata import R


def reference_encode(ids):
    runs = []
    for i in sorted(set(ids)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


_IDS = st.lists(st.one_of(st.integers(0, 40), st.integers(0, MAX_ID),
                          st.sampled_from([9, 10, 99, 100, 999, 1000, MAX_ID - 1, MAX_ID])),
                max_size=30)


@settings(max_examples=500, deadline=None)
@given(_IDS)
def test_idset_encode_matches_definition(ids):
    """§2.1: ascending, runs of two or more as A-B, singletons alone, commas;
    every digit count from 1 to 10."""
    r = IdRanges.from_ints(sorted(set(ids)))
    text = r.encode()
    assert text == reference_encode(ids)
    assert decode_idset(text) == r if ids else text == ""


def test_idset_encode_many_singletons():
    """Half a million singletons (the N/2-singletons bench row at 1M ranks)."""
    ids = range(0, 1048576, 2)
    text = IdRanges.from_ints(ids).encode()
    assert text == ",".join(map(str, ids))


def _rows(entries):
    """Per rank (rank, core set, GPU set), from entries the plain way."""
    out = {}
    for ranks, cores, gpus in entries:
        for r in ranks:
            out[r] = (frozenset(decode_idset(cores)) if cores else frozenset(),
                      frozenset(decode_idset(gpus)) if gpus else frozenset())
    return sorted(out.items())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 5),
                          st.sampled_from(["0", "0-3", "0-127", "64-65", "1,3,200"]),
                          st.sampled_from([None, "0", "0-7", "3"])),
                max_size=6),
       st.booleans())
def test_topology_from_entries_rows(spans, shuffle):
    """Cases 16-17, 28: each rank gets its entry's cores and GPUs whatever the
    entry order; a rank in two entries is refused."""
    entries, seen, overlap = [], set(), False
    for start, length, cores, gpus in spans:
        ranks = list(range(start, start + length + 1))
        overlap |= bool(seen & set(ranks))
        seen |= set(ranks)
        entries.append((IdRanges.from_ints(ranks), cores, gpus))
    if shuffle:
        entries.reverse()
    try:
        topo = Topology.from_entries(entries)
    except ValueError as exc:
        assert overlap and "more than one R_lite entry" in str(exc)
        return
    assert not overlap
    got = []
    for ranks, cores, gpus in topo.groups():
        for r in ranks:
            got.append((r, (frozenset(decode_idset(cores)),
                            frozenset(decode_idset(gpus)) if gpus else frozenset())))
    assert sorted(got) == _rows(entries)
    assert list(topo.ranks()) == sorted(seen)


def test_pool_from_unordered_entries_writes_grouped_R():
    """Case 17 through the pool: R_lite listing ranks 4-5 before 0-3."""
    pool = ResourcePool(R([("4-5", "0-1", "0"), ("0-3", "0-7")], nodelist=["a[0-5]"]))
    assert pool.dumps() == "rank[0-3]/core[0-7] rank[4-5]/core[0-1],gpu0"
    assert pool.to_dict()["execution"]["nodelist"] == ["a[0-5]"]


def test_warm_to_dict_equals_first():
    """§2.4, case 30: a large topology keeps its encoded R_lite groups; every
    later to_dict() is equal to the first (GPUs written only where present),
    and changing a returned dict changes no later one."""
    r = {"version": 1, "execution": {
        "R_lite": [{"rank": "0-299", "children": {"core": "0-3", "gpu": "0"}},
                   {"rank": "300-999", "children": {"core": "0-7"}}],
        "nodelist": ["n[0-999]"]}}
    pool = ResourcePool(r)
    first = pool.to_dict()
    text = json.dumps(first)
    first["execution"]["R_lite"][0]["children"]["core"] = "0"
    first["execution"]["R_lite"].pop()
    for view in (pool, pool.to_resource_set(), pool.copy()):
        assert json.dumps(view.to_dict()) == text
    assert json.dumps(pool.to_dict()) == text
