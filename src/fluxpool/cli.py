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
import math
import os
import sys
import textwrap
import time
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from ._version import __version__
from .errors import InfeasibleRequest, InsufficientResources
from .idset import IDset
from .pool import ResourcePool
from .simulate import (
    DEFAULT_POLICY,
    DEFAULT_SCHEDULER,
    MAX_CORES_PER_NODE,
    MAX_GPUS_PER_NODE,
    MAX_NODES,
    POLICIES,
    SCHEDULERS,
    TREE,
    CheckError,
    Machine,
    Simulation,
    SimulationError,
    SimulationResult,
    cluster_R,
    new_pool,
    plan_machine,
    rank_core_counts,
    tree_R,
)
from .swf import SwfFormatError, SwfTrace, job_processors, read_swf

__all__ = ["main", "DEFAULT_TRACE"]

#: The trace ``simulate`` replays without ``--trace``, shipped in ``fluxpool/data``.
DEFAULT_TRACE = "KTH-SP2-1996-2.1-cln-first5000.swf.gz"

#: Plot formats ``--plot`` writes (by the file name's suffix).
PLOT_FORMATS = (".png", ".pdf", ".svg")


class UsageError(Exception):
    """Bad input from the user: printed as ``fluxpool: error: ...``, exit status 2."""


class RunError(Exception):
    """The command ran but failed: printed as ``fluxpool: ...``, exit status 1."""


# -- argument parsing -----------------------------------------------------------------


def _int_in(minimum: int, maximum: Optional[int] = None, why: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from ``minimum`` to ``maximum`` (``why`` names the bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,} ({why}), got {value:,}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    version = f"fluxpool {__version__}"
    parser = argparse.ArgumentParser(
        prog="fluxpool",
        description="A fast resource pool for Flux schedulers: trace simulation and quick experiments.",
    )
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    sim = commands.add_parser(
        "simulate",
        help="replay an SWF job trace through a scheduler on the pool",
        description=(
            "Replay a job trace in the Standard Workload Format through a scheduler on a "
            "fluxpool ResourcePool, in simulated time, and print a summary. Without --trace, "
            f"the embedded {DEFAULT_TRACE} is used. The cluster defaults to the trace "
            "header's machine; the summary says which machine was built and why."
        ),
    )
    sim.add_argument("--version", action="version", version=version)
    sim.add_argument("--trace", metavar="FILE",
                     help="SWF trace, plain or gzipped; '-' reads standard input (default: the embedded trace)")
    sim.add_argument("--allow-empty", action="store_true",
                     help="simulate a trace without jobs (a summary of zeros) instead of refusing it")
    shape = sim.add_argument_group("cluster (default: the trace header's machine)")
    shape.add_argument("--nodes", type=_int_in(1, MAX_NODES, "the most ranks in one pool"), metavar="N",
                       help=f"number of nodes (at most {MAX_NODES:,})")
    shape.add_argument("--cores-per-node", type=_int_in(1, MAX_CORES_PER_NODE, "core ids run 0 to 16,383"),
                       metavar="C", help=f"cores per node (at most {MAX_CORES_PER_NODE:,})")
    shape.add_argument("--gpus-per-node", type=_int_in(0, MAX_GPUS_PER_NODE, "GPU ids run 0 to 4,095"),
                       default=0, metavar="G", help="GPUs per node (default 0)")
    shape.add_argument("--R", dest="R", metavar="FILE",
                       help="build the cluster from an R (version 1) JSON file instead ('-' for stdin); "
                            "an R with scheduling.children runs on a TreePool")
    shape.add_argument("--topology", metavar="FILE",
                       help="give every node this topology (a JSON tree of levels down to leaves with "
                            "'cores' and 'gpus' idsets, as in R.scheduling.children) and run on a "
                            "TreePool, which places by topology; the tree sets the cores and GPUs "
                            "per node")
    jobs = sim.add_argument_group("job shapes (default: one one-core slot per processor)")
    jobs.add_argument("--cores-per-task", type=_int_in(1, MAX_CORES_PER_NODE, "core ids run 0 to 16,383"),
                      default=1, metavar="K",
                      help="a job of P processors asks for ceil(P/K) slots of K cores (default 1)")
    jobs.add_argument(
        "--node-exclusive", action="store_true",
        help="give jobs whole nodes: those whose processors are a multiple of the cores per node "
             "(or every job, with --tasks-per-node)",
    )
    jobs.add_argument("--tasks-per-node", type=_int_in(1, MAX_CORES_PER_NODE, "core ids run 0 to 16,383"),
                      metavar="T",
                      help="with --node-exclusive: each job asks for ceil(tasks/T) whole nodes of T slots")
    sim.add_argument("--scheduler", choices=SCHEDULERS, default=DEFAULT_SCHEDULER,
                     help=f"fcfs, easy or conservative backfilling (default {DEFAULT_SCHEDULER})")
    sim.add_argument("--queue-depth", type=_int_in(1), metavar="N",
                     help="each scheduling pass looks at the first N waiting jobs only (N >= 1), as the "
                          "queue-depth of flux-core's schedulers and Fluxion; a pass that starts jobs is "
                          "followed by another at the same instant, so more than N may start at once; "
                          "1 gives first-come first-served, and fcfs is unchanged by it "
                          "(default: every waiting job)")
    sim.add_argument("--policy", choices=POLICIES + (TREE,), default=None,
                     help=f"placement policy (default {DEFAULT_POLICY}; '{TREE}', the default "
                          "with a topology, is a TreePool)")
    sim.add_argument("--compare", action="store_true",
                     help="run all three policies (and the TreePool, with a topology) and print "
                          "them side by side (not with --policy)")
    sim.add_argument("--check", action="store_true", help="verify the pool against the running jobs after every step (slow)")
    sim.add_argument("--json", metavar="FILE", help="also write the summary as JSON to FILE ('-': standard output)")
    sim.add_argument("--plot", metavar="FILE.png",
                     help="plot utilization, queue length and waits (.png, .pdf or .svg; needs matplotlib)")
    sim.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    alloc = commands.add_parser(
        "alloc",
        help="allocate one job on a pool and print the allocated R",
        description="Build a pool from R, allocate one job from a jobspec, print the allocated R as JSON.",
    )
    alloc.add_argument("--version", action="version", version=version)
    alloc.add_argument("R", metavar="R.json", help="R version 1 JSON file ('-' for stdin)")
    alloc.add_argument("jobspec", metavar="jobspec.json", help="jobspec JSON file ('-' for stdin)")
    alloc.add_argument("--policy", choices=POLICIES + (TREE,), default=None,
                       help=f"placement policy (default {DEFAULT_POLICY}, or '{TREE}', a "
                            "TreePool, for an R with scheduling.children)")
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
    """``simulate.new_pool`` (strict mode), with errors blaming the R file ``path``."""
    try:
        pool = new_pool(R, policy)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"R {path} is not a valid R version 1 object: {_message(exc)}") from None
    if pool.count("core") == 0:
        raise UsageError(
            f"R {path} has no resources: {pool.nnodes()} rank(s) and no cores (a job needs at least one core)"
        )
    return pool


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f"missing key {exc.args[0]!r}"
    return str(exc)


def _load_trace(path: Optional[str], allow_empty: bool) -> SwfTrace:
    """The trace (read once, as a stream); an empty one is refused unless allowed."""
    if path is None:
        ref = resources.files("fluxpool").joinpath("data").joinpath(DEFAULT_TRACE)
        with ref.open("rb") as stream:
            trace = read_swf(stream, name=f"(embedded) {DEFAULT_TRACE}")
    else:
        if path != "-" and os.path.isdir(path):
            raise UsageError(f"cannot read trace {path}: is a directory")
        name = "<stdin>" if path == "-" else path
        try:
            trace = read_swf(path, name=name)
        except SwfFormatError as exc:
            raise UsageError(f"malformed trace: {exc}") from None
        except OSError as exc:
            raise UsageError(f"cannot read trace {name}: {exc.strerror or exc}") from None
    if not trace.jobs and not allow_empty:
        raise UsageError(
            f"trace {trace.source} has no jobs ({len(trace.header.lines)} header line(s)); "
            "give --allow-empty to simulate it anyway"
        )
    return trace


def _check_options(args: argparse.Namespace) -> None:
    """Refuse contradictory options before reading anything."""
    if args.compare and args.policy is not None:
        raise UsageError("--compare runs every policy; it cannot be combined with --policy")
    if args.R is not None and (args.nodes is not None or args.gpus_per_node):
        raise UsageError("--R gives the whole cluster; it cannot be combined with --nodes or --gpus-per-node")
    if args.R == "-" and args.trace == "-":
        raise UsageError("only one of --trace and --R can be read from standard input")
    if args.tasks_per_node is not None and not args.node_exclusive:
        raise UsageError("--tasks-per-node splits whole nodes; it needs --node-exclusive")
    if args.json == "-" and args.plot == "-":
        raise UsageError("only one of --json and --plot can write to standard output")
    if args.topology is not None:
        for option, value in (("--R", args.R), ("--cores-per-node", args.cores_per_node),
                              ("--gpus-per-node", args.gpus_per_node or None)):
            if value is not None:
                raise UsageError(f"--topology sets the cores and GPUs of every node; it cannot be "
                                 f"combined with {option}")
        if "-" in (args.trace, args.topology) and args.trace == args.topology:
            raise UsageError("only one of --trace and --topology can be read from standard input")


def _has_topology(R: Any) -> bool:
    """True when R carries a node topology (``scheduling.children``) for a TreePool."""
    scheduling = R.get("scheduling") if isinstance(R, dict) else None
    return isinstance(scheduling, dict) and bool(scheduling.get("children"))


def _placements(args: argparse.Namespace, R: Any) -> Tuple[str, ...]:
    """The placements to run: the policies asked for, or the default (the TreePool
    when R has a topology); ``--compare`` runs the three policies and the TreePool."""
    tree = _has_topology(R)
    if args.policy == TREE and not tree:
        raise UsageError(f"--policy {TREE} needs a node topology: give --topology, or an --R "
                         "with scheduling.children")
    if args.compare:
        return POLICIES + ((TREE,) if tree else ())
    return (args.policy or (TREE if tree else DEFAULT_POLICY),)


def _check_output(path: Optional[str], option: str) -> None:
    """Refuse an output path that cannot be written, before anything runs."""
    if path is None or path == "-":
        return
    if os.path.isdir(path):
        raise UsageError(f"cannot write {option} {path}: is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {option} {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {option} {path}: permission denied")


def _check_plot(path: Optional[str]) -> None:
    if path is None:
        return
    if path == "-":
        raise UsageError("--plot writes an image file; give a file name ending in " + ", ".join(PLOT_FORMATS))
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in PLOT_FORMATS:
        raise UsageError(
            f"--plot {path}: cannot tell the image format from {suffix or 'a name without a suffix'!r}; "
            f"use one of {', '.join(PLOT_FORMATS)}"
        )
    _check_output(path, "--plot")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed (pip install matplotlib)") from None


def _cluster(args: argparse.Namespace, trace: SwfTrace) -> Tuple[Dict[str, Any], str, int, Optional[str]]:
    """R, a description of the machine and why, the cores per node used to map
    jobs, and a warning when the machine differs from the trace's."""
    if args.topology is not None:
        return _topology_cluster(args, trace)
    if args.R is not None:
        R = _read_json(args.R, "R")
        pool = _make_pool(R, TREE if _has_topology(R) else DEFAULT_POLICY, args.R)
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
        name = "<stdin>" if args.R == "-" else args.R
        machine = f"{pool.nnodes():,} nodes, {pool.count('core'):,} cores from R {name}"
        known = trace.header.max_procs or trace.header.max_nodes
        warning = None
        if known and known != pool.count("core"):
            warning = (f"the cluster from R {name} has {pool.count('core'):,} cores; "
                       f"the trace machine has {known:,} processors")
        return R, machine, max(cores_per_node, 1), warning
    widest = max((job_processors(j) for j in trace.jobs), default=1)
    plan: Machine = plan_machine(
        trace.header.max_nodes, trace.header.max_procs, widest, args.nodes, args.cores_per_node,
        args.gpus_per_node,
    )
    try:
        R = cluster_R(plan.nodes, plan.cores_per_node, plan.gpus_per_node)
    except ValueError as exc:
        raise UsageError(
            f"cannot build {plan.describe()} (from {plan.why}): {exc}; choose fewer nodes, cores or GPUs per node"
        ) from None
    return R, f"{plan.describe()} (from {plan.why})", plan.cores_per_node, plan.warning


def _topology_cluster(args: argparse.Namespace,
                      trace: SwfTrace) -> Tuple[Dict[str, Any], str, int, Optional[str]]:
    """``_cluster`` for ``--topology``: the trace machine's processors (or
    ``--nodes``) on nodes of the topology's cores and GPUs."""
    topology = _read_json(args.topology, "topology")
    name = "<stdin>" if args.topology == "-" else args.topology
    try:
        one = tree_R(1, topology)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"topology {name}: {_message(exc)}") from None
    children = one["execution"]["R_lite"][0]["children"]
    cores, gpus = len(IDset(children["core"])), len(IDset(children.get("gpu", "")))
    widest = max((job_processors(j) for j in trace.jobs), default=1)
    plan: Machine = plan_machine(trace.header.max_nodes, trace.header.max_procs, widest,
                                 args.nodes, cores, gpus)
    try:
        R = tree_R(plan.nodes, topology)
    except ValueError as exc:
        raise UsageError(f"cannot build {plan.describe()} of topology {name}: {exc}") from None
    why = plan.why.replace(f"--cores-per-node {cores}", f"the topology's {cores} cores").replace(
        "--cores-per-node", "the topology")
    return R, f"{plan.describe()} of topology {name} (from {why})", cores, plan.warning


def _check_shapes(args: argparse.Namespace, cores_per_node: int) -> None:
    """Refuse job shapes that no node can hold."""
    if args.cores_per_task > cores_per_node:
        raise UsageError(
            f"--cores-per-task {args.cores_per_task} does not fit nodes of {cores_per_node} cores"
        )
    if args.tasks_per_node is not None and args.tasks_per_node * args.cores_per_task > cores_per_node:
        raise UsageError(
            f"--tasks-per-node {args.tasks_per_node} x --cores-per-task {args.cores_per_task} "
            f"does not fit nodes of {cores_per_node} cores"
        )


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


def _bin_seconds(span: float) -> Tuple[float, str]:
    """A bin width for a simulated span: hourly up to 4 days, daily up to 200
    days, weekly up to 3 years, 30 days beyond (so a plot has some tens to
    about 150 bins)."""
    if span <= 4 * 86400:
        return 3600.0, "hour"
    if span <= 200 * 86400:
        return 86400.0, "day"
    if span <= 3 * 365 * 86400:
        return 7 * 86400.0, "week"
    return 30 * 86400.0, "30 days"


def binned(timeline: Sequence[Tuple[float, int, int]], width: float) -> Tuple[List[float], List[float], List[int]]:
    """Time-averaged busy cores and the most jobs waiting at once, per bin of ``width`` seconds.

    ``timeline`` is ``SimulationResult.timeline``: (time, busy cores, queued
    jobs) after each event instant, each holding until the next. Returns the
    bins' start offsets (seconds from the first event), the mean busy cores
    and the peak queue length in each bin.
    """
    if not timeline:
        return [], [], []
    t0, t_end = timeline[0][0], timeline[-1][0]
    nbins = max(1, math.ceil((t_end - t0) / width))
    busy = [0.0] * nbins
    peak = [0] * nbins
    for (t, b, q), (t_next, _, _) in zip(timeline, timeline[1:]):
        start, end = t - t0, t_next - t0
        while start < end:
            k = min(int(start // width), nbins - 1)
            stop = min(end, (k + 1) * width) if k < nbins - 1 else end
            busy[k] += b * (stop - start)
            if q > peak[k]:
                peak[k] = q
            start = stop
    last = t_end - t0
    lengths = [min(width, last - k * width) if last > k * width else width for k in range(nbins)]
    return [k * width for k in range(nbins)], [v / n for v, n in zip(busy, lengths)], peak


def _plot(path: str, results: Sequence[SimulationResult], title: str) -> None:
    """Utilization (mean per bin), jobs waiting (most at once per bin) and the
    distribution of waits, one column per run (small multiples share their axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    span = max((r.timeline[-1][0] - r.timeline[0][0] for r in results if r.timeline), default=0.0)
    width, unit = _bin_seconds(span)
    scale, axis_unit = (86400.0, "days") if span > 4 * 86400 else (3600.0, "hours")
    ncols = len(results)
    fig, axes = plt.subplots(3, ncols, figsize=(4.2 * ncols + 1.5, 7.5), squeeze=False,
                             sharex="row", sharey="row")
    waits_h = [[w / 3600 for w in r.waits] for r in results]
    positive_h = [w for waits in waits_h for w in waits if w > 0]
    low = math.floor(4 * math.log10(min(positive_h))) if positive_h else -4
    high = math.ceil(4 * math.log10(max(positive_h))) if positive_h else 4
    edges = [10 ** (k / 4) for k in range(low, max(high, low + 1) + 1)]  # four bins per decade
    highest = 1
    for col, (result, waits) in enumerate(zip(results, waits_h)):
        util_ax, queue_ax, wait_ax = axes[0][col], axes[1][col], axes[2][col]
        starts, busy, peak = binned(result.timeline, width)
        if starts:
            edges_x = [s / scale for s in starts] + [(starts[-1] + width) / scale]
            util_ax.stairs([100 * b / result.cores for b in busy], edges_x, fill=True, color="tab:blue")
            queue_ax.stairs(peak, edges_x, fill=True, color="tab:orange")
        util_ax.set_ylim(0, 100)
        highest = max(highest, max(peak, default=0))
        util_ax.set_title(f"{result.policy}: utilization {100 * result.utilization:.1f} %", fontsize="medium")
        queue_ax.set_xlabel(f"{axis_unit} since the first submission")
        queue_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        zero = sum(1 for w in waits if w <= 0)
        positive = [w for w in waits if w > 0]
        wait_ax.hist(positive, bins=edges, color="tab:green")
        wait_ax.set_xscale("log")
        wait_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        wait_ax.set_xlabel("wait (hours, log scale)")
        share = 100 * zero / len(waits) if waits else 0.0
        shown = f"{share:.0f}"
        if shown in ("0", "100") and 0 < zero < len(waits):
            shown = f"{share:.1f}"  # not "100 %" while some waited, nor "0 %" while some did not
        wait_ax.set_title(f"mean wait {result.mean_wait_s / 3600:.2f} h; {shown} % started at once",
                          fontsize="medium")
    axes[1][0].set_ylim(0, highest * 1.05)  # the row shares it: fit the highest peak of all runs
    axes[0][0].set_ylabel(f"cores busy (%, per {unit})")
    axes[1][0].set_ylabel(f"jobs waiting (most per {unit})")
    axes[2][0].set_ylabel("jobs that waited")
    # about 12 characters of a medium title per inch of figure
    fig.suptitle(textwrap.fill(title, width=int(12 * fig.get_figwidth())), fontsize="medium")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise UsageError(f"cannot write --plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


# -- commands -------------------------------------------------------------------------


def _simulate(args: argparse.Namespace, out: TextIO) -> int:
    _check_options(args)
    _check_plot(args.plot)
    _check_output(args.json, "--json")
    trace = _load_trace(args.trace, args.allow_empty)
    source = trace.source
    R, machine, cores_per_node, warning = _cluster(args, trace)
    policies = _placements(args, R)
    pools = [_make_pool(R, policy, args.R or args.topology or "(generated)") for policy in policies]
    _check_shapes(args, max(rank_core_counts(pools[0]), default=1))
    # With --json -, standard output carries the JSON only; the summary goes to stderr.
    text = sys.stderr if args.json == "-" else out
    if warning:
        print(f"fluxpool: warning: {warning}", file=sys.stderr)
    show_progress = not args.quiet and sys.stderr.isatty()
    results = []
    wall0 = time.perf_counter()
    for policy, pool in zip(policies, pools):
        try:
            sim = Simulation(
                pool,
                trace.jobs,
                scheduler=args.scheduler,
                cores_per_node=cores_per_node,
                node_exclusive=args.node_exclusive,
                cores_per_task=args.cores_per_task,
                tasks_per_node=args.tasks_per_node,
                queue_depth=args.queue_depth,
                check=args.check,
                timeline=args.plot is not None,
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(f"cannot shape the jobs: {exc}") from None
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

    shapes = []
    if args.cores_per_task > 1:
        shapes.append(f"tasks of {args.cores_per_task} cores")
    if args.node_exclusive:
        shapes.append(f"whole nodes, {args.tasks_per_node} tasks each" if args.tasks_per_node
                      else "whole nodes for multiples of the node size")
    scheduler = args.scheduler
    if args.queue_depth is not None:
        scheduler += f" (queue depth {args.queue_depth:,})"
    title = f"{os.path.basename(source)}: {machine.split(' (from')[0]}, {scheduler}"
    if shapes:
        title += ", " + ", ".join(shapes)
    document: Optional[Dict[str, Any]] = None
    if args.json is not None:
        if args.compare:
            document = {
                "trace": source, "machine": machine, "scheduler": args.scheduler,
                "queue_depth": args.queue_depth, "wall_s": wall, "policies": {r.policy: r.summary() for r in results},
            }
        else:
            document = {"trace": source, "machine": machine, **results[0].summary()}
        if warning:
            document["warning"] = warning
        if args.json != "-":
            try:
                with open(args.json, "w", encoding="utf-8") as f:
                    json.dump(document, f, indent=2)
                    f.write("\n")
            except OSError as exc:
                raise UsageError(f"cannot write --json {args.json}: {exc.strerror or exc}") from None
    if args.plot is not None:
        _plot(args.plot, results, title)

    # The files are written first: a reader that closes the pipe early (| head) loses none.
    print(f"fluxpool simulate: {source}", file=text)
    njobs = len(trace.jobs)
    print(f"  {njobs:,} job{'s' if njobs != 1 else ''}; scheduler {scheduler}"
          + "".join(f"; {s}" for s in shapes), file=text)
    print(f"  machine: {machine}", file=text)
    for line in _table(results):
        print(line, file=text)
    for line in _skip_notes(results[0]):
        print(line, file=text)
    if args.compare:
        print(f"  total wall time {wall:.2f} s", file=text)
        if results[0].placement_note:
            print(f"  note: {results[0].placement_note}; --cores-per-task K or --node-exclusive "
                  "with nodes of several cores give shapes where placement matters", file=text)
    if document is not None and args.json == "-":
        json.dump(document, out, indent=2)
        out.write("\n")
    return 0


def _alloc(args: argparse.Namespace, out: TextIO) -> int:
    if args.R == "-" and args.jobspec == "-":
        raise UsageError("only one of R and jobspec can be read from stdin")
    R = _read_json(args.R, "R")
    jobspec = _read_json(args.jobspec, "jobspec")
    if args.policy == TREE and not _has_topology(R):
        raise UsageError(f"--policy {TREE} needs an R with scheduling.children")
    policy = args.policy or (TREE if _has_topology(R) else DEFAULT_POLICY)
    pool = _make_pool(R, policy, args.R)
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
    """Run the ``fluxpool`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Output cut short by a closed pipe (``fluxpool simulate | head``) ends the
    command quietly, without a traceback."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    command = {"simulate": _simulate, "alloc": _alloc}[args.command]
    try:
        code = command(args, sys.stdout)
        sys.stdout.flush()
        return code
    except UsageError as exc:
        print(f"fluxpool: error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"fluxpool: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (head): send what is still buffered nowhere, quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except KeyboardInterrupt:
        print("fluxpool: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
