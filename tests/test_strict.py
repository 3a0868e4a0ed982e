"""Strict mode (SPEC §15): ``ResourcePool(R, strict=True)`` refuses, with a
``ValueError`` naming the input and before anything changes, what Flux's C code
refuses and what SPEC §12 keeps only for compatibility; the default keeps
flux-core's behaviour, and everything else is the same in both modes."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluxpool import IDset, InfeasibleRequest, InsufficientResources, ResourcePool
from specdata import (POLICIES, R, fixture, make_pool, nodes, place, request, slots,
                      snapshot, spec)


def strict_pool(name="MIX", policy="first-fit"):
    return make_pool(name, policy=policy, strict=True)


def refused(call, *words):
    """``call()`` raises ValueError whose message holds every word; returns it."""
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return info.value


# ------------------------------------------------------------------------- R


@pytest.mark.parametrize("nodelist, relation", [(["node[0-2]"], "less"),
                                                (["node[0-4]"], "greater")])
def test_strict_nodelist_host_count_must_equal_rank_count(nodelist, relation):
    """§15 (M2): a nodelist naming fewer or more hosts than ranks is refused in
    strict mode, with librlist's wording; the default invents rank<N> names."""
    r = R([("0-3", "0-1")], nodelist=nodelist)
    refused(lambda: ResourcePool(r, strict=True), "nodelist", relation, "node count (4)")
    names = ResourcePool(r).nodelist()
    assert len(names) == 4
    if relation == "less":
        assert "rank3" in list(names)


@pytest.mark.parametrize("name", ["", "a b", "x|y", "bad(", "q'", 'q"', "a&b", "!x", "tab\t",
                                  "a^b", "back`tick"])
def test_strict_property_names(name):
    """§15: an empty property name or one with an operator character or white
    space is refused in strict mode; the default keeps it."""
    r = fixture("GRID")
    r["execution"]["properties"] = {name: "0"}
    refused(lambda: ResourcePool(r, strict=True), "property")
    assert ResourcePool(r).to_dict()["execution"]["properties"] == {name: "0"} or name == ""


def test_strict_property_ranks_must_be_in_the_pool():
    """§15: a property naming a rank R does not have is refused in strict mode."""
    r = fixture("GRID")
    r["execution"]["properties"] = {"fat": "2-5"}
    refused(lambda: ResourcePool(r, strict=True), "fat", "4-5")
    ResourcePool(r)  # the default keeps flux-core's leniency


@pytest.mark.parametrize("field, value", [
    ("rank", 0), ("rank", [0, 1]), ("core", 3), ("core", [0, 1]),
])
def test_strict_refuses_non_idset_forms_the_default_reads(field, value):
    """§15 and M22: flux-core's pool reads an R idset given as an int or a list;
    the default does too, strict mode wants RFC 20's idset text."""
    entry = {"rank": "0", "children": {"core": "0-3"}}
    if field == "rank":
        entry["rank"] = value
    else:
        entry["children"]["core"] = value
    r = {"version": 1, "execution": {"R_lite": [entry], "starttime": 0, "expiration": 0}}
    lenient = ResourcePool(r)
    assert lenient.to_dict()["execution"]["R_lite"][0]["rank"] in ("0", "0-1")
    with pytest.raises(TypeError):
        ResourcePool(r, strict=True)


def test_strict_r_failures_name_the_input():
    """§15: every strict refusal of R names the field."""
    r = fixture("GRID")
    r["execution"]["starttime"] = "5"
    assert ResourcePool(r).to_dict()["execution"]["starttime"] == 5.0
    with pytest.raises(TypeError, match="starttime"):
        ResourcePool(r, strict=True)


# -------------------------------------------------------------------- counts


STRICT_BAD_COUNTS = [[2], 2.0, 2.5, True, None, {"max": 3}, {"min": "2"}, {"min": 2.0},
                     {"min": 1, "max": "3"}, {"min": 1, "max": 3, "operand": "1"},
                     {"min": True}]


@pytest.mark.parametrize("count", STRICT_BAD_COUNTS, ids=repr)
@pytest.mark.parametrize("where", ["node", "slot", "core", "gpu"])
def test_strict_counts(count, where):
    """§15: counts RFC 14 does not allow (a list, float, bool, null, a dict
    without min or with non-integer fields) are refused in strict mode; the
    default reads them as flux-core does (M6: as 1, or through int())."""
    if where == "node":
        resources = nodes(count, slots(1))
    elif where == "slot":
        resources = slots(count)
    else:
        resources = slots(1, cores=count if where == "core" else 1)
        if where == "gpu":
            resources["with"].append({"type": "gpu", "count": count})
    jobspec = spec(resources)
    strict = strict_pool()
    refused(lambda: strict.parse_resource_request(jobspec), where, "count")
    make_pool("MIX").parse_resource_request(jobspec)


@pytest.mark.parametrize("count, words", [
    (0, ["must be >= 1"]), ({"min": 0}, ["min"]), ({"min": 3, "max": 2}, ["max"]),
    ({"min": 1, "max": 4, "operator": "-"}, ["operator"]),
])
def test_strict_counts_refused_in_both_modes(count, words):
    """§15: zero, max below min and an unknown operator are refused in both modes."""
    for pool in (strict_pool(), make_pool("MIX")):
        refused(lambda: pool.parse_resource_request(spec(slots(count))), *words)


def test_strict_accepts_every_rfc14_form():
    """§15: integers, RFC 14 dicts and RFC 45 strings pass strict mode unchanged."""
    pool = strict_pool()
    for count in (2, {"min": 2}, {"min": 1, "max": 4}, {"min": 2, "max": 8, "operator": "*",
                                                       "operand": 2}, "2-4", "2+"):
        lenient = make_pool("MIX").parse_resource_request(spec(slots(count)))
        strict = pool.parse_resource_request(spec(slots(count)))
        assert (strict.slot_count, strict.nslots) == (lenient.slot_count, lenient.nslots)


# --------------------------------------------------------------- constraints


@pytest.mark.parametrize("constraint, ranks", [
    ({}, "0-11"), ({"and": []}, "0-11"), ({"or": []}, "0-11"),
    ({"and": [{}, {"properties": ["fat"]}]}, "0-3"),
    ({"not": [{"or": []}]}, ""),
])
def test_strict_constraints_follow_rfc31(constraint, ranks):
    """§15: in strict mode {} and an empty and/or match every rank."""
    pool = strict_pool(policy="first-fit")
    req = pool.parse_resource_request(spec(slots(1), constraint={"and": [constraint]}))
    expected = ranks.split("-") if ranks else []
    taken = []
    try:
        while True:
            result = pool.alloc(len(taken) + 1, req)
            taken.append(result.ranks().first)
            pool.mark_down(str(taken[-1]))
    except (InsufficientResources, InfeasibleRequest):
        pass
    if expected:
        assert taken == list(range(int(expected[0]), int(expected[-1]) + 1))
    else:
        assert taken == []


def test_default_constraints_keep_flux_behaviour():
    """§12: by default an empty "or" matches no rank and a nested {} is an error."""
    pool = make_pool("MIX")
    req = pool.parse_resource_request(spec(slots(1), constraint={"or": []}))
    with pytest.raises(InfeasibleRequest):
        pool.alloc(1, req)
    refused(lambda: pool.parse_resource_request(spec(slots(1), constraint={"and": [{}]})),
            "unknown constraint operator")


@pytest.mark.parametrize("constraint, words", [
    ({"not": [{"ranks": "0"}, {"ranks": "1"}]}, ["'not'", "exactly one"]),
    ({"not": []}, ["'not'"]),
    ({"properties": ["fa t"]}, ["fa t"]),
    ({"properties": ["^a|b"]}, ["^a|b"]),
    ({"properties": {"fat": 1}}, ["properties"]),
])
def test_strict_constraint_refusals(constraint, words):
    """§15: 'not' takes exactly one constraint; property names in a query must
    be valid (a leading ^ negates); a properties object is not an array."""
    refused(lambda: strict_pool().parse_resource_request(spec(slots(1), constraint=constraint)),
            *words)


def test_default_not_uses_the_first_constraint():
    """§12: flux-core's 'not' looks at its first item only; so does the default."""
    pool = make_pool("MIX", policy="first-fit")
    req = pool.parse_resource_request(
        spec(slots(1), constraint={"not": [{"ranks": "0"}, {"ranks": "1"}]}))
    assert pool.alloc(1, req).dumps() == "rank1/core0"


# -------------------------------------------------------------------- jobs


def test_strict_alloc_refuses_a_live_jobid():
    """§15 (M11): alloc under a jobid that still holds an allocation."""
    pool = strict_pool()
    place(pool, 7, slots(1))
    before = snapshot(pool)
    refused(lambda: place(pool, 7, slots(1)), "already holds")
    assert snapshot(pool) == before
    pool.free(7)
    place(pool, 7, slots(1))  # free, then the jobid may be used again


def test_strict_free_of_an_unknown_job_with_R():
    """§15 (M12): free(jobid, R) for an unknown jobid, partial or final."""
    pool = strict_pool()
    result = pool.alloc(1, request(pool, slots(2)))
    before = snapshot(pool)
    for final in (False, True):
        refused(lambda: pool.free(2, result.to_dict(), final), "no allocation")
        assert snapshot(pool) == before
    pool.free(2)  # without R: nothing to free, nothing said (as flux-core)
    assert snapshot(pool) == before


def test_strict_partial_free_must_name_exactly_what_the_job_holds():
    """§15 (M13): a partial free naming cores the job does not hold, or only
    part of a rank's, is refused; naming whole ranks of the job is fine."""
    pool = strict_pool("GRID", policy="first-fit")
    result = pool.alloc(1, request(pool, nodes(2, slots(2))))
    assert result.dumps() == "rank[0-1]/core[0-1]"
    before = snapshot(pool)
    part = R([("0", "0")])
    refused(lambda: pool.free(1, part), "only part", "rank0/core0")
    other = R([("0", "0-3")])
    refused(lambda: pool.free(1, other), "does not hold")
    assert snapshot(pool) == before
    pool.free(1, R([("1", "0-1")]))
    assert pool.copy_allocated().dumps() == "rank0/core[0-1]"
    # the default keeps M13: a rank leaves the job's record whatever R named
    lenient = make_pool("GRID", policy="first-fit")
    lenient.alloc(1, request(lenient, nodes(2, slots(2))))
    lenient.free(1, part)
    assert lenient.copy_allocated().dumps() == "rank0/core1 rank1/core[0-1]"


def test_strict_register_alloc_refuses_overlap():
    """§15 (M14): a hello whose resources overlap another job's, or that reuses
    a live jobid, is refused; the default records it (flux-core's behaviour)."""
    pool = strict_pool("GRID", policy="first-fit")
    pool.alloc(1, request(pool, slots(2)))
    before = snapshot(pool)
    refused(lambda: pool.register_alloc(2, R([("0", "1-2")])), "overlaps")
    refused(lambda: pool.register_alloc(1, R([("3", "0")])), "already holds")
    assert snapshot(pool) == before
    pool.register_alloc(2, R([("0", "2-3")]))
    lenient = make_pool("GRID", policy="first-fit")
    lenient.alloc(1, request(lenient, slots(2)))
    lenient.register_alloc(2, R([("0", "1-2")]))


@pytest.mark.parametrize("policy", POLICIES)
def test_strict_places_like_the_default(policy):
    """§15: everything else, placement included, is the same in both modes."""
    a, b = make_pool("MIX", policy=policy), make_pool("MIX", policy=policy, strict=True)
    for jobid, resources in enumerate([slots(3), nodes(2, slots(2, gpus=1)), slots(5, cores=3),
                                       nodes(1, slots(1), exclusive=True), slots(1, gpus=2)]):
        assert place(a, jobid, resources) == place(b, jobid, resources)
    assert snapshot(a) == snapshot(b)
    assert b.strict and b.copy().strict and not a.strict


def test_strict_is_a_bool():
    """§15: strict must be True or False."""
    with pytest.raises(TypeError):
        ResourcePool(fixture("GRID"), strict="yes")


# --------------------------------------- hypothesis: refusals change nothing

OPS = st.sampled_from(["alloc", "alloc_same", "free_other", "free_part", "free_whole_rank",
                       "hello_overlap", "hello_free", "free"])


@settings(max_examples=int(os.environ.get("FLUXPOOL_STRICT_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(OPS, st.integers(0, 5), st.integers(1, 3)), max_size=25),
       policy=st.sampled_from(POLICIES))
def test_strict_refusals_leave_the_pool_exactly_as_before(ops, policy):
    """§15: a strict pool driven with random jobs and random misuse: every
    ValueError leaves the pool as it was, and what is allocated is always
    exactly what the recorded jobs hold (no M11-M14 leak)."""
    pool = make_pool("MIX", policy=policy, strict=True)
    held = {}
    for op, jobid, n in ops:
        before = snapshot(pool)
        try:
            if op in ("alloc", "alloc_same"):
                job = jobid if op == "alloc_same" else jobid + 100
                result = pool.alloc(job, request(pool, slots(n, cores=n)))
                held[job] = result.to_dict()
            elif op == "free":
                pool.free(jobid + 100)
                held.pop(jobid + 100, None)
            elif op == "free_other":
                pool.free(jobid + 200, R([("0", "0")]))
            elif op in ("free_part", "free_whole_rank"):
                job = jobid + 100
                if job not in held:
                    continue
                if not held[job]["execution"]["R_lite"]:
                    continue  # every rank already freed
                entry = held[job]["execution"]["R_lite"][0]
                rank = entry["rank"].split(",")[0].split("-")[0]
                cores = entry["children"]["core"] if op == "free_whole_rank" else "0-31"
                pool.free(job, R([(rank, cores)]))
                rest = {r: v for r, v in held_by_rank(held[job]).items() if r != int(rank)}
                held[job] = R([(str(r), IDset(c).encode(), IDset(g).encode())
                               for r, (c, g) in rest.items()])
            elif op == "hello_overlap":
                pool.register_alloc(jobid + 300, R([("0-11", "0")]))
                held[jobid + 300] = R([("0-11", "0")])
            elif op == "hello_free":
                pool.register_alloc(jobid + 400, R([(str(jobid + 4), "7")]))
                held[jobid + 400] = R([(str(jobid + 4), "7")])
        except ValueError:
            assert snapshot(pool) == before
        except (InsufficientResources, InfeasibleRequest):
            assert snapshot(pool) == before
        assert held_by_rank(pool.copy_allocated().to_dict()) == merged(held.values())


def held_by_rank(r):
    """``{rank: (cores, gpus)}`` of an R dict (ids as sets)."""
    out = {}
    for entry in r["execution"]["R_lite"]:
        for rank in IDset(entry["rank"]):
            out[rank] = (set(IDset(entry["children"].get("core", ""))),
                         set(IDset(entry["children"].get("gpu", ""))))
    return out


def merged(rs):
    """The union of several R dicts, rank by rank; a core in two of them fails."""
    out = {}
    for r in rs:
        for rank, (cores, gpus) in held_by_rank(r).items():
            have = out.setdefault(rank, (set(), set()))
            assert not (have[0] & cores) and not (have[1] & gpus), f"rank {rank} held twice"
            have[0].update(cores)
            have[1].update(gpus)
    return {rank: v for rank, v in out.items() if v[0] or v[1]}
