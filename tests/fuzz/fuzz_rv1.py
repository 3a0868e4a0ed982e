"""Fuzz target: R version 1 parsing (``fluxpool.ResourcePool(text)``).

Checks, for any text: only ``ValueError``, ``TypeError`` or ``KeyError`` (with a
message) escape; a pool that was built writes R that builds the same pool
(``ResourcePool(p.to_dict()).to_dict() == p.to_dict()``, also through
``encode()`` and from the decoded dict); its views and copies work; a one-slot
alloc either succeeds and frees back to the same state, or fails with
``InsufficientResources``/``InfeasibleRequest`` and changes nothing.
"""

import json

from fluxpool import ResourcePool

from fuzzcheck import (ALLOC_ERRORS, BAD_INPUT, POLICIES, check, check_message, same_json,
                    slot_jobspec, snapshot, text_of)

#: Above this many ranks only parsing and one R round trip are checked, so
#: that the fuzzer's time goes to variety rather than to a few huge pools.
SMALL_POOL = 65536

WORDS = ["version", "execution", "R_lite", "rank", "children", "core", "gpu", "nodelist",
         "properties", "starttime", "expiration", "nslots", "scheduling", "0", "0-3",
         "0-15", "4-9", "1,3", "16383", "16384", "4095", "4096", "2147483647", "node[0-3]",
         "n[01-10]", "rank1", "fat", "+local", "", "x"]
KEYS = ["version", "execution", "R_lite", "rank", "children", "core", "gpu", "nodelist",
        "properties", "starttime", "expiration", "nslots", "scheduling", "memory"]
TEMPLATES = ['{"rank": "0-1", "children": {"core": "0-3", "gpu": "0"}}',
             '{"rank": "5", "children": {"core": "0-7"}}',
             '["node[0-3]", "login1"]', '{"fat": "0-1", "debug": "3"}']


def _same_R(a, b):
    """R equality, except that an empty ``properties`` table may come and go:
    a pool whose every property is empty writes ``"properties": {}`` and reads
    that back as no table (flux behaviour, SPEC §2.4 and M15)."""
    def normal(R):
        R = json.loads(json.dumps(R))
        execution = R.get("execution", {})
        if execution.get("properties") == {}:
            del execution["properties"]
        return R
    return same_json(normal(a), normal(b))


def _small_checks(pool):
    # copies, views and availability changes on a copy
    copy = pool.copy()
    check(copy.dumps() == pool.dumps(), "copy() changed the topology")
    check(pool.copy_allocated().dumps() == "", "a new pool has allocations")
    check(pool.copy_down().dumps() == "", "a new pool has down ranks")
    ranks = list(pool.ranks())
    if ranks:
        copy.mark_down(str(ranks[0]))
        copy.mark_up("all")
        copy.remove_ranks(str(ranks[-1]))
        R = copy.to_dict()
        check(_same_R(ResourcePool(R).to_dict(), R), "R after remove_ranks does not round-trip")

    before = snapshot(pool)
    request = pool.parse_resource_request(slot_jobspec())
    try:
        result = pool.alloc(1, request)
    except ALLOC_ERRORS as exc:
        check_message(exc, "alloc")
        check(snapshot(pool) == before, "a failed alloc changed the pool")
        return
    check(result.count("core") == 1, lambda: f"one-core slot allocated {result.dumps()!r}")
    R = result.to_dict()
    check(same_json(ResourcePool(R).to_dict(), R), "an allocation result does not round-trip")
    pool.free(1, R, final=True)
    after = snapshot(pool)
    check(after[:4] == before[:4] and after[5] == before[5],
          "alloc then free did not restore the pool")
    check(after[4] == before[4] + 2, "alloc + free did not bump generation twice")


def target(data):
    text = text_of(data)
    policy = POLICIES[len(data) % len(POLICIES)]
    try:
        pool = ResourcePool(text, policy=policy)
    except BAD_INPUT as exc:
        check_message(exc, "ResourcePool(text)", source=text)
        return
    R = pool.to_dict()
    check(_same_R(ResourcePool(R, policy=policy).to_dict(), R),
          lambda: f"ResourcePool(p.to_dict()).to_dict() != p.to_dict() for {text!r}")
    if pool.nnodes() > SMALL_POOL:
        return  # writing R for a million ranks takes seconds: one round trip is enough
    check(_same_R(ResourcePool(pool.encode()).to_dict(), R),
          lambda: f"R through encode() does not round-trip for {text!r}")
    check(same_json(ResourcePool(json.loads(text)).to_dict(), R),
          lambda: f"R as text and as a dict build different pools: {text!r}")
    summary = pool.dumps()
    check(str(pool.to_resource_set()) == summary, "to_resource_set() differs from dumps()")
    check((summary == "") == (pool.nnodes() == 0), "dumps() is empty for a non-empty pool")
    _small_checks(pool)
