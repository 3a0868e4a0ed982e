"""The fast paths of ``parse_resource_request`` accept and refuse exactly what
the general paths do: SPEC §3.2, cases 37-53, 136 (F3) and 133 (F7).

- plain ``int`` counts skip building a ``ResourceCount`` for cores and GPUs;
- a constraint that validated once is remembered by its ``marshal`` form, so
  only equal content (of exact built-in types) skips validation."""

from collections.abc import Mapping

import pytest

from fluxpool import jobspec as js
from fluxpool.jobspec import MAX_COUNT, ResourceCount, ResourceRequest

from specdata import core, nodes, slots, spec


def parse(resources, constraint=None):
    return ResourceRequest.from_jobspec(spec(resources, constraint=constraint))


def fields(r):
    return (r.node_count, r.slot_count, r.slot_size, r.gpu_per_slot, r.exclusive,
            r.nnodes, r.nslots, r.nslots_max, r.ncores, r.ngpus)


@pytest.mark.parametrize("count", [1, 3, MAX_COUNT])
def test_int_count_fast_path_matches_general_counts(count):
    """Case 41 shapes with a plain int count give the same request as the same
    count written as an RFC 14 dict (the general path)."""
    fast = parse(nodes(2, slots(count, cores=count, gpus=count)))
    general = parse({"type": "node", "count": {"min": 2, "max": 2}, "with": [
        {"type": "slot", "count": {"min": count, "max": count}, "label": "task", "with": [
            {"type": "core", "count": {"min": count, "max": count}},
            {"type": "gpu", "count": {"min": count, "max": count}}]}]})
    assert fields(fast) == fields(general)
    assert fast.slot_count == ResourceCount(count, count)
    assert fast.node_count == ResourceCount(2, 2)


@pytest.mark.parametrize("bad", [0, -2, MAX_COUNT + 1, 2**70])
@pytest.mark.parametrize("where", ["slot", "core", "gpu", "node"])
def test_int_counts_out_of_range_still_refused(bad, where):
    """Case 48: counts below 1 or of 2^31 and more are refused on every vertex
    type, with the RFC 14 message."""
    c, g, s, n = (bad if where == w else 1 for w in ("core", "gpu", "slot", "node"))
    resources = {"type": "node", "count": n, "with": [
        {"type": "slot", "count": s, "label": "task", "with": [
            {"type": "core", "count": c}, {"type": "gpu", "count": g}]}]}
    with pytest.raises(ValueError, match="RFC 14 count"):
        parse(resources)


def test_bool_counts_take_the_general_path():
    """A bool is an int to Python but not to the fast path: True parses as the
    general path parses it (count 1), False is refused as count 0."""
    assert parse(slots(True)).nslots == 1
    with pytest.raises(ValueError, match="RFC 14 count"):
        parse({"type": "slot", "count": False, "label": "t", "with": [core()]})


def test_exclusive_and_children_truthiness_unchanged():
    """Case 50 and siblings (case 44): exclusive on a slot with no node; later
    siblings overwrite earlier ones; an empty "with" has no children."""
    r = parse({"type": "slot", "count": 3, "exclusive": 1, "label": "t", "with": [core()]})
    assert (r.node_count, r.slot_count, r.exclusive) == (ResourceCount(3, 3), ResourceCount(1, 1), True)
    sib = ResourceRequest.from_jobspec({
        "version": 1, "resources": [slots(1, cores=1), slots(2, cores=3)], "tasks": [],
        "attributes": {"system": {"duration": 0}}})
    assert (sib.nslots, sib.slot_size) == (2, 3)
    with pytest.raises(ValueError, match="slot size"):
        parse({"type": "slot", "count": 1, "label": "t", "with": []})


# ---------------------------------------------------------------- the constraint cache


BAD = [{"frobnicate": ["x"]}, {"and": "x"}, {"properties": "fat"}, {"hostlist": ["n[1"]},
       {"ranks": ["x"]}]


@pytest.mark.parametrize("bad", BAD)
def test_invalid_constraint_refused_every_time(bad):
    """Cases 133, 136: a bad constraint is a ValueError from the parse, on every
    parse (refusals are never remembered), with the same message each time."""
    messages = []
    for _ in range(3):
        with pytest.raises(ValueError) as info:
            parse(slots(1), bad)
        messages.append(str(info.value))
    assert len(set(messages)) == 1


def test_constraint_changed_after_validation_is_validated_again():
    """The cache is keyed by content: the same dict object, made invalid after
    a parse that accepted it, is refused (identity is never the key)."""
    c = {"hostlist": ["node[0-3]"]}
    parse(slots(1), c)
    c["hostlist"][0] = "node[0-"
    with pytest.raises(ValueError, match="hostlist"):
        parse(slots(1), c)
    c["hostlist"] = ["node[0-3]"]
    assert parse(slots(1), c).constraint is c


class _Lying(str):
    """A str subclass: marshal refuses it, so it is validated each time."""


class _Frozen(Mapping):
    def __init__(self, d):
        self._d = d

    def __getitem__(self, k):
        return self._d[k]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)


def test_non_builtin_constraints_are_validated_each_time():
    """Objects that are not exact built-in types have no marshal form: they are
    validated on every parse, valid or not, and never enter the cache."""
    before = dict(js._VALID_CONSTRAINTS)
    assert parse(slots(1), _Frozen({"properties": ["fat"]})).constraint is not None
    with pytest.raises(ValueError):
        parse(slots(1), _Frozen({"hostlist": ["n[1"]}))
    assert parse(slots(1), {"hostlist": [_Lying("node1")]}).constraint is not None
    with pytest.raises(ValueError):
        parse(slots(1), {"hostlist": [_Lying("n[1")]})
    assert set(js._VALID_CONSTRAINTS) - set(before) == set()


def test_constraint_cache_is_bounded():
    """At most _VALID_CONSTRAINTS_MAX entries, none longer than
    _VALID_CONSTRAINT_BYTES: a stream of distinct or huge constraints cannot
    grow memory without bound."""
    for i in range(js._VALID_CONSTRAINTS_MAX + 50):
        parse(slots(1), {"ranks": [str(i)]})
        assert len(js._VALID_CONSTRAINTS) <= js._VALID_CONSTRAINTS_MAX
    huge = {"hostlist": ["n" + "x" * (2 * js._VALID_CONSTRAINT_BYTES)]}
    parse(slots(1), huge)
    assert all(len(k) <= js._VALID_CONSTRAINT_BYTES for k in js._VALID_CONSTRAINTS)


def test_constraint_text_and_dict_both_accepted_from_cache():
    """Case 70: a constraint given as JSON text parses like the dict, first time
    and remembered."""
    for _ in range(2):
        assert parse(slots(1), '{"properties": ["fat"]}').constraint == '{"properties": ["fat"]}'
        assert parse(slots(1), {"properties": ["fat"]}).constraint == {"properties": ["fat"]}
    with pytest.raises(ValueError):
        parse(slots(1), '{"properties": ["fat"]')


def test_constraint_cache_keeps_strict_mode_apart():
    """§15: a constraint that passes leniently but not in strict mode (a "not"
    of two constraints) is refused in strict mode after the lenient parse has
    remembered it, and still accepted leniently after the strict refusal."""
    c = {"not": [{"properties": ["fat"]}, {"properties": ["debug"]}]}
    for _ in range(2):
        assert ResourceRequest.from_jobspec(spec(slots(1), constraint=c)).constraint is c
        with pytest.raises(ValueError):
            ResourceRequest.from_jobspec(spec(slots(1), constraint=c), strict=True)


def test_recent_constraints_never_alias_numbers():
    """Case 136: 1, 1.0 and True are equal in Python but only the int is a
    rank; a remembered {"ranks": [1]} never lets {"ranks": [True]} or
    {"ranks": [1.0]} through, however often either is parsed."""
    for _ in range(3):
        assert parse(slots(1), {"ranks": [1]}).constraint == {"ranks": [1]}
        assert parse(slots(1), {"ranks": ["1"]}).constraint == {"ranks": ["1"]}
        for bad in ({"ranks": [True]}, {"ranks": [1.0]}):
            with pytest.raises(ValueError, match="ranks"):
                parse(slots(1), bad)
    assert all(js._only_text(ref) for ref, _ in js._RECENT_VALID)
    assert len(js._RECENT_VALID) <= js._RECENT_MAX


def test_recent_constraint_is_a_copy():
    """A remembered constraint is the library's own copy: changing the caller's
    dict afterwards does not change what is remembered (case 30's rule for R,
    here for constraints)."""
    c = {"hostlist": ["node[0-3]"]}
    parse(slots(1), c)
    c["hostlist"].append("n[1")
    with pytest.raises(ValueError, match="hostlist"):
        parse(slots(1), c)
    assert {"hostlist": ["node[0-3]"]} in [ref for ref, _ in js._RECENT_VALID]


def test_deepest_constraint_parses_under_a_low_recursion_limit():
    """A constraint nested to ``constraint.MAX_DEPTH`` (legal) is remembered
    without recursion: it parses, twice (the second time from the recent
    list), with little stack to spare (the fuzzer found a RecursionError)."""
    import sys

    from fluxpool.constraint import MAX_DEPTH

    deep = {"hostlist": ["node1"]}
    for _ in range(MAX_DEPTH - 1):
        deep = {"not": [deep]}
    limit = sys.getrecursionlimit()
    # validation needs a frame or two per level; the old walk needed four
    sys.setrecursionlimit(3 * MAX_DEPTH + 100)
    try:
        for _ in range(2):
            assert parse(slots(1, cores=1), constraint=deep).constraint == deep
    finally:
        sys.setrecursionlimit(limit)
    assert js._only_text(deep)
    assert not js._only_text({"not": [{"hostlist": [1]}]})
    assert not js._only_text({1: "x"})
