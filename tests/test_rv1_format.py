"""R version 1 parse and encode: SPEC §2.3-§2.5 and §14 cases 14-31."""

import copy
import json
import re

import pytest

from fluxpool import InfeasibleRequest, ResourcePool, Rv1Pool

from specdata import ALL_FIXTURES, GRID, R, fixture, slots, snapshot, spec


# ---------------------------------------------------------------- case 14, 15


def test_case_14_grid_to_dict_exact_with_key_order():
    """case 14: ResourcePool(GRID).to_dict() exactly, keys in order."""
    d = ResourcePool(fixture("GRID")).to_dict()
    assert d == {
        "version": 1,
        "execution": {
            "R_lite": [{"rank": "0-3", "children": {"core": "0-7"}}],
            "starttime": 0.0,
            "expiration": 0.0,
            "nodelist": ["node[0-3]"],
        },
    }
    assert list(d) == ["version", "execution"]
    assert list(d["execution"]) == ["R_lite", "starttime", "expiration", "nodelist"]
    assert list(d["execution"]["R_lite"][0]) == ["rank", "children"]
    assert isinstance(d["execution"]["starttime"], float)
    assert isinstance(d["execution"]["expiration"], float)
    assert type(d["version"]) is int


def test_case_14_encode_is_json_dumps_of_to_dict():
    """case 14 (§2.4): encode() is json.dumps(to_dict()) with default separators."""
    p = ResourcePool(fixture("MIX"))
    assert p.encode() == json.dumps(p.to_dict())
    assert ResourcePool(fixture("GRID")).encode() == (
        '{"version": 1, "execution": {"R_lite": [{"rank": "0-3", "children": '
        '{"core": "0-7"}}], "starttime": 0.0, "expiration": 0.0, '
        '"nodelist": ["node[0-3]"]}}'
    )


@pytest.mark.parametrize("name", sorted(ALL_FIXTURES))
def test_case_15_round_trip_fixtures(name):
    """case 15: ResourcePool(p.to_dict()).to_dict() == p.to_dict() for every fixture."""
    p = ResourcePool(fixture(name))
    d = p.to_dict()
    again = ResourcePool(d).to_dict()
    assert again == d
    assert list(again) == list(d)
    assert list(again["execution"]) == list(d["execution"])
    assert json.dumps(again) == json.dumps(d)
    # also through the JSON text form
    assert ResourcePool(p.encode()).to_dict() == d
    assert p.dumps() == ResourcePool(d).dumps()


def test_case_15_mix_to_dict_exact():
    """case 15: MIX is written with GPU groups, a nodelist and sorted properties."""
    d = ResourcePool(fixture("MIX")).to_dict()
    ex = d["execution"]
    assert ex["R_lite"] == [
        {"rank": "0-3", "children": {"core": "0-15", "gpu": "0-3"}},
        {"rank": "4-9", "children": {"core": "0-7"}},
        {"rank": "10-11", "children": {"core": "0-31", "gpu": "0-1"}},
    ]
    assert list(ex["R_lite"][0]["children"]) == ["core", "gpu"]
    assert list(ex) == ["R_lite", "starttime", "expiration", "nodelist", "properties"]
    assert ex["nodelist"] == ["node[0-11]"]
    assert ex["properties"] == {"+local": "0", "debug": "9", "fat": "0-3"}
    assert list(ex["properties"]) == ["+local", "debug", "fat"]
    assert "scheduling" not in d


@pytest.mark.parametrize(
    "name, text",
    [
        ("GRID", "rank[0-3]/core[0-7]"),
        ("HET", "rank0/core[0-3] rank[1-2]/core[0-1]"),
        ("G2", "rank[0-1]/core[0-7],gpu[0-1]"),
        ("MIX", "rank[0-3]/core[0-15],gpu[0-3] rank[4-9]/core[0-7] "
                "rank[10-11]/core[0-31],gpu[0-1]"),
        ("SPARSE", "rank[7,9,20]/core[0-3]"),
    ],
)
def test_case_15_fixture_dumps(name, text):
    """case 15 (§2.5): dumps() of each fixture."""
    assert ResourcePool(fixture(name)).dumps() == text


@pytest.mark.parametrize(
    "rl, text",
    [
        ([("0-3", "0-3")], "rank[0-3]/core[0-3]"),
        ([("2", "4-5")], "rank2/core[4-5]"),
        ([("0", "0-3", "0"), ("1", "0-3"), ("2", "0-3", "0")],
         "rank[0,2]/core[0-3],gpu0 rank1/core[0-3]"),
        ([("0", "1"), ("1", "0")], "rank0/core1 rank1/core0"),
        ([("0-2", "0")], "rank[0-2]/core0"),
        ([("0", "", "0")], "rank0/core,gpu0"),
    ],
)
def test_case_15_dumps_table(rl, text):
    """case 15 (§2.5): the dumps() table."""
    p = ResourcePool(R(rl))
    assert p.dumps() == text
    assert p.to_resource_set().dumps() == text


def test_case_15_dumps_ignores_state():
    """case 15 (§2.5): up/down and allocation state do not show in dumps()."""
    p = ResourcePool(fixture("GRID"), policy="worst-fit")
    p.alloc(1, p.parse_resource_request(spec(slots(3))))
    p.mark_down("1")
    assert p.dumps() == "rank[0-3]/core[0-7]"


# ---------------------------------------------------------------- case 16-20


def test_case_16_grouping_by_core_and_gpu_sets():
    """case 16: ranks with identical core and GPU sets share an R_lite entry."""
    p = ResourcePool(R([("0", "0-3", "0"), ("1", "0-3"), ("2", "0-3", "0")]))
    rl = p.to_dict()["execution"]["R_lite"]
    assert rl == [
        {"rank": "0,2", "children": {"core": "0-3", "gpu": "0"}},
        {"rank": "1", "children": {"core": "0-3"}},
    ]
    assert p.dumps() == "rank[0,2]/core[0-3],gpu0 rank1/core[0-3]"


def test_case_16_regrouping_of_split_entries():
    """case 16 (§2.4): entries are regrouped and ordered by their smallest rank."""
    p = ResourcePool(R([("3", "0-1"), ("0-1", "0-1"), ("2", "0-7"), ("4", "0-7")]))
    assert p.to_dict()["execution"]["R_lite"] == [
        {"rank": "0-1,3", "children": {"core": "0-1"}},
        {"rank": "2,4", "children": {"core": "0-7"}},
    ]


def test_case_17_entries_out_of_order_with_nodelist():
    """case 17: R_lite lists 4-5 before 0-3: rank 0 is a0; output lists 0-3 first."""
    r = R([("4-5", "0-7"), ("0-3", "0-3")], nodelist=["a[0-5]"])
    p = ResourcePool(r)
    names = list(p.nodelist())
    assert names[0] == "a0"
    assert names == ["a0", "a1", "a2", "a3", "a4", "a5"]
    d = p.to_dict()
    assert d["execution"]["R_lite"] == [
        {"rank": "0-3", "children": {"core": "0-3"}},
        {"rank": "4-5", "children": {"core": "0-7"}},
    ]
    assert d["execution"]["nodelist"] == ["a[0-5]"]
    assert p.dumps() == "rank[0-3]/core[0-3] rank[4-5]/core[0-7]"


def test_case_17_nodelist_names_ranks_in_ascending_order():
    """case 17 (§2.3): the i-th host names the i-th lowest rank, lists are concatenated."""
    p = ResourcePool(R([("10", "0"), ("2", "0"), ("5", "0")], nodelist=["x", "y,z"]))
    assert list(p.nodelist()) == ["x", "y", "z"]
    assert list(p.ranks()) == [2, 5, 10]
    assert p.nnodes() == 3
    assert p.to_dict()["execution"]["nodelist"] == ["x,y,z"]


def test_case_18_short_nodelist():
    """case 18: ranks beyond a short nodelist are named rank<N> (M2)."""
    p = ResourcePool(R([("0-2", "0-1")], nodelist=["solo"]))
    assert p.to_dict()["execution"]["nodelist"] == ["solo,rank[1-2]"]
    assert list(p.nodelist()) == ["solo", "rank1", "rank2"]


def test_case_18_extra_names_ignored():
    """case 18 (§2.3): extra nodelist names are ignored."""
    p = ResourcePool(R([("0-1", "0")], nodelist=["h[0-5]"]))
    assert p.to_dict()["execution"]["nodelist"] == ["h[0-1]"]


def test_case_19_no_nodelist():
    """case 19: SPARSE has no nodelist key in to_dict()."""
    d = ResourcePool(fixture("SPARSE")).to_dict()
    assert "nodelist" not in d["execution"]
    assert d["execution"]["R_lite"] == [{"rank": "7,9,20", "children": {"core": "0-3"}}]
    assert list(d["execution"]) == ["R_lite", "starttime", "expiration"]


def test_case_19_empty_nodelist_not_written():
    """case 19 (§2.3): only a non-empty nodelist is remembered."""
    d = ResourcePool(R([("0", "0")], nodelist=[])).to_dict()
    assert "nodelist" not in d["execution"]


def test_case_20_gpu_only_rank():
    """case 20: a GPU-only rank is written with "core": "" (M4)."""
    r = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"gpu": "0"}}]}}
    p = ResourcePool(r)
    rl = p.to_dict()["execution"]["R_lite"]
    assert rl == [{"rank": "0", "children": {"core": "", "gpu": "0"}}]
    assert list(rl[0]["children"]) == ["core", "gpu"]
    assert p.dumps() == "rank0/core,gpu0"


def test_case_20_rank_without_children():
    """case 20 (§2.3): children is optional; unknown child keys are ignored."""
    r = {"version": 1, "execution": {"R_lite": [
        {"rank": "0"},
        {"rank": "1", "children": {"core": "0-1", "memory": "0-3"}},
    ]}}
    rl = ResourcePool(r).to_dict()["execution"]["R_lite"]
    assert rl == [
        {"rank": "0", "children": {"core": ""}},
        {"rank": "1", "children": {"core": "0-1"}},
    ]


# ---------------------------------------------------------------- case 21-24


def test_case_21_properties_sorted():
    """case 21: properties are written sorted by name."""
    r = R([("0-5", "0-1")])
    r["execution"]["properties"] = {"zeta": "0-1,5", "alpha": "3", "mid": "2-4"}
    props = ResourcePool(r).to_dict()["execution"]["properties"]
    assert props == {"alpha": "3", "mid": "2-4", "zeta": "0-1,5"}
    assert list(props) == ["alpha", "mid", "zeta"]


def test_case_22_scheduling_written_back():
    """case 22: a truthy scheduling value is written back; {} is not (M3)."""
    r = fixture("GRID")
    r["scheduling"] = {"writer": "x", "blob": [1, 2]}
    d = ResourcePool(r).to_dict()
    assert d["scheduling"] == {"writer": "x", "blob": [1, 2]}
    assert list(d) == ["version", "execution", "scheduling"]

    r = fixture("GRID")
    r["scheduling"] = {}
    assert "scheduling" not in ResourcePool(r).to_dict()


def test_case_23_nslots():
    """case 23: nslots is written back; copy() forgets it (M16)."""
    r = fixture("GRID")
    r["execution"]["nslots"] = 6
    p = ResourcePool(r)
    ex = p.to_dict()["execution"]
    assert ex["nslots"] == 6
    assert list(ex) == ["R_lite", "starttime", "expiration", "nslots", "nodelist"]
    assert "nslots" not in p.copy().to_dict()["execution"]


@pytest.mark.parametrize("value", [0, None])
def test_case_23_zero_or_null_nslots_not_written(value):
    """case 23 (§2.3): nslots missing, null or 0 is not written back."""
    r = fixture("GRID")
    r["execution"]["nslots"] = value
    assert "nslots" not in ResourcePool(r).to_dict()["execution"]


def test_case_24_times():
    """case 24: starttime 50 and expiration 9000 are written as floats."""
    r = fixture("GRID")
    r["execution"]["starttime"] = 50
    r["execution"]["expiration"] = 9000
    p = ResourcePool(r)
    ex = p.to_dict()["execution"]
    assert ex["starttime"] == 50.0 and isinstance(ex["starttime"], float)
    assert ex["expiration"] == 9000.0 and isinstance(ex["expiration"], float)
    assert p.expiration == 9000.0


@pytest.mark.parametrize("value", [None, 0])
def test_case_24_null_or_missing_times(value):
    """case 24 (§2.3): missing, null or 0 times read as 0.0."""
    r = fixture("GRID")
    r["execution"]["starttime"] = value
    del r["execution"]["expiration"]
    ex = ResourcePool(r).to_dict()["execution"]
    assert ex["starttime"] == 0.0 and isinstance(ex["starttime"], float)
    assert ex["expiration"] == 0.0 and isinstance(ex["expiration"], float)


# ---------------------------------------------------------------- case 25-29


def test_case_25_version_rules():
    """case 25: missing version → KeyError (M1); version 2 → ValueError; the
    version inside R wins over the keyword."""
    r = fixture("GRID")
    del r["version"]
    with pytest.raises(KeyError):
        Rv1Pool(r)
    r2 = fixture("GRID")
    r2["version"] = 2
    with pytest.raises(ValueError) as info:
        Rv1Pool(r2)
    assert "2" in str(info.value)
    with pytest.raises(ValueError):
        ResourcePool(r2)
    with pytest.raises(ValueError) as info:
        ResourcePool(None, version=3)
    assert "3" in str(info.value)
    p = ResourcePool(fixture("GRID"), version=5)
    assert p.to_dict() == ResourcePool(fixture("GRID")).to_dict()
    assert p.dumps() == "rank[0-3]/core[0-7]"
    assert p.version == 1


def test_case_25_missing_version_through_wrapper():
    """case 25 (M1): the wrapper with a version-less R falls back to the keyword
    version 1, then Rv1Pool raises KeyError('version')."""
    r = fixture("GRID")
    del r["version"]
    with pytest.raises(KeyError):
        ResourcePool(r)


@pytest.mark.parametrize("arg", [[GRID], 42, 3.5, b"{}", (1,)])
def test_case_26_wrong_types(arg):
    """case 26: lists, ints, floats, bytes → TypeError naming the type."""
    with pytest.raises(TypeError) as info:
        ResourcePool(arg)
    assert "ResourcePool cannot be instantiated from" in str(info.value)


@pytest.mark.parametrize("arg", [[GRID], 42, b"{}"])
def test_case_26_wrong_types_rv1pool(arg):
    """case 26 (§4.2): Rv1Pool rejects anything but None, str and Mapping."""
    with pytest.raises(TypeError):
        Rv1Pool(arg)


def test_case_27_malformed_json():
    """case 27: truncated JSON → ValueError."""
    with pytest.raises(ValueError):
        ResourcePool('{"version": 1, "execution": ')
    with pytest.raises(ValueError):
        Rv1Pool('{"version": 1, "execution": ')


def test_case_27_json_string_accepted():
    """case 27 (§4.1): a JSON string is decoded like the dict."""
    assert ResourcePool(json.dumps(GRID)).to_dict() == ResourcePool(fixture("GRID")).to_dict()


def test_case_28_rank_in_two_entries():
    """case 28: a rank in two R_lite entries → ValueError naming the rank (F2)."""
    r = R([("0-1", "0-3"), ("1-2", "0-3")])
    with pytest.raises(ValueError) as info:
        ResourcePool(r)
    assert re.search(r"(?<![0-9-])1(?![0-9])", str(info.value)), str(info.value)


def test_case_29_entry_without_rank():
    """case 29: an R_lite entry without rank → KeyError."""
    r = {"version": 1, "execution": {"R_lite": [{"children": {"core": "0-3"}}]}}
    with pytest.raises(KeyError):
        ResourcePool(r)


def _with(path_value):
    r = fixture("GRID")
    key, value = path_value
    if key == "entry":
        r["execution"]["R_lite"] = [value]
    else:
        r["execution"][key] = value
    return r


BAD_TYPES = [
    ("R_lite", "0-3"),
    ("R_lite", {"rank": "0"}),
    ("entry", "rank0"),
    ("entry", {"rank": 0.5, "children": {"core": "0"}}),
    ("entry", {"rank": "0", "children": "core"}),
    ("properties", ["fat"]),
    ("starttime", "soon"),
    ("expiration", [1]),
    ("nodelist", [1, 2]),
    ("nodelist", "node[0-3]"),
]


@pytest.mark.parametrize("bad", BAD_TYPES, ids=[f"{k}={v!r}" for k, v in BAD_TYPES])
def test_case_29_wrong_types_inside_r(bad):
    """case 29: wrong types inside R → ValueError or TypeError, never AttributeError."""
    with pytest.raises((ValueError, TypeError)) as info:
        ResourcePool(_with(bad))
    assert str(info.value)


def test_case_29_execution_not_a_dict():
    """case 29: execution of the wrong type is a ValueError or TypeError."""
    with pytest.raises((ValueError, TypeError)):
        ResourcePool({"version": 1, "execution": ["R_lite"]})


def test_case_29_malformed_idsets_in_r():
    """case 29 (§2.3): a malformed rank or core idset is a ValueError."""
    with pytest.raises(ValueError):
        ResourcePool(R([("0-", "0-3")]))
    with pytest.raises(ValueError):
        ResourcePool(R([("0", "3-1")]))
    with pytest.raises(ValueError):
        ResourcePool(R([("0", "0-3")], nodelist=["n["]))


# ---------------------------------------------------------------- case 30, 31


def test_case_30_no_shared_state_with_input_or_output():
    """case 30: the pool copies its input and hands out fresh dicts."""
    r = fixture("MIX")
    r["scheduling"] = {"writer": "x", "blob": [1, 2]}
    p = ResourcePool(r)
    before = p.to_dict()
    before_text = json.dumps(before)
    # mutate the input
    r["execution"]["R_lite"][0]["children"]["core"] = "0"
    r["execution"]["R_lite"].append({"rank": "99", "children": {"core": "0"}})
    r["execution"]["nodelist"][0] = "x[0-11]"
    r["execution"]["properties"]["fat"] = "5"
    r["scheduling"]["blob"].append(3)
    r["execution"]["expiration"] = 77
    assert json.dumps(p.to_dict()) == before_text
    # mutate an output
    out = p.to_dict()
    out["execution"]["R_lite"][0]["children"]["core"] = "0"
    out["execution"]["nodelist"].append("y")
    out["execution"]["properties"]["new"] = "1"
    out["scheduling"]["blob"].clear()
    out["version"] = 7
    assert json.dumps(p.to_dict()) == before_text
    assert p.dumps() == ResourcePool(fixture("MIX")).dumps()


def test_case_30_input_not_mutated():
    """case 30 (§4.2): the pool never mutates the caller's dict."""
    r = fixture("MIX")
    r["scheduling"] = {"writer": "x"}
    saved = copy.deepcopy(r)
    p = ResourcePool(r, policy="worst-fit")
    p.alloc(1, p.parse_resource_request(spec(slots(2))))
    p.mark_down("3")
    p.remove_ranks("4")
    assert r == saved


def test_case_31_empty_pool():
    """case 31: ResourcePool() is empty and cannot allocate."""
    p = ResourcePool()
    d = p.to_dict()
    assert d == {"version": 1, "execution": {"R_lite": [], "starttime": 0.0, "expiration": 0.0}}
    assert list(d["execution"]) == ["R_lite", "starttime", "expiration"]
    assert p.dumps() == ""
    before = snapshot(p)
    with pytest.raises(InfeasibleRequest):
        p.alloc(1, p.parse_resource_request(spec(slots(1))))
    assert snapshot(p) == before


def test_case_31_r_without_execution():
    """case 31 (§2.3): an R without execution is an empty pool."""
    p = ResourcePool({"version": 1})
    assert p.to_dict() == ResourcePool().to_dict()
    assert p.dumps() == ""
