"""Fixtures and jobspec builders named in SPEC.md §14, shared by the test modules."""

import copy

GRID = {
    "version": 1,
    "execution": {
        "R_lite": [{"rank": "0-3", "children": {"core": "0-7"}}],
        "starttime": 0,
        "expiration": 0,
        "nodelist": ["node[0-3]"],
    },
}

HET = {
    "version": 1,
    "execution": {
        "R_lite": [
            {"rank": "0", "children": {"core": "0-3"}},
            {"rank": "1-2", "children": {"core": "0-1"}},
        ],
        "starttime": 0,
        "expiration": 0,
        "nodelist": ["node0", "node1", "node2"],
    },
}

G2 = {
    "version": 1,
    "execution": {
        "R_lite": [{"rank": "0-1", "children": {"core": "0-7", "gpu": "0-1"}}],
        "starttime": 0,
        "expiration": 0,
        "nodelist": ["gpu[0-1]"],
    },
}

MIX = {
    "version": 1,
    "execution": {
        "R_lite": [
            {"rank": "0-3", "children": {"core": "0-15", "gpu": "0-3"}},
            {"rank": "4-9", "children": {"core": "0-7"}},
            {"rank": "10-11", "children": {"core": "0-31", "gpu": "0-1"}},
        ],
        "starttime": 0,
        "expiration": 0,
        "nodelist": ["node[0-11]"],
        "properties": {"fat": "0-3", "debug": "9", "+local": "0"},
    },
}

SPARSE = {
    "version": 1,
    "execution": {
        "R_lite": [{"rank": "7,9,20", "children": {"core": "0-3"}}],
        "starttime": 0,
        "expiration": 0,
    },
}

ALL_FIXTURES = {"GRID": GRID, "HET": HET, "G2": G2, "MIX": MIX, "SPARSE": SPARSE}
POLICIES = ("first-fit", "worst-fit", "best-fit")


def fixture(name):
    """A fresh deep copy of a named fixture, so tests can never share state."""
    return copy.deepcopy(ALL_FIXTURES[name])


def core(n=1):
    return {"type": "core", "count": n}


def gpu(n=1):
    return {"type": "gpu", "count": n}


def slots(n, cores=1, gpus=0, exclusive=False):
    children = [core(cores)]
    if gpus:
        children.append(gpu(gpus))
    vertex = {"type": "slot", "count": n, "label": "task", "with": children}
    if exclusive:
        vertex["exclusive"] = True
    return vertex


def nodes(n, child, exclusive=False):
    vertex = {"type": "node", "count": n, "with": [child]}
    if exclusive:
        vertex["exclusive"] = True
    return vertex


def spec(resources, duration=0, constraint=None):
    system = {"duration": duration}
    if constraint is not None:
        system["constraints"] = constraint
    return {
        "version": 1,
        "resources": [resources],
        "tasks": [],
        "attributes": {"system": system},
    }


def R(ranks_cores, nodelist=None, expiration=0):
    """A small R: ``ranks_cores`` is a list of (rank idset, core idset[, gpu idset])."""
    entries = []
    for item in ranks_cores:
        children = {"core": item[1]}
        if len(item) > 2 and item[2]:
            children["gpu"] = item[2]
        entries.append({"rank": item[0], "children": children})
    execution = {"R_lite": entries, "starttime": 0, "expiration": expiration}
    if nodelist is not None:
        execution["nodelist"] = nodelist
    return {"version": 1, "execution": execution}


# ---------------------------------------------------------------- shared pool helpers


def make_pool(name, policy="worst-fit", **kwargs):
    """A ``ResourcePool`` of a fresh copy of a named fixture (worst-fit unless told)."""
    from fluxpool import ResourcePool

    return ResourcePool(fixture(name), policy=policy, **kwargs)


def request(pool, resources, duration=0, constraint=None):
    """``pool.parse_resource_request(spec(resources, duration, constraint))``."""
    return pool.parse_resource_request(spec(resources, duration, constraint))


def place(pool, jobid, resources, duration=0, constraint=None):
    """Allocate ``spec(resources, ...)`` as ``jobid``; return the result's ``dumps()``."""
    return pool.alloc(jobid, request(pool, resources, duration, constraint)).dumps()


def snapshot(pool):
    """Everything observable about a pool's state, for "unchanged" assertions (§10)."""
    import json

    return (
        json.dumps(pool.to_dict()),
        json.dumps(pool.copy_allocated().to_dict()),
        json.dumps(pool.copy_down().to_dict()),
        list(pool.job_end_times()),
        pool.generation,
    )


MiB = 1024 * 1024


def traced_peak(call):
    """Run ``call()`` under tracemalloc and return ``(outcome, peak_bytes)``.

    ``outcome`` is the call's result, or the exception it raised. The compiled
    core allocates through Python's raw allocator, so its buffers count too:
    a peak of a few MiB proves a refusal came before anything large was built,
    on any machine at any load (no test here measures time).
    """
    import tracemalloc

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        try:
            outcome = call()
        except Exception as exc:  # returned for the caller to check
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
