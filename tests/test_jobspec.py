"""Counts, requests and jobspec parsing: SPEC §3 and §14 cases 37-54, 133, 136."""

import copy
import json

import pytest

from fluxpool import (
    InfeasibleRequest,
    InsufficientResources,
    ResourceCount,
    ResourcePool,
    ResourceRequest,
)

from specdata import POLICIES, core, fixture, gpu, nodes, slots, snapshot, spec


def wf(name="GRID"):
    """A worst-fit pool (flux-core's placement) of a named fixture."""
    return ResourcePool(fixture(name), policy="worst-fit")


def parse(jobspec, pool=None):
    return (pool or wf()).parse_resource_request(jobspec)


def vertex(kind, count, child):
    return {"type": kind, "count": count, "with": [child]}


def minmax(count):
    return (count.min, count.max)


def values(count):
    return None if count._values is None else list(count._values)


def alloc_dumps(pool, jobspec, jobid=1):
    result = pool.alloc(jobid, pool.parse_resource_request(jobspec))
    return result.dumps()


# ---------------------------------------------------------------- case 37-40


def test_case_37_simple_slots():
    """case 37: V1 slots(2) with duration 60."""
    req = parse(spec(slots(2), duration=60))
    assert req.nslots == 2
    assert req.slot_size == 1
    assert req.duration == 60.0 and isinstance(req.duration, float)
    assert req.node_count is None
    assert req.nnodes == 0
    assert req.nnodes_max == 0
    assert req.gpu_per_slot == 0
    assert not req.exclusive
    assert req.constraint is None
    assert minmax(req.slot_count) == (2, 2)
    assert req.ncores == 2 and req.ngpus == 0


def test_case_37_from_jobspec_and_jobspec_attribute():
    """case 37 (§3.2): from_jobspec is what parse_resource_request calls; jobspec kept."""
    js = spec(slots(2), duration=60)
    req = ResourceRequest.from_jobspec(js)
    assert req.nslots == 2 and req.slot_size == 1 and req.duration == 60.0
    assert wf().parse_resource_request(js).jobspec == js


def test_case_38_duration_rules():
    """case 38: V1 needs attributes.system.duration; other versions do not."""
    js = spec(slots(1))
    del js["attributes"]["system"]
    with pytest.raises(ValueError) as info:
        parse(js)
    assert "system" in str(info.value)

    js = spec(slots(1))
    del js["attributes"]
    with pytest.raises(ValueError) as info:
        parse(js)
    assert "system" in str(info.value)

    js = spec(slots(1))
    del js["attributes"]["system"]["duration"]
    with pytest.raises(ValueError) as info:
        parse(js)
    assert "duration" in str(info.value)

    js = {"version": 9999, "resources": [slots(1)], "tasks": []}
    req = parse(js)
    assert req.duration == 0.0
    assert req.nslots == 1


def test_case_38_duration_values():
    """case 38 (§3.2 step 8): duration is float(duration or 0.0)."""
    assert parse(spec(slots(1), duration=0)).duration == 0.0
    assert parse(spec(slots(1), duration=2.5)).duration == 2.5
    assert parse(spec(slots(1), duration="60")).duration == 60.0  # M21


@pytest.mark.parametrize("resources", ["missing", []])
def test_case_39_no_resources(resources):
    """case 39: no resources → ValueError("jobspec has no resources")."""
    js = spec(slots(1))
    if resources == "missing":
        del js["resources"]
    else:
        js["resources"] = resources
    with pytest.raises(ValueError) as info:
        parse(js)
    assert str(info.value) == "jobspec has no resources"


def test_case_40_no_slot_or_no_core():
    """case 40: no slot vertex → "slot count"; no core vertex → "slot size"."""
    with pytest.raises(ValueError) as info:
        parse(spec(nodes(1, core(2))))
    assert "slot count" in str(info.value)
    with pytest.raises(ValueError) as info:
        parse(spec({"type": "slot", "count": 1, "label": "task", "with": [gpu(1)]}))
    assert "slot size" in str(info.value)


# ---------------------------------------------------------------- case 41-46


def test_case_41_nodes_with_slots():
    """case 41: nodes(2, slots(3, cores=4, gpus=1))."""
    req = parse(spec(nodes(2, slots(3, cores=4, gpus=1))))
    assert req.nnodes == 2
    assert req.nnodes_max == 2
    assert req.nslots == 6
    assert req.nslots_max == 6
    assert req.slot_size == 4
    assert req.gpu_per_slot == 1
    assert req.ncores == 24
    assert req.ngpus == 6
    assert minmax(req.node_count) == (2, 2)
    assert minmax(req.slot_count) == (3, 3)


def test_case_42_node_factor():
    """case 42: rack(2) → nodes(2, slots(1)) gives node_count (4, 4)."""
    js = spec(vertex("rack", 2, nodes(2, slots(1))))
    pool = wf()
    req = pool.parse_resource_request(js)
    assert minmax(req.node_count) == (4, 4)
    assert req.nnodes == 4
    assert req.nslots == 4
    result = pool.alloc(1, req)
    assert result.dumps() == "rank[0-3]/core0"
    assert result.to_dict()["execution"]["nslots"] == 4


def test_case_43_enclosing_count_dropped_without_node():
    """case 43: group(3) → slots(2) without a node: the factor is dropped (M5)."""
    js = spec(vertex("group", 3, slots(2)))
    req = parse(js)
    assert req.nslots == 2
    assert req.node_count is None
    assert alloc_dumps(wf(), js) == "rank0/core[0-1]"


def test_case_44_siblings_overwrite():
    """case 44: sibling slot vertices overwrite, they are not summed (M5)."""
    js = spec(slots(1))
    js["resources"] = [slots(1, cores=1), slots(2, cores=3)]
    req = parse(js)
    assert req.nslots == 2
    assert req.slot_size == 3
    assert alloc_dumps(wf(), js) == "rank0/core[0-5]"


@pytest.mark.parametrize("count", [2.5, None, [3], 7.0])
def test_case_45_non_integer_count_is_one(count):
    """case 45: a non-integer slot count becomes 1 (M6)."""
    req = parse(spec(slots(count)))
    assert minmax(req.slot_count) == (1, 1)
    assert req.nslots == 1


def test_case_45_count_default_is_one():
    """case 45 (§3.2): a vertex without count counts 1."""
    sl = slots(1)
    del sl["count"]
    req = parse(spec(sl))
    assert req.nslots == 1


@pytest.mark.parametrize(
    "count, taken",
    [
        ("3", 3),
        ("[2-5]", 5),
        ("2-5", 5),
        ({"min": 2, "max": 5}, 5),
        ("4+", 32),
        ({"min": 4}, 32),
        (" 3 ", 3),
    ],
)
def test_case_46_slot_counts_and_worst_fit_take(count, taken):
    """case 46: slot count forms and what a worst-fit alloc on an empty GRID takes."""
    pool = wf()
    result = pool.alloc(1, pool.parse_resource_request(spec(slots(count))))
    assert result.to_dict()["execution"]["nslots"] == taken
    assert result.count("core") == taken


# ---------------------------------------------------------------- case 47-52


def test_case_47_stepped_and_idset_counts():
    """case 47: stepped counts and idset counts expand their values."""
    for v in ({"min": 2, "max": 8, "operator": "*", "operand": 2}, "2-8:2:*"):
        c = ResourceCount.from_count_spec(v)
        assert (c.min, c.max) == (2, 8)
        assert values(c) == [2, 4, 8]
    c = ResourceCount.from_count_spec("1,7-9")
    assert (c.min, c.max) == (1, 9)
    assert values(c) == [1, 7, 8, 9]


@pytest.mark.parametrize(
    "v, expected",
    [
        (3, (3, 3, None)),
        (True, (1, 1, None)),
        ("5", (5, 5, None)),
        ("[2-5]", (2, 5, None)),
        ("4+", (4, None, None)),
        ("2-6:1", (2, 6, None)),
        ("2-6:1:+", (2, 6, None)),
        ("4+:1:+", (4, None, None)),
        ("2-8:3", (2, 8, [2, 5, 8])),
        ("2-9:3:+", (2, 9, [2, 5, 8])),
        ("2-20:2:^", (2, 20, [2, 4, 16])),
        ({"min": 2, "max": 5}, (2, 5, None)),
        ({"min": 4}, (4, None, None)),
        ({"min": 1, "max": 7, "operator": "+", "operand": 3}, (1, 7, [1, 4, 7])),
        ({"min": 2, "max": 100, "operator": "^", "operand": 2}, (2, 100, [2, 4, 16])),
        ({"max": 3}, (1, 3, None)),
        (None, (1, 1, None)),
        (2.5, (1, 1, None)),
        ([4], (1, 1, None)),
    ],
)
def test_case_47_count_spec_forms(v, expected):
    """case 47 (§3.1): from_count_spec for ints, strings and dicts."""
    c = ResourceCount.from_count_spec(v)
    assert (c.min, c.max, values(c)) == expected


def test_case_47_default_argument():
    """case 47 (§3.1): unknown types take the default; a dict's min defaults to it."""
    c = ResourceCount.from_count_spec(None, default=3)
    assert (c.min, c.max) == (3, 3)
    c = ResourceCount.from_count_spec({"max": 9}, default=2)
    assert (c.min, c.max) == (2, 9)


BAD_COUNTS = [
    0,
    -2,
    {"min": 0, "max": 3},
    {"min": 5, "max": 2},
    "6-3",
    "0",
    "many",
    {"min": 2, "operator": "*", "operand": 2},
    "3+:2:*",
    {"min": 1, "max": 9, "operator": "/", "operand": 3},
]


@pytest.mark.parametrize("v", BAD_COUNTS, ids=[repr(v) for v in BAD_COUNTS])
def test_case_48_bad_counts(v):
    """case 48: bad counts raise ValueError, both directly and in a jobspec."""
    with pytest.raises(ValueError):
        ResourceCount.from_count_spec(v)
    with pytest.raises(ValueError):
        parse(spec(slots(v)))
    with pytest.raises(ValueError):
        parse(spec(nodes(v, slots(1))))


@pytest.mark.parametrize(
    "v",
    [
        {"min": 1, "max": 8, "operator": "*", "operand": 1},
        {"min": 1, "max": 8, "operator": "+", "operand": 0},
        {"min": 1, "max": 8, "operator": "^", "operand": 2},
        {"min": 2, "max": 8, "operator": "^", "operand": 1},
        {"min": 1, "max": 200000, "operator": "+", "operand": 2},
        "1-x",
        "2-8:0",
        "",
    ],
)
def test_case_48_more_bad_counts(v):
    """case 48 (§3.1): operand and value-count rules."""
    with pytest.raises(ValueError):
        ResourceCount.from_count_spec(v)


def _nested(depth, inner):
    js = inner
    for _ in range(depth):
        js = {"type": "layer", "count": 1, "with": [js]}
    return js


def test_case_49_depth_99_parses():
    """case 49: 99 layers of an unknown vertex above slots(1) parse and allocate."""
    js = spec(_nested(99, slots(1)))
    pool = wf()
    req = pool.parse_resource_request(js)
    assert req.nslots == 1 and req.slot_size == 1
    assert pool.alloc(1, req).dumps() == "rank0/core0"


@pytest.mark.parametrize("depth", [100, 5000])
def test_case_49_too_deep(depth):
    """case 49: 100 and 5,000 layers → ValueError containing "depth"."""
    js = spec(_nested(depth, slots(1)))
    try:
        parse(js)
    except RecursionError:  # pragma: no cover - the failure being guarded against
        pytest.fail("RecursionError escaped")
    except ValueError as exc:
        assert "depth" in str(exc)
    else:
        pytest.fail("no ValueError")
    with pytest.raises(ValueError):
        ResourceRequest.from_jobspec(js)


def test_case_50_exclusive_slots_without_node():
    """case 50: exclusive slots(3) without a node → 3 nodes of 1 slot."""
    req = parse(spec(slots(3, exclusive=True)))
    assert minmax(req.node_count) == (3, 3)
    assert minmax(req.slot_count) == (1, 1)
    assert req.exclusive is True
    assert req.nnodes == 3
    assert req.nslots == 3


def test_case_50_exclusive_node():
    """case 50 (§3.2): exclusive on the node vertex marks the request exclusive."""
    req = parse(spec(nodes(1, slots(2), exclusive=True)))
    assert req.exclusive is True
    assert minmax(req.node_count) == (1, 1)
    assert minmax(req.slot_count) == (2, 2)


def test_case_51_valid_counts():
    """case 51: valid_counts yields allowed values, descending, capped by available."""
    assert list(ResourceCount(2, 8).valid_counts(5)) == [5, 4, 3, 2]
    stepped = ResourceCount.from_count_spec({"min": 2, "max": 8, "operator": "*", "operand": 2})
    assert list(stepped.valid_counts(5)) == [4, 2]
    assert list(stepped.valid_counts(100)) == [8, 4, 2]
    assert list(ResourceCount(4, None).valid_counts(3)) == []
    assert list(ResourceCount(4, None).valid_counts(6)) == [6, 5, 4]
    assert list(ResourceCount(2, 8).valid_counts(1)) == []
    assert list(ResourceCount(3, 3).valid_counts(3)) == [3]


def test_case_51_values_constructor():
    """case 51 (§3.1): ResourceCount(min, max, values)."""
    c = ResourceCount(2, 8, (2, 4, 8))
    assert list(c.valid_counts(5)) == [4, 2]
    assert ResourceCount(2, 8)._values is None


def test_case_52_scaled():
    """case 52: scaled(1) is the same object; scaled(2) doubles min, max and values."""
    c = ResourceCount(2, 8)
    assert c.scaled(1) is c
    s = ResourceCount(2, 8, (2, 4, 8)).scaled(2)
    assert (s.min, s.max) == (4, 16)
    assert values(s) == [4, 8, 16]
    plain = ResourceCount(3, 5).scaled(3)
    assert (plain.min, plain.max) == (9, 15)
    assert plain._values is None
    unbounded = ResourceCount(2, None).scaled(2)
    assert (unbounded.min, unbounded.max) == (4, None)


# ---------------------------------------------------------------- case 53, 54


def test_case_53_jobspec_not_mutated():
    """case 53: parse_resource_request leaves the jobspec unchanged."""
    pool = wf("MIX")
    jobspecs = [
        spec(vertex("rack", 2, nodes("1-3", slots({"min": 1, "max": 4}, cores=2, gpus=1))),
             duration=60, constraint={"and": [{"properties": ["fat"]},
                                             {"not": [{"ranks": ["0"]}]}]}),
        spec(slots(3, exclusive=True), constraint=json.dumps({"properties": ["^fat"]})),
        spec(vertex("group", 3, slots("2-4"))),
    ]
    for js in jobspecs:
        saved = copy.deepcopy(js)
        req = pool.parse_resource_request(js)
        assert js == saved
        pool.alloc(1, req)
        assert js == saved
        pool.free(1)


def test_case_53_constraint_kept():
    """case 53 (§3.2 step 8): constraint is system.constraints, or None."""
    c = {"properties": ["fat"]}
    assert parse(spec(slots(1), constraint=c), wf("MIX")).constraint == c
    assert parse(spec(slots(1), constraint={}), wf("MIX")).constraint is None


def test_case_54_positional_constructor():
    """case 54: a hand-built request is accepted by alloc."""
    req = ResourceRequest(None, ResourceCount(2, 2), 1, 0, 0.0, None, False)
    assert req.nslots == 2
    assert req.nslots_max == 2
    assert req.nnodes == 0
    assert req.ncores == 2
    assert req.jobspec is None
    pool = wf()
    result = pool.alloc(1, req)
    assert result.dumps() == "rank0/core[0-1]"
    assert result.to_dict()["execution"]["nslots"] == 2


def test_case_54_request_properties():
    """case 54 (§3.2): the read-only properties of a hand-built request."""
    req = ResourceRequest(ResourceCount(1, 3), ResourceCount(2, 4), 2, 1, 0.0, None, False)
    assert (req.nnodes, req.nnodes_max) == (1, 3)
    assert (req.nslots, req.nslots_max) == (2, 12)
    assert (req.ncores, req.ngpus) == (4, 2)
    req = ResourceRequest(ResourceCount(1, None), ResourceCount(2, 2), 1, 0, 0.0, None, False)
    assert req.nnodes_max is None and req.nslots_max is None
    req = ResourceRequest(None, ResourceCount(2, None), 1, 0, 0.0, None, False)
    assert req.nslots_max is None
    assert req.nnodes_max == 0


@pytest.mark.parametrize("policy", POLICIES)
def test_case_54_positional_constructor_all_policies(policy):
    """case 54: the hand-built request works under every policy."""
    pool = ResourcePool(fixture("GRID"), policy=policy)
    req = ResourceRequest(None, ResourceCount(2, 2), 1, 0, 0.0, None, False)
    assert pool.alloc(1, req).count("core") == 2


# ---------------------------------------------------------------- case 133, 136


def test_case_133_properties_operand_must_be_a_list():
    """case 133: {"properties": "fat"} → ValueError from parse_resource_request (F7)."""
    pool = wf("MIX")
    before = snapshot(pool)
    with pytest.raises(ValueError):
        pool.parse_resource_request(spec(slots(1), constraint={"properties": "fat"}))
    with pytest.raises(ValueError):
        pool.parse_resource_request(spec(slots(1), constraint={"properties": ["fat", 3]}))
    assert snapshot(pool) == before


BAD_CONSTRAINTS = [
    {"frobnicate": ["x"]},
    {"and": "x"},
    {"not": []},
    {"or": "x"},
    {"not": "x"},
    ["properties"],
    "{\"properties\": ",
    {"and": [{"frobnicate": ["x"]}]},
]


@pytest.mark.parametrize("constraint", BAD_CONSTRAINTS, ids=[repr(c) for c in BAD_CONSTRAINTS])
def test_case_136_bad_constraint_in_parse(constraint):
    """case 136: a malformed constraint is a ValueError in parse_resource_request (F3)."""
    for pool in (wf("MIX"), ResourcePool()):
        with pytest.raises(ValueError):
            pool.parse_resource_request(spec(slots(1), constraint=constraint))


def test_case_136_unknown_operator_message():
    """case 136 (§3.3): the message names the unknown operator."""
    with pytest.raises(ValueError) as info:
        wf("MIX").parse_resource_request(spec(slots(1), constraint={"frobnicate": ["x"]}))
    assert "unknown constraint operator" in str(info.value)
    assert "frobnicate" in str(info.value)


@pytest.mark.parametrize(
    "constraint", [{"frobnicate": ["x"]}, {"and": "x"}, {"not": []}],
    ids=["frobnicate", "and-x", "not-empty"],
)
@pytest.mark.parametrize("policy", POLICIES)
def test_case_136_bad_constraint_in_alloc(constraint, policy):
    """case 136: a hand-built request with a malformed constraint makes alloc and
    check_feasibility raise ValueError on an empty pool and a fully down one."""
    req = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0, constraint, False)
    empty = ResourcePool(policy=policy)
    down = ResourcePool(fixture("GRID"), policy=policy)
    down.mark_down("all")
    for pool in (empty, down):
        before = snapshot(pool)
        with pytest.raises(ValueError) as info:
            pool.alloc(1, req)
        assert not isinstance(info.value, (InsufficientResources, InfeasibleRequest))
        with pytest.raises(ValueError):
            pool.check_feasibility(req)
        assert snapshot(pool) == before


def test_case_136_json_string_constraint_in_alloc():
    """case 136 (§5 step 2): a malformed JSON-string constraint → ValueError in alloc."""
    pool = wf("MIX")
    before = snapshot(pool)
    req = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0, '{"properties": ', False)
    with pytest.raises(ValueError):
        pool.alloc(1, req)
    assert snapshot(pool) == before
    good = ResourceRequest(None, ResourceCount(1, 1), 1, 0, 0.0,
                           '{"properties": ["fat"]}', False)
    assert pool.alloc(2, good).dumps() == "rank0/core0"


# ---------------------------------------------------------------- bad jobspec types


@pytest.mark.parametrize(
    "mutate",
    [
        lambda js: js.__setitem__("resources", "slots"),
        lambda js: js.__setitem__("resources", [["slot"]]),
        lambda js: js["resources"][0].__setitem__("with", "core"),
        lambda js: js["resources"][0].__setitem__("with", [5]),
        lambda js: js["attributes"]["system"].__setitem__("duration", "soon"),
        lambda js: js["attributes"].__setitem__("system", "x"),
        lambda js: js.__setitem__("attributes", []),
    ],
    ids=["resources-str", "vertex-list", "with-str", "with-int", "duration-str",
         "system-str", "attributes-list"],
)
def test_bad_jobspec_types(mutate):
    """§3.2: bad types inside a jobspec raise ValueError, TypeError or
    KeyError, never AttributeError."""
    js = spec(slots(1))
    mutate(js)
    with pytest.raises((ValueError, TypeError, KeyError)):
        parse(js)
