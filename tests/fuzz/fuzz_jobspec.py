"""Fuzz target: jobspec parsing (``pool.parse_resource_request(json.loads(data))``).

Runs on a fixed pool (SPEC's MIX, with rank 2 down and job 999 holding some
cores; the policy is chosen by the input's length). Checks: parsing raises only
``ValueError``, ``TypeError`` or ``KeyError`` (with a message) and never
changes the jobspec or the pool; a parsed request's ``alloc`` raises only
``InsufficientResources``/``InfeasibleRequest`` (§1.2), agreeing with
``check_feasibility``; a successful allocation takes only free resources,
writes R that round-trips, and ``free`` gives the pool back exactly.
"""

import json

from fluxpool import IDset, InfeasibleRequest, ResourcePool

from fuzzcheck import (ALLOC_ERRORS, BAD_INPUT, POLICIES, NotJSON, check, check_message,
                    json_of, mix_pool, same_json, snapshot, text_of)

WORDS = ["node", "slot", "core", "gpu", "socket", "cluster", "rack", "task", "default",
         "1", "2", "3", "4+", "2-5", "[2-5]", "1,7-9", "2-8:2:*", "2-8:2:^", "3+:2:*",
         "0", "-1", "many", "fat", "^fat", "debug", "node7", "node[0-3]", "0-2", "60",
         "+", "*", "^", "/", "inf", "nan", "1e400"]
KEYS = ["version", "resources", "attributes", "system", "duration", "constraints", "tasks",
        "type", "count", "with", "exclusive", "label", "min", "max", "operator", "operand",
        "properties", "hostlist", "ranks", "and", "or", "not"]
TEMPLATES = [
    '{"type": "node", "count": 1, "with": [{"type": "slot", "count": 1, "label": "task",'
    ' "with": [{"type": "core", "count": 1}]}]}',
    '{"type": "slot", "count": 2, "label": "task", "with": [{"type": "core", "count": 2},'
    ' {"type": "gpu", "count": 1}]}',
    '{"type": "core", "count": 4}', '{"type": "gpu", "count": 1}',
    '{"min": 2, "max": 8, "operator": "*", "operand": 2}', '{"min": 1}',
    '{"properties": ["fat"]}', '{"not": [{"ranks": ["0-3"]}]}', '{"hostlist": ["node[4-5]"]}',
]

_POOLS = {}
JOBID = 4242


def _pool(policy):
    pool = _POOLS.get(policy)
    if pool is None:
        pool = _POOLS[policy] = mix_pool(policy, busy=True)
    return pool


def _held(pool):
    """Rank -> (cores, GPUs) allocated in ``pool``, from its allocated view."""
    held = {}
    for entry in pool.copy_allocated().to_dict()["execution"]["R_lite"]:
        cores = set(IDset(entry["children"].get("core", "")))
        gpus = set(IDset(entry["children"].get("gpu", "")))
        for rank in IDset(entry["rank"]):
            held[rank] = (cores, gpus)
    return held


def target(data):
    try:
        jobspec = json_of(data)
    except NotJSON:
        return
    text = text_of(data)
    original = json.dumps(jobspec)
    pool = _pool(POLICIES[len(data) % len(POLICIES)])
    before = snapshot(pool)
    try:
        request = pool.parse_resource_request(jobspec)
    except BAD_INPUT as exc:
        check_message(exc, "parse_resource_request", source=text)
        check(json.dumps(jobspec) == original, "a failed parse changed the jobspec")
        check(snapshot(pool) == before, "a failed parse changed the pool")
        return
    check(json.dumps(jobspec) == original, "parse_resource_request changed the jobspec")

    try:
        pool.check_feasibility(request)
        feasible = True
    except InfeasibleRequest as exc:
        check_message(exc, "check_feasibility")
        feasible = False
    check(snapshot(pool) == before, "check_feasibility changed the pool")

    held_before = _held(pool)
    try:
        result = pool.alloc(JOBID, request)
    except ALLOC_ERRORS as exc:
        check_message(exc, "alloc")
        check(snapshot(pool) == before, "a failed alloc changed the pool")
        check(isinstance(exc, InfeasibleRequest) == (not feasible),
              lambda exc=exc: f"alloc raised {type(exc).__name__} ({exc}) but check_feasibility "
                      f"{'passed' if feasible else 'refused'}")
        return

    R = result.to_dict()
    check(same_json(ResourcePool(R).to_dict(), R), "the allocation's R does not round-trip")
    check(result.generation == 0 and result.copy_allocated().dumps() == "",
          "an allocation result is not a fresh pool")
    for rank, (cores, gpus) in _held(pool).items():
        old_cores, old_gpus = held_before.get(rank, (set(), set()))
        check(old_cores <= cores and old_gpus <= gpus, "alloc released resources")
    for entry in R["execution"]["R_lite"]:
        got_cores = set(IDset(entry["children"].get("core", "")))
        got_gpus = set(IDset(entry["children"].get("gpu", "")))
        for rank in IDset(entry["rank"]):
            check(rank != 2, "alloc placed work on a down rank")
            old_cores, old_gpus = held_before.get(rank, (set(), set()))
            check(not (got_cores & old_cores) and not (got_gpus & old_gpus),
                  lambda: f"alloc gave rank {rank} resources already allocated: {result.dumps()}")
    nslots = R["execution"].get("nslots", 0)
    check(nslots >= request.nslots, lambda: f"{nslots} slots recorded, {request.nslots} needed")
    if request.nslots_max is not None:
        check(nslots <= request.nslots_max, lambda: f"{nslots} slots above the maximum")

    pool.free(JOBID, R, final=True)
    after = snapshot(pool)
    check(after[:4] == before[:4] and after[5] == before[5],
          "alloc then free did not restore the pool")
