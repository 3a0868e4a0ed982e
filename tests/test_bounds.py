"""Bounds: SPEC §13 and §14 cases 131, 132."""

import re

import pytest

from fluxpool import ResourceCount, ResourcePool
from fluxpool import hostlist, idset

from specdata import R, fixture, nodes, slots, spec, traced_peak

MiB = 1024 * 1024
MAX_ID = 2**31 - 1
BOUND_WORDS = re.compile(
    r"max|limit|bound|exceed|more than|too (large|long|many|big)|out of range|1048576|1,048,576",
    re.I,
)


def names_bound(exc):
    return BOUND_WORDS.search(str(exc)) is not None


def _even_ids_text(min_chars):
    """A well-formed idset text (even ids, ascending) of at least ``min_chars``."""
    parts = []
    size = 0
    v = 0
    step = 1_000_000
    while size < min_chars:
        chunk = ",".join(map(str, range(v, v + 2 * step, 2)))
        parts.append(chunk)
        size += len(chunk) + 1
        v += 2 * step
    return ",".join(parts)


# ---------------------------------------------------------------- case 131


@pytest.mark.parametrize(
    "r",
    [
        R([("0", "100000")]),
        R([("0", "0-100000")]),
        R([("0-3", "0-2000000000")]),
        R([("0", "0-3", "100000")]),
        R([("2147483648", "0")]),
        R([("0-1,2147483648", "0")]),
        R([("4294967296", "0")]),
    ],
    ids=["core-100000", "core-range", "core-2e9", "gpu-100000", "rank-2^31",
         "rank-list-2^31", "rank-2^32"],
)
def test_case_131_id_bounds(r):
    """case 131: a core id of 100,000 or a rank id of 2^31 is a ValueError naming
    the bound, before anything large is allocated."""
    error, peak = traced_peak(lambda: ResourcePool(r))
    assert isinstance(error, ValueError), error
    assert names_bound(error), str(error)
    assert peak < MiB, peak  # refused before any row was laid out


def test_case_131_largest_rank_is_cheap():
    """case 131 (§13): rank 2^31 - 1 is accepted and sparse ranks cost nothing."""
    p, peak = traced_peak(
        lambda: ResourcePool(R([("0,1000000,2147483647", "0-3")]), policy="worst-fit"))
    assert peak < MiB, peak  # three ranks cost three ranks, whatever their ids
    assert p.dumps() == "rank[0,1000000,2147483647]/core[0-3]"
    result = p.alloc(1, p.parse_resource_request(spec(nodes(3, slots(1)))))
    assert result.dumps() == "rank[0,1000000,2147483647]/core0"
    assert p.to_dict()["execution"]["R_lite"] == [
        {"rank": "0,1000000,2147483647", "children": {"core": "0-3"}}
    ]


def test_case_131_documented_core_bounds_hold():
    """case 131 (§13): core ids up to at least 1,023 and GPU ids up to 255 work."""
    p = ResourcePool(R([("0", "0-1023", "0-255")]))
    assert p.count("core") == 1024
    assert p.count("gpu") == 256


# ---------------------------------------------------------------- case 132


@pytest.mark.parametrize("count", [10**12, "1000000000000", {"min": 10**12},
                                   {"min": 1, "max": 10**12}, 2**31, "1-2147483648"])
def test_case_132_huge_counts(count):
    """case 132: a jobspec count of 10^12 (or anything from 2^31 up) is a ValueError."""
    pool = ResourcePool(fixture("GRID"))
    with pytest.raises(ValueError):
        pool.parse_resource_request(spec(slots(count)))
    with pytest.raises(ValueError):
        pool.parse_resource_request(spec(nodes(count, slots(1))))
    with pytest.raises(ValueError):
        pool.parse_resource_request(spec(slots(1, cores=count)))


def test_case_132_huge_count_direct():
    """case 132 (§13): from_count_spec refuses counts of 2^31 and above."""
    with pytest.raises(ValueError):
        ResourceCount.from_count_spec(10**12)
    assert ResourceCount.from_count_spec(2**31 - 1).min == 2**31 - 1


def test_case_132_idset_of_32_mib():
    """case 132: an idset string of 32 MiB is refused for its length, before it
    is parsed."""
    text = _even_ids_text(32 * MiB)
    assert len(text) >= 32 * MiB
    error, peak = traced_peak(lambda: idset.decode(text))
    assert isinstance(error, ValueError) and names_bound(error), error
    assert peak < MiB, peak
    with pytest.raises(ValueError):
        ResourcePool(R([(text, "0")]))
    with pytest.raises(ValueError):
        ResourcePool(R([("0", text)]))


def test_case_132_idset_longer_than_16_mib():
    """case 132 (§13): idset text just over 16 MiB is refused; the length is the
    reason (the same ids in shorter text are fine)."""
    text = _even_ids_text(16 * MiB + 1)
    assert len(text) > 16 * MiB
    with pytest.raises(ValueError) as info:
        idset.decode(text)
    assert names_bound(info.value)
    # the bound is on text length, not on the number of ids
    assert len(idset.decode("0-2147483647")) == 2**31


def test_case_132_hostlist_range_of_two_million():
    """case 132: a hostlist range of two million hosts is refused before any
    name is built."""
    error, peak = traced_peak(lambda: hostlist.expand("n[0-1999999]"))
    assert isinstance(error, ValueError) and names_bound(error), error
    assert peak < MiB, peak
    with pytest.raises(ValueError):
        ResourcePool(R([("0-3", "0")], nodelist=["n[0-1999999]"]))


def test_case_132_hostlist_text_longer_than_16_mib():
    """case 132 (§13): hostlist text longer than 16 MiB is refused."""
    text = "a," * (8 * MiB + 1)
    assert len(text) > 16 * MiB
    with pytest.raises(ValueError) as info:
        hostlist.expand(text)
    assert names_bound(info.value)
