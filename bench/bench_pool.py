"""Benchmark fluxpool's hot operations at several pool sizes, for every policy.

    python bench/bench_pool.py                  # 1,024 / 16,384 / 131,072 ranks
    python bench/bench_pool.py --sizes 16384 --json bench/results.json
    python bench/bench_pool.py --sizes 1048576 --policies worst-fit   # 1M ranks (not default)
    python bench/bench_pool.py --flux           # also flux-core's pool on the cold rows
    PYTHONPATH=/tmp/flux-install/lib/flux/python3.11:src /usr/bin/python3 \
        bench/bench_pool.py --tree-only --flux  # TreePool rows, flux-core's TreePool beside

Each row is timed many times; the table shows the median and the minimum (the
spread shows the machine's noise) in microseconds, and the ratio of the median
at the largest size to the median at the smallest. Pools have 128 cores and
8 GPUs per rank and a nodelist ``node[0-N]``. The cold rows are a new pool's
construction with its first ``to_dict()``, and the status views (``to_dict()``
of the pool, ``copy_allocated()`` and ``copy_down()``) of a pool running 1,000
jobs with 16 ranks down. Then resident bytes per rank (measured in a fresh
interpreter), flux-core's times on the cold rows (``--flux``, where flux-core's
Python bindings import) and ``parse_resource_request`` on every jobspec shape
of SPEC §14, fluxpool and flux-core interleaved. Last the TreePool table (SPEC §17):
alloc+free of 1 core, 4 cores + 1 GPU, a NUMA domain and a whole node, and copy(), on
ranks of 2 sockets x 2 NUMA domains (the GPUs split across them), with flux-core's
TreePool beside it under ``--flux``. Benchmarks are never run as tests.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

from fluxpool import ResourcePool, TreePool, __version__
from fluxpool.idset import decode

CORES, GPUS = 128, 8
POLICIES = ("first-fit", "worst-fit", "best-fit")


def make_R(nranks: int) -> dict:
    return {
        "version": 1,
        "execution": {
            "R_lite": [{"rank": f"0-{nranks - 1}", "children": {"core": f"0-{CORES - 1}",
                                                              "gpu": f"0-{GPUS - 1}"}}],
            "starttime": 0.0,
            "expiration": 0.0,
            "nodelist": [f"node[0-{nranks - 1}]"],
        },
    }


def jobspec(resources: dict, constraint=None) -> dict:
    system = {"duration": 0}
    if constraint is not None:
        system["constraints"] = constraint
    return {"version": 1, "resources": [resources], "tasks": [], "attributes": {"system": system}}


ONE_CORE = {"type": "slot", "count": 1, "label": "task", "with": [{"type": "core", "count": 1}]}
EXCL_64 = {"type": "node", "count": 64, "exclusive": True,
           "with": [{"type": "slot", "count": 1, "label": "task",
                     "with": [{"type": "core", "count": 1}]}]}


def timed(fn: Callable[[], None], reps: int, budget_s: float = 2.0) -> List[float]:
    """Run ``fn`` up to ``reps`` times (or until the time budget is spent); µs per call."""
    samples = []
    deadline = time.perf_counter() + budget_s
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000.0)
        if time.perf_counter() > deadline and len(samples) >= 5:
            break
    return samples


def summarize(samples: List[float]) -> Dict[str, float]:
    return {"median_us": statistics.median(samples), "min_us": min(samples), "n": len(samples)}


def fragment(pool: ResourcePool, nranks: int, rng: random.Random) -> None:
    """Allocate about 90% of every rank's cores, unevenly, with one register_alloc."""
    by_count: Dict[int, List[int]] = {}
    for rank in range(nranks):
        by_count.setdefault(rng.randint(103, 128), []).append(rank)
    entries = []
    for k, ranks in sorted(by_count.items()):
        entries.append({"rank": ",".join(map(str, ranks)), "children": {"core": f"0-{k - 1}"}})
    pool.register_alloc(10**9, {"version": 1, "execution": {"R_lite": entries}})


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_size(nranks: int, policy: str, reps: int, shared: bool) -> Dict[str, List[float]]:
    """The rows of one pool size and policy; ``shared``: also the policy-independent rows."""
    R = make_R(nranks)
    rng = random.Random(42)
    out: Dict[str, List[float]] = {}
    pool = ResourcePool(R, policy=policy)
    one = pool.parse_resource_request(jobspec(ONE_CORE))
    excl = pool.parse_resource_request(jobspec(EXCL_64))
    constrained = pool.parse_resource_request(
        jobspec(ONE_CORE, {"ranks": [f"{nranks // 2}-{nranks - 1}"]}))

    def alloc_free(req):
        def run():
            pool.alloc(1, req)
            pool.free(1)
        return run

    out["alloc+free 1 core"] = timed(alloc_free(one), reps)
    out["alloc+free 1 core, constraint"] = timed(alloc_free(constrained), reps)

    def alloc_todict_free():
        r = pool.alloc(2, one)
        pool.free(2, r.to_dict(), final=True)

    out["alloc->to_dict->free(R, final)"] = timed(alloc_todict_free, reps)
    out["alloc+free 64 nodes exclusive"] = timed(alloc_free(excl), max(reps // 10, 20))
    def first_to_dict():
        # Time the first to_dict() of a fresh allocation, as a scheduler makes it.
        result = pool.alloc(3, one)
        t0 = time.perf_counter_ns()
        result.to_dict()
        elapsed = (time.perf_counter_ns() - t0) / 1000.0
        pool.free(3)
        return elapsed

    out["to_dict() of 1-core alloc"] = [first_to_dict() for _ in range(reps)]
    out["check_feasibility 1 core"] = timed(lambda: pool.check_feasibility(one), reps)

    busy = ResourcePool(R, policy=policy)
    for j in range(1000):
        busy.alloc(100 + j, one)
    out["copy() with 1,000 jobs"] = timed(busy.copy, max(reps // 10, 20))

    frag = ResourcePool(R, policy=policy)
    fragment(frag, nranks, rng)

    def frag_alloc_free():
        frag.alloc(5, one)
        frag.free(5)

    out["alloc+free 1 core, 90% fragmented"] = timed(frag_alloc_free, reps)
    if shared:
        out["construct from R dict"] = timed(lambda: ResourcePool(R), 20, budget_s=5.0)
        out["full pool to_dict()"] = timed(pool.to_dict, 50, budget_s=5.0)
        out.update(bench_cold(ResourcePool, R, nranks))
    return out


def loaded_pool(pool_class, R: dict, nranks: int, jobs: int = 1000):
    """A pool running ``jobs`` one-core jobs, with 16 scattered ranks down."""
    pool = pool_class(R)
    request = pool.parse_resource_request(jobspec(ONE_CORE))
    for j in range(jobs):
        pool.alloc(100 + j, request)
    pool.mark_down(",".join(str(r) for r in range(7, nranks, max(nranks // 16, 1))))
    return pool


def status_views(pool) -> None:
    """What a scheduler's resource-status request writes (flux-core scheduler.py)."""
    pool.to_dict()
    pool.copy_allocated().to_dict()
    pool.copy_down().to_dict()


def bench_cold(pool_class, R: dict, nranks: int, reps: int = 20,
               budget_s: float = 5.0) -> Dict[str, List[float]]:
    """The cold paths: a new pool written out once, and the status views of a
    loaded pool (the allocated and down views are new objects every time)."""
    busy = loaded_pool(pool_class, R, nranks)
    return {
        "construct + first to_dict()": timed(lambda: pool_class(R).to_dict(), reps, budget_s),
        "status views of a loaded pool": timed(lambda: status_views(busy), reps, budget_s),
    }


def memory_per_rank(nranks: int) -> float:
    """Resident bytes per rank of a pool with its index built, measured in a
    fresh interpreter so freed memory of earlier rows cannot hide it."""
    out = subprocess.run([sys.executable, __file__, "--probe-memory", str(nranks)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def probe_memory(nranks: int) -> None:
    R = make_R(nranks)
    before = rss_bytes()
    pool = ResourcePool(R)
    pool.alloc(1, pool.parse_resource_request(jobspec(ONE_CORE)))  # builds the index
    print((rss_bytes() - before) / nranks)


def bench_formats(nranks: int, reps: int) -> Dict[str, List[float]]:
    """RFC 22 idset text to bits and back, as R parsing does for every entry."""
    dense = f"0-{nranks - 1}"
    sparse = ",".join(str(i) for i in range(0, nranks, 2))
    return {
        "idset decode+encode '0-(N-1)'": timed(lambda: decode(dense).encode(), reps),
        "idset decode+encode N/2 singletons '0,2,4,...'": timed(
            lambda: decode(sparse).encode(), max(reps // 10, 20)),
    }


def _shape(resources: dict, constraint=None) -> dict:
    spec = jobspec(resources, constraint)
    spec["tasks"] = [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}]
    return spec


def _slot(count, *children) -> dict:
    return {"type": "slot", "count": count, "label": "task", "with": list(children)}


def _node(count, child, exclusive=False) -> dict:
    vertex = {"type": "node", "count": count, "with": [child]}
    if exclusive:
        vertex["exclusive"] = True
    return vertex


_CORE = {"type": "core", "count": 1}
# The jobspec shapes of SPEC §14 (cases 37-50, 66-70): node/slot/core/gpu, ranges, constraints.
PARSE_SHAPES = {
    "slot>core": _shape(_slot(1, _CORE)),
    "node>slot>core": _shape(_node(2, _slot(3, {"type": "core", "count": 4}))),
    "slot>core+gpu": _shape(_slot(2, {"type": "core", "count": 4}, {"type": "gpu", "count": 1})),
    "node exclusive": _shape(_node(64, _slot(1, _CORE), exclusive=True)),
    "range '2-5'": _shape(_slot("2-5", _CORE)),
    "range {min, max}": _shape(_node({"min": 2, "max": 8}, _slot(1, _CORE))),
    "range '4+'": _shape(_slot("4+", _CORE)),
    "stepped '2-8:2:*'": _shape(_slot("2-8:2:*", _CORE)),
    "idset count '1,7-9'": _shape(_slot("1,7-9", _CORE)),
    "constraint properties": _shape(_slot(1, _CORE), {"properties": ["fat", "^debug"]}),
    "constraint hostlist": _shape(_slot(1, _CORE), {"hostlist": ["node[0-3]"]}),
    "constraint ranks": _shape(_slot(1, _CORE), {"ranks": ["0-3"]}),
    "constraint and/or/not": _shape(_slot(1, _CORE), {"and": [
        {"properties": ["fat"]},
        {"or": [{"ranks": ["0-3"]}, {"not": [{"hostlist": ["node1"]}]}]}]}),
}


def flux_pool_class():
    """flux-core's ResourcePool, or None where flux's Python bindings are absent."""
    try:
        from flux.resource.ResourcePool import ResourcePool as FluxPool
    except ImportError:
        return None
    return FluxPool


def bench_parse(rounds: int, batch: int = 200) -> Dict[str, Dict[str, List[float]]]:
    """parse_resource_request of every shape, fluxpool and flux-core interleaved
    (one batch of each in turn, so load changes hit both alike); µs per call."""
    parsers = {"fluxpool": ResourcePool(make_R(16)).parse_resource_request}
    FluxPool = flux_pool_class()
    if FluxPool is not None:
        parsers["flux-core"] = FluxPool(make_R(16)).parse_resource_request
    out: Dict[str, Dict[str, List[float]]] = {}
    for shape, spec in PARSE_SHAPES.items():
        samples: Dict[str, List[float]] = {name: [] for name in parsers}
        for parse in parsers.values():
            parse(spec)
        for _ in range(rounds):
            for name, parse in parsers.items():
                t0 = time.perf_counter_ns()
                for _ in range(batch):
                    parse(spec)
                samples[name].append((time.perf_counter_ns() - t0) / 1000.0 / batch)
        out[shape] = samples
    return out


def print_parse(rows: Dict[str, Dict[str, List[float]]]) -> None:
    names = list(next(iter(rows.values())))
    print("parse_resource_request, median µs per call (interleaved batches)")
    print(f"{'jobspec shape':30}" + "".join(f"{n:>12}" for n in names)
          + (f"{'ratio':>8}" if len(names) > 1 else ""))
    for shape, samples in rows.items():
        medians = [statistics.median(samples[n]) for n in names]
        line = f"{shape:30}" + "".join(f"{m:>12.2f}" for m in medians)
        if len(names) > 1:
            line += f"{medians[1] / medians[0]:>8.2f}"
        print(line)


# TreePool: 2 sockets x 2 NUMA domains of 32 cores, the 8 GPUs split 2 per domain.
TREE_TOPO = {"socket": [
    {"numa": [{"cores": f"{32 * d}-{32 * d + 31}", "gpus": f"{2 * d}-{2 * d + 1}"}
              for d in (2 * s, 2 * s + 1)]}
    for s in range(2)
]}
CORES_4_GPU_1 = {"type": "slot", "count": 1, "label": "task",
                 "with": [{"type": "core", "count": 4}, {"type": "gpu", "count": 1}]}
NUMA_EXCL = {"type": "slot", "count": 1, "label": "task",
             "with": [{"type": "numa", "count": 1, "exclusive": True}]}
NODE_EXCL = {"type": "node", "count": 1, "exclusive": True,
             "with": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}]}
TREE_ROWS = {"1 core": ONE_CORE, "4 cores + 1 GPU": CORES_4_GPU_1,
             "numa-exclusive": NUMA_EXCL, "node-exclusive": NODE_EXCL}


def make_tree_R(nranks: int) -> dict:
    R = make_R(nranks)
    R["scheduling"] = {"writer": "TreePool",
                       "children": [{"ranks": f"0-{nranks - 1}", "topo": TREE_TOPO}]}
    return R


def flux_tree_pool():
    """flux-core's TreePool class, or None where flux is not importable."""
    try:
        from flux.resource.TreePool import TreePool as FluxTreePool
    except ImportError:
        return None
    return FluxTreePool


def bench_tree(pool_class, nranks: int, reps: int, budget_s: float) -> Dict[str, List[float]]:
    """alloc+free of each TREE_ROWS request on a pool with one busy rank, and
    copy() of a pool holding 21 jobs."""
    R = make_tree_R(nranks)
    pool = pool_class(R)
    pool.alloc(10**6, pool.parse_resource_request(jobspec(ONE_CORE)))
    out: Dict[str, List[float]] = {}
    for name, res in TREE_ROWS.items():
        req = pool.parse_resource_request(jobspec(res))

        def run(req=req):
            pool.alloc(1, req)
            pool.free(1)

        out[f"alloc+free {name}"] = timed(run, reps, budget_s)
    for j in range(20):
        pool.alloc(100 + j, pool.parse_resource_request(jobspec(CORES_4_GPU_1)))
    out["copy() with 21 jobs"] = timed(pool.copy, reps, budget_s)
    return out


def tree_main(sizes: List[int], reps: int, flux: bool) -> Dict[str, dict]:
    """Print the TreePool table (fluxpool median, flux-core median, ratio)."""
    FluxTreePool = flux_tree_pool() if flux else None
    rows: Dict[str, dict] = {}
    for n in sizes:
        for row, samples in bench_tree(TreePool, n, reps, 2.0).items():
            rows.setdefault(row, {})[n] = {"fluxpool": summarize(samples)}
        if FluxTreePool is not None:
            for row, samples in bench_tree(FluxTreePool, n, 7, 20.0).items():
                rows[row][n]["flux-core"] = summarize(samples)
    print(f"TreePool, {CORES} cores x {GPUS} GPUs per rank in 2 sockets x 2 NUMA: "
          "median µs per call, fluxpool / flux-core (ratio)")
    print(f"{'operation':32}" + "".join(f"{n:>34,}" for n in sizes))
    for row, by_size in rows.items():
        line = f"{row:32}"
        for n in sizes:
            cell = by_size[n]
            ours = cell["fluxpool"]["median_us"]
            text = f"{ours:.1f}"
            if "flux-core" in cell:
                theirs = cell["flux-core"]["median_us"]
                cell["ratio"] = theirs / ours
                text += f" / {theirs:,.0f} ({theirs / ours:,.0f}x)"
            line += f"{text:>34}"
        print(line)
    if len(sizes) > 1:
        print("fluxpool growth, largest / smallest size: " + ", ".join(
            f"{row} {by[sizes[-1]]['fluxpool']['median_us'] / by[sizes[0]]['fluxpool']['median_us']:.2f}"
            for row, by in rows.items()))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,16384,131072",
                        help="comma-separated pool sizes in ranks")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--reps", type=int, default=2000, help="repetitions per row")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--flux", action="store_true",
                        help="also time flux-core's pool on the cold rows (where flux imports)")
    parser.add_argument("--flux-max", type=int, default=16384,
                        help="largest size timed with flux-core's pool (it is slow at scale)")
    parser.add_argument("--parse-rounds", type=int, default=40,
                        help="interleaved batches per jobspec shape (0: no parse table)")
    parser.add_argument("--probe-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tree-only", action="store_true",
                        help="only the TreePool table (flux-core's TreePool beside it with --flux)")
    args = parser.parse_args(argv)
    if args.probe_memory:
        probe_memory(args.probe_memory)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.tree_only:
        tree = tree_main(sizes, args.reps, args.flux)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"fluxpool": __version__, "treepool": tree}, f, indent=1)
        return 0
    policies = args.policies.split(",")

    results: Dict[str, dict] = {"fluxpool": __version__, "python": sys.version.split()[0],
                                "cores_per_rank": CORES, "gpus_per_rank": GPUS, "rows": {}}
    for n in sizes:
        for row, samples in bench_formats(n, args.reps).items():
            results["rows"].setdefault(f"format | {row}", {})[n] = summarize(samples)
    for policy in policies:
        for n in sizes:
            for row, samples in bench_size(n, policy, args.reps, policy == policies[0]).items():
                results["rows"].setdefault(f"{policy} | {row}", {})[n] = summarize(samples)
    results["bytes_per_rank"] = {n: memory_per_rank(n) for n in sizes}
    FluxPool = flux_pool_class() if args.flux else None
    versus: Dict[str, Dict[int, Dict[str, float]]] = {}
    if FluxPool is not None:
        for n in sizes:
            if n > args.flux_max:
                continue
            ours = {row: results["rows"][f"{policies[0]} | {row}"][n]
                    for row in ("construct + first to_dict()", "status views of a loaded pool")}
            for row, samples in bench_cold(FluxPool, make_R(n), n, reps=5).items():
                flux = summarize(samples)
                versus.setdefault(row, {})[n] = {
                    "fluxpool_us": ours[row]["median_us"], "flux_core_us": flux["median_us"],
                    "ratio": flux["median_us"] / ours[row]["median_us"]}
        results["versus_flux_core"] = versus
    parse = bench_parse(args.parse_rounds) if args.parse_rounds > 0 else {}
    if parse:
        results["parse_us"] = {shape: {name: statistics.median(v) for name, v in samples.items()}
                               for shape, samples in parse.items()}

    head = f"{'policy | operation':58}" + "".join(f"{n:>22,}" for n in sizes)
    if len(sizes) > 1:
        head += f"{'ratio':>8}"
    print(f"fluxpool {__version__}, Python {results['python']}: median / min in µs per call")
    print(head)
    for row, by_size in results["rows"].items():
        line = f"{row:58}"
        for n in sizes:
            cell = by_size.get(n)
            line += f"{cell['median_us']:>12.1f} / {cell['min_us']:<7.1f}" if cell else " " * 22
        if len(sizes) > 1 and sizes[0] in by_size and sizes[-1] in by_size:
            ratio = by_size[sizes[-1]]["median_us"] / by_size[sizes[0]]["median_us"]
            by_size["ratio"] = ratio
            line += f"{ratio:>8.2f}"
        print(line)
    print("memory: " + ", ".join(f"{n:,} ranks {b:.0f} B/rank"
                                 for n, b in results["bytes_per_rank"].items()))
    for row, by_size in versus.items():
        for n, cell in by_size.items():
            print(f"vs flux-core | {row} at {n:,} ranks: {cell['fluxpool_us']:,.0f} µs against "
                  f"{cell['flux_core_us']:,.0f} µs ({cell['ratio']:.1f}x)")
    if parse:
        print_parse(parse)
    results["treepool"] = tree_main(sizes, args.reps, args.flux)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
