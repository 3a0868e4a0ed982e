"""Model-based test of TreePool (SPEC §17): ``fluxpool.TreePool`` against the
plain-Python model in tree_model.py under random operation sequences, in both
modes (strict fixes T5–T9). Every step compares the placement (or which
exception), the allocated and down views and the job list; a failed call must
leave the pool as it was (§10). ``FLUXPOOL_TREE_STATE_EXAMPLES`` sets the
number of examples (default 500)."""

import json
import os

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import tree_model as TM
from fluxpool import InfeasibleRequest, InsufficientResources, TreePool
from specdata import snapshot, spec

EXAMPLES = int(os.environ.get("FLUXPOOL_TREE_STATE_EXAMPLES", "500"))
NAMES = ("numa", "socket", "apu")


@st.composite
def node_topologies(draw):
    """A topology tree with consecutive core and GPU ids: (topo, ncores, ngpus)."""
    counter = {"c": 0, "g": 0}

    def leaf():
        n = draw(st.integers(1, 4))
        node = {"cores": f"{counter['c']}-{counter['c'] + n - 1}" if n > 1 else str(counter["c"])}
        counter["c"] += n
        g = draw(st.integers(0, 2))
        if g:
            node["gpus"] = f"{counter['g']}-{counter['g'] + g - 1}" if g > 1 else str(counter["g"])
            counter["g"] += g
        return node

    def level(names):
        if not names:
            return leaf()
        return {names[0]: [level(names[1:]) for _ in range(draw(st.integers(1, 3)))]}

    shape = draw(st.sampled_from([(), ("numa",), ("socket", "numa"), ("socket",), ("apu",)]))
    topo = level(list(shape))
    return topo, counter["c"], counter["g"]


@st.composite
def pools(draw):
    types = draw(st.lists(node_topologies(), min_size=1, max_size=2))
    # node types that digest to the same levels share the first one's tree (the
    # model does not reproduce flux-core's T9 merging of their level names)
    seen = {}
    for k, (topo, c, g) in enumerate(types):
        key = repr(TM.levels_of(topo))
        if key in seen:
            types[k] = types[seen[key]]
        seen.setdefault(key, k)
    nranks = draw(st.integers(1, 6))
    which = [draw(st.integers(0, len(types) - 1)) for _ in range(nranks)]
    return types, which


def request_dict(req):
    return {"nnodes": req.nnodes, "nnodes_max": req.nnodes_max if req.nnodes else 0,
            "nslots": req.nslots, "nslots_max": req.nslots_max, "size": req.slot_size,
            "gpus": req.gpu_per_slot, "exclusive": req.exclusive,
            "container": req.container_level, "container_count": req.container_count}


counts = st.sampled_from([1, 1, 2, 3, "1-2", "2+"])
small = st.sampled_from([1, 1, 2, 3])


@st.composite
def jobspecs(draw):
    form = draw(st.sampled_from(["slot", "node", "xnode", "container", "ncontainer",
                                 "nocores", "t8"]))
    inner = [{"type": "core", "count": draw(small)}]
    if draw(st.booleans()):
        inner.append({"type": "gpu", "count": draw(st.sampled_from([1, 1, 2]))})
    slot = {"type": "slot", "count": draw(counts), "label": "task", "with": inner}
    cont = {"type": draw(st.sampled_from(NAMES)), "count": draw(st.sampled_from([1, 1, 2])),
            "exclusive": True}
    if form == "slot":
        res = slot
    elif form in ("node", "xnode"):
        slot["count"] = draw(small)
        res = {"type": "node", "count": draw(counts), "with": [slot]}
        if form == "xnode":
            res["exclusive"] = True
    elif form == "container":
        res = {"type": "slot", "count": draw(counts), "label": "task", "with": [cont]}
    elif form == "ncontainer":
        res = {"type": "node", "count": draw(small),
               "with": [{"type": "slot", "count": draw(small), "label": "task", "with": [cont]}]}
    elif form == "nocores":
        res = {"type": "node", "count": draw(small), "exclusive": True,
               "with": [{"type": "slot", "count": draw(small), "label": "task"}]}
    else:
        res = {"type": "node", "count": 1, "exclusive": True,
               "with": [{"type": "slot", "count": 1, "label": "task", "with": [cont]}]}
    return spec(res)


def placement(result):
    out = {}
    for entry in result.to_dict()["execution"]["R_lite"]:
        for rank in TM._ids(entry["rank"]):
            out[rank] = (TM._ids(entry["children"].get("core", "")),
                         TM._ids(entry["children"].get("gpu", "")))
    return out


class TreePoolMachine(RuleBasedStateMachine):
    @initialize(desc=pools(), strict=st.booleans())
    def build(self, desc, strict):
        types, which = desc
        R_lite, children, ranks = [], [], {}
        for r, t in enumerate(which):
            topo, c, g = types[t]
            child = {"core": f"0-{c - 1}" if c > 1 else "0"}
            if g:
                child["gpu"] = f"0-{g - 1}" if g > 1 else "0"
            R_lite.append({"rank": str(r), "children": child})
            names = {n for n in NAMES if TM.containers_of(topo, n)}
            ranks[r] = {"cores": frozenset(range(c)), "gpus": frozenset(range(g)),
                        "levels": TM.levels_of(topo),
                        "containers": {n: TM.containers_of(topo, n) for n in names}}
        for t, (topo, _c, _g) in enumerate(types):
            members = [str(r) for r, k in enumerate(which) if k == t]
            if members:
                children.append({"ranks": ",".join(members), "topo": topo})
        R = {"version": 1, "execution": {"R_lite": R_lite, "starttime": 0, "expiration": 0},
             "scheduling": {"writer": "TreePool", "children": children}}
        self.pool = TreePool(json.loads(json.dumps(R)), strict=strict)
        self.model = TM.TreeModel(ranks, strict)
        self.next_job = 1

    @rule(jobspec=jobspecs())
    def alloc(self, jobspec):
        req = self.pool.parse_resource_request(jobspec)
        before = snapshot(self.pool)
        jobid = self.next_job
        self.next_job += 1
        try:
            expected = self.model.alloc(jobid, request_dict(req))
        except (TM.Insufficient, TM.Infeasible) as exc:
            kind = InsufficientResources if isinstance(exc, TM.Insufficient) else InfeasibleRequest
            try:
                self.pool.alloc(jobid, req)
            except kind:
                assert snapshot(self.pool) == before
                event(f"alloc refused: {kind.__name__}")
                return
            raise AssertionError(f"fluxpool placed what the model refused ({kind.__name__})")
        result = self.pool.alloc(jobid, req)
        event("alloc placed" + (f" ({req.container_level})" if req.container_level else ""))
        assert placement(result) == expected[0]
        assert result.to_dict()["execution"].get("nslots", 0) == expected[1]

    @rule(data=st.data())
    def free(self, data):
        if self.model.jobs:
            jobid = data.draw(st.sampled_from(sorted(self.model.jobs)))
            self.pool.free(jobid)
            self.model.free(jobid)

    @rule(rank=st.integers(0, 5), up=st.booleans())
    def up_down(self, rank, up):
        (self.pool.mark_up if up else self.pool.mark_down)(str(rank))
        self.model.set_up(rank, up)

    @rule(rank=st.integers(0, 5))
    def remove(self, rank):
        self.pool.remove_ranks(str(rank))
        self.model.remove(rank)

    @rule()
    def copy(self):
        self.pool = self.pool.copy()
        self.model = self.model.copy()

    @rule()
    def read_back(self):
        """The scheduler's reload: a pool from this pool's R (T3), jobs registered."""
        R = self.pool.to_dict()
        if not R["execution"]["R_lite"]:
            return
        fresh = TreePool(R, strict=self.model.strict)
        assert fresh.to_dict() == R

    @invariant()
    def same_state(self):
        if not hasattr(self, "pool"):
            return
        allocated = {}
        for r, info in self.model.ranks.items():
            used_c, used_g = info["cores"] - info["free_c"], info["gpus"] - info["free_g"]
            if used_c or used_g:
                allocated[r] = (used_c, used_g)
        assert placement(self.pool.copy_allocated()) == allocated
        down = {r for r, i in self.model.ranks.items() if not i["up"]}
        assert set(placement(self.pool.copy_down())) == down
        assert sorted(j for j, _ in self.pool.job_end_times()) == sorted(self.model.jobs)


TreePoolMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_treepool_state_machine = TreePoolMachine.TestCase
