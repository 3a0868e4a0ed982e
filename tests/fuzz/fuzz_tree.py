"""Fuzz target: TreePool construction from R with ``scheduling.children``
(``fluxpool.TreePool(text)``, SPEC §17).

Checks, for any text: only ``ValueError``, ``TypeError`` or ``KeyError`` (with a
message) escape; a pool that was built writes R that builds the same pool
(``TreePool(p.to_dict()).to_dict() == p.to_dict()``) and its copy places like
it; after ``remove_ranks`` its R still reads back (T3); a GPU slot, a NUMA
container and a whole node either are placed (and free back to the same
state) or fail with ``InsufficientResources``/``InfeasibleRequest`` and change
nothing.
"""

from fluxpool import TreePool

from fuzzcheck import ALLOC_ERRORS, BAD_INPUT, check, check_message, same_json, snapshot, text_of

#: Above this many ranks only construction and one R round trip are checked.
SMALL_POOL = 4096

WORDS = ["version", "execution", "R_lite", "rank", "children", "core", "gpu", "scheduling",
         "writer", "TreePool", "ranks", "topo", "cores", "gpus", "socket", "numa", "apu",
         "memory", "0", "0-1", "0-3", "0-7", "4-7", "1,3", "16383", "16384", "4095", "", "x"]
KEYS = ["version", "execution", "R_lite", "rank", "children", "core", "gpu", "scheduling",
        "writer", "ranks", "topo", "cores", "gpus", "socket", "numa", "apu", "memory"]
TEMPLATES = ['{"ranks": "0-1", "topo": {"numa": [{"cores": "0-3", "gpus": "0"}]}}',
             '{"socket": [{"numa": [{"cores": "0-1"}, {"cores": "2-3", "gpus": "1"}]}]}',
             '{"cores": "0-7", "gpus": "0-1"}',
             '{"rank": "0-1", "children": {"core": "0-7", "gpu": "0-1"}}']


def _jobspec(resources):
    return {"version": 1, "resources": [resources], "tasks": [],
            "attributes": {"system": {"duration": 0}}}


REQUESTS = [
    {"type": "slot", "count": 1, "label": "task",
     "with": [{"type": "core", "count": 2}, {"type": "gpu", "count": 1}]},
    {"type": "slot", "count": 1, "label": "task",
     "with": [{"type": "numa", "count": 1, "exclusive": True}]},
    {"type": "node", "count": 1, "exclusive": True,
     "with": [{"type": "slot", "count": 1, "label": "task"}]},
]


def _try_requests(pool):
    for jobid, resources in enumerate(REQUESTS, 1):
        before = snapshot(pool)
        request = pool.parse_resource_request(_jobspec(resources))
        try:
            result = pool.alloc(jobid, request)
        except ALLOC_ERRORS as exc:
            check_message(exc, "alloc")
            check(snapshot(pool) == before, "a failed alloc changed the pool")
            continue
        R = result.to_dict()
        check(same_json(TreePool(R).to_dict(), R), "an allocation result does not round-trip")
        pool.free(jobid, R, final=True)
        after = snapshot(pool)
        check(after[:4] == before[:4], "alloc then free did not restore the pool")


def target(data):
    text = text_of(data)
    strict = len(data) % 2 == 1
    try:
        pool = TreePool(text, strict=strict)
    except BAD_INPUT as exc:
        check_message(exc, "TreePool(text)", source=text)
        return
    R = pool.to_dict()
    check(same_json(TreePool(R, strict=strict).to_dict(), R),
          lambda: f"TreePool(p.to_dict()).to_dict() != p.to_dict() for {text!r}")
    if pool.nnodes() > SMALL_POOL:
        return
    copy = pool.copy()
    check(copy.to_dict() == R, "copy() changed R")
    _try_requests(pool)
    ranks = list(pool.ranks())
    if len(ranks) > 1:
        copy.remove_ranks(str(ranks[0]))
        shrunk = copy.to_dict()
        check(same_json(TreePool(shrunk, strict=strict).to_dict(), shrunk),
              "R after remove_ranks does not read back (T3)")
