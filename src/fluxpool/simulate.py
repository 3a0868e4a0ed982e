"""Replay a job trace through a scheduler on a ``ResourcePool``, in simulated time.

The simulator is a discrete-event loop over two kinds of event: a job's
submission (its SWF submit time) and its completion (start time plus its SWF
run time). At one instant, completions are processed first (their resources
are freed), then submissions (queued in submit order, ties by job number),
then one scheduling pass. A job started with a zero run time completes at the
same instant, which triggers another round at that instant.

Three schedulers (``DEFAULT_SCHEDULER`` is ``easy``, for the library and the
command alike):

- ``fcfs``: strict first-come first-served. The queue head blocks every job
  behind it until it starts.
- ``easy``: EASY backfilling, as flux-core's sched-backfill does it with the
  pool API. After the FCFS pass, if the head still waits, its *shadow time* is
  found on ``pool.copy()``: running jobs are freed in order of their end time
  (``job_end_times()``, set with ``update_expiration``) until the head fits;
  that end time is the shadow time (never earlier than now: a job past its
  requested time is expected to end at any moment). The copy, with every job
  ending by then freed, is the pool as the head will find it. A later job may
  start now if it fits the real pool and either ends by the shadow time, or
  its allocation (``register_alloc`` of the real placement on the shadow copy)
  still leaves room for the head there. All placement is done by the pool.
- ``conservative``: conservative backfilling. In queue order, every waiting
  job gets a reservation: the earliest time from which enough cores stay free
  for its requested time, next to the running jobs (until their requested
  end) and the reservations of the jobs ahead of it; a job whose reservation
  is now starts now, so a later job starts early only where it delays no
  reservation. Reservations are recomputed at every scheduling pass (a job
  ending early pulls them forward). The profile counts cores and the pool
  places each job when it starts. Where placement matters (see below), a job
  the pool cannot place at its reservation keeps its place in line and is
  tried again at the next event; a later job may then start before it. A
  pass makes only the reservations that can change who starts now (those
  beginning before the profile first runs short of the smallest waiting job;
  see ``Simulation._conservative``), with the same start times.

``queue_depth`` N bounds what a pass looks at, as the ``queue-depth`` of
flux-core's schedulers and Fluxion: the first N jobs waiting when it begins.
A job further back neither starts nor gets a reservation in that pass; when
the pass starts jobs, those behind move up and another pass runs at the same
instant (flux-core's job manager sends the scheduler the next pending job as
soon as one is allocated). None (the default) looks at every waiting job.

When a job fits exactly when enough cores are free (nodes of one size, no
GPUs, and whole nodes only or slots of one size that divides the node size), so the schedulers decide from core
counts and call the pool only to place a job that fits: the results are the
same, without pool copies. A scheduling pass finds its backfill candidates
through an index of the waiting jobs (smallest core count and requested time
per range of the queue), so its cost grows with the jobs it can start, not
with the depth of the queue. EASY where counts decide runs in a loop of its
own (``Simulation._run_easy_counted``) that gives the same schedule.

The scheduler's view of time is the jobspec duration (SWF requested time);
the simulated truth is the SWF run time. After each ``alloc`` the job's end
time is set with ``update_expiration(jobid, now + duration)`` (the pool would
otherwise record wall-clock time), and at completion the job is freed with
``free(jobid)``. Every pool call is timed, so the summary can say what the
pool itself cost; the wall time spans the same work (from building the job
requests to the last completion).
"""

import bisect
import gc
import heapq
import itertools
import math
import operator
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .errors import InfeasibleRequest, InsufficientResources
from .pool import ResourcePool
from .swf import SwfJob, SwfTrace, _skip_reason, job_duration, job_processors, make_jobspec
from .topotree import node_resources
from .treepool import TreePool

__all__ = [
    "SCHEDULERS",
    "POLICIES",
    "TREE",
    "tree_R",
    "SimulationError",
    "CheckError",
    "PoolCost",
    "SimulationResult",
    "Simulation",
    "simulate",
    "new_pool",
    "cluster_R",
    "make_R",
    "placement_note",
    "DEFAULT_SCHEDULER",
    "DEFAULT_POLICY",
    "MAX_NODES",
    "MAX_CORES_PER_NODE",
    "MAX_GPUS_PER_NODE",
    "machine_shape",
    "plan_machine",
    "Machine",
    "rank_core_counts",
]

_clock = time.perf_counter

SCHEDULERS = ("fcfs", "easy", "conservative")
POLICIES = ("first-fit", "best-fit", "worst-fit")
#: The scheduler ``simulate()``, ``Simulation`` and ``fluxpool simulate`` use unless told.
DEFAULT_SCHEDULER = "easy"
#: The placement name of a run on a TreePool (it places by node topology).
TREE = "tree"

#: The placement policy used unless told (the pool's own default).
DEFAULT_POLICY = "first-fit"

#: The largest cluster ``cluster_R`` builds: the pool's bound on ranks in one pool (README, Bounds).
MAX_NODES = 4_194_304
#: Cores per node: core ids run 0 ... 16,383 (README, Bounds).
MAX_CORES_PER_NODE = 16_384
#: GPUs per node: GPU ids run 0 ... 4,095 (README, Bounds).
MAX_GPUS_PER_NODE = 4_096
#: The pool's bound on its core and GPU rows, bytes (README, Bounds).
MAX_ROW_BYTES = 256 * 1024 * 1024

#: Bounded slowdown's lower bound on the run time, seconds (Feitelson's 10 s).
BOUNDED_SLOWDOWN_TAU = 10.0
#: How many ids of never-fitting jobs a result keeps for the report.
SKIPPED_IDS_KEPT = 10


class SimulationError(RuntimeError):
    """The simulation cannot go on (e.g. the pool refused a request it accepted before)."""


class CheckError(SimulationError):
    """``check=True`` found the pool and the simulator's allocations disagreeing."""


# -- cluster shape -------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """The simulated cluster and why it has that shape.

    ``nodes`` x ``cores_per_node`` (+ ``gpus_per_node``); ``why`` says where
    each number came from; ``trace_processors`` is the trace machine's
    processor count (None when the header gives neither MaxProcs nor
    MaxNodes); ``warning`` is set when the cluster's core count differs from it.
    """

    nodes: int
    cores_per_node: int
    gpus_per_node: int
    why: str
    trace_processors: Optional[int]

    @property
    def cores(self) -> int:
        """Cores in the cluster."""
        return self.nodes * self.cores_per_node

    @property
    def warning(self) -> Optional[str]:
        """A sentence when the cluster's cores differ from the trace machine's processors."""
        if self.trace_processors is None or self.cores == self.trace_processors:
            return None
        ratio = self.cores / self.trace_processors
        return (
            f"the simulated cluster has {self.cores:,} cores, {ratio:.2f} x the trace machine's "
            f"{self.trace_processors:,} processors"
        )

    def describe(self) -> str:
        """``100 nodes x 1 core`` (+ GPUs)."""
        gpus = f" + {self.gpus_per_node} GPU{'s' if self.gpus_per_node != 1 else ''}" if self.gpus_per_node else ""
        return (f"{self.nodes:,} node{'s' if self.nodes != 1 else ''} x {self.cores_per_node:,} "
                f"core{'s' if self.cores_per_node != 1 else ''}{gpus}")


def plan_machine(
    max_nodes: Optional[int],
    max_procs: Optional[int],
    widest_job: int = 1,
    nodes: Optional[int] = None,
    cores_per_node: Optional[int] = None,
    gpus_per_node: int = 0,
) -> Machine:
    """The simulated cluster for a trace header and the options given.

    The trace machine's processor count is ``MaxProcs``; else ``MaxNodes``
    (the Lublin model traces count one-processor nodes); else the widest
    job's processors. Options win; what they leave open keeps that processor
    count:

    - no option: ``MaxNodes`` nodes of ceil(MaxProcs / MaxNodes) cores when
      both are known (LLNL Atlas: 1152 x 8), otherwise one core per processor
      (SWF counts processors, the unit a job was given);
    - ``cores_per_node`` alone: ceil(processors / C) nodes of C cores;
    - ``nodes`` alone: N nodes of ceil(processors / N) cores;
    - both: as given.

    Rounding up never makes the machine smaller than the trace's; when the
    result differs from it, ``Machine.warning`` says by how much.
    """
    if max_procs:
        total, source = max_procs, f"the trace's MaxProcs {max_procs:,}"
    elif max_nodes:
        total, source = max_nodes, f"the trace's MaxNodes {max_nodes:,} (one processor each)"
    else:
        total, source = max(widest_job, 1), f"the widest job ({max(widest_job, 1):,} processors; no MaxProcs/MaxNodes in the header)"
    known = total if (max_procs or max_nodes) else None
    if nodes is None and cores_per_node is None:
        if max_nodes and max_procs:
            shape = (max_nodes, -(-max_procs // max_nodes))
            why = f"the trace's MaxNodes {max_nodes:,} and MaxProcs {max_procs:,}"
        else:
            shape = (total, 1)
            why = f"one core per processor of {source}"
    elif nodes is None:
        assert cores_per_node is not None
        shape = (-(-total // cores_per_node), cores_per_node)
        why = f"--cores-per-node {cores_per_node:,}, nodes to hold {source}"
    elif cores_per_node is None:
        shape = (nodes, -(-total // nodes))
        why = f"--nodes {nodes:,}, cores per node to hold {source}"
    else:
        shape = (nodes, cores_per_node)
        why = "--nodes and --cores-per-node"
    return Machine(shape[0], shape[1], gpus_per_node, why, known)


def machine_shape(
    max_nodes: Optional[int],
    max_procs: Optional[int],
    widest_job: int = 1,
    nodes: Optional[int] = None,
    cores_per_node: Optional[int] = None,
) -> Tuple[int, int]:
    """``(nodes, cores_per_node)`` of ``plan_machine`` (which also says why)."""
    machine = plan_machine(max_nodes, max_procs, widest_job, nodes, cores_per_node)
    return machine.nodes, machine.cores_per_node


def cluster_R(nodes: int, cores_per_node: int, gpus_per_node: int = 0, hostname: str = "node") -> Dict[str, Any]:
    """R version 1 (a dict) for a cluster of identical nodes.

    ``nodes`` nodes (ranks 0 ... nodes-1, hosts ``node0`` ...), each with
    ``cores_per_node`` cores and ``gpus_per_node`` GPUs. This is the machine
    ``fluxpool simulate`` builds; pass it to ``simulate()`` or ``ResourcePool``.

    Raises ``TypeError`` for a count that is not an int, and ``ValueError``
    naming the argument and its bound when ``nodes`` is not 1 ... 4,194,304
    (``MAX_NODES``, the pool's most ranks), ``cores_per_node`` not
    1 ... 16,384, ``gpus_per_node`` not 0 ... 4,096, or the pool's core and
    GPU rows (nodes x (ceil(cores/64) + max(1, ceil(gpus/64))) x 8 bytes) would
    exceed 256 MiB. Everything is checked before anything is built.
    """
    for name, value in (("nodes", nodes), ("cores_per_node", cores_per_node), ("gpus_per_node", gpus_per_node)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    for name, value, low, high in (
        ("nodes", nodes, 1, MAX_NODES),
        ("cores_per_node", cores_per_node, 1, MAX_CORES_PER_NODE),
        ("gpus_per_node", gpus_per_node, 0, MAX_GPUS_PER_NODE),
    ):
        if not low <= value <= high:
            raise ValueError(f"{name} must be {low:,} ... {high:,}, got {value:,}")
    row_bytes = nodes * (-(-cores_per_node // 64) + max(1, -(-gpus_per_node // 64))) * 8
    if row_bytes > MAX_ROW_BYTES:
        raise ValueError(
            f"{nodes:,} nodes x {cores_per_node:,} cores x {gpus_per_node:,} GPUs needs "
            f"{row_bytes / 2**20:,.0f} MiB of core and GPU rows; the pool's bound is "
            f"{MAX_ROW_BYTES // 2**20} MiB"
        )
    children = {"core": f"0-{cores_per_node - 1}" if cores_per_node > 1 else "0"}
    if gpus_per_node:
        children["gpu"] = f"0-{gpus_per_node - 1}" if gpus_per_node > 1 else "0"
    ranks = f"0-{nodes - 1}" if nodes > 1 else "0"
    hosts = f"{hostname}[0-{nodes - 1}]" if nodes > 1 else f"{hostname}0"
    return {
        "version": 1,
        "execution": {
            "R_lite": [{"rank": ranks, "children": children}],
            "starttime": 0.0,
            "expiration": 0.0,
            "nodelist": [hosts],
        },
    }


#: The former name of ``cluster_R``, kept for existing callers.
make_R = cluster_R


def tree_R(nodes: int, topology: Mapping, hostname: str = "node") -> Dict[str, Any]:
    """R version 1 (a dict) for ``nodes`` identical nodes of the topology
    ``topology``, for a :class:`~fluxpool.TreePool`.

    ``topology`` is one node's TREE of ``R.scheduling.children`` (draft RFC
    49): named levels holding child objects down to leaves with ``cores`` and
    optional ``gpus`` idsets, e.g. ``{"socket": [{"numa": [{"cores": "0-3",
    "gpus": "0"}]}, ...]}``. Each node's cores and GPUs are those the leaves
    name; ``scheduling.children`` gives every rank that tree. Raises what
    ``cluster_R`` raises for the bounds, ``TypeError``/``ValueError`` for a
    malformed tree or one with no cores, and what ``TreePool`` raises for it.
    """
    cores, gpus = node_resources(topology)
    if not cores:
        raise ValueError("the node topology names no cores")
    R = cluster_R(nodes, cores.last + 1, gpus.last + 1 if gpus else 0, hostname)
    children = {"core": cores.encode()}
    if gpus:
        children["gpu"] = gpus.encode()
    R["execution"]["R_lite"][0]["children"] = children
    ranks = R["execution"]["R_lite"][0]["rank"]
    R["scheduling"] = {"writer": "fluxpool.flux:TreePool",
                       "children": [{"ranks": ranks, "topo": topology}]}
    TreePool(R, strict=True)  # the tree must describe the nodes: refused here if not
    return R


def new_pool(R: Any, policy: str = DEFAULT_POLICY) -> ResourcePool:
    """The pool a simulation (and ``fluxpool alloc``) runs on, in strict mode
    (see :attr:`fluxpool.ResourcePool.strict`): ``ResourcePool(R, policy=policy,
    strict=True)``, or, for
    ``policy="tree"`` (``TREE``), ``TreePool(R, strict=True)``, which places by
    the node topology in ``R.scheduling.children``. Raises what the pool class
    raises for a bad R or policy (``ValueError``, ``TypeError``, ``KeyError``)."""
    if policy == TREE:
        return TreePool(R, strict=True)
    return ResourcePool(R, policy=policy, strict=True)


def _idset_ranges(text: str) -> Iterable[Tuple[int, int]]:
    for part in text.split(","):
        if part:
            lo, _, hi = part.partition("-")
            yield int(lo), int(hi or lo)


def _idset_count(text: str) -> int:
    return sum(hi - lo + 1 for lo, hi in _idset_ranges(text))


def _idset_mask(text: str) -> int:
    mask = 0
    for lo, hi in _idset_ranges(text):
        mask |= ((1 << (hi - lo + 1)) - 1) << lo
    return mask


# In a check mask, GPU ids sit above every possible core id (the pool bounds core ids below 16,384).
_GPU_SHIFT = 16384


def _rank_masks(R: Dict[str, Any]) -> Dict[int, int]:
    """rank -> bitmask of its cores (low bits) and GPUs (from ``_GPU_SHIFT`` up), from an
    R v1 dict (what a pool's ``to_dict()`` writes); ranks holding nothing are left out."""
    masks: Dict[int, int] = {}
    for entry in R.get("execution", {}).get("R_lite", []):
        children = entry.get("children", {})
        mask = _idset_mask(children.get("core", "")) | _idset_mask(children.get("gpu", "")) << _GPU_SHIFT
        if mask:
            for lo, hi in _idset_ranges(entry["rank"]):
                masks.update(dict.fromkeys(range(lo, hi + 1), mask))
    return masks


def _describe(mask: int) -> str:
    """``core 0,3 gpu 1`` for a check mask (``-`` when empty)."""
    cores = mask & ((1 << _GPU_SHIFT) - 1)
    gpus = mask >> _GPU_SHIFT
    parts = [f"{name} {','.join(str(i) for i in range(m.bit_length()) if m >> i & 1)}"
             for name, m in (("core", cores), ("gpu", gpus)) if m]
    return " ".join(parts) or "-"


def rank_core_counts(pool: ResourcePool) -> Dict[int, int]:
    """How many ranks have each core count: ``{cores: ranks}`` (one key when uniform)."""
    counts: Dict[int, int] = {}
    for entry in pool.to_dict().get("execution", {}).get("R_lite", []):
        ncores = _idset_count(entry.get("children", {}).get("core", ""))
        counts[ncores] = counts.get(ncores, 0) + _idset_count(entry["rank"])
    return counts


# -- results ------------------------------------------------------------------------


@dataclass
class PoolCost:
    """Calls into the pool during a run: count and wall seconds spent inside, per method."""

    calls: Dict[str, int] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        """Record one call of ``name`` that took ``seconds``."""
        self.calls[name] = self.calls.get(name, 0) + 1
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def rate(self, name: str) -> float:
        """Calls per second of time spent inside ``name`` (0.0 when never called)."""
        spent = self.seconds.get(name, 0.0)
        return self.calls.get(name, 0) / spent if spent > 0 else 0.0

    @property
    def total_seconds(self) -> float:
        """Wall seconds spent inside every pool call."""
        return sum(self.seconds.values())


@dataclass
class SimulationResult:
    """What a run measured. Times are simulated seconds unless named ``wall``.

    - ``makespan_s``: last completion minus the first simulated job's submission.
    - ``utilization``: core-seconds of the completed jobs (cores actually
      allocated x run time) over total cores x makespan.
    - waits are start minus submit; ``p95_wait_s`` is the nearest-rank 95th percentile.
    - ``mean_bounded_slowdown``: mean of max(1, (wait + run) / max(run, 10 s)).
    - ``skipped``: per reason (``no-processors``, ``negative-runtime``,
      ``too-wide``), the count; ``too_wide_ids``: the first few job numbers
      that can never fit the cluster.
    - ``start_times``: job number -> simulated start time; ``waits``: each
      simulated job's wait, in submit order.
    - ``placement_note``: why the placement policy cannot change this schedule
      (the job shapes), or None.
    - ``queue_depth``: the waiting jobs one scheduling pass looked at (None: all).
    - ``wall_s``: wall seconds from building the job requests to the end of
      the run, the span in which ``cost`` counts the pool's seconds.
    """

    scheduler: str
    policy: str
    nodes: int
    cores: int
    jobs_completed: int
    skipped: Dict[str, int]
    too_wide_ids: List[int]
    makespan_s: float
    utilization: float
    mean_wait_s: float
    p95_wait_s: float
    mean_bounded_slowdown: float
    cost: PoolCost
    wall_s: float
    checks: int = 0
    start_times: Dict[int, float] = field(default_factory=dict, repr=False)
    timeline: List[Tuple[float, int, int]] = field(default_factory=list, repr=False)
    waits: List[float] = field(default_factory=list, repr=False)
    placement_note: Optional[str] = None
    queue_depth: Optional[int] = None

    @property
    def jobs_skipped(self) -> int:
        """Jobs not simulated, for any reason."""
        return sum(self.skipped.values())

    def summary(self) -> Dict[str, Any]:
        """The summary as a JSON-ready dict (what ``--json`` writes)."""
        cost = self.cost
        return {
            "scheduler": self.scheduler,
            "policy": self.policy,
            "nodes": self.nodes,
            "cores": self.cores,
            "jobs_completed": self.jobs_completed,
            "jobs_skipped": self.jobs_skipped,
            "skipped": dict(self.skipped),
            "too_wide_ids": list(self.too_wide_ids),
            "makespan_s": self.makespan_s,
            "utilization": self.utilization,
            "mean_wait_s": self.mean_wait_s,
            "p95_wait_s": self.p95_wait_s,
            "mean_bounded_slowdown": self.mean_bounded_slowdown,
            "allocs_per_s": cost.rate("alloc"),
            "frees_per_s": cost.rate("free"),
            "copies_per_s": cost.rate("copy"),
            "pool_calls": {name: {"calls": n, "seconds": cost.seconds[name]} for name, n in sorted(cost.calls.items())},
            "pool_seconds": cost.total_seconds,
            "wall_s": self.wall_s,
            "checks": self.checks,
            "placement_note": self.placement_note,
            "queue_depth": self.queue_depth,
        }


# -- the simulation -------------------------------------------------------------------


class _Job:
    """A job being simulated: its trace data, parsed request and outcome."""

    __slots__ = ("index", "number", "submit", "run", "duration", "request", "min_cores", "start", "cores", "alloc")

    def __init__(self, index: int, job: SwfJob, request: Any, min_cores: int) -> None:
        self.index = index
        self.number = job.job_number
        self.submit = job.submit_time
        self.run = job.run_time
        self.duration = job_duration(job)
        self.request = request
        self.min_cores = min_cores  # a lower bound on the cores it will hold (exact when counts decide)
        self.start: Optional[float] = None
        self.cores = 0
        self.alloc: Any = None


_INF = float("inf")
_first, _third = operator.itemgetter(0), operator.itemgetter(2)
#: "Any requested time" in an index search (requested times are finite; the
#: index marks absent jobs with infinity, which this must not match).
_UNBOUNDED = sys.float_info.max
#: Up to this many waiting jobs, EASY scans the queue in order instead of searching the index.
_SCAN_LIMIT = 64


class _MinTree:
    """Values at positions 0 ... n-1 (infinity when absent) in a min-tree:
    ``first(pos, limit)`` is the first position >= pos whose value is at most
    ``limit``, in O(log n) node visits."""

    __slots__ = ("size", "tree")

    def __init__(self, n: int) -> None:
        size = 1
        while size < max(n, 1):
            size *= 2
        self.size = size
        self.tree = [_INF] * (2 * size)

    def set(self, pos: int, value: float) -> None:
        tree = self.tree
        i = pos + self.size
        tree[i] = value
        i >>= 1
        while i:
            low = tree[2 * i] if tree[2 * i] < tree[2 * i + 1] else tree[2 * i + 1]
            if tree[i] == low:
                break
            tree[i] = low
            i >>= 1

    def fill(self, lo: int, values: Sequence[float]) -> None:
        """Set positions lo, lo+1, ... to ``values`` in one bottom-up rebuild
        (O(len(values) + log n), against O(len(values) log n) for ``set``)."""
        if not values:
            return
        tree = self.tree
        a = lo + self.size
        b = a + len(values) - 1
        tree[a:b + 1] = values
        a >>= 1
        b >>= 1
        while a:
            tree[a:b + 1] = map(min, tree[2 * a:2 * b + 2:2], tree[2 * a + 1:2 * b + 2:2])
            a >>= 1
            b >>= 1

    def leftmost(self, limit: float) -> int:
        """The first position with value <= limit, or -1: one walk down from
        the root (``first(0, limit, n)`` climbs from the first leaf first)."""
        tree, size = self.tree, self.size
        if tree[1] > limit:
            return -1
        i = 1
        while i < size:
            i += i  # (i <<= 1; an int add is the quicker bytecode)
            if tree[i] > limit:
                i += 1
        return i - size

    def first(self, pos: int, limit: float, stop: int) -> int:
        """The first position in [pos, stop) with value <= limit, or -1."""
        size, tree = self.size, self.tree
        if pos >= stop or tree[1] > limit:
            return -1
        i = pos + size
        while True:
            if tree[i] <= limit:
                while i < size:
                    i *= 2
                    if tree[i] > limit:
                        i += 1
                found = i - size
                return found if found < stop else -1
            while i & 1:
                i >>= 1
            if i == 0:
                return -1
            i += 1


class _WaitIndex:
    """The waiting jobs, by job index (queue order), for finding backfill candidates.

    A min-tree of core counts over all jobs answers "the first waiting job
    from here that needs at most F cores"; for each distinct core count, a
    min-tree of requested times over that count's jobs answers "the first
    waiting job of this size from here that ends within D". Both are exact,
    so a search visits O(log n) nodes per core count it looks at, never the
    queue.
    """

    def __init__(self, needs: Sequence[int], durations: Sequence[float], indexed: bool = True) -> None:
        self.count = 0
        #: Whether the trees are kept (FCFS needs only the count and the order).
        self.indexed = indexed
        #: The waiting positions in queue order (a dict keeps insertion order).
        self.order: Dict[int, None] = {}
        self.needs = needs
        self.durations = durations
        self.by_need = _MinTree(len(needs))
        positions: Dict[int, List[int]] = {}
        for pos, need in enumerate(needs):
            positions.setdefault(need, []).append(pos)
        self.widths = sorted(positions)
        self.positions = positions
        self.local = {need: {pos: k for k, pos in enumerate(p)} for need, p in positions.items()}
        self.by_time = {need: _MinTree(len(p)) for need, p in positions.items()}
        #: By size, in the order of ``widths``: positions, their min-tree, their count.
        self.indexes = [positions[need] for need in self.widths]
        self.trees = [self.by_time[need] for need in self.widths]
        self.lengths = [len(p) for p in self.indexes]

    def add(self, pos: int) -> None:
        """Mark the job at ``pos`` waiting."""
        if self.indexed:
            need = self.needs[pos]
            self.by_need.set(pos, need)
            self.by_time[need].set(self.local[need][pos], self.durations[pos])
        self.order[pos] = None
        self.count += 1

    def add_range(self, lo: int, hi: int) -> None:
        """Mark the jobs at ``lo`` ... ``hi - 1`` waiting (many at once: one
        rebuild per tree instead of one update per job)."""
        if hi - lo < 32 or not self.indexed:
            for pos in range(lo, hi):
                self.add(pos)
            return
        self.by_need.fill(lo, self.needs[lo:hi])
        _fill_by_size(((self.by_time[need], p) for need, p in self.positions.items()), lo, hi, self.durations)
        self.order.update(dict.fromkeys(range(lo, hi)))
        self.count += hi - lo

    def remove(self, pos: int) -> None:
        """Mark the job at ``pos`` no longer waiting."""
        if self.indexed:
            need = self.needs[pos]
            self.by_need.set(pos, _INF)
            self.by_time[need].set(self.local[need][pos], _INF)
        del self.order[pos]
        self.count -= 1

    def first_fitting(self, pos: int, free: float) -> int:
        """The first waiting position >= ``pos`` needing at most ``free`` cores, or -1."""
        return self.by_need.first(pos, free, self.by_need.size)

    def find(self, pos: int, free: float, within: float, extra: float) -> int:
        """The first waiting position >= ``pos`` whose core count is at most
        ``free`` and whose requested time is at most ``within`` or core count at
        most ``extra``; -1 when there is none."""
        best = self.by_need.first(pos, min(free, extra), self.by_need.size)
        stop = best if best >= 0 else self.by_need.size
        low = extra if extra > 0 else 0
        widths = self.widths
        for w in widths[bisect.bisect_right(widths, low):bisect.bisect_right(widths, free)]:
            positions = self.positions[w]
            k = bisect.bisect_left(positions, pos)
            limit = bisect.bisect_left(positions, stop, k)
            found = self.by_time[w].first(k, within, limit)
            if found >= 0:
                stop = positions[found]
                best = stop
        return best


def _slack(duration: float) -> float:
    """``duration`` and a hair more: the bound an index search of requested
    times uses where the exact test is a sum of times (``now + requested >
    shadow``, a stretch of the profile), so rounding never leaves out a job
    that fits; the exact test then decides."""
    return duration * (1 + 1e-9) + 1e-9


def _resume(index: Sequence[int], tree: _MinTree, start: int, bound: float, stop: int, none: int) -> int:
    """The first waiting position from ``start`` among one job size's queue
    positions ``index`` whose requested time (in that size's min-tree
    ``tree``) is at most ``bound``, looking at the first ``stop`` of them;
    ``none`` when there is none."""
    found = tree.first(bisect.bisect_left(index, start), bound, stop)
    return index[found] if found >= 0 else none


def _earliest_fit(ts: Sequence[float], fs: Sequence[int], need: int, duration: float) -> Tuple[int, int, float]:
    """Where a conservative pass reserves a job: the earliest breakpoint ``i``
    of the profile (``ts`` times, ``fs`` free cores from each; the last has
    at least ``need`` free) from which ``need`` cores stay free for
    ``duration`` seconds. Returns ``(i, j, until)``: ``until`` is ``ts[i] +
    duration`` and breakpoints ``i + 1`` ... ``j - 1`` fall before it."""
    bisect_left = bisect.bisect_left
    i = 0
    while True:
        while fs[i] < need:
            i += 1
        until = ts[i] + duration
        j = bisect_left(ts, until, i + 1)
        if j == i + 1 or min(fs[i + 1:j]) >= need:
            return i, j, until
        i += 1
        while fs[i] >= need:
            i += 1


def _free_from_now(ts: Sequence[float], fs: Sequence[int], size: int) -> float:
    """How long ``size`` cores stay free from now in a conservative profile
    (``ts`` breakpoint times from now, ``fs`` the free cores from each), with
    ``_slack``; -1 when they are not free now, ``_UNBOUNDED`` when they stay free."""
    n = len(ts)
    i = 0
    while i < n and fs[i] >= size:
        i += 1
    if i == 0:
        return -1.0
    return _slack(ts[i] - ts[0]) if i < n else _UNBOUNDED


def _longest_free(ts: Sequence[float], fs: Sequence[int], size: int, end: int) -> float:
    """The longest time ``size`` cores stay free from a breakpoint before
    ``end``, where the profile has fewer free cores than ``size`` (so every
    such stretch ends by it), with ``_slack``; -1 when there is none."""
    best = -1.0
    i = 0
    while i < end:
        if fs[i] < size:
            i += 1
            continue
        j = i + 1
        while fs[j] >= size:
            j += 1
        if ts[j] - ts[i] > best:
            best = ts[j] - ts[i]
        i = j
    return _slack(best) if best >= 0 else -1.0


def _fill_by_size(sizes: Iterable[Tuple[_MinTree, Sequence[int]]], lo: int, hi: int,
                  values: Sequence[float]) -> None:
    """For each ``(tree, positions)`` (one job size: its min-tree and its
    queue positions, ascending), set the leaves of positions ``lo`` ... ``hi - 1``
    to their ``values``, in one rebuild per tree."""
    for tree, positions in sizes:
        a = bisect.bisect_left(positions, lo)
        b = bisect.bisect_left(positions, hi, a)
        if b > a:
            tree.fill(a, list(map(values.__getitem__, positions[a:b])))


def placement_note(requests: Iterable[Any], core_counts: Dict[int, int], gpus: int = 0) -> Optional[str]:
    """Why the placement policies must give the same schedule, or None when they may differ.

    ``requests`` are parsed requests; ``core_counts`` is ``rank_core_counts``
    of the pool; ``gpus`` its GPU count. Placement cannot matter when the pool
    has no GPUs, its nodes are all one size, and either every request is for
    whole nodes, or every request is for slots of one size K (each slot placed
    anywhere takes one of a node's floor(C / K) places, so the free places
    are the same whatever the policy).
    """
    shapes = _shapes(requests)
    if shapes is None or gpus or len(core_counts) != 1:
        return None
    size = next(iter(core_counts))
    if shapes == {("node", 0)}:
        return "every job asks for whole nodes, so every policy gives the same schedule"
    if len(shapes) == 1:
        kind, k = next(iter(shapes))
        what = "one-core slots" if k == 1 else f"slots of {k} cores ({size // k} per {size}-core node)"
        return f"every job asks for {what}, so every policy gives the same schedule"
    return None


def _shapes(requests: Iterable[Any]) -> Optional[set]:
    """{("node", 0)} for whole-node requests, ("slot", K) for slots of K cores;
    None when a request asks for GPUs or there are none."""
    shapes = set()
    for request in requests:
        if request.gpu_per_slot:
            return None
        shapes.add(("node", 0) if request.exclusive else ("slot", request.slot_size))
    return shapes or None


def _counts_decide(requests: Iterable[Any], core_counts: Dict[int, int], gpus: int) -> bool:
    """Whether "enough free cores" is exactly "fits": nodes of one size, no
    GPUs, and whole nodes only or slots of one size K dividing the node size."""
    shapes = _shapes(requests)
    if shapes is None or gpus or len(core_counts) != 1 or len(shapes) != 1:
        return False
    kind, k = next(iter(shapes))
    return kind == "node" or next(iter(core_counts)) % k == 0


class Simulation:
    """One run of a trace through a scheduler on a pool.

    ``pool`` is used as given (it must be empty: nothing allocated). ``jobs``
    are SWF jobs in any order, or the ``SwfTrace`` that ``read_swf`` returns.
    ``cores_per_node``, ``node_exclusive``, ``cores_per_task`` and
    ``tasks_per_node`` shape the jobspecs (``swf.make_jobspec``).
    ``queue_depth`` N makes each scheduling pass look at the first N waiting
    jobs only, as the ``queue-depth`` of flux-core's schedulers (8 for
    sched-simple and sched-fifo) and Fluxion (32) does: a job behind them
    neither starts nor, under ``conservative``, gets a reservation in that
    pass, and a pass that starts jobs is followed by another at the same
    instant; None (the default) looks at every waiting job. ``check``
    verifies the pool against the simulator's own record of allocations
    after every scheduling step (slower). ``progress`` is called with the number of
    jobs completed since its last call; ``timeline`` records ``(time, busy
    cores, queued jobs)`` after every event instant (for plots).

    Raises ``ValueError`` for an unknown scheduler, a shape option out of
    range or a ``queue_depth`` below 1, and ``TypeError`` for ``jobs`` that
    are not SWF jobs or a ``queue_depth`` that is not an int.
    """

    #: Whether EASY runs its counted loop where core counts decide (tests switch
    #: it off to compare it with the general loop).
    _fast = True
    #: Whether a new pass at one instant is skipped when no job behind the
    #: last one's view fits the free cores (tests switch it off: same starts).
    _skip_idle_passes = True

    def __init__(
        self,
        pool: ResourcePool,
        jobs: Union[SwfTrace, Iterable[SwfJob]],
        scheduler: str = DEFAULT_SCHEDULER,
        cores_per_node: int = 1,
        node_exclusive: bool = False,
        check: bool = False,
        progress: Optional[Callable[[int], None]] = None,
        timeline: bool = False,
        cores_per_task: int = 1,
        tasks_per_node: Optional[int] = None,
        queue_depth: Optional[int] = None,
    ) -> None:
        wall0 = _clock()
        if scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r} (choose from {', '.join(SCHEDULERS)})")
        if queue_depth is not None:
            try:
                if isinstance(queue_depth, bool):
                    raise TypeError
                queue_depth = operator.index(queue_depth)  # an int, or an integer type such as numpy's
            except TypeError:
                raise TypeError(f"queue_depth must be an integer count of jobs or None, got {queue_depth!r} "
                                f"({type(queue_depth).__name__})") from None
            if queue_depth < 1:
                raise ValueError(f"queue_depth must be at least 1 (or None: every waiting job), got {queue_depth}")
        if isinstance(jobs, SwfTrace):
            jobs = jobs.jobs
        jobs = list(jobs)
        if not all(map(isinstance, jobs, itertools.repeat(SwfJob))):
            bad = next(job for job in jobs if not isinstance(job, SwfJob))
            raise TypeError(f"jobs must be SwfJob objects (from fluxpool.swf.read_swf), got {type(bad).__name__}")
        self.pool = pool
        self.scheduler = scheduler
        #: How many waiting jobs, from the head, one scheduling pass looks at (None: all).
        self.queue_depth = queue_depth
        self.check = check
        self.progress = progress
        self.record_timeline = timeline
        self.cost = PoolCost()
        self.total_cores = pool.count("core")
        counts = rank_core_counts(pool)
        self._smallest_rank = min(counts) if counts else 0
        self.skipped: Dict[str, int] = {}
        self.too_wide_ids: List[int] = []
        self.jobs: List[_Job] = []
        self._shapes = dict(cores_per_node=cores_per_node, node_exclusive=node_exclusive,
                            cores_per_task=cores_per_task, tasks_per_node=tasks_per_node)
        # in submit order, ties by job number (two stable sorts: quicker than tuple keys)
        jobs.sort(key=operator.attrgetter("job_number"))
        jobs.sort(key=operator.attrgetter("submit_time"))
        # one object per job, all kept to the end: collecting young objects
        # meanwhile would only walk them (a quarter of the setup on 40,000 jobs)
        collecting = gc.isenabled()
        gc.disable()
        try:
            requests = self._prepare(jobs)
        finally:
            if collecting:
                gc.enable()
        #: Why placement cannot change the schedule here, or None (see ``placement_note``).
        self.placement_note = placement_note(requests, counts, pool.count("gpu"))
        # With these shapes a job fits exactly when enough cores are free.
        self._counts_decide = _counts_decide(requests, counts, pool.count("gpu"))
        self._setup_wall = _clock() - wall0

    # Every pool call goes through one of these, so its wall time is counted.

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = _clock()
        try:
            return fn(*args)
        finally:
            self._count(name, _clock() - t0)

    def _count(self, name: str, spent: float) -> None:
        """Record one pool call of ``name`` (the hot calls time themselves inline)."""
        cost = self.cost
        cost.calls[name] = cost.calls.get(name, 0) + 1
        cost.seconds[name] = cost.seconds.get(name, 0.0) + spent

    def _prepare(self, jobs: Sequence[SwfJob]) -> List[Any]:
        """Build one request per distinct processor count; skip what cannot run.

        The jobspec's duration is not what the simulator goes by (each job's
        end time is set with ``update_expiration`` from its own requested
        time), so jobs of one width share a request, whatever their times."""
        #: processors -> (request, why it cannot run or None, its least cores)
        requests: Dict[int, Tuple[Any, Optional[str], int]] = {}
        shapes = self._shapes
        kept = self.jobs
        for job in jobs:
            key = job_processors(job)
            reason = _skip_reason(job, key)
            if reason is None:
                known = requests.get(key)
                if known is None:
                    spec = make_jobspec(key, job_duration(job), **shapes)
                    request = self._timed("parse_resource_request", self.pool.parse_resource_request, spec)
                    try:
                        self._timed("check_feasibility", self.pool.check_feasibility, request)
                    except InfeasibleRequest:
                        reason = "too-wide"
                    if request.exclusive:
                        min_cores = request.nnodes * self._smallest_rank
                    else:
                        min_cores = request.ncores
                    known = requests[key] = (request, reason, min_cores)
                request, reason, min_cores = known
            if reason is not None:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
                if reason == "too-wide" and len(self.too_wide_ids) < SKIPPED_IDS_KEPT:
                    self.too_wide_ids.append(job.job_number)
                continue
            kept.append(_Job(len(kept), job, request, min_cores))
        return [request for request, reason, _ in requests.values() if reason is None]

    # -- pool operations ---------------------------------------------------------

    def _start(self, job: _Job, now: float, alloc: Any) -> None:
        t0 = _clock()
        self.pool.update_expiration(job.index, now + job.duration)
        self._count("update_expiration", _clock() - t0)
        job.start = now
        job.alloc = alloc
        job.cores = job.min_cores if self._counts_decide else alloc.count("core")
        self.free_cores -= job.cores
        self.busy_cores += job.cores
        heapq.heappush(self.completions, (now + job.run, job.index))
        if self._track_running:
            bisect.insort(self.running, (now + job.duration, job.index, job.cores))
        self.waiting.remove(job.index)
        if self.check:
            self._check_start(job)

    def _finish(self, job: _Job) -> None:
        t0 = _clock()
        self.pool.free(job.index)
        self._count("free", _clock() - t0)
        self.free_cores += job.cores
        self.busy_cores -= job.cores
        if self._track_running:
            running = self.running
            del running[bisect.bisect_left(running, (job.start + job.duration, job.index))]
        if self.check:
            self._check_finish(job)
        job.alloc = None

    def _try_alloc(self, pool: ResourcePool, job: _Job) -> Any:
        """The allocation result, or None when it does not fit now."""
        t0 = _clock()
        try:
            alloc = pool.alloc(job.index, job.request)
        except InsufficientResources:
            alloc = None
        except InfeasibleRequest as exc:  # _prepare() checked every job on this pool
            self._count("alloc", _clock() - t0)
            raise SimulationError(f"job {job.number}: pool reports infeasible after accepting it: {exc}") from exc
        self._count("alloc", _clock() - t0)
        return alloc

    def _try_start(self, job: _Job, now: float) -> bool:
        """Start ``job`` now if the real pool can place it."""
        if job.min_cores > self.free_cores:
            return False
        alloc = self._try_alloc(self.pool, job)
        if alloc is None:
            return False
        self._start(job, now, alloc)
        return True

    # -- schedulers --------------------------------------------------------------

    def _head(self) -> Optional[_Job]:
        """The first waiting job (the queue head), or None."""
        jobs, pos = self.jobs, self._head_pos
        while pos < self._arrived and jobs[pos].start is not None:
            pos += 1
        self._head_pos = pos
        return jobs[pos] if pos < self._arrived else None

    def _schedule(self, now: float) -> None:
        """The scheduling at ``now``: one pass, run again while a queue depth
        hides waiting jobs and the last pass started some (the jobs behind
        move up into view, as flux-core's job manager sends the scheduler the
        next pending job once one is allocated)."""
        depth, waiting = self.queue_depth, self.waiting
        while True:
            before = waiting.count
            self._pass(now)
            if depth is None or before <= depth or waiting.count == before:
                return
            # The jobs the pass saw and left waiting cannot start now (they
            # would have); only one behind them that fits the free cores might.
            if (self._skip_idle_passes and waiting.indexed
                    and waiting.first_fitting(self._depth_limit, self.free_cores) < 0):
                return

    def _pass(self, now: float) -> None:
        """One scheduling pass over the first ``queue_depth`` waiting jobs (all without one)."""
        head = self._head()
        if head is None:
            return
        depth = self.queue_depth
        limit = self._arrived
        if depth is not None and self.waiting.count > depth:
            # the pass looks at the first ``depth`` waiting jobs: those before ``limit``
            jobs, limit, seen = self.jobs, head.index, 0
            while seen < depth:
                if jobs[limit].start is None:
                    seen += 1
                limit += 1
        self._depth_limit = limit
        while head.index < limit and self._try_start(head, now):
            head = self._head()
            if head is None:
                return
        if head.index >= limit or self.waiting.count < 2:
            return
        if self.scheduler == "easy":
            self._backfill(now, head)
        elif self.scheduler == "conservative":
            self._conservative(now, head)

    def _shadow(self, head: _Job) -> Tuple[float, Optional[ResourcePool], int]:
        """When the head can start and what the pool will look like then.

        Returns the end time after which the head fits; the pool at that time
        (a copy with every job ending by then freed, the head not allocated;
        None when core counts decide and no copy is needed); and at most how
        many cores stay free there once the head is placed (EASY's "extra"
        cores: exact when counts decide, otherwise a bound used only to skip
        hopeless candidates).
        """
        free_cores = self.free_cores
        jobs = self.jobs
        if self._counts_decide:
            running = self.running
            k, n = 0, len(running)
            while k < n:
                end = running[k][0]
                while k < n and running[k][0] == end:  # jobs ending at one time end together
                    free_cores += running[k][2]
                    k += 1
                if free_cores >= head.min_cores:
                    return end, None, free_cores - head.min_cores
            raise SimulationError(f"job {head.number} does not fit even an empty pool")
        sim = self._timed("copy", self.pool.copy)
        ends = sorted(self._timed("job_end_times", sim.job_end_times), key=lambda e: e[1])
        k, n = 0, len(ends)
        while k < n:
            end = ends[k][1]
            while k < n and ends[k][1] == end:
                jobid = ends[k][0]
                self._timed("free", sim.free, jobid)
                free_cores += jobs[jobid].cores
                k += 1
            if head.min_cores <= free_cores and self._try_alloc(sim, head) is not None:
                self._timed("free", sim.free, head.index)
                # An upper bound on what the head leaves free: an exclusive head
                # placed elsewhere on a mixed cluster might take fewer cores.
                return end, sim, free_cores - head.min_cores
        raise SimulationError(f"job {head.number} does not fit even an empty pool")

    def _backfill(self, now: float, head: _Job) -> None:
        if self.free_cores <= 0:
            return
        if self._shadow_key == (head.index, self.pool.generation):
            end, base, extra = self._shadow_cache
        else:
            end, base, extra = self._shadow(head)
        # A job past its requested time is expected to end at any moment.
        shadow = max(end, now)
        waiting = self.waiting
        pos = head.index + 1
        # A short queue is scanned in order; a deep one searched through the index.
        limit = self._depth_limit
        scan = ([p for p in waiting.order if head.index < p < limit] if waiting.count <= _SCAN_LIMIT else None)
        k = 0
        while self.free_cores > 0:
            if scan is None:
                # The index prunes on "requested time <= shadow - now"; the exact
                # test is "now + requested time > shadow" (a hair of slack for rounding).
                pos = waiting.find(pos, self.free_cores, _slack(shadow - now), extra)
                if pos < 0 or pos >= limit:
                    break
                job = self.jobs[pos]
                pos += 1
            else:
                if k == len(scan):
                    break
                job = self.jobs[scan[k]]
                k += 1
                if job.min_cores > self.free_cores:
                    continue
            ends_later = now + job.duration > shadow
            if ends_later and job.min_cores > extra:
                continue  # it would still hold more cores at the shadow time than the head leaves
            alloc = self._try_alloc(self.pool, job)
            if alloc is None:
                continue
            if ends_later and base is not None:
                # Allowed only if the head still fits at the shadow time next to
                # this job's real placement.
                self._timed("register_alloc", base.register_alloc, job.index, alloc)
                if self._try_alloc(base, head) is None:
                    self._timed("free", base.free, job.index)
                    self._timed("free", self.pool.free, job.index)
                    continue
                self._timed("free", base.free, head.index)
            self._start(job, now, alloc)
            if ends_later:
                extra -= job.cores
        # base is still the pool at the shadow time: the jobs started above
        # that end later are registered in it, so it stays valid until the
        # real pool changes again.
        self._shadow_key = (head.index, self.pool.generation)
        self._shadow_cache = (end, base, extra)

    # -- checks ----------------------------------------------------------------------

    def _check_start(self, job: _Job) -> None:
        masks = _rank_masks(job.alloc.to_dict())
        owned = self._owned
        for rank, mask in masks.items():
            clash = owned.get(rank, 0) & mask
            if clash:
                other = next(
                    (j.number for j in self.jobs
                     if j.alloc is not None and j is not job and self._held[j.index].get(rank, 0) & clash),
                    "?",
                )
                raise CheckError(f"rank {rank}: {_describe(clash)} in job {job.number} and job {other}")
            owned[rank] = owned.get(rank, 0) | mask
        self._held[job.index] = masks

    def _check_finish(self, job: _Job) -> None:
        owned = self._owned
        for rank, mask in self._held.pop(job.index).items():
            left = owned[rank] & ~mask
            if left:
                owned[rank] = left
            else:
                del owned[rank]

    def _verify(self) -> None:
        """No core or GPU in two jobs (checked as each job starts, from its
        allocation result) and the pool's ``copy_allocated()`` equal to the
        union of the running jobs' allocations (checked here, after each step)."""
        allocated = _rank_masks(self._timed("copy_allocated", self.pool.copy_allocated).to_dict())
        self.checks += 1
        if allocated != self._owned:
            ranks = sorted(set(allocated) | set(self._owned))
            diff = [r for r in ranks if allocated.get(r, 0) != self._owned.get(r, 0)]
            details = "; ".join(
                f"rank {r}: pool {_describe(allocated.get(r, 0))}, jobs {_describe(self._owned.get(r, 0))}"
                for r in diff[:5]
            )
            raise CheckError(f"the pool's allocations differ from the running jobs' on {len(diff)} rank(s): {details}")

    def _conservative(self, now: float, head: _Job) -> None:
        """Give every waiting job a reservation in queue order; start those reserved now.

        The profile is free cores over time: now the free cores plus those of
        running jobs past their requested end (expected to end at any moment),
        then each running job's cores back at its requested end. A job's
        reservation is the earliest breakpoint from which its cores stay free
        for its requested time; it is subtracted there before the next job is
        looked at. The pass stops once no job left can start now (none of them
        finds its cores free from now for its requested time, next to the
        reservations made so far): their reservations could only come later
        still, and they start nobody.

        Only the reservations that begin before T, the first time the profile
        holds fewer free cores than the smallest waiting job, can change who
        starts now: a job that starts now ends by T (its cores are not free
        at T). So the pass makes only those and leaves out every job in
        between, whose reservation would begin at T or later: per job size,
        ``_longest_free`` gives the longest time that many cores stay free
        from a breakpoint before T (``_free_from_now``: from now), and the
        size's min-tree of requested times the next waiting job short enough.
        Leaving a job out is exact: the profile before T is the same with or
        without it (more reservations only take cores away, so a job that
        finds no room before T without them finds none with them), and a job
        that fits before T ends by T, where it meets the same profile either
        way. Until the profile first runs that short, T never comes and every
        job is reserved in turn.
        """
        if self.free_cores <= 0:
            return
        waiting = self.waiting
        limit = self._depth_limit
        # per size (ascending): its queue positions and the min-tree of their requested times
        sizes, indexes, trees = waiting.widths, waiting.indexes, waiting.trees
        for smallest, tree in zip(sizes, trees):
            if tree.tree[1] < _INF:  # some job of this size waits
                break
        else:
            return
        # Only a job that fits the free cores now can start (the head was tried
        # first); the index is asked only when the queue depth hides some jobs.
        if smallest > self.free_cores:
            return
        if limit < self._arrived:
            first = waiting.first_fitting(head.index + 1, self.free_cores)
            if first < 0 or first >= limit:
                return
        jobs = self.jobs
        running = self.running
        # free cores from now: running jobs past their requested end count as
        # free now, the others come back at their end (jobs ending together as one step)
        overdue = bisect.bisect_right(running, (now, _INF))
        later = running[overdue:]
        now_free = self.free_cores + sum(map(_third, running[:overdue]))
        returned = itertools.accumulate(map(_third, later), initial=now_free)
        next(returned)
        steps = dict(zip(map(_first, later), returned))
        ts: List[float] = [now, *steps]
        fs: List[int] = [now_free, *steps.values()]
        m = len(sizes)
        durations = waiting.durations
        bisect_left = bisect.bisect_left
        # per size, where its positions pass the queue depth
        stops = [bisect_left(index, limit) for index in indexes] if limit < self._arrived else waiting.lengths
        pos = head.index
        # Per size, the next waiting position that fits before T, and the next
        # that fits from now (limit: none is left; -1: not searched yet). Both
        # bounds only shrink during a pass, so a search goes on from the last
        # find, a size with none left never has one again, and a find at or
        # past the position a pass goes to next is left until it is reached.
        found = [-1] * m
        # a size wider than the cores free now never fits from now in this pass
        found_now = [-1 if size <= now_free else limit for size in sizes]
        hint = 0  # the size of the last job found to fit from now
        window = False
        while True:
            if not window:
                # T and the bounds of this profile (each worked out when first needed)
                n = len(ts)
                low = min(fs)
                if low >= smallest:
                    end, span = n, _UNBOUNDED
                else:
                    end = 0
                    while fs[end] >= smallest:
                        end += 1
                    span = _slack(ts[end] - ts[0])  # no stretch before T is longer
                longest: List[Optional[float]] = [None] * m
                from_now: List[Optional[float]] = [None] * m
                window = True
            # is a job left that may start now? (the size found last is asked first)
            k = hint
            for _ in range(m):
                there = found_now[k]
                if there < limit:
                    shortest = trees[k].tree[1]  # of the waiting jobs of this size
                    if span < shortest:
                        there = found_now[k] = limit
                    else:
                        bound = from_now[k]
                        if bound is None:
                            bound = from_now[k] = _UNBOUNDED if sizes[k] <= low else _free_from_now(ts, fs, sizes[k])
                        if bound < shortest:  # (or -1: not free now)
                            there = found_now[k] = limit
                        elif there < pos or durations[there] > bound:
                            there = found_now[k] = _resume(indexes[k], trees[k], pos if there < pos else there + 1,
                                                           bound, stops[k], limit)
                    if there < limit:
                        break
                k += 1
                if k == m:
                    k = 0
            else:
                return  # none: no job left can start now
            hint = k
            if end == n:
                # T never comes: every job fits somewhere before it; take the next
                nxt = pos
                while jobs[nxt].start is not None:
                    nxt += 1
            else:
                # the first job that fits before T: none is past the one found to fit now
                nxt = there
                for k in range(m):
                    here = found[k]
                    if here < nxt:
                        shortest = trees[k].tree[1]  # of the waiting jobs of this size
                        if span < shortest:
                            found[k] = limit
                            continue
                        bound = longest[k]
                        if bound is None:
                            bound = longest[k] = _longest_free(ts, fs, sizes[k], end)
                        if bound < shortest:  # (or -1: nowhere free)
                            here = found[k] = limit
                        elif here < pos or durations[here] > bound:
                            here = found[k] = _resume(indexes[k], trees[k], pos if here < pos else here + 1,
                                                      bound, stops[k], limit)
                        if here < nxt:
                            nxt = here
            job = jobs[nxt]
            pos = nxt + 1
            need, duration = job.min_cores, job.duration
            i, j, until = _earliest_fit(ts, fs, need, duration)
            if i >= end:
                continue  # its reservation begins at T or later (a hair of slack let it through)
            amount = need
            if i == 0 and job is not head and self._try_start(job, now):
                amount = job.cores
            if duration > 0:
                if j == len(ts) or ts[j] != until:
                    ts.insert(j, until)
                    fs.insert(j, fs[j - 1])
                fs[i:j] = [f - amount for f in fs[i:j]]
            window = False

    # -- the event loop ---------------------------------------------------------------

    def run(self) -> SimulationResult:
        """Run the trace to the end and return what was measured.

        Raises ``SimulationError`` when a job can never start (nothing runs
        and it does not fit) and ``CheckError`` when ``check`` finds the pool
        and the running jobs disagreeing."""
        wall0 = _clock()
        jobs = self.jobs
        self.running: List[Tuple[float, int, int]] = []  # (requested end, index, cores), sorted; not for fcfs
        self._track_running = self.scheduler != "fcfs"
        self.completions: List[Tuple[Any, ...]] = []
        self.free_cores = self.total_cores
        self.busy_cores = 0
        self.checks = 0
        self._head_pos = 0
        self._arrived = 0
        if (self.scheduler == "easy" and self._counts_decide and not self.check and self._fast
                and self.queue_depth is None):
            return self._run_easy_counted(wall0)
        self.waiting = _WaitIndex([j.min_cores for j in jobs], [j.duration for j in jobs],
                                  indexed=self.scheduler != "fcfs")
        self._owned: Dict[int, int] = {}
        self._held: Dict[int, Dict[int, int]] = {}
        self._shadow_key: Any = None
        self._shadow_cache: Any = None
        timeline: List[Tuple[float, int, int]] = []
        completions = self.completions
        waiting = self.waiting
        last_end = None
        done_since_report = 0
        i, n = 0, len(jobs)
        while i < n or completions:
            now = completions[0][0] if completions else jobs[i].submit
            if i < n and jobs[i].submit < now:
                now = jobs[i].submit
            while completions and completions[0][0] <= now:
                _, index = heapq.heappop(completions)
                self._finish(jobs[index])
                last_end = now
                done_since_report += 1
            first = i
            while i < n and jobs[i].submit <= now:
                i += 1
            if i > first:
                waiting.add_range(first, i)
            self._arrived = i
            self._schedule(now)
            if self.check:
                self._verify()
            if self.record_timeline:
                timeline.append((now, self.busy_cores, waiting.count))
            if self.progress is not None and done_since_report >= 256:
                self.progress(done_since_report)
                done_since_report = 0
            if not completions and waiting.count and i >= n:
                head = self._head()
                raise SimulationError(
                    f"job {head.number if head else '?'} can never start: nothing is running and it does not fit"
                )
        if self.progress is not None and done_since_report:
            self.progress(done_since_report)
        return self._result(last_end, timeline, self._setup_wall + _clock() - wall0)

    def _run_easy_counted(self, wall0: float) -> SimulationResult:
        """``run`` for EASY where core counts decide (and no ``check``): the
        same schedule, pool calls and measurements as the general loop, with
        the per-job bookkeeping in local variables.

        Where counts decide, a job fits exactly when its cores are free, so a
        backfill search never meets a job the pool refuses, and the cores and
        requested times that qualify a job only shrink during a pass: each
        search can start from the queue head instead of after the last job
        started. The head is taken out of the index when it becomes the head;
        per job size the index keeps the first waiting position (the answer
        for sizes that fit into the head's extra cores) and a min-tree of
        requested times (descended from the root: the first job of that size
        ending by the shadow time).

        The shadow is found by the general loop's scan of the running jobs
        and then kept up to date instead of rescanned. With A(E) the cores
        free once the jobs ending by E have ended, the shadow time S is the
        first end time with A(S) >= the head's cores, extra = A(S) - those
        cores, and ``before`` is A at the end time before S (the free cores
        when there is none). A job of c cores ending (by its requested end
        e) raises A by c before e: nothing changes if e < S (A stays below
        ``before`` there); otherwise extra (if e > S) and ``before`` grow by
        c, and the shadow is rescanned if ``before`` reaches the head's cores
        (S comes earlier). A job started by backfill lowers A by c before its
        end; where the general loop counts it otherwise (S is past and the
        job ends now), the shadow is rescanned after the next change.
        """
        jobs = self.jobs
        n = len(jobs)
        pool = self.pool
        clock = _clock
        alloc, free_job, expire = pool.alloc, pool.free, pool.update_expiration
        heappush, heappop = heapq.heappush, heapq.heappop
        bisect_left, bisect_right = bisect.bisect_left, bisect.bisect_right
        needs = list(map(operator.attrgetter("min_cores"), jobs))
        durations = list(map(operator.attrgetter("duration"), jobs))
        # the trees hold requested times as floats where that is exact (comparing
        # a float with a float is much quicker than with an int)
        keys = list(map(float, durations))
        if keys != durations:
            keys = durations
        submits = list(map(operator.attrgetter("submit"), jobs))
        widths = sorted(set(needs))
        nw = len(widths)
        wid = list(map({w: k for k, w in enumerate(widths)}.__getitem__, needs))  # position -> size number
        # the positions of each size in queue order, then n (a sentinel); a
        # position's leaf is its place there (one pass: twice as quick as a sort)
        members: List[List[int]] = [[] for _ in widths]
        local: List[int] = []  # position -> its place in members[wid]
        for pos, k in enumerate(wid):
            m = members[k]
            local.append(len(m))
            m.append(pos)
        for m in members:
            m.append(n)
        by_time = [_MinTree(len(m) - 1) for m in members]
        trees = [t.tree for t in by_time]
        sizes = [t.size for t in by_time]
        taken = [False] * (n + 1)  # started or the queue head (out of the index)
        firsts = [m[0] for m in members]  # first position per size not taken (n: none)
        heads = [0] * nw  # its place in members

        def take(pos: int) -> None:
            """Take ``pos`` out of the index."""
            k = wid[pos]
            by_time[k].set(local[pos], _INF)
            taken[pos] = True
            if firsts[k] == pos:
                m = members[k]
                h = heads[k] + 1
                while taken[m[h]]:
                    h += 1
                heads[k] = h
                firsts[k] = m[h]

        total = self.total_cores
        # the running jobs' requested ends, sorted, and their positions alongside (self.running
        # holds positions here, not the general loop's (end, position) pairs)
        ends: List[float] = []
        running: List[Any] = []
        self.running = running
        completions = self.completions
        record_timeline, progress = self.record_timeline, self.progress
        timeline: List[Tuple[float, int, int]] = []
        free, count = self.free_cores, 0
        t_alloc = t_free = t_expire = 0.0
        head = arrived = i = done = reported = refused = 0
        # the shadow: (end, extra) as the general loop would use them now when
        # shadow_ok; exact when they also equal a rescan (kept up to date then)
        shadow_ok = exact = False
        end = extra = before = need = 0
        ended = None
        try:
            while i < n or completions:
                now = completions[0][0] if completions else submits[i]
                if i < n and submits[i] < now:
                    now = submits[i]
                while completions and completions[0][0] <= now:
                    ended, pos, e = heappop(completions)
                    t0 = clock()
                    free_job(pos)
                    t_free += clock() - t0
                    done += 1
                    cores = needs[pos]
                    free += cores
                    k = running.index(pos, bisect_left(ends, e))
                    del ends[k]
                    del running[k]
                    if not exact:
                        shadow_ok = False
                    elif e >= end:
                        if before + cores >= need:
                            shadow_ok = False  # the shadow may come earlier
                        else:  # (S keeps a job: A(S) >= need > before + cores)
                            before += cores
                            if e > end:
                                extra += cores
                first = i
                while i < n and submits[i] <= now:
                    i += 1
                if i > first:
                    count += i - first
                    if i - first < 32:
                        for pos in range(first, i):
                            k = wid[pos]
                            by_time[k].set(local[pos], keys[pos])
                    else:
                        _fill_by_size(zip(by_time, members), first, i, keys)
                    arrived = i
                    if head < arrived and not taken[head]:
                        take(head)
                # start the head while it fits, then backfill
                while True:
                    if head < arrived and needs[head] <= free:
                        pos = head
                    elif head < arrived and count >= 2 and free > 0:
                        if not shadow_ok:
                            need = needs[head]
                            have, end = free, None
                            for e, pos in zip(ends, running):
                                if e != end:
                                    if have >= need:
                                        break
                                    end, before = e, have
                                have += needs[pos]
                            if end is None or have < need:
                                raise SimulationError(f"job {jobs[head].number} does not fit even an empty pool")
                            extra = have - need
                            shadow_ok = exact = True
                        shadow = end if end > now else now
                        within = _slack(shadow - now)
                        # sizes that fit into the extra cores: the first waiting job of each
                        k0 = bisect_right(widths, extra if extra < free else free)
                        pos = arrived
                        if k0:
                            pos = min(firsts[:k0])
                            if pos > arrived:
                                pos = arrived
                        # larger sizes: the first job of each ending by the shadow time
                        for k in range(k0, bisect_right(widths, free)):
                            tree = trees[k]
                            if firsts[k] >= pos or tree[1] > within:
                                continue
                            j = by_time[k].leftmost(within)  # >= 0: the root holds one
                            found = members[k][j]
                            # the tree prunes with a hair of slack for rounding: the exact test
                            while now + durations[found] > shadow:
                                j = by_time[k].first(j + 1, within, sizes[k])
                                if j < 0:
                                    break
                                found = members[k][j]
                            else:
                                if found < pos:
                                    pos = found
                        if pos >= arrived:
                            break
                        take(pos)
                    else:
                        break
                    cores = needs[pos]
                    job = jobs[pos]
                    ends_at = now + durations[pos]
                    t0 = clock()
                    try:
                        alloc(pos, job.request)
                    except (InsufficientResources, InfeasibleRequest) as exc:
                        t_alloc += clock() - t0
                        refused = 1
                        raise SimulationError(f"job {job.number}: pool refused a job whose cores are free: {exc}") from exc
                    t1 = clock()
                    expire(pos, ends_at)
                    t2 = clock()
                    t_alloc += t1 - t0
                    t_expire += t2 - t1
                    job.start = now
                    job.cores = cores
                    free -= cores
                    count -= 1
                    heappush(completions, (now + job.run, pos, ends_at))
                    k = bisect_right(ends, ends_at)
                    ends.insert(k, ends_at)
                    running.insert(k, pos)
                    if pos == head:
                        shadow_ok = False
                        head += 1
                        while head < arrived and taken[head]:
                            head += 1
                        if head < arrived:
                            take(head)
                    elif ends_at > end:
                        before -= cores
                        if ends_at > shadow:
                            extra -= cores
                        else:
                            exact = False  # the general loop keeps extra here (S is past; the job ends now)
                    elif ends_at == end:
                        before -= cores
                if record_timeline:
                    timeline.append((now, total - free, count))
                if progress is not None and done - reported >= 256:
                    progress(done - reported)
                    reported = done
                if not completions and count and i >= n:
                    raise SimulationError(
                        f"job {jobs[head].number if head < arrived else '?'} can never start: "
                        "nothing is running and it does not fit"
                    )
        finally:
            cost = self.cost
            started = arrived - count  # each with one alloc and one update_expiration
            for name, calls, spent in (("alloc", started + refused, t_alloc), ("update_expiration", started, t_expire),
                                       ("free", done, t_free)):
                if calls:
                    cost.calls[name] = cost.calls.get(name, 0) + calls
                    cost.seconds[name] = cost.seconds.get(name, 0.0) + spent
            self.free_cores, self.busy_cores = free, total - free
            self._head_pos, self._arrived = head, arrived
        if progress is not None and done > reported:
            progress(done - reported)
        return self._result(ended, timeline, self._setup_wall + _clock() - wall0)

    def _result(self, last_end: Optional[float], timeline: List[Tuple[float, int, int]], wall: float) -> SimulationResult:
        jobs = self.jobs
        waits = [j.start - j.submit for j in jobs]
        ordered = sorted(waits)
        makespan = (last_end - jobs[0].submit) if jobs else 0.0
        work = sum(j.cores * j.run for j in jobs)
        slowdowns = [
            max(1.0, (j.start - j.submit + j.run) / max(j.run, BOUNDED_SLOWDOWN_TAU)) for j in jobs
        ]
        return SimulationResult(
            scheduler=self.scheduler,
            policy=TREE if isinstance(self.pool, TreePool) else self.pool.policy,
            nodes=self.pool.nnodes(),
            cores=self.total_cores,
            jobs_completed=len(jobs),
            skipped=dict(self.skipped),
            too_wide_ids=list(self.too_wide_ids),
            makespan_s=float(makespan),
            utilization=work / (self.total_cores * makespan) if makespan > 0 and self.total_cores else 0.0,
            mean_wait_s=sum(ordered) / len(ordered) if ordered else 0.0,
            p95_wait_s=float(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]) if ordered else 0.0,
            mean_bounded_slowdown=sum(slowdowns) / len(slowdowns) if slowdowns else 0.0,
            cost=self.cost,
            wall_s=wall,
            checks=self.checks,
            start_times={j.number: j.start for j in jobs},
            timeline=timeline,
            waits=waits,
            placement_note=self.placement_note, queue_depth=self.queue_depth,
        )


def simulate(
    jobs: Union[SwfTrace, Iterable[SwfJob]],
    R: Any,
    policy: str = DEFAULT_POLICY,
    scheduler: str = DEFAULT_SCHEDULER,
    cores_per_node: int = 1,
    node_exclusive: bool = False,
    check: bool = False,
    progress: Optional[Callable[[int], None]] = None,
    timeline: bool = False,
    cores_per_task: int = 1,
    tasks_per_node: Optional[int] = None,
    queue_depth: Optional[int] = None,
) -> SimulationResult:
    """Run a trace on a new pool and return what was measured.

    ``jobs`` is what ``fluxpool.swf.read_swf`` returns (an ``SwfTrace``) or
    any iterable of its ``SwfJob``s; ``R`` is R version 1 (a dict or JSON
    text), e.g. ``cluster_R(nodes, cores_per_node, gpus_per_node)``. The pool
    is ``new_pool(R, policy)`` (strict mode); ``scheduler`` is ``"easy"``
    (``DEFAULT_SCHEDULER``, as for ``fluxpool simulate``), ``"fcfs"`` or
    ``"conservative"``; the shape arguments go to ``swf.make_jobspec``;
    ``queue_depth`` bounds the waiting jobs a pass looks at. See
    ``Simulation`` for the rest. Raises ``ValueError``/``TypeError``/``KeyError``
    for a bad R, policy, scheduler or shape, and ``SimulationError`` when the
    run cannot go on.
    """
    pool = new_pool(R, policy)
    return Simulation(
        pool, jobs, scheduler=scheduler, cores_per_node=cores_per_node, node_exclusive=node_exclusive,
        check=check, progress=progress, timeline=timeline, cores_per_task=cores_per_task,
        tasks_per_node=tasks_per_node, queue_depth=queue_depth,
    ).run()
