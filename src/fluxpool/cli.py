"""The ``fluxpool`` command: ``simulate`` (replay a job trace) and ``alloc`` (one allocation).

This module only parses arguments, reads files and prints; the work is done by
``fluxpool.swf`` and ``fluxpool.simulate``. ``main(argv)`` returns the exit
status instead of exiting, so it can be called in-process:

- 0: success;
- 1: the run itself failed (``--check`` found a discrepancy, or ``alloc``
  could not place the request);
- 2: bad usage or bad input (unknown option, unreadable or malformed file);
  the message goes to stderr, without a traceback.
"""

import argparse
import json
import os
import sys
import time
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from ._version import __version__
from .errors import InfeasibleRequest, InsufficientResources
from .pool import ResourcePool
from .simulate import (
    POLICIES,
    SCHEDULERS,
    CheckError,
    Simulation,
    SimulationError,
    SimulationResult,
    machine_shape,
    make_R,
    rank_core_counts,
)
from .swf import SwfFormatError, SwfTrace, job_processors, read_swf

__all__ = ["main", "DEFAULT_TRACE"]

#: The trace ``simulate`` replays without ``--trace``, shipped in ``fluxpool/data``.
DEFAULT_TRACE = "KTH-SP2-1996-2.1-cln-first5000.swf.gz"


class UsageError(Exception):
    """Bad input from the user: printed as ``fluxpool: error: ...``, exit status 2."""


class RunError(Exception):
    """The command ran but failed: printed as ``fluxpool: ...``, exit status 1."""


# -- argument parsing -----------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluxpool",
        description="A fast resource pool for Flux schedulers: trace simulation and quick experiments.",
    )
    parser.add_argument("--version", action="version", version=f"fluxpool {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    sim = commands.add_parser(
        "simulate",
        help="replay an SWF job trace through a scheduler on the pool",
        description=(
            "Replay a job trace in the Standard Workload Format through a scheduler on a "
            "fluxpool ResourcePool, in simulated time, and print a summary. Without --trace, "
            f"the embedded {DEFAULT_TRACE} is used. The cluster defaults to the trace "
            "header's machine (MaxNodes nodes of MaxProcs/MaxNodes cores; one core per node "
            "when only one of them is known)."
        ),
    )
    sim.add_argument("--trace", metavar="FILE", help="SWF trace, plain or gzipped (default: the embedded trace)")
    shape = sim.add_argument_group("cluster (default: the trace header's machine)")
    shape.add_argument("--nodes", type=_int_at_least(1), metavar="N", help="number of nodes")
    shape.add_argument("--cores-per-node", type=_int_at_least(1), metavar="C", help="cores per node")
    shape.add_argument("--gpus-per-node", type=_int_at_least(0), default=0, metavar="G", help="GPUs per node (default 0)")
    shape.add_argument("--R", dest="R", metavar="FILE", help="build the cluster from an R (version 1) JSON file instead")
    sim.add_argument(
        "--node-exclusive", action="store_true",
        help="give jobs whose processors are a multiple of the cores per node whole nodes",
    )
    sim.add_argument("--scheduler", choices=SCHEDULERS, default="easy", help="fcfs or easy backfilling (default easy)")
    sim.add_argument("--policy", choices=POLICIES, default="first-fit", help="placement policy (default first-fit)")
    sim.add_argument("--compare", action="store_true", help="run all three policies and print them side by side")
    sim.add_argument("--check", action="store_true", help="verify the pool against the running jobs after every step (slow)")
    sim.add_argument("--json", metavar="FILE", help="also write the summary as JSON to FILE")
    sim.add_argument("--plot", metavar="FILE.png", help="plot utilization and queue length over time (needs matplotlib)")
    sim.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    alloc = commands.add_parser(
        "alloc",
        help="allocate one job on a pool and print the allocated R",
        description="Build a pool from R, allocate one job from a jobspec, print the allocated R as JSON.",
    )
    alloc.add_argument("R", metavar="R.json", help="R version 1 JSON file ('-' for stdin)")
    alloc.add_argument("jobspec", metavar="jobspec.json", help="jobspec JSON file ('-' for stdin)")
    alloc.add_argument("--policy", choices=POLICIES, default="first-fit", help="placement policy (default first-fit)")
    return parser


# -- helpers --------------------------------------------------------------------------


def _read_json(path: str, what: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from None


def _make_pool(R: Any, policy: str, path: str) -> ResourcePool:
    try:
        return ResourcePool(R, policy=policy)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"R {path} is not a valid R version 1 object: {_message(exc)}") from None


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f"missing key {exc.args[0]!r}"
    return str(exc)


def _load_trace(path: Optional[str]) -> Tuple[SwfTrace, str]:
    if path is None:
        ref = resources.files("fluxpool").joinpath("data").joinpath(DEFAULT_TRACE)
        with resources.as_file(ref) as real:
            trace = read_swf(real)
        trace.source = f"(embedded) {DEFAULT_TRACE}"
        return trace, trace.source
    if os.path.isdir(path):
        raise UsageError(f"cannot read trace {path}: is a directory")
    try:
        return read_swf(path), path
    except SwfFormatError as exc:
        raise UsageError(f"malformed trace: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read trace {path}: {exc.strerror or exc}") from None


def _cluster(args: argparse.Namespace, trace: SwfTrace) -> Tuple[Dict[str, Any], str, int]:
    """R, a one-line description, and the cores per node used to map jobs."""
    if args.R is not None:
        if args.nodes is not None or args.gpus_per_node:
            raise UsageError("--R gives the whole cluster; it cannot be combined with --nodes or --gpus-per-node")
        R = _read_json(args.R, "R")
        pool = _make_pool(R, "first-fit", args.R)
        counts = rank_core_counts(pool)
        if args.cores_per_node is not None:
            cores_per_node = args.cores_per_node
        elif len(counts) == 1:
            cores_per_node = next(iter(counts))
        elif args.node_exclusive:
            raise UsageError(
                f"R {args.R} has nodes of different sizes ({', '.join(map(str, sorted(counts)))} cores); "
                "give --cores-per-node to say which jobs get whole nodes"
            )
        else:
            cores_per_node = 1
        if pool.nnodes() == 0:
            raise UsageError(f"R {args.R} has no ranks")
        return R, f"{pool.nnodes()} nodes, {pool.count('core')} cores from {args.R}", max(cores_per_node, 1)
    widest = max((job_processors(j) for j in trace.jobs), default=1)
    nodes, cores = machine_shape(
        trace.header.max_nodes, trace.header.max_procs, widest, args.nodes, args.cores_per_node
    )
    gpus = f" + {args.gpus_per_node} GPU(s)" if args.gpus_per_node else ""
    machine = f"{nodes} node{'s' if nodes != 1 else ''} x {cores} core{'s' if cores != 1 else ''}{gpus}"
    return make_R(nodes, cores, args.gpus_per_node), machine, cores


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds:,.0f} s ({seconds / 86400:.1f} d)"
    if seconds >= 3600:
        return f"{seconds:,.0f} s ({seconds / 3600:.1f} h)"
    return f"{seconds:,.1f} s"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value else "-"


def _table(results: Sequence[SimulationResult]) -> List[str]:
    rows: List[Tuple[str, List[str]]] = [
        ("policy", [r.policy for r in results]),
        ("jobs completed", [f"{r.jobs_completed:,}" for r in results]),
        ("jobs skipped", [f"{r.jobs_skipped:,}" for r in results]),
        ("makespan", [_duration(r.makespan_s) for r in results]),
        ("utilization", [f"{100 * r.utilization:.1f} %" for r in results]),
        ("mean wait", [_duration(r.mean_wait_s) for r in results]),
        ("p95 wait", [_duration(r.p95_wait_s) for r in results]),
        ("mean bounded slowdown", [f"{r.mean_bounded_slowdown:,.2f}" for r in results]),
        ("pool allocs/s", [_rate(r.cost.rate("alloc")) for r in results]),
        ("pool frees/s", [_rate(r.cost.rate("free")) for r in results]),
        ("pool copies/s", [_rate(r.cost.rate("copy")) for r in results]),
        ("time in pool / wall", [f"{r.cost.total_seconds:.2f} s / {r.wall_s:.2f} s" for r in results]),
    ]
    if any(r.checks for r in results):
        rows.append(("checks passed", [f"{r.checks:,}" for r in results]))
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(values[i]) for _, values in rows) for i in range(len(results))]
    return [
        f"  {label:<{label_width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(values, widths))
        for label, values in rows
    ]


def _skip_notes(result: SimulationResult) -> List[str]:
    notes = []
    reasons = {
        "no-processors": "no positive processor count (fields 5 and 8)",
        "negative-runtime": "unknown or negative run time (field 4)",
        "too-wide": "wider than the cluster, can never fit",
    }
    for reason, count in sorted(result.skipped.items()):
        line = f"  skipped {count:,} job(s): {reasons.get(reason, reason)}"
        if reason == "too-wide":
            more = ", ..." if count > len(result.too_wide_ids) else ""
            line += f" (job {', '.join(map(str, result.too_wide_ids))}{more})"
        notes.append(line)
    return notes


def _check_plot_support(path: Optional[str]) -> None:
    if path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed (pip install matplotlib)") from None


def _plot(path: str, results: Sequence[SimulationResult], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    for result in results:
        if not result.timeline:
            continue
        t0 = result.timeline[0][0]
        days = [(t - t0) / 86400 for t, _, _ in result.timeline]
        top.step(days, [busy / result.cores for _, busy, _ in result.timeline], where="post",
                 label=result.policy, linewidth=0.7)
        bottom.step(days, [queued for _, _, queued in result.timeline], where="post",
                    label=result.policy, linewidth=0.7)
    top.set_ylabel("cores busy (fraction)")
    top.set_ylim(0, 1.05)
    bottom.set_ylabel("jobs waiting")
    bottom.set_xlabel("days since the first submission")
    top.set_title(title, fontsize="medium")
    top.legend(loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise UsageError(f"cannot write plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


# -- commands -------------------------------------------------------------------------


def _simulate(args: argparse.Namespace, out: TextIO) -> int:
    _check_plot_support(args.plot)
    trace, source = _load_trace(args.trace)
    R, machine, cores_per_node = _cluster(args, trace)
    policies = POLICIES if args.compare else (args.policy,)
    show_progress = not args.quiet and sys.stderr.isatty()
    results = []
    wall0 = time.perf_counter()
    for policy in policies:
        sim = Simulation(
            _make_pool(R, policy, args.R or "(generated)"),
            trace.jobs,
            scheduler=args.scheduler,
            cores_per_node=cores_per_node,
            node_exclusive=args.node_exclusive,
            check=args.check,
            timeline=args.plot is not None,
        )
        bar = None
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(sim.jobs), unit="job", desc=policy, file=sys.stderr, leave=False)
            sim.progress = bar.update
        try:
            results.append(sim.run())
        except CheckError as exc:
            raise RunError(f"check failed ({policy}): {exc}") from None
        except SimulationError as exc:
            raise RunError(f"simulation failed ({policy}): {exc}") from None
        finally:
            if bar is not None:
                bar.close()
    wall = time.perf_counter() - wall0

    exclusive = ", whole nodes for multiples of the node size" if args.node_exclusive else ""
    title = f"{os.path.basename(source)}\n{machine}, {args.scheduler}{', node-exclusive' if args.node_exclusive else ''}"
    print(f"fluxpool simulate: {source}", file=out)
    njobs = len(trace.jobs)
    print(f"  {njobs:,} job{'s' if njobs != 1 else ''} on {machine}; scheduler {args.scheduler}{exclusive}", file=out)
    for line in _table(results):
        print(line, file=out)
    for line in _skip_notes(results[0]):
        print(line, file=out)
    if args.compare:
        print(f"  total wall time {wall:.2f} s", file=out)

    if args.json is not None:
        if args.compare:
            document: Dict[str, Any] = {
                "trace": source, "machine": machine, "scheduler": args.scheduler,
                "wall_s": wall, "policies": {r.policy: r.summary() for r in results},
            }
        else:
            document = {"trace": source, "machine": machine, **results[0].summary()}
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(document, f, indent=2)
                f.write("\n")
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    if args.plot is not None:
        _plot(args.plot, results, title)
    return 0


def _alloc(args: argparse.Namespace, out: TextIO) -> int:
    if args.R == "-" and args.jobspec == "-":
        raise UsageError("only one of R and jobspec can be read from stdin")
    R = _read_json(args.R, "R")
    jobspec = _read_json(args.jobspec, "jobspec")
    pool = _make_pool(R, args.policy, args.R)
    if not isinstance(jobspec, dict):
        raise UsageError(f"jobspec {args.jobspec} is not a JSON object")
    try:
        request = pool.parse_resource_request(jobspec)
    except Exception as exc:  # flux-core's scheduler denies the job on any parse error
        raise UsageError(f"jobspec {args.jobspec}: cannot parse jobspec: {_message(exc)}") from None
    try:
        result = pool.alloc(1, request)
    except (InsufficientResources, InfeasibleRequest) as exc:
        raise RunError(f"alloc: {exc}") from None
    print(result.encode(), file=out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``fluxpool`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    command = {"simulate": _simulate, "alloc": _alloc}[args.command]
    try:
        return command(args, sys.stdout)
    except UsageError as exc:
        print(f"fluxpool: error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"fluxpool: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fluxpool: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
