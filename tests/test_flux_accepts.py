"""Inputs flux-core's pool accepts must not be refused (SPEC §12 M22, §3.1, §2.3).

Every constraint operand form, count form and R field form below is given to
flux-core's Rv1Pool and to fluxpool's worst-fit pool: what flux-core places,
fluxpool places identically (the same R, the same dumps()), except for the
inputs SPEC §12 fixes (F1, F2, F7, F8), and what flux-core refuses fluxpool
refuses with a documented exception. Skipped where flux-core is not installed.
"""

import copy
import json

import pytest

flux_resource = pytest.importorskip(
    "flux.resource", reason="flux-core's Python bindings (the flux package) are not installed",
    exc_type=ImportError,
)

import fluxpool  # noqa: E402
from specdata import nodes, slots, spec  # noqa: E402

POOL = {"version": 1, "execution": {
    "R_lite": [{"rank": "0-3", "children": {"core": "0-7", "gpu": "0-1"}}],
    "starttime": 0, "expiration": 0, "nodelist": ["node[0-3]"], "properties": {"fat": "0-1"}}}

DOCUMENTED = (ValueError, TypeError, KeyError, fluxpool.InsufficientResources,
              fluxpool.InfeasibleRequest)

COUNTS = [1, 2, True, 0, -1, 2.0, 2.5, None, [2], "2", " 2 ", "[2]", "2-3", "2+", "1,3",
          "1-3:1", "2-8:2:*", {"min": 2}, {"min": "2"}, {"min": 2.0}, {"min": 1, "max": 3},
          {"min": 1, "max": "3"}, {"max": 3}, {}, {"min": 1, "max": 3, "operand": "1"},
          {"min": 1, "max": 3, "operator": "-"}, {"min": 2, "max": 1}, {"min": True}, "0",
          "abc", "", "02"]

CONSTRAINTS = [
    {"hostlist": "node0"}, {"hostlist": ["node0"]}, {"hostlist": "node[0-1]"},
    {"hostlist": ["node[0-1]", "node3"]}, {"hostlist": []}, {"hostlist": ""},
    {"ranks": "2-3"}, {"ranks": ["2-3"]}, {"ranks": 2}, {"ranks": [2]}, {"ranks": [2, 3]},
    {"ranks": []}, {"ranks": ""}, {"ranks": "x"}, {"ranks": True},
    {"properties": ["fat"]}, {"properties": ["^fat"]}, {"properties": []},
    {"properties": [1]}, {"properties": {"fat": 1}},
    {}, {"and": []}, {"or": []}, {"not": []}, {"not": [{"ranks": "0"}, {"ranks": "1"}]},
    {"and": {"ranks": "1"}}, {"and": [{}]}, {"or": [{"ranks": "3"}]}, {"foo": 1},
    '{"ranks": "3"}', "x", [], {"ranks": "3", "hostlist": "node1"}, {"ranks": "3-1"},
]
#: SPEC §12 fixes: flux-core accepts these, fluxpool refuses or reads them otherwise.
FIXED_CONSTRAINTS = [{"properties": "fat"}]  # F7


def jobspec_cases():
    for count in COUNTS:
        yield f"node count {count!r}", spec(nodes(count, slots(1)))
        yield f"slot count {count!r}", spec(slots(count))
        yield f"core count {count!r}", spec(slots(1, cores=count))
        gpu = slots(1)
        gpu["with"].append({"type": "gpu", "count": count})
        yield f"gpu count {count!r}", spec(gpu)
    for constraint in CONSTRAINTS:
        yield f"constraint {constraint!r}", spec(slots(1), constraint=constraint)
    for duration in ("60", -5, None, True, 0.5):
        yield f"duration {duration!r}", spec(slots(1), duration=duration)


def r_cases():
    def r(entries, **execution):
        out = {"version": 1, "execution": {"R_lite": entries, "starttime": 0, "expiration": 0}}
        out["execution"].update(execution)
        return out
    base = [{"rank": "0-3", "children": {"core": "0-7"}}]
    yield "rank int", r([{"rank": 0, "children": {"core": "0-7"}}])
    yield "rank list", r([{"rank": [0, 1], "children": {"core": "0-7"}}])
    yield "core int", r([{"rank": "0", "children": {"core": 3}}])
    yield "core list", r([{"rank": "0", "children": {"core": [0, 1]}}])
    yield "gpu only", r([{"rank": "0", "children": {"gpu": "0"}}])
    yield "no children", r([{"rank": "0"}])
    yield "nodelist tuple", r(base, nodelist=("node[0-3]",))
    yield "nodelist two items", r(base, nodelist=["node[0-1]", "node[2-3]"])
    yield "nodelist short", r(base, nodelist=["node[0-1]"])
    yield "nodelist long", r(base, nodelist=["node[0-7]"])
    yield "properties list", r(base, properties={"a": [0, 1]})
    yield "properties int", r(base, properties={"a": 1})
    yield "properties outside", r(base, properties={"a": "9"})
    yield "starttime string", r(base, starttime="5")
    yield "expiration string", r(base, expiration="5")
    yield "nslots", r(base, nslots=3)
    yield "nslots string", r(base, nslots="3")
    yield "version float", {"version": 1.0, "execution": {"R_lite": base}}
    yield "scheduling", dict(r(base), scheduling={"writer": "x"})


def outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:  # compared below
        return ("error", exc)


@pytest.mark.parametrize("name, jobspec", list(jobspec_cases()), ids=lambda x: str(x)[:60])
def test_jobspecs_flux_core_places_are_placed_alike(name, jobspec):
    def place(pool):
        return pool.alloc(1, pool.parse_resource_request(copy.deepcopy(jobspec))).dumps()
    theirs = outcome(lambda: place(flux_resource.ResourcePool(copy.deepcopy(POOL))))
    ours = outcome(lambda: place(fluxpool.ResourcePool(copy.deepcopy(POOL), policy="worst-fit")))
    constraint = jobspec["attributes"]["system"].get("constraints")
    if theirs[0] == "ok" and constraint not in FIXED_CONSTRAINTS:
        assert ours == theirs, name
    if ours[0] == "error":
        assert isinstance(ours[1], DOCUMENTED), (name, ours[1])


@pytest.mark.parametrize("name, r", list(r_cases()), ids=lambda x: str(x)[:40])
def test_r_flux_core_reads_is_read_alike(name, r):
    def write(pool):
        return json.dumps(pool.to_dict(), sort_keys=True)
    theirs = outcome(lambda: write(flux_resource.ResourcePool(copy.deepcopy(r))))
    ours = outcome(lambda: write(fluxpool.ResourcePool(copy.deepcopy(r), policy="worst-fit")))
    if theirs[0] == "ok":
        assert ours == theirs, name
    else:
        assert ours[0] == "error" and isinstance(ours[1], DOCUMENTED), (name, ours)
