#!/usr/bin/env python3
"""End-to-end check and benchmark of fluxpool inside a live Flux instance.

Run by hand where flux-core is installed (``flux`` on PATH, or ``--flux``); CI
has no Flux and never runs this. For each pool class given with ``--pools``
(default: fluxpool's worst-fit adapter and flux-core's own default pool) it
starts a fresh instance with fake resources::

    flux start --conf=fake-resources.nnodes=N --conf=fake-resources.cores-per-node=C \\
               --conf=fake-resources.gpus-per-node=G --conf=fake-resources.host-prefix=node

loads sched-simple with that pool (``flux module reload sched-simple
pool-class=...``; ``default`` loads it without one), and inside the instance:

1. throughput, small jobs: stops the queue, submits ``--jobs`` one-core jobs in
   test-exec mode (``system.exec.test.run_duration``), starts the queue, times
   until it drains, reports jobs/s and where the time went (per-job timestamps
   from job-list, the pool's own cost per job measured in-process, and the CPU
   per job of each broker module thread and of the scheduler process, from
   /proc: what is the pool's and what is Flux's);
2. throughput, exclusive jobs: the same with ``--xjobs`` exclusive ``--xnodes``-node jobs;
3. checks: every job completed, nothing allocated afterwards according to
   both the job-manager (``resource.sched-status``) and the scheduler's pool
   (``sched.resource-status``);
4. hello (``--hello``, fluxpool pools only unless ``--hello-all``): starts
   long-running jobs of several shapes, reloads the scheduler, checks that the
   allocations survive (both views equal before and after, and to each other),
   that a new job gets disjoint resources, then cancels everything.

With ``--partial`` (default on) it also starts a small real instance
(``flux start --test-size=4``) with a housekeeping script that holds back one
rank, so the scheduler is reloaded while a job is *partially* freed (the hello
response carries ``free`` ranks), and checks that the pool, the job-manager
and the final free agree.

The report is printed as a table and, with ``--json FILE``, written as JSON.
Exit status 0 only when every check passed.

Example (the issue's target)::

    PATH=/opt/flux/bin:$PATH python3 bench/flux_e2e.py \\
        --nnodes 16384 --cores 128 --gpus 8 --jobs 2000 --xjobs 100 --xnodes 64
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO_SRC = HERE.parents[1] / "src"
FLUXPOOL_DEFAULT = "fluxpool.flux:WorstFitPool"

ONE_CORE_JOBSPEC = {
    "version": 1,
    "resources": [{"type": "slot", "count": 1, "label": "task",
                   "with": [{"type": "core", "count": 1}]}],
    "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 0}},
}


# ---------------------------------------------------------------------------
# outer: start instances, collect and print results
# ---------------------------------------------------------------------------


def outer(args):
    flux = args.flux or shutil.which("flux")
    if not flux:
        sys.exit("flux_e2e: no 'flux' command on PATH (give --flux /path/to/bin/flux)")
    env = dict(os.environ)
    if (REPO_SRC / "fluxpool" / "__init__.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_SRC), env.get("PYTHONPATH")) if p
        )
    pools = [p.strip() for p in args.pools.split(",") if p.strip()]
    results = {"config": vars(args).copy(), "runs": [], "partial": []}
    results["config"]["flux"] = flux
    results["config"]["flux_version"] = subprocess.run(
        [flux, "version"], capture_output=True, text=True).stdout.strip()
    ok = True
    with tempfile.TemporaryDirectory(prefix="flux-e2e-") as tmp:
        for i, pool in enumerate(pools):
            out = Path(tmp) / f"run{i}.json"
            hello = args.hello and (args.hello_all or pool.startswith("fluxpool"))
            cmd = [
                flux, "start",
                f"--conf=fake-resources.nnodes={args.nnodes}",
                f"--conf=fake-resources.cores-per-node={args.cores}",
                f"--conf=fake-resources.gpus-per-node={args.gpus}",
                "--conf=fake-resources.host-prefix=node",
                flux, "python", str(HERE), "--inner", "fake",
                "--pool", pool, "--out", str(out),
                "--jobs", str(args.jobs), "--xjobs", str(args.xjobs),
                "--xnodes", str(args.xnodes), "--run-duration", args.run_duration,
                "--micro-jobs", str(args.micro_jobs),
            ]
            if args.queue_depth:
                cmd += ["--queue-depth", args.queue_depth]
            if hello:
                cmd += ["--do-hello"]
            print(f"== {pool}: {args.nnodes} nodes x {args.cores} cores x {args.gpus} GPUs",
                  file=sys.stderr, flush=True)
            t = time.time()
            proc = subprocess.run(cmd, env=env, timeout=args.timeout)
            run = _load(out, pool, proc.returncode)
            run["instance_wall_s"] = round(time.time() - t, 2)
            results["runs"].append(run)
            ok &= run.get("ok", False)
        if args.partial:
            partial_pools = [p for p in pools if p.startswith("fluxpool") or args.hello_all]
            for i, pool in enumerate(partial_pools):
                out = Path(tmp) / f"partial{i}.json"
                cmd = [flux, "start", "--test-size=4",
                       flux, "python", str(HERE), "--inner", "partial",
                       "--pool", pool, "--out", str(out), "--flux", flux]
                print(f"== {pool}: partial-free hello in a 4-broker instance",
                      file=sys.stderr, flush=True)
                proc = subprocess.run(cmd, env=env, timeout=args.timeout)
                run = _load(out, pool, proc.returncode)
                results["partial"].append(run)
                ok &= run.get("ok", False)
    results["ok"] = ok
    _report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


def _load(path, pool, rc):
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return {"pool": pool, "ok": False, "error": f"no result (flux start rc={rc}): {exc}"}
    if rc != 0:
        data["ok"] = False
        data.setdefault("errors", []).append(f"flux start exited {rc}")
    return data


def _report(results):
    rows = []
    base = {}
    for run in results["runs"]:
        for phase in ("small", "exclusive"):
            r = run.get(phase)
            if r:
                base.setdefault(phase, {})[run["pool"]] = r["jobs_per_s"]
    print()
    version = results["config"]["flux_version"]
    print(f"flux {version.splitlines()[0] if version else '?'}")
    print(f"{'pool':34} {'phase':10} {'jobs':>6} {'wall s':>8} {'jobs/s':>9} "
          f"{'pool us/job':>12} {'ok':>4}")
    for run in results["runs"]:
        for phase in ("small", "exclusive"):
            r = run.get(phase)
            if not r:
                continue
            rows.append((run["pool"], phase, r["count"], r["wall_s"], r["jobs_per_s"],
                         run.get("micro", {}).get(f"{phase}_us_per_job"), r["ok"]))
    for pool, phase, n, wall, rate, us, ok in rows:
        us_s = f"{us:.1f}" if isinstance(us, (int, float)) else "-"
        print(f"{pool:34} {phase:10} {n:>6} {wall:>8.2f} {rate:>9.1f} {us_s:>12} "
              f"{'yes' if ok else 'NO':>4}")
    for phase, rates in base.items():
        fp = [v for k, v in rates.items() if k.startswith("fluxpool")]
        df = rates.get("default")
        if fp and df:
            print(f"speedup ({phase}): fluxpool / default = {fp[0] / df:.1f}x")
    for run in results["runs"]:
        if "small" in run and run["small"].get("breakdown"):
            b = run["small"]["breakdown"]
            print(f"{run['pool']}: small-job time split: " + ", ".join(
                f"{k}={v}" for k, v in b.items()))
        cpu = run.get("small", {}).get("cpu_ms_per_job")
        if cpu:
            print(f"{run['pool']}: small-job CPU ms per job: " + ", ".join(
                f"{k}={v}" for k, v in list(cpu.items())[:8]) + f", total={cpu['total']}")
        if run.get("load_cpu_s"):
            print(f"{run['pool']}: scheduler reload ({run.get('load_s')} s) CPU s: " + ", ".join(
                f"{k}={v}" for k, v in list(run["load_cpu_s"].items())[:5]))
        if run.get("hello"):
            h = run["hello"]
            print(f"{run['pool']}: hello reload with {h.get('running')} running jobs: "
                  f"{'ok' if h.get('ok') else 'FAILED'} (reload {h.get('reload_s')} s)")
        for err in run.get("errors", []):
            print(f"{run['pool']}: ERROR {err}")
    for run in results["partial"]:
        print(f"{run['pool']}: partial-free hello: {'ok' if run.get('ok') else 'FAILED'}"
              + "".join(f"\n  ERROR {e}" for e in run.get("errors", [])))
    print("ALL CHECKS PASSED" if results["ok"] else "SOME CHECKS FAILED")


# ---------------------------------------------------------------------------
# inner: runs inside an instance (as its initial program, under flux python)
# ---------------------------------------------------------------------------


def _cpu_by_component(root):
    """CPU seconds used so far by each thread of ``root`` (the broker) and its
    descendant processes, summed by name: broker modules run as threads named
    after the module (kvs, job-manager, resource, ...), the Python scheduler as
    its own process (sched-simple). Linux /proc only; {} elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/comm") as f:
                pname = f.read().strip()
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    st = f.read()
                fields = st[st.rindex(")") + 2:].split()
                tname = st[st.index("(") + 1:st.rindex(")")]
                name = tname if pname.startswith("flux-broker") else pname
                out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
                children = f"/proc/{pid}/task/{tid}/children"
                if os.path.exists(children):
                    with open(children) as f:
                        todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def _cpu_delta(before, after, count):
    """Milliseconds of CPU per job by component (those above 0.01 ms/job)."""
    rows = {k: (after.get(k, 0.0) - before.get(k, 0.0)) * 1000.0 / max(count, 1)
            for k in after}
    rows = {k: round(v, 3) for k, v in sorted(rows.items(), key=lambda kv: -kv[1]) if v > 0.01}
    rows["total"] = round(sum(rows.values()), 3)
    return rows


class Inner:
    def __init__(self, args):
        import flux

        self.args = args
        self.flux_cmd = args.flux or "flux"
        self.h = flux.Flux()
        self.errors = []
        self.reload_cpu_s = {}

    # -- helpers ----------------------------------------------------------

    def run(self, *cmd, check=True, input=None):
        proc = subprocess.run([self.flux_cmd, *cmd], capture_output=True, text=True,
                              input=input)
        if check and proc.returncode != 0:
            raise RuntimeError(f"flux {' '.join(cmd)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def check(self, cond, what):
        if not cond:
            self.errors.append(what)
            print(f"flux_e2e: CHECK FAILED: {what}", file=sys.stderr, flush=True)
        return bool(cond)

    def reload_sched(self, extra=()):
        pool = self.args.pool
        cmd = ["module", "reload", "sched-simple"]
        if pool != "default":
            cmd.append(f"pool-class={pool}")
        if self.args.queue_depth:
            cmd.append(f"queue-depth={self.args.queue_depth}")
        cmd += list(extra)
        # The scheduler that rc1 loaded must be ready before the log is cleared:
        # at a million nodes flux's own pool takes tens of seconds to build, and
        # its late ready line must not be taken for the reloaded scheduler's.
        self.wait_for(self._ready_line, self.args.timeout, "first scheduler ready")
        self.check_sched_errors()
        self.run("dmesg", "--clear", check=False)
        cpu0 = _cpu_by_component(os.getppid())
        t = time.time()
        self.run(*cmd)
        # `module reload` returns at set_running(), before the pool is built and
        # the hello is done: wait for the ready line naming the reloaded pool
        marker = "pool-class=Rv1Pool " if pool == "default" else "pool-class=fluxpool-"
        ready = self.wait_for(lambda: self._ready_line(marker), self.args.timeout,
                              "scheduler ready")
        self.reload_cpu_s = _cpu_delta(cpu0, _cpu_by_component(os.getppid()), 1000)
        return time.time() - t, ready

    def _ready_line(self, marker=""):
        out = self.run("dmesg", check=False)
        lines = [ln for ln in out.splitlines()
                 if "sched-simple" in ln and "ready:" in ln and marker in ln]
        return lines[-1] if lines else None

    def wait_for(self, fn, timeout, what, interval=0.1):
        end = time.time() + timeout
        while time.time() < end:
            value = fn()
            if value:
                return value
            time.sleep(interval)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}")

    def allocated(self, topic):
        from flux.resource import ResourceSet

        resp = self.h.rpc(topic, nodeid=0).get()
        return ResourceSet(resp["allocated"])

    def both_views(self):
        jm = self.allocated("resource.sched-status")
        sched = self.allocated("sched.resource-status")
        return jm, sched

    def status_allocated(self, pool_view=False):
        """Ranks ``flux resource status -s allocated`` reports (job-manager's view,
        or the scheduler pool's with FLUX_RESOURCE_LIST_RPC=sched.resource-status)."""
        env = dict(os.environ)
        if pool_view:
            env["FLUX_RESOURCE_LIST_RPC"] = "sched.resource-status"
        proc = subprocess.run([self.flux_cmd, "resource", "status", "-s", "allocated",
                               "-no", "{ranks}"], capture_output=True, text=True, env=env)
        return ",".join(ln.strip() for ln in proc.stdout.splitlines() if ln.strip())

    def check_status_agrees(self, pool_rs, when):
        from flux.idset import IDset

        want = str(pool_rs.ranks)
        for pool_view in (False, True):
            got = self.status_allocated(pool_view)
            got = str(IDset(got)) if got else ""
            self.check(got == want, f"{when}: flux resource status -s allocated "
                       f"({'pool' if pool_view else 'job-manager'} view) shows "
                       f"ranks '{got}', pool has '{want}'")

    def job_stats(self):
        return self.h.rpc("job-list.job-stats").get()

    def submit(self, count, opts, duration):
        cc = [f"--cc=1-{count}"] if count > 1 else []
        out = self.run("submit", *cc,
                       f"--setattr=system.exec.test.run_duration={duration}",
                       *opts, "true")
        return [ln.strip() for ln in out.splitlines() if ln.strip()]

    def running_count(self):
        return len(self.run("jobs", "--filter=running", "-no", "{id}").split())

    def check_sched_errors(self):
        """Scheduler errors logged since the last dmesg --clear (the ring buffer
        is cleared before each reload; a long phase may push old lines out)."""
        bad = ("callback raised", "callback failed", "initialization failed",
               "Traceback", "exiting due to", "resource-status failed")
        out = self.run("dmesg", check=False)
        errs = [ln for ln in out.splitlines()
                if "sched-simple" in ln and any(b in ln for b in bad)]
        self.check(not errs, f"scheduler errors in dmesg: {errs[:3]}")

    # -- phases -----------------------------------------------------------

    def throughput(self, count, opts):
        from flux.job import JobID, job_list_id

        self.run("queue", "stop", "--quiet", check=False)
        t_sub = time.time()
        ids = self.submit(count, opts, self.args.run_duration)
        t_sub = time.time() - t_sub
        cpu0 = _cpu_by_component(os.getppid())
        t0 = time.time()
        self.run("queue", "start", "--quiet", check=False)
        self.run("queue", "drain")
        wall = time.time() - t0
        cpu = _cpu_delta(cpu0, _cpu_by_component(os.getppid()), count)
        attrs = ["t_run", "t_cleanup", "t_inactive", "result", "success"]
        futures = [job_list_id(self.h, JobID(i), attrs=attrs) for i in ids]
        infos = [f.get_job() for f in futures]
        ok = sum(1 for j in infos if j.get("success"))
        t_run = sorted(j["t_run"] for j in infos if j.get("t_run"))
        t_inact = [j["t_inactive"] for j in infos if j.get("t_inactive")]
        run_to_clean = [j["t_cleanup"] - j["t_run"] for j in infos
                        if j.get("t_cleanup") and j.get("t_run")]
        clean_to_inactive = [j["t_inactive"] - j["t_cleanup"] for j in infos
                             if j.get("t_cleanup") and j.get("t_inactive")]
        result = {
            "count": count,
            "t_start_epoch": round(t0, 3),  # to line up with outside monitors
            "submitted_in_s": round(t_sub, 2),
            "wall_s": round(wall, 3),
            "jobs_per_s": round(count / wall, 2) if wall > 0 else None,
            "completed": ok,
            "ok": self.check(ok == count, f"{ok}/{count} jobs of {opts} completed"),
            "cpu_ms_per_job": cpu,
        }
        if t_run:
            alloc_span = t_run[-1] - t0
            result["breakdown"] = {
                "first_start_s": round(t_run[0] - t0, 3),
                "last_start_s": round(alloc_span, 3),
                "start_rate_per_s": round(len(t_run) / alloc_span, 1) if alloc_span > 0 else None,
                "median_run_to_cleanup_s": round(statistics.median(run_to_clean), 4),
                "median_cleanup_to_inactive_s": round(statistics.median(clean_to_inactive), 4),
                "last_inactive_after_last_start_s": round(max(t_inact) - t_run[-1], 3),
            }
        return result

    def micro(self, R):
        """The pool's own cost per job, measured in this process on the same R:
        parse, alloc, stamp, dumps, to_dict, then a final free with a flux-core
        ResourcePool of the allocation, as sched-simple does."""
        from flux.resource.ResourcePool import ResourcePool as FluxPool, _pool_class_from_uri

        cls = FluxPool if self.args.pool == "default" else _pool_class_from_uri(self.args.pool)
        out = {}
        t = time.perf_counter()
        pool = cls(R)
        pool.mark_down("all")
        pool.mark_up("all")
        out["construct_s"] = round(time.perf_counter() - t, 4)
        shapes = {
            "small": (ONE_CORE_JOBSPEC, self.args.micro_jobs),
            "exclusive": (_exclusive_jobspec(self.args.xnodes),
                          max(1, min(self.args.xjobs, self.args.micro_jobs // 10))),
        }
        budget = 30.0  # seconds per shape: flux's own pool is slow at scale
        for name, (js, n) in shapes.items():
            rr = pool.parse_resource_request(js)
            t = time.perf_counter()
            allocs = []
            for j in range(n):
                a = pool.alloc(10**9 + j, rr)
                a.set_starttime(1.0)
                a.set_expiration(2.0)
                a.dumps()
                allocs.append(a.to_dict())
                if time.perf_counter() - t > budget:
                    break
            t_alloc = time.perf_counter() - t
            # the scheduler's sched.free handler wraps R in flux-core's pool first
            t = time.perf_counter()
            wrapped = [FluxPool(d) for d in allocs]
            t_wrap = time.perf_counter() - t
            t = time.perf_counter()
            for j, w in enumerate(wrapped):
                pool.free(10**9 + j, w, True)
            t_free = time.perf_counter() - t
            done = len(allocs)
            out[f"{name}_us_per_job"] = round((t_alloc + t_free) / done * 1e6, 1)
            out[f"{name}_alloc_us"] = round(t_alloc / done * 1e6, 1)
            out[f"{name}_free_us"] = round(t_free / done * 1e6, 1)
            out[f"{name}_flux_wrap_R_us"] = round(t_wrap / done * 1e6, 1)
            out[f"{name}_measured_jobs"] = done
        t = time.perf_counter()
        pool.to_dict()
        pool.copy_allocated().to_dict()
        pool.copy_down().to_dict()
        out["status_rpc_s"] = round(time.perf_counter() - t, 4)
        return out

    def hello(self):
        """Reload the scheduler while jobs of several shapes run; allocations survive."""
        from flux.job import JobID
        from flux.resource import ResourceSet

        res = {}
        long = "3600s"
        ids = []
        ids += self.submit(40, ["-n1"], long)
        ids += self.submit(8, ["-n2", "-c1", "-g1"], long)
        ids += self.submit(2, [f"-N{self.args.xnodes}", "--exclusive"], long)
        ids += self.submit(4, ["-N2", "-n8"], long)
        res["running"] = len(ids)
        self.wait_for(lambda: self.running_count() >= len(ids), 300, "long jobs to run")
        jm0, sch0 = self.both_views()
        res["before"] = {"job_manager": jm0.dumps()[:200], "pool": sch0.dumps()[:200],
                         "ncores": sch0.ncores, "ngpus": sch0.ngpus}
        ok = self.check(jm0.dumps() == sch0.dumps(), "before reload: pool != job-manager")
        reload_s, ready = self.reload_sched()
        res["reload_s"] = round(reload_s, 2)
        res["ready"] = ready
        jm1, sch1 = self.both_views()
        ok &= self.check(sch1.dumps() == sch0.dumps(),
                         f"after reload: pool changed: {sch1.dumps()[:200]} "
                         f"!= {sch0.dumps()[:200]}")
        ok &= self.check(jm1.dumps() == sch1.dumps(), "after reload: pool != job-manager")
        n_err = len(self.errors)
        self.check_status_agrees(sch1, "hello")
        ok &= len(self.errors) == n_err
        # a new job must land on free resources
        new = self.submit(1, ["-n1"], long)
        self.wait_for(lambda: self.running_count() >= len(ids) + 1, 120, "new job to run")
        Rnew = ResourceSet(json.loads(self.run("job", "info", new[0], "R")))
        overlap = Rnew & sch0
        ok &= self.check(overlap.ncores == 0,
                         f"new job {new[0]} overlaps running jobs: {overlap}")
        res["new_job_R"] = Rnew.dumps()
        self.run("cancel", "--all", "--quiet", check=False)
        self.run("queue", "drain")
        jm2, sch2 = self.both_views()
        ok &= self.check(jm2.ncores == 0 and sch2.ncores == 0 and sch2.ngpus == 0,
                         f"after cancel: still allocated: {jm2.dumps()} / {sch2.dumps()}")
        res["ok"] = ok
        res["job_ids"] = [JobID(i).f58 for i in ids[:3]]
        return res

    # -- entry points -----------------------------------------------------

    def fake(self):
        args = self.args
        report = {"pool": args.pool}
        try:
            from flux.kvs import get as kvs_get

            R = kvs_get(self.h, "resource.R")
            reload_s, ready = self.reload_sched()
            report["load_s"] = round(reload_s, 2)
            report["load_cpu_s"] = self.reload_cpu_s  # (ms per 1000 = seconds) by component
            report["ready"] = ready
            report["small"] = self.throughput(args.jobs, ["-n1"])
            report["exclusive"] = self.throughput(
                args.xjobs, [f"-N{args.xnodes}", "--exclusive"])
            report["sched_stats"] = self.h.rpc("sched-simple.stats-get").get()
            jm, sch = self.both_views()
            report["allocated_after"] = {"job_manager": jm.dumps(), "pool": sch.dumps()}
            self.check(jm.ncores == 0 and sch.ncores == 0,
                       f"allocated after drain: {jm.dumps()} / {sch.dumps()}")
            report["resource_list"] = self.run("resource", "list")
            self.check_status_agrees(sch, "after drain")
            report["job_stats"] = self.job_stats()
            if args.do_hello:
                report["hello"] = self.hello()
            report["micro"] = self.micro(R)
            self.check_sched_errors()
        except Exception as exc:  # noqa: BLE001 - reported, and the run fails
            import traceback

            traceback.print_exc()
            self.errors.append(f"{type(exc).__name__}: {exc}")
        report["errors"] = self.errors
        report["ok"] = not self.errors
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
        return 0

    def partial(self):
        """Reload the scheduler while one job is partially freed (housekeeping
        holds back rank 3), then let the last rank go."""
        args = self.args
        report = {"pool": args.pool}
        tmp = Path(tempfile.mkdtemp(prefix="flux-e2e-hk-"))
        flag = tmp / "release"
        script = tmp / "housekeeping.sh"
        script.write_text(
            "#!/bin/sh\n"
            f"rank=$({self.flux_cmd} getattr rank)\n"
            'if [ "$rank" = 3 ]; then\n'
            f"  i=0; while [ ! -e {flag} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n"
            "fi\n"
            "exit 0\n"
        )
        script.chmod(0o755)
        try:
            self.run("config", "load", input=(
                "[job-manager.housekeeping]\n"
                f'command = ["{script}"]\n'
                'release-after = "0"\n'
            ))
            self.reload_sched()
            running = self.submit(1, ["-n1"], "3600s")
            self.wait_for(lambda: self.running_count() >= 1, 60, "long job to run")
            self.run("run", "-N4", "-n4", "true")
            self.wait_for(
                lambda: self.run("housekeeping", "list", "-no", "{nnodes}").split() == ["1"],
                60, "housekeeping to hold back exactly one rank")
            jm0, sch0 = self.both_views()
            report["before"] = {"job_manager": jm0.dumps(), "pool": sch0.dumps()}
            self.check(jm0.dumps() == sch0.dumps(), "before reload: pool != job-manager")
            self.check("rank3" in sch0.dumps() or "3" in str(sch0.ranks),
                       f"straggler rank 3 not allocated before reload: {sch0.dumps()}")
            self.reload_sched()
            jm1, sch1 = self.both_views()
            report["after_reload"] = {"job_manager": jm1.dumps(), "pool": sch1.dumps()}
            self.check(sch1.dumps() == sch0.dumps(),
                       f"after reload: pool {sch1.dumps()} != before {sch0.dumps()}")
            self.check(jm1.dumps() == sch1.dumps(), "after reload: pool != job-manager")
            report["status_after_reload"] = self.run("resource", "status")
            self.check_status_agrees(sch1, "partial hello")
            flag.touch()
            self.wait_for(
                lambda: not self.run("housekeeping", "list", "-no", "{id}").split(),
                60, "housekeeping to finish")
            jm2, sch2 = self.both_views()
            report["after_release"] = {"job_manager": jm2.dumps(), "pool": sch2.dumps()}
            self.check(jm2.dumps() == sch2.dumps(), "after final free: pool != job-manager")
            self.check(sch2.ncores == 1, f"after final free: expected only the running job: "
                                         f"{sch2.dumps()}")
            self.run("cancel", running[0])
            self.run("queue", "drain")
            self.wait_for(
                lambda: not self.run("housekeeping", "list", "-no", "{id}").split(),
                60, "housekeeping of the cancelled job")
            jm3, sch3 = self.both_views()
            self.check(jm3.ncores == 0 and sch3.ncores == 0,
                       f"after cancel: {jm3.dumps()} / {sch3.dumps()}")
            report["hello_log"] = [ln for ln in self.run("dmesg").splitlines()
                                   if "sched-simple" in ln and "hello" in ln][-4:]
            self.check_sched_errors()
        except Exception as exc:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            flag.touch()
        report["errors"] = self.errors
        report["ok"] = not self.errors
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
        return 0


def _exclusive_jobspec(nnodes):
    return {
        "version": 1,
        "resources": [{"type": "node", "count": nnodes, "exclusive": True, "with": [
            {"type": "slot", "count": 1, "label": "task",
             "with": [{"type": "core", "count": 1}]}]}],
        "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0}},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flux", help="the flux command (default: flux on PATH)")
    ap.add_argument("--nnodes", type=int, default=16384)
    ap.add_argument("--cores", type=int, default=128)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=2000, help="one-core jobs")
    ap.add_argument("--xjobs", type=int, default=100, help="exclusive jobs")
    ap.add_argument("--xnodes", type=int, default=64, help="nodes per exclusive job")
    ap.add_argument("--run-duration", default="0.01s")
    ap.add_argument("--pools", default=f"{FLUXPOOL_DEFAULT},default",
                    help="comma-separated pool-class URIs; 'default' = flux-core's pool")
    ap.add_argument("--queue-depth", help="sched-simple queue-depth (default: its own)")
    ap.add_argument("--micro-jobs", type=int, default=200,
                    help="allocations for the in-process pool cost measurement")
    ap.add_argument("--no-hello", dest="hello", action="store_false")
    ap.add_argument("--hello-all", action="store_true",
                    help="run the hello checks for every pool, not only fluxpool's")
    ap.add_argument("--no-partial", dest="partial", action="store_false")
    ap.add_argument("--timeout", type=float, default=3600, help="per instance, seconds")
    ap.add_argument("--json", help="write the report here")
    # internal
    ap.add_argument("--inner", choices=("fake", "partial"), help=argparse.SUPPRESS)
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--do-hello", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inner:
        inner = Inner(args)
        return getattr(inner, args.inner)()
    return outer(args)


if __name__ == "__main__":
    sys.exit(main())
