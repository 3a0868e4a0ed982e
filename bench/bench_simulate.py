"""Deep-queue benchmark for ``fluxpool simulate``'s schedulers.

Every job of a synthetic trace is submitted at time 0, so the queue starts
``--jobs`` deep (40,000 by default) and drains as jobs complete. The machine
has ``--nodes`` nodes of one core; job widths are powers of two up to 64 cores
(more small jobs than large, as in real traces), run times 1 minute to 10
hours, requested times 1 to 3 times the run time (seeded, so every run sees
the same trace). For each scheduler and queue depth (``--queue-depths``:
every waiting job, and Fluxion's default of 32 per pass) it prints the
median and minimum simulated jobs per second (jobs / wall time of one
``Simulation``, from building the requests to the last completion) over
``--repeat`` runs, and the pool's share of that time. A run longer than ``--budget`` seconds is
stopped (SIGALRM, so POSIX only) and rated by the jobs it completed in that
time.

    PYTHONPATH=src python bench/bench_simulate.py
    PYTHONPATH=src python bench/bench_simulate.py --jobs 20000 --schedulers easy --queue-depths all --repeat 5

Benchmarks never run as tests.
"""

import argparse
import itertools
import json
import random
import signal
import statistics
import sys
import time
from typing import Dict, List, Optional

from fluxpool.simulate import SCHEDULERS, Simulation, cluster_R, new_pool
from fluxpool.swf import parse_swf

#: The issue's targets, simulated jobs/s on a 40,000-deep queue.
TARGETS = {"easy": 100_000, "conservative": 20_000}


def deep_queue(njobs: int, seed: int = 15) -> List[str]:
    """SWF lines: ``njobs`` jobs, all submitted at time 0."""
    rng = random.Random(seed)
    widths = [1, 1, 1, 1, 2, 2, 2, 4, 4, 8, 8, 16, 32, 64]
    lines = ["; MaxProcs: 256"]
    for number in range(1, njobs + 1):
        run = rng.randint(60, 36_000)
        requested = int(run * rng.uniform(1.0, 3.0))
        width = rng.choice(widths)
        lines.append(f"{number} 0 -1 {run} {width} -1 -1 {width} {requested} -1 1 1 1 -1 -1 -1 -1 -1")
    return lines


class _OutOfTime(Exception):
    pass


def measure(jobs, nodes: int, scheduler: str, repeat: int, budget: float,
            queue_depth: Optional[int] = None) -> Dict[str, float]:
    """Jobs per second over ``repeat`` runs. A run that takes longer than
    ``budget`` seconds is stopped there (SIGALRM) and its rate is the jobs
    completed so far over the time taken (``partial_runs`` counts such runs)."""
    rates, pool_shares, partial = [], [], 0

    def out_of_time(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    try:
        for _ in range(repeat):
            sim = Simulation(new_pool(cluster_R(nodes, 1)), jobs, scheduler=scheduler, queue_depth=queue_depth)
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, budget)
            try:
                result = sim.run()
                signal.setitimer(signal.ITIMER_REAL, 0)
                rates.append(result.jobs_completed / result.wall_s)
                pool_shares.append(result.cost.total_seconds / result.wall_s)
            except _OutOfTime:
                spent = time.perf_counter() - t0
                partial += 1
                started = sum(1 for job in sim.jobs if job.start is not None)
                rates.append((started - len(sim.running)) / spent)
                pool_shares.append(sim.cost.total_seconds / spent)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return {
        "median_jobs_per_s": statistics.median(rates),
        "min_jobs_per_s": min(rates),
        "max_jobs_per_s": max(rates),
        "pool_share": statistics.median(pool_shares),
        "partial_runs": partial,
    }


def _rate(value: float) -> str:
    """Jobs per second: whole numbers, two digits below 10."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=40_000, help="jobs, all submitted at time 0 (default 40,000)")
    parser.add_argument("--nodes", type=int, default=256, help="one-core nodes (default 256)")
    parser.add_argument("--schedulers", default="easy,conservative",
                        help=f"comma-separated, from {', '.join(SCHEDULERS)} (default easy,conservative)")
    parser.add_argument("--queue-depths", default="all,32",
                        help="comma-separated waiting jobs a pass looks at, 'all' for every one (default all,32)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scheduler and depth (default 3)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="stop a run after this many seconds and rate the jobs done so far (default 60)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    jobs = parse_swf(deep_queue(args.jobs)).jobs
    results = {}
    print(f"{args.jobs:,} jobs submitted at once on {args.nodes} one-core nodes; {args.repeat} runs each")
    depths = [None if d == "all" else int(d) for d in args.queue_depths.split(",")]
    print(f"{'scheduler':<14}{'depth':>6}{'median jobs/s':>15}{'min':>10}{'max':>10}{'in pool':>9}{'target':>10}")
    for scheduler, depth in itertools.product(args.schedulers.split(","), depths):
        row = measure(jobs, args.nodes, scheduler, args.repeat, args.budget, depth)
        results[scheduler if depth is None else f"{scheduler}/depth{depth}"] = row
        target = TARGETS.get(scheduler)
        print(f"{scheduler:<14}{'all' if depth is None else depth:>6}"
              f"{_rate(row['median_jobs_per_s']):>15}{_rate(row['min_jobs_per_s']):>10}"
              f"{_rate(row['max_jobs_per_s']):>10}{100 * row['pool_share']:>8.0f}%"
              f"{(f'{target:,}' if target else '-'):>10}"
              + (f"  ({row['partial_runs']} run(s) stopped after {args.budget:g} s)" if row["partial_runs"] else ""))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"jobs": args.jobs, "nodes": args.nodes, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
