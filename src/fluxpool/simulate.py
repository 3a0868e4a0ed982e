"""Replay a job trace through a scheduler on a ``ResourcePool``, in simulated time.

The simulator is a discrete-event loop over two kinds of event: a job's
submission (its SWF submit time) and its completion (start time plus its SWF
run time). At one instant, completions are processed first (their resources
are freed), then submissions (queued in submit order, ties by job number),
then one scheduling pass. A job started with a zero run time completes at the
same instant, which triggers another round at that instant.

Two schedulers:

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

The scheduler's view of time is the jobspec duration (SWF requested time);
the simulated truth is the SWF run time. After each ``alloc`` the job's end
time is set with ``update_expiration(jobid, now + duration)`` (the pool would
otherwise record wall-clock time), and at completion the job is freed with
``free(jobid)``. Every pool call is timed, so the summary can say what the
pool itself cost.
"""

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import InfeasibleRequest, InsufficientResources
from .pool import ResourcePool
from .swf import SwfJob, job_duration, job_processors, make_jobspec, skip_reason

__all__ = [
    "SCHEDULERS",
    "POLICIES",
    "SimulationError",
    "CheckError",
    "PoolCost",
    "SimulationResult",
    "Simulation",
    "simulate",
    "make_R",
    "machine_shape",
    "rank_core_counts",
]

_clock = time.perf_counter

SCHEDULERS = ("fcfs", "easy")
POLICIES = ("first-fit", "best-fit", "worst-fit")

#: Bounded slowdown's lower bound on the run time, seconds (Feitelson's 10 s).
BOUNDED_SLOWDOWN_TAU = 10.0
#: How many ids of never-fitting jobs a result keeps for the report.
SKIPPED_IDS_KEPT = 10


class SimulationError(RuntimeError):
    """The simulation cannot go on (e.g. the pool refused a request it accepted before)."""


class CheckError(SimulationError):
    """``check=True`` found the pool and the simulator's allocations disagreeing."""


# -- cluster shape -------------------------------------------------------------------


def machine_shape(
    max_nodes: Optional[int],
    max_procs: Optional[int],
    widest_job: int = 1,
    nodes: Optional[int] = None,
    cores_per_node: Optional[int] = None,
) -> Tuple[int, int]:
    """The ``(nodes, cores_per_node)`` of the simulated cluster.

    Options win (``nodes``, ``cores_per_node``); what they leave open comes
    from the trace header so that the machine keeps its processor count:

    - ``MaxNodes`` and ``MaxProcs`` known: MaxNodes nodes of
      ceil(MaxProcs / MaxNodes) cores (LLNL Atlas: 1152 x 8).
    - only ``MaxProcs`` known: one core per node, MaxProcs nodes. SWF counts
      processors, the unit a job was given, so each becomes a node; with
      ``--cores-per-node C`` it is ceil(MaxProcs / C) nodes of C cores.
    - only ``MaxNodes`` known (the Lublin model traces): MaxNodes nodes of one
      core; the model's job sizes count those nodes.
    - neither: the widest job in the trace, one core per node.

    With one option given, the other is worked out from the processor count
    when it is known (``--nodes N`` -> ceil(MaxProcs / N) cores each).
    """
    total = max_procs if max_procs else (None if max_nodes else max(widest_job, 1))
    if nodes is None and cores_per_node is None:
        if max_nodes:
            return max_nodes, -(-total // max_nodes) if total else 1
        return total, 1
    if nodes is None:
        return (-(-total // cores_per_node) if total else max_nodes), cores_per_node
    if cores_per_node is None:
        return nodes, (-(-total // nodes) if total else 1)
    return nodes, cores_per_node


def make_R(nodes: int, cores_per_node: int, gpus_per_node: int = 0, hostname: str = "node") -> Dict[str, Any]:
    """R version 1 for ``nodes`` identical nodes (ranks 0..nodes-1, hosts ``node0``...)."""
    if nodes < 1 or cores_per_node < 1 or gpus_per_node < 0:
        raise ValueError(
            f"a cluster needs at least one node and one core per node, got "
            f"{nodes} node(s) x {cores_per_node} core(s), {gpus_per_node} GPU(s)"
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
    - ``start_times``: job number -> simulated start time.
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
        self.min_cores = min_cores  # a lower bound on the cores it will hold
        self.start: Optional[float] = None
        self.cores = 0
        self.alloc: Any = None


class Simulation:
    """One run of a trace through a scheduler on a pool.

    ``pool`` is used as given (it must be empty: nothing allocated). ``jobs``
    are SWF jobs in any order. ``cores_per_node`` and ``node_exclusive`` shape
    the jobspecs (``swf.make_jobspec``). ``check`` verifies the pool against
    the simulator's own record of allocations after every scheduling step
    (slower). ``progress`` is called with the number of jobs completed since
    its last call; ``timeline`` records ``(time, busy cores, queued jobs)``
    after every event instant (for plots).
    """

    def __init__(
        self,
        pool: ResourcePool,
        jobs: Iterable[SwfJob],
        scheduler: str = "fcfs",
        cores_per_node: int = 1,
        node_exclusive: bool = False,
        check: bool = False,
        progress: Optional[Callable[[int], None]] = None,
        timeline: bool = False,
    ) -> None:
        if scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r} (choose from {', '.join(SCHEDULERS)})")
        self.pool = pool
        self.scheduler = scheduler
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
        self._prepare(sorted(jobs, key=lambda j: (j.submit_time, j.job_number)), cores_per_node, node_exclusive)

    # Every pool call goes through one of these, so its wall time is counted.

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = _clock()
        try:
            return fn(*args)
        finally:
            spent = _clock() - t0
            cost = self.cost
            cost.calls[name] = cost.calls.get(name, 0) + 1
            cost.seconds[name] = cost.seconds.get(name, 0.0) + spent

    def _prepare(self, jobs: Sequence[SwfJob], cores_per_node: int, node_exclusive: bool) -> None:
        requests: Dict[Tuple[int, float], Tuple[Any, Optional[str]]] = {}
        for job in jobs:
            reason = skip_reason(job)
            if reason is None:
                procs = job_processors(job)
                key = (procs, job_duration(job))
                if key not in requests:
                    spec = make_jobspec(procs, key[1], cores_per_node, node_exclusive)
                    request = self._timed("parse_resource_request", self.pool.parse_resource_request, spec)
                    try:
                        self._timed("check_feasibility", self.pool.check_feasibility, request)
                        requests[key] = (request, None)
                    except InfeasibleRequest:
                        requests[key] = (request, "too-wide")
                request, reason = requests[key]
            if reason is not None:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
                if reason == "too-wide" and len(self.too_wide_ids) < SKIPPED_IDS_KEPT:
                    self.too_wide_ids.append(job.job_number)
                continue
            if request.exclusive:
                min_cores = request.nnodes * self._smallest_rank
            else:
                min_cores = request.ncores
            self.jobs.append(_Job(len(self.jobs), job, request, min_cores))

    # -- pool operations ---------------------------------------------------------

    def _start(self, job: _Job, now: float, alloc: Any) -> None:
        self._timed("update_expiration", self.pool.update_expiration, job.index, now + job.duration)
        job.start = now
        job.alloc = alloc
        job.cores = alloc.count("core")
        self.free_cores -= job.cores
        self.busy_cores += job.cores
        heapq.heappush(self.completions, (now + job.run, job.index))
        if self.check:
            self._check_start(job)

    def _finish(self, job: _Job) -> None:
        self._timed("free", self.pool.free, job.index)
        self.free_cores += job.cores
        self.busy_cores -= job.cores
        if self.check:
            self._check_finish(job)
        job.alloc = None

    def _try_alloc(self, pool: ResourcePool, job: _Job) -> Any:
        """The allocation result, or None when it does not fit now."""
        try:
            return self._timed("alloc", pool.alloc, job.index, job.request)
        except InsufficientResources:
            return None
        except InfeasibleRequest as exc:  # _prepare() checked every job on this pool
            raise SimulationError(f"job {job.number}: pool reports infeasible after accepting it: {exc}") from exc

    # -- schedulers --------------------------------------------------------------

    def _schedule(self, now: float) -> None:
        queue = self.queue
        while queue:
            head = queue[0]
            alloc = self._try_alloc(self.pool, head)
            if alloc is None:
                break
            queue.popleft()
            self._start(head, now, alloc)
        if self.scheduler == "easy" and len(queue) > 1:
            self._backfill(now)

    def _shadow(self, head: _Job) -> Tuple[float, ResourcePool, int]:
        """When the head can start and what the pool will look like then.

        Returns the end time after which the head fits; the pool at that time
        (a copy with every job ending by then freed, the head not allocated);
        and at most how many cores stay free there once the head is placed
        (EASY's "extra" cores: a bound used only to skip hopeless candidates).
        """
        sim = self._timed("copy", self.pool.copy)
        ends = sorted(self._timed("job_end_times", sim.job_end_times), key=lambda e: e[1])
        free_cores = self.free_cores
        jobs = self.jobs
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

    def _backfill(self, now: float) -> None:
        queue = self.queue
        head = queue[0]
        if self._shadow_key == (head.index, self.pool.generation):
            end, base, extra = self._shadow_cache
        else:
            end, base, extra = self._shadow(head)
        # A job past its requested time is expected to end at any moment.
        shadow = max(end, now)
        started = []
        for job in list(queue)[1:]:
            if self.free_cores <= 0:
                break
            if job.min_cores > self.free_cores:
                continue
            ends_later = now + job.duration > shadow
            if ends_later and job.min_cores > extra:
                continue  # it would still hold more cores at the shadow time than the head leaves
            alloc = self._try_alloc(self.pool, job)
            if alloc is None:
                continue
            if ends_later:
                # Allowed only if the head still fits at the shadow time next to
                # this job's real placement.
                self._timed("register_alloc", base.register_alloc, job.index, alloc)
                if self._try_alloc(base, head) is None:
                    self._timed("free", base.free, job.index)
                    self._timed("free", self.pool.free, job.index)
                    continue
                self._timed("free", base.free, head.index)
                extra -= alloc.count("core")
            self._start(job, now, alloc)
            started.append(job)
        if started:
            gone = set(j.index for j in started)
            self.queue = deque(j for j in queue if j.index not in gone)
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

    # -- the event loop ---------------------------------------------------------------

    def run(self) -> SimulationResult:
        """Run the trace to the end and return what was measured."""
        wall0 = time.perf_counter()
        jobs = self.jobs
        self.queue: Deque[_Job] = deque()
        self.completions: List[Tuple[float, int]] = []
        self.free_cores = self.total_cores
        self.busy_cores = 0
        self.checks = 0
        self._owned: Dict[int, int] = {}
        self._held: Dict[int, Dict[int, int]] = {}
        self._shadow_key: Any = None
        self._shadow_cache: Any = None
        timeline: List[Tuple[float, int, int]] = []
        completions = self.completions
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
            while i < n and jobs[i].submit <= now:
                self.queue.append(jobs[i])
                i += 1
            self._schedule(now)
            if self.check:
                self._verify()
            if self.record_timeline:
                timeline.append((now, self.busy_cores, len(self.queue)))
            if self.progress is not None and done_since_report >= 256:
                self.progress(done_since_report)
                done_since_report = 0
            if not completions and self.queue and i >= n:
                raise SimulationError(
                    f"job {self.queue[0].number} can never start: nothing is running and it does not fit"
                )
        if self.progress is not None and done_since_report:
            self.progress(done_since_report)
        return self._result(last_end, timeline, time.perf_counter() - wall0)

    def _result(self, last_end: Optional[float], timeline: List[Tuple[float, int, int]], wall: float) -> SimulationResult:
        jobs = self.jobs
        waits = sorted(j.start - j.submit for j in jobs)
        makespan = (last_end - jobs[0].submit) if jobs else 0.0
        work = sum(j.cores * j.run for j in jobs)
        slowdowns = [
            max(1.0, (j.start - j.submit + j.run) / max(j.run, BOUNDED_SLOWDOWN_TAU)) for j in jobs
        ]
        return SimulationResult(
            scheduler=self.scheduler,
            policy=self.pool.policy,
            nodes=self.pool.nnodes(),
            cores=self.total_cores,
            jobs_completed=len(jobs),
            skipped=dict(self.skipped),
            too_wide_ids=list(self.too_wide_ids),
            makespan_s=float(makespan),
            utilization=work / (self.total_cores * makespan) if makespan > 0 and self.total_cores else 0.0,
            mean_wait_s=sum(waits) / len(waits) if waits else 0.0,
            p95_wait_s=float(waits[max(0, math.ceil(0.95 * len(waits)) - 1)]) if waits else 0.0,
            mean_bounded_slowdown=sum(slowdowns) / len(slowdowns) if slowdowns else 0.0,
            cost=self.cost,
            wall_s=wall,
            checks=self.checks,
            start_times={j.number: j.start for j in jobs},
            timeline=timeline,
        )



def simulate(
    jobs: Iterable[SwfJob],
    R: Any,
    policy: str = "first-fit",
    scheduler: str = "fcfs",
    cores_per_node: int = 1,
    node_exclusive: bool = False,
    check: bool = False,
    progress: Optional[Callable[[int], None]] = None,
    timeline: bool = False,
) -> SimulationResult:
    """Build ``ResourcePool(R, policy=policy)`` and run ``jobs`` on it (see ``Simulation``)."""
    pool = ResourcePool(R, policy=policy)
    return Simulation(
        pool, jobs, scheduler=scheduler, cores_per_node=cores_per_node, node_exclusive=node_exclusive,
        check=check, progress=progress, timeline=timeline,
    ).run()
