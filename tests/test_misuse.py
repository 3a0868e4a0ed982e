"""Drop-in to the edges (SPEC §12 M22/M23, §1.2): inputs flux-core's pool
accepts are accepted, and misuse gets a TypeError/ValueError that says what to
pass instead, with the pool unchanged. A hypothesis sweep calls every public
method with arguments of the wrong type and shape."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluxpool import InfeasibleRequest, InsufficientResources, ResourcePool, Rv1Pool
from specdata import POLICIES, fixture, make_pool, nodes, place, request, slots, snapshot, spec

# ------------------------------------------------- M22: string operands


@pytest.mark.parametrize("constraint, placed", [
    ({"hostlist": "node3"}, "rank3/core0"),
    ({"hostlist": "node[4-5]"}, "rank4/core0"),
    ({"hostlist": ["node[4-5]", "node7"]}, "rank4/core0"),
    ({"ranks": "2-3"}, "rank2/core0"),
    ({"ranks": 9}, "rank9/core0"),
    ({"ranks": ["10", 2]}, "rank2/core0"),
    ({"not": [{"ranks": "0-10"}]}, "rank11/core0"),
    ({"or": [{"hostlist": "node8"}, {"ranks": "9"}]}, "rank8/core0"),
    ('{"ranks": "6"}', "rank6/core0"),
    ({"properties": {"debug": 1}}, "rank9/core0"),
])
def test_m22_operand_forms_flux_core_accepts(constraint, placed):
    """M22: a hostlist or ranks operand given as one string (or a rank as one
    integer) is that hostlist / idset, as in flux-core, under every policy; a
    properties object stands for its keys (flux-core iterates it)."""
    for policy in POLICIES:
        pool = make_pool("MIX", policy=policy)
        assert place(pool, 1, slots(1), constraint=constraint).split("/")[0] == placed.split(
            "/")[0] or policy != "first-fit"
    pool = make_pool("MIX", policy="first-fit")
    assert place(pool, 1, slots(1), constraint=constraint) == placed


@pytest.mark.parametrize("constraint", [{"hostlist": ""}, {"ranks": ""}])
def test_m22_empty_operand_matches_nothing(constraint):
    """M22: an empty hostlist or idset string names no rank: the request can
    never be met (flux-core says the same)."""
    pool = make_pool("MIX")
    with pytest.raises(InfeasibleRequest):
        place(pool, 1, slots(1), constraint=constraint)


def test_f7_properties_string_is_still_refused():
    """F7 stays: a properties operand given as a string is a ValueError."""
    with pytest.raises(ValueError, match="properties"):
        request(make_pool("MIX"), slots(1), constraint={"properties": "fat"})


@pytest.mark.parametrize("count, expected", [
    ({"min": "2"}, 2), ({"min": 2.0}, 2), ({"min": 1, "max": "3"}, 1),
    ({"min": 2, "max": 3, "operand": "1"}, 2), ("02", 2),
])
def test_counts_in_the_forms_flux_core_reads(count, expected):
    """§3.1 and M6: count dict fields are read with int(), as flux-core does."""
    assert request(make_pool("MIX"), slots(count)).nslots == expected


def test_r_fields_in_the_forms_flux_core_reads():
    """§2.3: R idsets given as an int or a list, times and nslots as numeric
    strings, a version of 1.0: flux-core's pool reads them, so does fluxpool."""
    r = {"version": 1.0, "execution": {
        "R_lite": [{"rank": 0, "children": {"core": [0, 1, 2]}},
                   {"rank": [1, 2], "children": {"core": "0-1", "gpu": 0}}],
        "starttime": "10", "expiration": "20.5", "nslots": "3",
        "nodelist": ("n[0-2]",), "properties": {"fat": [0], "thin": 2}}}
    written = ResourcePool(r).to_dict()
    assert written == {"version": 1, "execution": {
        "R_lite": [{"rank": "0", "children": {"core": "0-2"}},
                   {"rank": "1-2", "children": {"core": "0-1", "gpu": "0"}}],
        "starttime": 10.0, "expiration": 20.5, "nslots": 3,
        "nodelist": ["n[0-2]"], "properties": {"fat": "0", "thin": "2"}}}


# -------------------------------------------------------- M23: float times


@pytest.mark.parametrize("setter", ["attribute", "set_expiration", "set_starttime"])
def test_m23_times_are_stored_as_floats(setter):
    """M23: the expiration setter, set_expiration and set_starttime store
    float(value): 99 reads back as 99.0, "99" too; a non-number is refused."""
    pool = make_pool("GRID")
    if setter == "attribute":
        pool.expiration = 99
        got = pool.expiration
    elif setter == "set_expiration":
        pool.set_expiration(99)
        got = pool.impl.get_expiration()
    else:
        pool.set_starttime(99)
        got = pool.impl.get_starttime()
    assert got == 99.0 and type(got) is float
    key = "starttime" if setter == "set_starttime" else "expiration"
    assert json.dumps(pool.to_dict()["execution"][key]) == "99.0"
    before = snapshot(pool)
    with pytest.raises(TypeError, match="seconds since the epoch"):
        pool.set_expiration([99])
    with pytest.raises(ValueError, match="seconds since the epoch"):
        pool.set_starttime("soon")
    assert snapshot(pool) == before


# ---------------------------------------------------------------- misuse


def test_alloc_of_a_jobspec_says_to_parse_it():
    """§1.2: alloc(jobid, jobspec_dict) is a TypeError naming parse_resource_request
    (it was an AttributeError from deep inside)."""
    pool = make_pool("GRID")
    with pytest.raises(TypeError, match="parse_resource_request"):
        pool.alloc(1, spec(slots(1)))
    with pytest.raises(TypeError, match="parse_resource_request"):
        pool.check_feasibility(spec(slots(1)))
    with pytest.raises(TypeError, match="parse_resource_request"):
        pool.alloc(1, "slot=1")
    assert snapshot(pool) == snapshot(make_pool("GRID"))


def test_free_of_dumps_output_says_what_to_pass():
    """§1.2: free(jobid, alloc.dumps()) is a ValueError that points at to_dict()
    (it was a bare JSONDecodeError)."""
    pool = make_pool("GRID")
    result = pool.alloc(1, request(pool, slots(2)))
    before = snapshot(pool)
    with pytest.raises(ValueError, match=r"dumps\(\) output.*to_dict\(\)"):
        pool.free(1, result.dumps())
    with pytest.raises(ValueError, match="not JSON"):
        pool.register_alloc(2, "{")
    assert snapshot(pool) == before
    pool.free(1, result.to_dict(), True)


def test_unhashable_jobid_is_a_type_error_before_anything_changes():
    """§1.2, §10: an unhashable jobid is refused before the core allocates."""
    pool = make_pool("GRID")
    before = snapshot(pool)
    for call in (lambda: pool.alloc([1], request(pool, slots(1))),
                 lambda: pool.free({1: 2}),
                 lambda: pool.register_alloc([1], fixture("GRID")),
                 lambda: pool.update_expiration([1], 5.0)):
        with pytest.raises(TypeError, match="jobid"):
            call()
        assert snapshot(pool) == before


# ------------------------------------------------------ the hypothesis sweep

ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**31, 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["all", "0-3", "node[0-1]", "rank0/core0", "{", "1,,2", "core", "gpu",
                     '{"version": 1}', "-1"]),
    st.binary(max_size=4), st.just(object()), st.just(Rv1Pool),
)
VALUES = st.recursive(ATOMS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.frozensets(st.integers(-2, 5), max_size=3),
    st.dictionaries(st.sampled_from(["version", "execution", "R_lite", "rank", "children",
                                     "resources", "count", "type", "min", "max", "with",
                                     "attributes", "system", "duration", "constraints"]),
                    inner, max_size=3)), max_leaves=8)

DOCUMENTED = (TypeError, ValueError, KeyError, InsufficientResources, InfeasibleRequest)
INTERNAL = ("has no attribute", "object is not subscriptable", "object is not iterable",
            "not supported between instances", "unhashable type", "Argument '",
            "object is not callable", "NoneType object")

METHODS = {
    "ResourcePool": lambda pool, a, b: ResourcePool(a),
    "ResourcePool(kw)": lambda pool, a, b: ResourcePool(fixture("GRID"), policy=a, strict=b),
    "parse_resource_request": lambda pool, a, b: pool.parse_resource_request(a),
    "check_feasibility": lambda pool, a, b: pool.check_feasibility(a),
    "alloc": lambda pool, a, b: pool.alloc(1, a),
    "alloc(jobid)": lambda pool, a, b: pool.alloc(a, request(pool, slots(1))),
    "free": lambda pool, a, b: pool.free(1, a, b),
    "register_alloc": lambda pool, a, b: pool.register_alloc(9, a),
    "update_expiration": lambda pool, a, b: pool.update_expiration(a, b),
    "mark_up": lambda pool, a, b: pool.mark_up(a),
    "mark_down": lambda pool, a, b: pool.mark_down(a),
    "remove_ranks": lambda pool, a, b: pool.remove_ranks(a),
    "set_expiration": lambda pool, a, b: pool.set_expiration(a),
    "set_starttime": lambda pool, a, b: pool.set_starttime(a),
    "expiration=": lambda pool, a, b: setattr(pool, "expiration", a),
    "count": lambda pool, a, b: pool.count(a),
}


@pytest.mark.parametrize("method", sorted(METHODS))
@settings(max_examples=int(os.environ.get("FLUXPOOL_MISUSE_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(a=VALUES, b=VALUES)
def test_every_public_method_refuses_wrong_types_cleanly(method, a, b):
    """§1.2, §10: any argument of the wrong type or shape to a public method
    raises only a documented exception with a message of our own, and a call
    that raises leaves the pool exactly as it was."""
    pool = make_pool("MIX", policy="worst-fit")
    pool.alloc(1, request(pool, nodes(2, slots(2))))
    before = snapshot(pool)
    try:
        METHODS[method](pool, a, b)
    except DOCUMENTED as exc:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        assert message.strip(), repr(exc)
        for internal in INTERNAL:
            assert internal not in message, (method, message)
        assert snapshot(pool) == before, method


# ------------------------------------- alloc's count fast path (rv1._request_counts)

_COUNT_VALUES = [0, 1, 5, -1, None, True, 2**31, 2**62, 2**62 + 1, 2**70, 1.0, 3.5]


@pytest.mark.parametrize("node_range", [None, *[(lo, hi) for lo in _COUNT_VALUES
                                                 for hi in (None, 2, -1, 2**70, 1.5)]])
def test_alloc_reads_counts_as_the_request_properties_say(node_range):
    """alloc reads a plain request's counts without its properties; on every
    mix of good and bad values it gives the same numbers (clamped to the
    core's bound) or the same error, first bad count first, as reading
    ``nnodes``, ``nnodes_max``, ``nslots``, ``nslots_max`` in turn does (a
    subclass, which may override them, is read through them)."""
    from fluxpool.jobspec import ResourceCount, ResourceRequest
    from fluxpool.rv1 import _count_arg, _max_arg, _request_counts

    class Custom(ResourceRequest):
        pass

    def outcome(read, request):
        try:
            return read(request)
        except Exception as exc:  # the exact type and message are compared
            return type(exc), str(exc)

    def through_properties(r):
        return (_count_arg(r.nnodes, "nnodes", 0), _max_arg(r.nnodes_max, "nnodes_max"),
                _count_arg(r.nslots, "nslots", 0), _max_arg(r.nslots_max, "nslots_max"))

    node_count = None if node_range is None else ResourceCount(*node_range)
    for slot_min in _COUNT_VALUES:
        for slot_max in (None, 3, -2, 2**70, 1.5):
            for kind in (ResourceRequest, Custom):
                r = kind(node_count, ResourceCount(slot_min, slot_max), 1, 0, 0.0, None, False)
                assert outcome(_request_counts, r) == outcome(through_properties, r)
