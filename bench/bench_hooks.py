"""What flux-core's subclass hooks (SPEC §16) cost, and that they cost nothing
when a subclass does not override the placement hooks.

    python bench/bench_hooks.py                     # 1,024 and 16,384 ranks
    python bench/bench_hooks.py --sizes 16384 --reps 2000

One row per pool class, alloc + free of a one-core job, median and minimum in
microseconds (the spread is the machine's noise):

- ``Rv1Pool``: the compiled path;
- a subclass that overrides nothing, and one that overrides only
  ``_check_feasibility`` and ``parse_resource_request``: both must stay on the
  compiled path (same cost as ``Rv1Pool``);
- a subclass that overrides ``_sort_candidates``: flux-core's candidate list
  is built for every alloc, so its cost grows with the pool, as flux-core's
  own pool's does.

Pools have 128 cores and 8 GPUs per rank, worst-fit. Never run as a test.
For a machine-independent comparison, count instructions instead:
``valgrind --tool=callgrind python bench/bench_hooks.py --sizes 16384 --reps 200``.
"""

import argparse
import statistics
import time

from fluxpool import Rv1Pool

ONE_CORE = {"version": 1, "resources": [{"type": "slot", "count": 1, "label": "task",
                                         "with": [{"type": "core", "count": 1}]}],
            "tasks": [], "attributes": {"system": {"duration": 0}}}


class NoHooks(Rv1Pool):
    """Overrides nothing."""


class FeasibilityHook(Rv1Pool):
    """Overrides only hooks that keep the compiled placement."""

    def _check_feasibility(self, request):
        super()._check_feasibility(request)

    def parse_resource_request(self, jobspec):
        return super().parse_resource_request(jobspec)


class SortHook(Rv1Pool):
    """Overrides _sort_candidates: placement goes through flux-core's path."""

    def _sort_candidates(self, candidates):
        return super()._sort_candidates(candidates)


def make_R(nranks):
    return {"version": 1, "execution": {
        "R_lite": [{"rank": f"0-{nranks - 1}", "children": {"core": "0-127", "gpu": "0-7"}}],
        "starttime": 0.0, "expiration": 0.0, "nodelist": [f"node[0-{nranks - 1}]"]}}


def alloc_free_us(cls, nranks, reps):
    pool = cls(make_R(nranks), policy="worst-fit")
    request = pool.parse_resource_request(ONE_CORE)
    samples = []
    for i in range(reps):
        t0 = time.perf_counter_ns()
        pool.alloc(i, request)
        pool.free(i)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(samples), min(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 16384])
    parser.add_argument("--reps", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"{'pool class':<32}" + "".join(f"{n:>24,}" for n in args.sizes))
    for cls in (Rv1Pool, NoHooks, FeasibilityHook, SortHook):
        cells = []
        for n in args.sizes:
            reps = args.reps if not cls._hooked_placement else max(5, args.reps // 100)
            median, low = alloc_free_us(cls, n, reps)
            cells.append(f"{median:>12,.1f} / {low:>9,.1f}")
        print(f"{cls.__name__:<32}" + "".join(f"{c:>24}" for c in cells))
    print("alloc + free of one core, worst-fit; µs median / min")


if __name__ == "__main__":
    main()
