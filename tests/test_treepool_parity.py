"""TreePool parity with flux-core's own TreePool (SPEC §17).

Random operation sequences (random node topologies with GPU leaves and
several level names, GPU and CPU slots, container-exclusive requests at every
level, node-exclusive requests with and without cores, slot-above-node forms,
count ranges, constraints, partial frees, up/down, shrink, copies and the
scheduler's hello path) run on flux-core's pure-Python TreePool and on
fluxpool's; placements, results (``scheduling`` included), exception types
and messages, R, views, job ids and generation must agree after every step.
A sequence stops where flux-core raises an exception it should not (its T1–T3
bugs on the hello path, or a crash), since from there the two pools differ by
design. Skipped where flux-core's Python bindings are not installed (as in
CI). ``FLUXPOOL_TREE_PARITY_N`` sets the number of sequences (default 5000),
``FLUXPOOL_TREE_PARITY_SEED`` the first seed (default 0).
"""

import json
import os
import random

import pytest

try:
    import flux.resource as flux_resource
    import flux.resource.TreePool as flux_tree
except ImportError:
    pytest.skip("flux-core's Python bindings (the flux package) are not installed",
                allow_module_level=True)

import fluxpool  # noqa: E402
from fluxpool._rv1core import decode_idset  # noqa: E402
from fluxpool.topotree import trim_children  # noqa: E402

SEQUENCES = int(os.environ.get("FLUXPOOL_TREE_PARITY_N", "5000"))
FIRST_SEED = int(os.environ.get("FLUXPOOL_TREE_PARITY_SEED", "0"))
LEVEL_NAMES = ("numa", "socket", "apu", "package", "l3")


def ids(lo, n):
    return str(lo) if n == 1 else f"{lo}-{lo + n - 1}"


class TopoMaker:
    """A random node topology with consecutive core and GPU ids."""

    def __init__(self, rng):
        self.rng = rng
        self.core = 0
        self.gpu = 0

    def leaf(self):
        n = self.rng.randint(1, 4)
        leaf = {"cores": ids(self.core, n)}
        self.core += n
        g = self.rng.choice((0, 0, 1, 1, 2))
        if g:
            leaf["gpus"] = ids(self.gpu, g)
            self.gpu += g
        return leaf

    def level(self, names, depth):
        if not names or depth > 2:
            return self.leaf()
        name = names[0]
        return {name: [self.level(names[1:], depth + 1)
                       for _ in range(self.rng.randint(1, 3))]}

    def make(self):
        rng = self.rng
        shape = rng.choice(("flat", "one", "two", "two", "uneven", "custom"))
        if shape == "flat":
            topo = self.leaf()
        elif shape == "one":
            topo = self.level([rng.choice(("numa", "socket"))], 0)
        elif shape == "two":
            topo = self.level(["socket", "numa"], 0)
        elif shape == "uneven":
            topo = {"socket": [self.level(["numa"], 1), self.leaf()]}
        else:
            topo = self.level(["package", rng.choice(("l3", "apu", "numa"))], 0)
        if rng.random() < 0.2:
            topo["memory"] = 128
        return topo, self.core, self.gpu


def random_R(rng):
    nranks = rng.randint(1, 6)
    ntypes = rng.choice((1, 1, 2, 3))
    types = [TopoMaker(rng).make() for _ in range(ntypes)]
    rank_type = [rng.randrange(ntypes) for _ in range(nranks)]
    R_lite = []
    for rank in range(nranks):
        _topo, ncores, ngpus = types[rank_type[rank]]
        children = {"core": ids(0, ncores)}
        if rng.random() < 0.1 and ncores > 1:
            children["core"] = ids(0, ncores - 1)   # R narrower than the topology
        if ngpus:
            children["gpu"] = ids(0, ngpus)
        R_lite.append({"rank": str(rank), "children": children})
    offset = rng.choice((0, 0, 0, 0, 4))   # children numbered in a parent's space
    children = []
    for t, (topo, _c, _g) in enumerate(types):
        members = [r + offset for r in range(nranks) if rank_type[r] == t]
        if members:
            children.append({"ranks": ",".join(map(str, members)), "topo": topo})
    rng.shuffle(children)
    if rng.random() < 0.15:   # a later entry overrides some ranks of an earlier one
        topo, _c, _g = rng.choice(types)
        children.append({"ranks": str(offset + rng.randrange(nranks)), "topo": topo})
    if rng.random() < 0.1:    # entries flux-core skips
        children.insert(rng.randrange(len(children) + 1),
                        rng.choice(({"ranks": "", "topo": types[0][0]},
                                    {"ranks": str(offset), "topo": {}},
                                    {"ranks": str(offset), "topo": {"memory": 64}})))
    R = {"version": 1,
         "execution": {"R_lite": R_lite, "starttime": 0.0, "expiration": 0.0,
                       "nodelist": [f"n[0-{nranks - 1}]" if nranks > 1 else "n0"]},
         "scheduling": {"writer": "TreePool", "children": children}}
    if rng.random() < 0.4:
        R["execution"]["properties"] = {"fast": ids(0, max(1, nranks // 2))}
    return R


def count(rng):
    return rng.choice((1, 1, 1, 2, 2, 3, "1-3", "2+", {"min": 1, "max": 2}))


def small(rng):
    return rng.choice((1, 1, 2, 3))


def slot_with(rng, inner, n=None):
    return {"type": "slot", "count": n if n is not None else count(rng), "label": "task",
            "with": inner}


def cores_gpus(rng):
    inner = [{"type": "core", "count": small(rng)}]
    if rng.random() < 0.45:
        inner.append({"type": "gpu", "count": rng.choice((1, 1, 2))})
    return inner


def random_jobspec(rng):
    form = rng.choice(("slot", "slot", "node", "node", "xnode", "container", "container",
                       "nodecontainer", "nocores", "slotabove", "t8"))
    if form == "slot":
        res = [slot_with(rng, cores_gpus(rng))]
        if rng.random() < 0.15:
            res[0]["exclusive"] = True
    elif form == "node":
        res = [{"type": "node", "count": count(rng),
                "with": [slot_with(rng, cores_gpus(rng), small(rng))]}]
    elif form == "xnode":
        res = [{"type": "node", "count": count(rng), "exclusive": True,
                "with": [slot_with(rng, cores_gpus(rng), small(rng))]}]
    elif form == "container":
        res = [slot_with(rng, [{"type": rng.choice(LEVEL_NAMES + ("bogus",)),
                                "count": 1, "exclusive": True}])]
    elif form == "nodecontainer":
        res = [{"type": "node", "count": small(rng),
                "with": [slot_with(rng, [{"type": rng.choice(LEVEL_NAMES), "count": 1,
                                          "exclusive": True}], small(rng))]}]
    elif form == "nocores":
        inner = [] if rng.random() < 0.6 else [{"type": "gpu", "count": 1}]
        slot = {"type": "slot", "count": small(rng), "label": "task"}
        if inner:
            slot["with"] = inner
        res = [{"type": "node", "count": count(rng), "exclusive": True, "with": [slot]}]
    elif form == "slotabove":
        node = {"type": "node", "count": small(rng), "exclusive": True}
        if rng.random() < 0.5:
            node["with"] = [{"type": "core", "count": small(rng)}]
        res = [{"type": "slot", "count": small(rng) * rng.choice((1, 2)), "label": "task",
                "with": [node]}]
    else:  # node{x}/slot/numa{x}
        res = [{"type": "node", "count": 1, "exclusive": True,
                "with": [slot_with(rng, [{"type": rng.choice(("numa", "socket")), "count": 1,
                                          "exclusive": True}], 1)]}]
    system = {"duration": rng.choice((0, 0, 100))}
    if rng.random() < 0.15:
        system["constraints"] = rng.choice(({"properties": ["fast"]},
                                            {"properties": ["^fast"]},
                                            {"ranks": ["1-2"]},
                                            {"hostlist": ["n[0,3]"]},
                                            {"not": [{"ranks": ["0"]}]}))
    return {"version": 1, "resources": res, "attributes": {"system": system}, "tasks": []}


class Stop(Exception):
    """flux-core raised where it should not: the sequence ends here."""


def ranks_of(R):
    out = decode_idset("")
    for entry in R["execution"]["R_lite"]:
        out = out.union(decode_idset(entry["rank"]))
    return out


def canonical(R):
    """R with flux-core's untrimmed children cut to R's ranks (T3)."""
    R = dict(R)
    if isinstance(R.get("scheduling"), dict):
        R["scheduling"] = trim_children(R["scheduling"], ranks_of(R))
    return json.dumps(R, sort_keys=True)


class Side:
    def __init__(self, make_tree, make_plain, R):
        self.make_tree = make_tree
        self.make_plain = make_plain
        self.pool = make_tree(R)
        self.allocated = {}   # jobid -> R dict of what the job still holds


def run_op(side, op, rng_state):
    """Apply one op; returns what a caller sees."""
    kind, arg = op
    pool = side.pool
    if kind == "alloc":
        jobid, jobspec = arg
        result = pool.alloc(jobid, pool.parse_resource_request(jobspec))
        side.allocated[jobid] = result.to_dict()
        return ("ok", result.dumps(), canonical(side.allocated[jobid]),
                result.impl.scheduling == side.allocated[jobid].get("scheduling"))
    if kind == "feasible":
        pool.check_feasibility(pool.parse_resource_request(arg))
        return ("ok",)
    if kind == "free":
        pool.free(arg)
        side.allocated.pop(arg, None)
    elif kind == "partial":
        jobid, final = arg
        if jobid not in side.allocated:
            return ("skip",)
        R = side.allocated[jobid]
        entry = R["execution"]["R_lite"][0]
        rank = str(decode_idset(entry["rank"]).first)
        piece = {"version": 1, "execution": {
            "R_lite": [{"rank": rank, "children": entry["children"]}],
            "starttime": 0.0, "expiration": 0.0}}
        pool.free(jobid, side.make_plain(piece), final=final)
        rest = side.make_plain(R)
        rest.remove_ranks(rank)
        if final:
            side.allocated.pop(jobid, None)
        elif rest.to_dict()["execution"]["R_lite"]:
            side.allocated[jobid] = rest.to_dict()
        else:
            side.allocated.pop(jobid, None)
    elif kind == "remove":
        pool.remove_ranks(str(arg))
    elif kind == "down":
        pool.mark_down(str(arg))
    elif kind == "up":
        pool.mark_up(str(arg))
    elif kind == "copy":
        side.pool = pool.copy()
    elif kind == "hello":
        # The scheduler's reload: a pool from the pool's R, each running job's
        # R read back through the pool class and registered.
        try:
            new = side.make_tree(pool.to_dict())
            for jobid, R in side.allocated.items():
                new.register_alloc(jobid, side.make_tree(R))
        except ValueError as exc:
            raise Stop(f"hello: {exc}") from None
        side.pool = new
    return ("ok",)


def outcome(side, op, flux_side):
    try:
        return run_op(side, op, None)
    except Stop:
        raise
    except (fluxpool.InsufficientResources, flux_resource.InsufficientResources) as exc:
        return ("insufficient", str(exc))
    except (fluxpool.InfeasibleRequest, flux_resource.InfeasibleRequest) as exc:
        return ("infeasible", str(exc))
    except ValueError as exc:
        return ("ValueError", str(exc))
    except Exception as exc:
        if flux_side:
            raise Stop(f"{type(exc).__name__}: {exc}") from None
        raise


def state(pool):
    return (
        canonical(pool.to_dict()),
        json.dumps(pool.copy_allocated().to_dict(), sort_keys=True),
        json.dumps(pool.copy_down().to_dict(), sort_keys=True),
        [jobid for jobid, _ in pool.job_end_times()],
        pool.generation,
    )


def random_ops(rng, nranks):
    ops = []
    jobid = 0
    for _ in range(rng.randint(1, 24)):
        r = rng.random()
        if r < 0.45:
            jobid += 1
            ops.append(("alloc", (jobid, random_jobspec(rng))))
        elif r < 0.52:
            ops.append(("feasible", random_jobspec(rng)))
        elif r < 0.64:
            ops.append(("free", rng.randint(1, max(1, jobid))))
        elif r < 0.71:
            ops.append(("partial", (rng.randint(1, max(1, jobid)), rng.random() < 0.3)))
        elif r < 0.78:
            ops.append(("down", rng.randrange(nranks)))
        elif r < 0.84:
            ops.append(("up", rng.choice((rng.randrange(nranks), "all"))))
        elif r < 0.88:
            ops.append(("remove", rng.randrange(nranks)))
        elif r < 0.94:
            ops.append(("copy", None))
        else:
            ops.append(("hello", None))
    return ops


def run_sequence(seed):
    """Run one random sequence; returns (steps compared, stopped early)."""
    rng = random.Random(seed)
    R = random_R(rng)
    ops = random_ops(rng, len(R["execution"]["R_lite"]))
    try:
        theirs = Side(flux_tree.TreePool, flux_resource.ResourcePool, R)
    except ValueError:
        return 0, True
    ours = Side(fluxpool.TreePool, fluxpool.ResourcePool, R)
    assert state(ours.pool) == state(theirs.pool), f"seed {seed}: initial state"
    steps = 0
    for op in ops:
        try:
            expected = outcome(theirs, op, True)
        except Stop:
            return steps, True
        got = outcome(ours, op, False)
        assert got == expected, f"seed {seed}: step {steps} {op!r}"
        assert state(ours.pool) == state(theirs.pool), f"seed {seed}: step {steps} {op!r} state"
        steps += 1
    return steps, False


def test_treepool_matches_flux_core_treepool():
    compared = stopped = 0
    for seed in range(FIRST_SEED, FIRST_SEED + SEQUENCES):
        steps, stop = run_sequence(seed)
        compared += steps
        stopped += stop
    assert compared > SEQUENCES  # most sequences get well past their first step
    print(f"{SEQUENCES} sequences, {compared} steps compared, {stopped} stopped by flux-core")
