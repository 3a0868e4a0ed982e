#!/usr/bin/env python3
"""Memory check: a long mix of pool operations must not make memory grow.

    python bench/memcheck.py                 # 1,200,000 operations, all three policies
    python bench/memcheck.py --ops 200000    # quicker

Runs alloc, free (whole and partial), copy (and work on the copy), mark_down/
mark_up, register_alloc, views and R round trips, plus failing calls (bad
jobspecs and constraints, requests that do not fit), on a 256-rank pool with
GPUs, a nodelist and properties, keeping at most 64 jobs alive. Every
--every operations it prints the memory Python objects hold (tracemalloc) and
the process's resident memory (RSS, from /proc/self/statm, which also shows
what the compiled core allocates with malloc). After a warm-up (the first
--warmup fraction of the operations), growth beyond --python-tolerance-mb or
--rss-tolerance-mb is a leak: the exit status is then 1.
"""

import argparse
import gc
import os
import random
import sys
import time
import tracemalloc

from fluxpool import InfeasibleRequest, InsufficientResources, ResourcePool

PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1024 * 1024


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def make_R(nranks=256):
    half = nranks // 2
    return {
        "version": 1,
        "execution": {
            "R_lite": [
                {"rank": f"0-{half - 1}", "children": {"core": "0-31", "gpu": "0-3"}},
                {"rank": f"{half}-{nranks - 1}", "children": {"core": "0-15"}},
            ],
            "starttime": 0,
            "expiration": 0,
            "nodelist": [f"node[0-{nranks - 1}]"],
            "properties": {"gpu": f"0-{half - 1}", "debug": "7,200", "+local": "0"},
        },
    }


def jobspec(resources, duration=0, constraint=None):
    system = {"duration": duration}
    if constraint is not None:
        system["constraints"] = constraint
    return {"version": 1, "resources": [resources], "tasks": [],
            "attributes": {"system": system}}


def slots(n, cores=1, gpus=0, exclusive=False):
    children = [{"type": "core", "count": cores}]
    if gpus:
        children.append({"type": "gpu", "count": gpus})
    vertex = {"type": "slot", "count": n, "label": "task", "with": children}
    if exclusive:
        vertex["exclusive"] = True
    return vertex


def nodes(n, child, exclusive=False):
    vertex = {"type": "node", "count": n, "with": [child]}
    if exclusive:
        vertex["exclusive"] = True
    return vertex


GOOD = [
    jobspec(slots(1)),
    jobspec(slots(4, cores=2), duration=60),
    jobspec(slots("2-8", cores=4)),
    jobspec(nodes(2, slots(1, cores=4, gpus=1))),
    jobspec(nodes(1, slots(1), exclusive=True)),
    jobspec(slots(1), constraint={"properties": ["gpu"]}),
    jobspec(slots(2), constraint={"not": [{"ranks": ["0-100"]}]}),
    jobspec(slots(1), constraint='{"hostlist": ["node[7,200-210]"]}'),
    jobspec(slots(1), constraint={"or": [{"properties": ["debug"]}, {"ranks": [3]}]}),
    jobspec(nodes(300, slots(1))),                       # infeasible: 256 ranks
    jobspec(slots(1, cores=64)),                          # infeasible: no 64-core rank
]
BAD = [
    jobspec(slots(0)),
    jobspec(slots("many")),
    jobspec(slots(1), constraint={"frobnicate": []}),
    jobspec(slots(1), constraint='{"ranks": '),
    {"version": 1, "resources": []},
    {"version": 1, "resources": [5]},
]


class Workload:
    def __init__(self, policy, seed):
        self.pool = ResourcePool(make_R(), policy=policy)
        self.rng = random.Random(seed)
        self.requests = [self.pool.parse_resource_request(js) for js in GOOD]
        self.live = {}          # jobid -> R dict of the allocation
        self.next_jobid = 1
        self.counts = {}

    def count(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def free_one(self, partial=False):
        jobid = next(iter(self.live))
        R = self.live[jobid]
        entries = R["execution"]["R_lite"]
        if partial and len(entries) > 1:
            part = {"version": 1, "execution": {"R_lite": entries[:1]}}
            self.pool.free(jobid, part)
            R["execution"]["R_lite"] = entries[1:]
            self.count("free-partial")
            return
        self.pool.free(jobid, R, final=True)
        del self.live[jobid]
        self.count("free")

    def step(self):
        roll = self.rng.random()
        pool = self.pool
        if roll < 0.40:
            if len(self.live) >= 64:
                self.free_one()
                return
            jobid = self.next_jobid
            self.next_jobid += 1
            try:
                result = pool.alloc(jobid, self.rng.choice(self.requests))
            except (InsufficientResources, InfeasibleRequest):
                self.count("alloc-failed")
                if self.live:
                    self.free_one()
                return
            self.live[jobid] = result.to_dict()
            self.count("alloc")
        elif roll < 0.60:
            if self.live:
                self.free_one(partial=self.rng.random() < 0.3)
        elif roll < 0.66:
            copy = pool.copy()
            try:
                copy.alloc(0, self.rng.choice(self.requests))
            except (InsufficientResources, InfeasibleRequest):
                pass
            for jobid, _ in copy.job_end_times()[:4]:
                copy.free(jobid)
            self.count("copy")
        elif roll < 0.76:
            rank = self.rng.randrange(256)
            pool.mark_down(str(rank))
            pool.mark_up(str(rank) if self.rng.random() < 0.9 else "all")
            self.count("mark")
        elif roll < 0.84:
            try:
                pool.parse_resource_request(self.rng.choice(BAD))
            except (ValueError, TypeError, KeyError):
                self.count("bad-jobspec")
        elif roll < 0.88:
            view = self.rng.choice((pool.copy_allocated, pool.copy_down, pool.to_resource_set))()
            view.to_dict()
            view.dumps()
            self.count("view")
        elif roll < 0.91:
            jobid = self.next_jobid
            self.next_jobid += 1
            R = {"version": 1, "execution": {"R_lite": [
                {"rank": str(self.rng.randrange(256)), "children": {"core": "31"}}]}}
            try:
                pool.register_alloc(jobid, R)
                self.live[jobid] = R
            except ValueError:  # core 31 of a 16-core rank: "not in the pool" is fine too
                pass
            self.count("register")
        elif roll < 0.93:
            ResourcePool(pool.to_dict()).dumps()
            self.count("R-round-trip")
        else:
            req = self.rng.choice(self.requests)
            try:
                pool.check_feasibility(req)
            except InfeasibleRequest:
                pass
            self.count("feasibility")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1_200_000,
                        help="steps to run (about 1,000,000 of them alloc, free, copy, mark)")
    parser.add_argument("--every", type=int, default=50_000, help="sample interval (operations)")
    parser.add_argument("--warmup", type=float, default=0.2,
                        help="fraction of the operations before the baseline sample")
    parser.add_argument("--python-tolerance-mb", type=float, default=1.0)
    parser.add_argument("--rss-tolerance-mb", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()

    workloads = [Workload(policy, args.seed + i)
                 for i, policy in enumerate(("first-fit", "worst-fit", "best-fit"))]
    tracemalloc.start()
    start = time.perf_counter()
    samples = []
    print(f"{'operations':>12} {'python MiB':>11} {'RSS MiB':>9} {'seconds':>8}")
    for done in range(1, args.ops + 1):
        workloads[done % 3].step()
        if done % args.every == 0 or done == args.ops:
            gc.collect()
            python = tracemalloc.get_traced_memory()[0]
            rss = rss_bytes()
            samples.append((done, python, rss))
            print(f"{done:>12,} {python / MiB:>11.2f} {rss / MiB:>9.2f} "
                  f"{time.perf_counter() - start:>8.1f}", flush=True)
    tracemalloc.stop()

    counts = {}
    for w in workloads:
        for name, n in w.counts.items():
            counts[name] = counts.get(name, 0) + n
    print("operations by kind:", ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))

    baseline = next(s for s in samples if s[0] >= args.warmup * args.ops)
    last = samples[-1]
    grew_python = (last[1] - baseline[1]) / MiB
    grew_rss = (last[2] - baseline[2]) / MiB
    print(f"growth after warm-up ({baseline[0]:,} -> {last[0]:,} operations): "
          f"python {grew_python:+.2f} MiB (tolerance {args.python_tolerance_mb}), "
          f"RSS {grew_rss:+.2f} MiB (tolerance {args.rss_tolerance_mb})")
    if grew_python > args.python_tolerance_mb or grew_rss > args.rss_tolerance_mb:
        print("FAIL: memory keeps growing")
        return 1
    print("OK: memory is flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
