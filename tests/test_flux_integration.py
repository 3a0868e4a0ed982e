"""fluxpool's Flux adapter driven through flux-core's own scheduler code (SPEC §11).

Where flux-core's Python bindings are importable, these tests build flux-core's
real scheduler classes (sched-fifo, sched-simple, sched-backfill, loaded from
flux's module directory) on a broker-less ``loop://`` handle with
``pool-class=fluxpool.flux:<Class>``, and feed them what the broker would:
the resource.acquire updates, hello registrations (with a partially freed
job), alloc requests, sched.free payloads, feasibility and resource-status
requests. Responses go to recording stand-ins instead of the job-manager.

Under worst-fit every observable result (R, annotations, deny messages,
resource-status dicts, generation) is compared with the same scheduler running
flux-core's default pool. Elsewhere they are skipped: CI has no Flux. The
ImportError test at the end runs everywhere.
"""

import copy
import errno
import heapq
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

FLUX_REASON = "flux-core's Python bindings (the flux package) are not installed"

ADAPTERS = ("FirstFitPool", "WorstFitPool", "BestFitPool")

R4 = {
    "version": 1,
    "execution": {
        "R_lite": [{"rank": "0-3", "children": {"core": "0-7", "gpu": "0-1"}}],
        "starttime": 0.0,
        "expiration": 0.0,
        "nodelist": ["node[0-3]"],
        "properties": {"fat": "0-1"},
    },
}

R_HET = {
    "version": 1,
    "execution": {
        "R_lite": [
            {"rank": "0-1", "children": {"core": "0-15", "gpu": "0-3"}},
            {"rank": "2-5", "children": {"core": "0-7"}},
        ],
        "starttime": 0.0,
        "expiration": 0.0,
        "nodelist": ["big[0-1]", "small[0-3]"],
    },
}


# ---------------------------------------------------------------------------
# flux-core, loaded only where it exists
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fx():
    """flux-core's pieces these tests use (skips the test where flux is absent)."""
    flux = pytest.importorskip("flux", reason=FLUX_REASON)
    pytest.importorskip("flux.scheduler", reason="this flux-core has no Python schedulers")
    from flux.brokermod import BrokerLogger
    from flux.conf_builtin import conf_builtin_get
    from flux.idset import IDset
    from flux.job import JobspecV1
    from flux.resource import InfeasibleRequest, InsufficientResources, ResourceSet
    from flux.resource.ResourcePool import ResourcePool, _pool_class_from_uri

    import fluxpool.flux as adapter

    moddirs = os.environ.get("FLUX_MODULE_PATH") or conf_builtin_get("module_path")
    modules = {}
    for name in ("sched-fifo", "sched-simple", "sched-backfill"):
        for d in moddirs.split(":"):
            path = Path(d) / f"{name}.py"
            if path.exists():
                spec = importlib.util.spec_from_file_location(name.replace("-", "_"), path)
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
                modules[name] = mod
                break
        else:
            pytest.skip(f"flux-core's {name}.py not found under {moddirs}")

    class RecordingLogger(BrokerLogger):
        """The scheduler's logger, keeping messages instead of sending them."""

        def __init__(self, h):
            super().__init__(h)
            self.lines = []

        def __call__(self, level, msg):
            if level <= self._level:
                self.lines.append((level, msg))

    return {
        "flux": flux,
        "adapter": adapter,
        "modules": modules,
        "IDset": IDset,
        "JobspecV1": JobspecV1,
        "ResourcePool": ResourcePool,
        "ResourceSet": ResourceSet,
        "InsufficientResources": InsufficientResources,
        "InfeasibleRequest": InfeasibleRequest,
        "pool_class_from_uri": _pool_class_from_uri,
        "RecordingLogger": RecordingLogger,
    }


class FakeRequest:
    """Stands in for flux's AllocRequest: records the scheduler's answer."""

    def __init__(self, jobid):
        self.jobid = jobid
        self.outcome = None
        self.R = None
        self.annotations = None
        self.note = None
        self.annotate_calls = []

    def success(self, R, annotations=None, clear=True):
        assert self.outcome is None, f"job {self.jobid} answered twice"
        self.outcome = "success"
        self.R = R if isinstance(R, dict) else R.to_dict()
        self.annotations = annotations

    def deny(self, note=None):
        assert self.outcome is None, f"job {self.jobid} answered twice"
        self.outcome = "deny"
        self.note = note

    def cancel(self):
        self.outcome = "cancel"

    def annotate(self, annotations):
        self.annotate_calls.append(annotations)


class Msg:
    """A request message as the scheduler's handlers read it (payload only)."""

    def __init__(self, payload):
        self.payload = payload
        self.handle = None


class RecordingHandle:
    """The scheduler's handle: responses are recorded, all else goes to the real one."""

    def __init__(self, h):
        self._real = h
        self.handle = h.handle
        self.responses = []

    def respond(self, msg, payload=None):
        self.responses.append(("ok", msg, payload))

    def respond_error(self, msg, errnum, errstr=None):
        self.responses.append(("error", msg, (errnum, errstr)))

    def __getattr__(self, name):
        return getattr(self._real, name)


class Harness:
    """One flux-core scheduler object fed by hand, as the broker would feed it."""

    def __init__(self, fx, module, cls, pool=None, R=R4, up="all", args=()):
        flux = fx["flux"]
        self.fx = fx
        real = flux.Flux("loop://")
        sched_args = ([f"pool-class={pool}"] if pool else []) + list(args)
        self.sched = getattr(fx["modules"][module], cls)(real, *sched_args)
        self.sched.log = fx["RecordingLogger"](real)
        self.sched.log.level = "debug"
        self.sched._h = RecordingHandle(real)
        self.requests = {}
        if R is not None:
            self.acquire(R, up)

    # what Scheduler._acquire_resources does once resource.acquire answers
    def acquire(self, R, up="all"):
        s = self.sched
        s._resources = s._make_pool(R)
        known = getattr(s._resources.impl, "known_options", frozenset())
        for key in [k for k in s.pool_kwargs if k not in known]:
            del s.pool_kwargs[key]
        s._resources.mark_down("all")
        s._apply_resource_update({"up": up})

    @property
    def pool(self):
        return self.sched.resources

    def errors(self):
        return [m for lvl, m in self.sched.log.lines if lvl <= 3]

    def submit(self, jobid, jobspec, priority=16):
        req = FakeRequest(jobid)
        self.requests[jobid] = req
        self.sched.alloc(req, jobid, priority, 0, float(jobid), jobspec)
        return req

    def schedule(self):
        result = self.sched.schedule()
        if result is not None:
            for n, _ in enumerate(result):
                assert n < 100000, "schedule() did not finish"

    def forecast(self):
        result = self.sched.forecast()
        if result is not None:
            for _ in result:
                pass

    def free(self, jobid, R=None, final=True):
        if R is None:
            R = self.requests[jobid].R
        self.sched._handle_free(Msg({"id": jobid, "R": R, "final": final}))
        assert not self.sched._stopped_with_error, self.errors()

    def hello(self, jobid, R, free=None):
        """The body of Scheduler._sched_hello for one job (its RPCs left out)."""
        s = self.sched
        if free:
            rset = s._make_pool(R)
            rset.remove_ranks(self.fx["IDset"](free))
            R = rset.to_dict()
        s.hello(jobid, 16, 0, 0.0, s._make_pool(R))

    def status(self):
        h = self.sched.handle
        self.sched._handle_resource_status(Msg({}))
        kind, _, payload = h.responses.pop()
        assert kind == "ok", payload
        return payload

    def feasibility(self, jobspec):
        h = self.sched.handle
        self.sched._handle_feasibility(Msg({"jobspec": jobspec}))
        return h.responses.pop()

    def outcomes(self):
        """Every answered job: outcome, R (times zeroed), annotations, deny note."""
        out = {}
        for jobid, req in self.requests.items():
            R = None
            if req.R is not None:
                R = copy.deepcopy(req.R)
                R["execution"]["starttime"] = R["execution"]["expiration"] = 0.0
            out[jobid] = (req.outcome, R, req.annotations, req.note)
        return out


def jobspec(fx, ntasks=1, cores=1, gpus=None, nodes=None, exclusive=False,
            duration=None, constraint=None):
    js = fx["JobspecV1"].from_command(
        ["true"], num_tasks=ntasks, cores_per_task=cores, gpus_per_task=gpus,
        num_nodes=nodes, exclusive=exclusive, duration=duration,
    )
    if constraint is not None:
        js.setattr("system.constraints", constraint)
    spec = js.jobspec
    spec["attributes"]["system"].pop("environment", None)  # from_command copies os.environ
    return spec


def allocated_ids(R):
    """{(rank, 'core'|'gpu', id)} of an R dict."""
    from fluxpool import IDset

    out = set()
    for entry in R["execution"]["R_lite"]:
        for rank in IDset(entry["rank"]):
            for kind, ids in entry["children"].items():
                if ids:
                    out |= {(rank, kind, i) for i in IDset(ids)}
    return out


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------


def test_pool_class_uris_resolve_to_adapter_classes(fx):
    adapter = fx["adapter"]
    resolve = fx["pool_class_from_uri"]
    assert resolve("fluxpool.flux") is adapter.FirstFitPool
    for name in ADAPTERS:
        assert resolve(f"fluxpool.flux:{name}") is getattr(adapter, name)
        assert issubclass(getattr(adapter, name), fx["ResourcePool"])


@pytest.mark.parametrize("name", ADAPTERS)
def test_scheduler_loads_adapter_from_module_argument(fx, name):
    h = Harness(fx, "sched-simple", "SimpleScheduler", pool=f"fluxpool.flux:{name}")
    assert h.sched.pool_class is getattr(fx["adapter"], name)
    pool = h.pool
    assert type(pool) is getattr(fx["adapter"], name)
    assert isinstance(pool, fx["ResourcePool"])
    policy = {"FirstFitPool": "first-fit", "WorstFitPool": "worst-fit",
              "BestFitPool": "best-fit"}[name]
    assert pool.impl.policy == policy
    assert "policy" in pool.impl.known_options
    # what the scheduler's ready line shows
    line = f"pool-class={pool.impl.name} Rv{pool.version} {pool.dumps()}"
    assert line == (f"pool-class=fluxpool-{fx['adapter'].__version__}:Rv1Pool({policy}) "
                    "Rv1 rank[0-3]/core[0-7],gpu[0-1]")
    assert h.errors() == []


def test_policy_in_pool_kwargs_wins(fx):
    h = Harness(fx, "sched-fifo", "FIFOScheduler", pool="fluxpool.flux:WorstFitPool", R=None)
    h.sched.pool_kwargs = {"policy": "best-fit", "frobnicate": 1}
    h.acquire(R4)
    assert h.pool.impl.policy == "best-fit"
    assert h.sched.pool_kwargs == {"policy": "best-fit"}  # unknown option pruned


def test_unknown_pool_class_is_refused(fx):
    with pytest.raises(ValueError, match="could not load pool class"):
        Harness(fx, "sched-simple", "SimpleScheduler", pool="fluxpool.flux:NoSuchPool")


# ---------------------------------------------------------------------------
# start-up and resource updates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ADAPTERS)
def test_resource_updates_with_flux_idsets(fx, name):
    h = Harness(fx, "sched-fifo", "FIFOScheduler", pool=f"fluxpool.flux:{name}", up="")
    assert fx["ResourceSet"](h.status()["down"]).dumps() == "rank[0-3]/core[0-7],gpu[0-1]"
    h.sched._apply_resource_update({"up": "0-3"})
    h.sched._apply_resource_update({"down": "2", "expiration": 5000.0})
    assert h.pool.expiration == 5000.0
    assert fx["ResourceSet"](h.status()["down"]).dumps() == "rank2/core[0-7],gpu[0-1]"
    gen = h.pool.generation
    h.sched._apply_resource_update({"shrink": "3"})  # remove_ranks(IDset("3"))
    assert h.pool.generation > gen
    assert h.pool.dumps() == "rank[0-2]/core[0-7],gpu[0-1]"
    h.pool.mark_up(fx["IDset"]("2"))
    h.pool.mark_down(fx["IDset"]("0-1"))
    assert fx["ResourceSet"](h.status()["down"]).dumps() == "rank[0-1]/core[0-7],gpu[0-1]"
    assert h.errors() == []


# ---------------------------------------------------------------------------
# scheduling: FIFO / simple, compared with flux's own pool under worst-fit
# ---------------------------------------------------------------------------


def workload(fx):
    """(jobid, jobspec) pairs of mixed shapes; some must wait, one is infeasible."""
    return [
        (101, jobspec(fx)),
        (102, jobspec(fx, ntasks=3, cores=2)),
        (103, jobspec(fx, ntasks=2, cores=1, gpus=1)),
        (104, jobspec(fx, nodes=1, ntasks=1, exclusive=True, duration=60)),
        (105, jobspec(fx, ntasks=1, cores=9)),                       # infeasible
        (106, jobspec(fx, nodes=2, ntasks=4, cores=2, duration=30)),
        (107, jobspec(fx, constraint={"properties": ["fat"]})),
        (108, jobspec(fx, nodes=4, ntasks=4, exclusive=True)),        # waits
        (109, jobspec(fx, ntasks=2)),                                 # behind 108 (FIFO)
    ]


def run_fifo(fx, pool):
    h = Harness(fx, "sched-simple", "SimpleScheduler", pool=pool)
    for jobid, js in workload(fx):
        h.submit(jobid, js)
    h.schedule()
    return h


def test_fifo_worst_fit_matches_flux_default_pool(fx):
    ours = run_fifo(fx, "fluxpool.flux:WorstFitPool")
    theirs = run_fifo(fx, None)
    assert type(theirs.pool.impl).__module__.startswith("flux.")
    assert ours.outcomes() == theirs.outcomes()
    assert ours.status() == theirs.status()
    assert ours.pool.generation == theirs.pool.generation
    assert ([j for j, _ in ours.pool.job_end_times()]
            == [j for j, _ in theirs.pool.job_end_times()])
    # free everything that ran, in the same order, through the sched.free handler
    for h in (ours, theirs):
        for jobid, req in list(h.requests.items()):
            if req.outcome == "success":
                h.free(jobid)
        h.schedule()
    assert ours.outcomes() == theirs.outcomes()
    assert ours.status() == theirs.status()
    assert ours.pool.generation == theirs.pool.generation
    assert ours.errors() == theirs.errors() == []

    def pool_lines(h):  # the pool's own alloc/free debug messages
        return [(lvl, m) for lvl, m in h.sched.log.lines
                if m.startswith(("alloc: ƒ", "free: ƒ"))]

    assert len(pool_lines(ours)) > 10
    assert pool_lines(ours) == pool_lines(theirs)


@pytest.mark.parametrize("name", ADAPTERS)
def test_fifo_results_are_consistent(fx, name):
    h = run_fifo(fx, f"fluxpool.flux:{name}")
    out = h.outcomes()
    assert out[105][0] == "deny" and "unsatisfiable" in out[105][3]
    assert out[108][0] is None and out[109][0] is None  # 108 blocks, 109 waits behind it
    running = {j: r for j, r in h.requests.items() if r.outcome == "success"}
    assert sorted(running) == [101, 102, 103, 104, 106, 107]
    seen = set()
    for jobid, req in running.items():
        ids = allocated_ids(req.R)
        assert not ids & seen, f"job {jobid} overlaps another"
        seen |= ids
        summary = req.annotations["sched"]["resource_summary"]
        assert summary == fx["ResourceSet"](req.R).dumps()
        ex = req.R["execution"]
        assert ex["starttime"] > 0
        duration = {104: 60, 106: 30}.get(jobid)
        if duration:
            assert ex["expiration"] == pytest.approx(ex["starttime"] + duration)
        else:
            assert ex["expiration"] == 0.0
    assert all(rank in (0, 1) for rank, _, _ in allocated_ids(running[107].R))
    status = h.status()
    assert allocated_ids(status["allocated"]) == seen
    # give everything back: the exclusive job takes all four nodes, then 109 runs
    for jobid in running:
        h.free(jobid)
    h.schedule()
    assert h.requests[108].outcome == "success" and h.requests[109].outcome is None
    assert allocated_ids(h.requests[108].R) == allocated_ids(h.status()["all"])
    h.free(108)
    h.schedule()
    assert h.requests[109].outcome == "success"
    h.free(109)
    assert allocated_ids(h.status()["allocated"]) == set()
    assert h.pool.job_end_times() == []
    assert h.errors() == []


def test_free_in_parts_with_flux_built_pools(fx):
    h = Harness(fx, "sched-fifo", "FIFOScheduler", pool="fluxpool.flux:WorstFitPool")
    h.submit(1, jobspec(fx, nodes=3, ntasks=3, cores=2))
    h.schedule()
    R = h.requests[1].R
    assert fx["ResourceSet"](R).dumps() == "rank[0-2]/core[0-1]"
    part = fx["ResourcePool"](R)
    part.remove_ranks(fx["IDset"]("0,2"))
    h.free(1, part.to_dict(), final=False)  # housekeeping released rank 1
    assert fx["ResourceSet"](h.status()["allocated"]).dumps() == "rank[0,2]/core[0-1]"
    rest = fx["ResourcePool"](R)
    rest.remove_ranks(fx["IDset"]("1"))
    h.pool.free(1, rest, True)  # a flux-core ResourcePool as R, final
    assert h.status()["allocated"]["execution"]["R_lite"] == []
    assert h.pool.job_end_times() == []


def test_feasibility_rpc(fx):
    for pool in ("fluxpool.flux:WorstFitPool", None):
        h = Harness(fx, "sched-simple", "SimpleScheduler", pool=pool)
        assert h.feasibility(jobspec(fx, ntasks=4, cores=8))[0] == "ok"
        kind, _, (num, text) = h.feasibility(jobspec(fx, ntasks=1, cores=9))
        assert kind == "error" and num == errno.EOVERFLOW and "unsatisfiable" in text
        kind, _, (num, text) = h.feasibility({"version": 1, "resources": "bogus"})
        assert kind == "error" and num == errno.EINVAL


def test_bad_jobspec_is_denied_not_fatal(fx):
    h = Harness(fx, "sched-simple", "SimpleScheduler", pool="fluxpool.flux:WorstFitPool")
    req = h.submit(7, {"version": 1, "resources": [{"type": "slot", "count": 0}]})
    assert req.outcome == "deny" and req.note.startswith("cannot parse jobspec")
    req = h.submit(8, jobspec(fx, constraint={"frobnicate": ["x"]}))
    h.schedule()
    assert req.outcome == "deny"
    assert not h.sched._stopped_with_error


def test_alloc_result_surface(fx):
    h = Harness(fx, "sched-fifo", "FIFOScheduler", pool="fluxpool.flux:FirstFitPool")
    pool = h.pool
    rr = pool.parse_resource_request(jobspec(fx, ntasks=2, cores=2, duration=10))
    result = pool.alloc(5, rr)
    assert type(result) is fx["adapter"].FirstFitPool
    result.set_starttime(100.0)
    result.set_expiration(160.0)
    assert result.dumps() == "rank0/core[0-3]"
    ex = result.to_dict()["execution"]
    assert (ex["starttime"], ex["expiration"]) == (100.0, 160.0)
    with pytest.raises(fx["InsufficientResources"]):
        pool.alloc(6, pool.parse_resource_request(jobspec(fx, nodes=4, ntasks=4,
                                                          exclusive=True)))
    with pytest.raises(fx["InfeasibleRequest"]):
        pool.check_feasibility(pool.parse_resource_request(jobspec(fx, nodes=5, ntasks=5)))


# ---------------------------------------------------------------------------
# hello (scheduler reload) with a partially freed job
# ---------------------------------------------------------------------------


def hello_scenario(fx, pool):
    """Reload: three running jobs, one of which housekeeping has partly released."""
    first = Harness(fx, "sched-simple", "SimpleScheduler", pool=pool)
    # FIFO is by jobid: the exclusive job (3) goes first, then 1 (partly freed), then 2
    first.submit(1, jobspec(fx, nodes=3, ntasks=3, cores=2))
    first.submit(2, jobspec(fx, ntasks=1, cores=3, gpus=1, duration=100))
    first.submit(3, jobspec(fx, nodes=1, ntasks=1, exclusive=True), priority=20)
    first.schedule()
    assert all(first.requests[j].outcome == "success" for j in (1, 2, 3)), first.outcomes()
    Rs = {j: first.requests[j].R for j in (1, 2, 3)}
    released = ",".join(str(r) for r in sorted({r for r, _, _ in allocated_ids(Rs[1])})[:2])

    again = Harness(fx, "sched-simple", "SimpleScheduler", pool=pool)
    again.hello(1, Rs[1], free=released)  # housekeeping already released two ranks
    again.hello(2, Rs[2])
    again.hello(3, Rs[3])
    return first, again, Rs, released


def test_hello_keeps_allocations_worst_fit_parity(fx):
    mine = hello_scenario(fx, "fluxpool.flux:WorstFitPool")
    ref = hello_scenario(fx, None)
    for a, b in ((mine[0], ref[0]), (mine[1], ref[1])):
        assert a.outcomes() == b.outcomes()
        assert a.status() == b.status()
        assert a.pool.generation == b.pool.generation
    def pool_hello_lines(h):
        return [(lvl, m) for lvl, m in h.sched.log.lines if m.startswith("hello: ƒ")]

    assert len(pool_hello_lines(mine[1])) == 3  # one LOG_INFO line per registered job
    assert pool_hello_lines(mine[1]) == pool_hello_lines(ref[1])
    assert mine[1].errors() == []


@pytest.mark.parametrize("name", ADAPTERS)
def test_hello_then_frees(fx, name):
    first, again, Rs, freed = hello_scenario(fx, f"fluxpool.flux:{name}")
    freed_ranks = {int(r) for r in freed.split(",")}
    want = allocated_ids(first.status()["allocated"])
    released = {x for x in allocated_ids(Rs[1]) if x[0] in freed_ranks}
    assert allocated_ids(again.status()["allocated"]) == want - released
    # a new job lands on free resources only
    again.submit(9, jobspec(fx, ntasks=4))
    again.schedule()
    assert not allocated_ids(again.requests[9].R) & (want - released)
    # the rest of job 1 comes back in a final free; then everything else
    rest = fx["ResourcePool"](Rs[1])
    rest.remove_ranks(fx["IDset"](freed))
    again.free(1, rest.to_dict(), final=True)
    again.free(2, Rs[2])
    again.free(3, Rs[3])
    again.free(9)
    assert allocated_ids(again.status()["allocated"]) == set()
    assert again.pool.job_end_times() == []
    assert again.errors() == []


def test_hello_failure_is_per_job(fx):
    h = Harness(fx, "sched-simple", "SimpleScheduler", pool="fluxpool.flux:WorstFitPool")
    bogus = copy.deepcopy(R4)
    bogus["execution"]["R_lite"] = [{"rank": "7", "children": {"core": "0"}}]
    with pytest.raises(ValueError):
        h.hello(1, bogus)  # the scheduler turns this into an exception on that job


# ---------------------------------------------------------------------------
# backfill and forecast: copies, job_end_times, generation
# ---------------------------------------------------------------------------


def run_backfill(fx, pool):
    h = Harness(fx, "sched-backfill", "BackfillScheduler", pool=pool, R=R_HET)
    h.submit(1, jobspec(fx, nodes=4, ntasks=4, cores=8, duration=100,   # all small nodes
                        constraint={"hostlist": ["small[0-3]"]}))
    h.submit(2, jobspec(fx, ntasks=1, cores=16, duration=50))            # a big node
    h.schedule()
    h.submit(3, jobspec(fx, nodes=6, ntasks=6, duration=10))             # head: blocked
    h.submit(4, jobspec(fx, ntasks=1, cores=4, duration=20), priority=1)  # backfills
    h.submit(5, jobspec(fx, ntasks=1, cores=4, duration=500), priority=1)  # too long
    h.schedule()
    return h


def test_backfill_worst_fit_matches_flux_default_pool(fx):
    ours = run_backfill(fx, "fluxpool.flux:WorstFitPool")
    theirs = run_backfill(fx, None)
    assert ours.outcomes() == theirs.outcomes()
    assert ours.status() == theirs.status()
    assert ours.pool.generation == theirs.pool.generation
    assert ours.requests[4].outcome == "success"
    assert ours.requests[4].annotations["sched"]["backfill"]
    assert ours.requests[3].outcome is None and ours.requests[5].outcome is None
    for h in (ours, theirs):
        shadow = h.sched._shadow_cache_value
        assert shadow is not None
        head_annotations = [a["sched"]["t_estimate"] for a in h.requests[3].annotate_calls]
        assert head_annotations[-1] == shadow
    # the shadow time is the end of job 2 (a big node frees up) in both
    end2 = dict(ours.pool.job_end_times())[2]
    assert ours.sched._shadow_cache_value == pytest.approx(end2)


@pytest.mark.parametrize("name", ADAPTERS)
def test_backfill_shadow_cache_and_expiration(fx, name):
    h = run_backfill(fx, f"fluxpool.flux:{name}")
    pool = h.pool
    key = h.sched._shadow_cache_key
    assert key == (pool.generation - 1, 3)  # computed before job 4 was backfilled
    before = (pool.to_dict(), pool.copy_allocated().to_dict(), pool.job_end_times())
    sim = pool.copy()
    assert type(sim) is type(pool)
    sim.free(1)
    sim.free(2)
    assert (pool.to_dict(), pool.copy_allocated().to_dict(), pool.job_end_times()) == before
    # the expiration RPC updates the pool's end time and bumps generation
    gen = pool.generation
    h.sched.expiration(Msg({}), 2, 12345.0)
    assert dict(pool.job_end_times())[2] == 12345.0
    assert pool.generation == gen + 1
    assert h.sched.handle.responses[-1][0] == "ok"
    # set_starttime / set_expiration / expiration= do not
    pool.expiration = 99.0
    assert pool.generation == gen + 1
    # free job 2: the head job runs at the next pass
    h.free(2)
    h.free(4)
    h.free(1)
    h.schedule()
    assert h.requests[3].outcome == "success"
    assert h.errors() == []


@pytest.mark.parametrize("name", ADAPTERS)
def test_fifo_forecast_leaves_pool_alone(fx, name):
    h = Harness(fx, "sched-fifo", "FIFOScheduler", pool=f"fluxpool.flux:{name}")
    h.submit(1, jobspec(fx, nodes=4, ntasks=4, cores=8, duration=100))
    h.schedule()
    h.submit(2, jobspec(fx, ntasks=2, duration=10))
    h.submit(3, jobspec(fx, ntasks=1, cores=9))  # infeasible: forecast skips it
    h.submit(4, jobspec(fx, ntasks=4, duration=10))
    snapshot = (h.pool.to_dict(), h.pool.copy_allocated().to_dict(),
                h.pool.job_end_times(), h.pool.generation)
    h.forecast()
    assert (h.pool.to_dict(), h.pool.copy_allocated().to_dict(),
            h.pool.job_end_times(), h.pool.generation) == snapshot
    end1 = dict(h.pool.job_end_times())[1]
    t2 = h.requests[2].annotate_calls[-1]["sched"]["t_estimate"]
    t4 = h.requests[4].annotate_calls[-1]["sched"]["t_estimate"]
    assert t2 == pytest.approx(end1) and t4 >= t2
    assert all(a["sched"]["t_estimate"] is None for a in h.requests[3].annotate_calls)
    assert heapq.nsmallest(1, h.sched._queue)[0].jobid == 2


# ---------------------------------------------------------------------------
# no Flux: a clear ImportError (runs everywhere)
# ---------------------------------------------------------------------------


def test_adapter_import_error_without_flux():
    code = (
        "import sys\n"
        "for name in ('flux', 'flux.resource', 'flux.idset', 'flux.resource.ResourcePool',\n"
        "             'flux.resource.ResourcePoolImplementation', 'flux.resource.ResourceSet'):\n"
        "    sys.modules[name] = None\n"
        "try:\n"
        "    import fluxpool.flux\n"
        "except ImportError as exc:\n"
        "    print('IMPORTERROR', exc)\n"
        "else:\n"
        "    print('IMPORTED')\n"
        "import fluxpool\n"
        "print('FLUXPOOL', fluxpool.ResourcePool.__name__)\n"
    )
    env = dict(os.environ)
    src = Path(__file__).resolve().parents[1] / "src"
    import fluxpool

    pkg_parent = str(Path(fluxpool.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=str(src.parent), timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("IMPORTERROR fluxpool.flux needs flux-core's Python bindings")
    assert lines[1] == "FLUXPOOL ResourcePool"
