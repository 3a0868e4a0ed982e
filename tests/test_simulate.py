"""The simulator: SWF job -> jobspec mapping, FCFS, EASY and conservative on hand-made traces.

Every expected start time below was worked out by hand from the rules in
``fluxpool.simulate`` and is written as a literal.
"""

import pytest

import fluxpool.simulate as simulate_module
from fluxpool import ResourcePool
from fluxpool.simulate import (
    DEFAULT_SCHEDULER,
    CheckError,
    Simulation,
    cluster_R,
    machine_shape,
    make_R,
    new_pool,
    plan_machine,
    rank_core_counts,
    simulate,
)
from fluxpool.swf import (
    read_swf,
    job_duration,
    job_jobspec,
    job_processors,
    make_jobspec,
    parse_swf,
    skip_reason,
)


def swf_job(number, submit, run, procs, req_time=-1, req_procs=None):
    """One SWF line: fields 1, 2, 4, 5, 8, 9 as given, the rest unknown."""
    req_procs = procs if req_procs is None else req_procs
    return f"{number} {submit} -1 {run} {procs} -1 -1 {req_procs} {req_time} -1 1 1 1 -1 -1 -1 -1 -1"


def trace(*lines):
    return parse_swf([line + "\n" for line in lines]).jobs


def starts(result):
    return dict(sorted(result.start_times.items()))


# -- job mapping -------------------------------------------------------------------


def test_processors_from_field_5_else_field_8():
    allocated, requested_only, neither = trace(
        swf_job(1, 0, 10, 16, req_procs=32),
        swf_job(2, 0, 10, -1, req_procs=8),
        swf_job(3, 0, 10, 0, req_procs=-1),
    )
    assert job_processors(allocated) == 16
    assert job_processors(requested_only) == 8
    assert job_processors(neither) == -1
    assert skip_reason(neither) == "no-processors"


def test_duration_is_requested_time_else_run_time():
    requested, missing, zero = trace(
        swf_job(1, 0, 100, 1, req_time=3600),
        swf_job(2, 0, 100, 1, req_time=-1),
        swf_job(3, 0, 100, 1, req_time=0),
    )
    assert job_duration(requested) == 3600
    assert job_duration(missing) == 100
    assert job_duration(zero) == 0


def test_skip_reasons():
    ok, zero_run, negative_run = trace(swf_job(1, 0, 5, 1), swf_job(2, 0, 0, 1), swf_job(3, 0, -1, 1))
    assert skip_reason(ok) is None
    assert skip_reason(zero_run) is None  # a zero run time is allowed
    assert skip_reason(negative_run) == "negative-runtime"
    assert job_jobspec(negative_run) is None


def test_jobspec_slots_of_one_core():
    pool = ResourcePool(make_R(2, 4))
    spec = make_jobspec(6, 120, cores_per_node=4, node_exclusive=True)  # 6 is not a multiple of 4
    assert spec["version"] == 1
    assert spec["attributes"]["system"]["duration"] == 120.0
    assert spec["resources"] == [
        {"type": "slot", "count": 6, "label": "task", "with": [{"type": "core", "count": 1}]}
    ]
    request = pool.parse_resource_request(spec)
    assert (request.nnodes, request.nslots, request.slot_size, request.exclusive) == (0, 6, 1, False)
    assert request.duration == 120.0


def test_jobspec_whole_nodes_when_exclusive_and_a_multiple():
    pool = ResourcePool(make_R(2, 4))
    spec = make_jobspec(8, 60, cores_per_node=4, node_exclusive=True)
    node = spec["resources"][0]
    assert (node["type"], node["count"], node["exclusive"]) == ("node", 2, True)
    assert node["with"][0]["with"] == [{"type": "core", "count": 4}]
    request = pool.parse_resource_request(spec)
    assert (request.nnodes, request.nslots, request.slot_size, request.exclusive) == (2, 2, 4, True)
    # without --node-exclusive the same job is 8 one-core slots
    assert make_jobspec(8, 60, cores_per_node=4)["resources"][0]["type"] == "slot"


def test_jobspec_from_swf_job():
    (job,) = trace(swf_job(1, 0, 50, -1, req_time=90, req_procs=4))
    spec = job_jobspec(job, cores_per_node=4, node_exclusive=True)
    assert spec["resources"][0]["count"] == 1
    assert spec["attributes"]["system"]["duration"] == 90.0
    with pytest.raises(ValueError):
        make_jobspec(0, 10)


# -- cluster shape -------------------------------------------------------------------


def test_machine_shape_defaults():
    assert machine_shape(1152, 9216) == (1152, 8)  # LLNL Atlas
    assert machine_shape(100, 100) == (100, 1)  # KTH SP2
    assert machine_shape(None, 128) == (128, 1)  # processors only: one core per node
    assert machine_shape(256, None) == (256, 1)  # nodes only (Lublin model)
    assert machine_shape(None, None, widest_job=64) == (64, 1)
    assert machine_shape(3, 10) == (3, 4)  # rounded up so the machine is not smaller


def test_machine_shape_options_keep_the_processor_count():
    assert machine_shape(1152, 9216, cores_per_node=16) == (576, 16)
    assert machine_shape(1152, 9216, nodes=2304) == (2304, 4)
    assert machine_shape(1152, 9216, nodes=10, cores_per_node=2) == (10, 2)
    assert machine_shape(None, 128, cores_per_node=8) == (16, 8)
    # nodes only (Lublin): MaxNodes one-processor nodes, so 4-core nodes are a quarter as many
    assert machine_shape(256, None, cores_per_node=4) == (64, 4)


def test_make_R():
    pool = ResourcePool(make_R(3, 4, gpus_per_node=2))
    assert pool.dumps() == "rank[0-2]/core[0-3],gpu[0-1]"
    assert rank_core_counts(pool) == {4: 3}
    assert ResourcePool(make_R(1, 1)).dumps() == "rank0/core0"
    with pytest.raises(ValueError):
        make_R(0, 4)


# -- schedulers --------------------------------------------------------------------

# One node of 4 cores. Job 2 needs all 4 and waits for job 1 (ends at 10):
# FCFS holds everything behind it; EASY backfills job 3 (ends 5 <= shadow 10)
# and job 5 (at 5, requested end 10 <= 10) but not job 4 (ends after the shadow
# time and the head leaves no core free then).
TRACE_A = [
    swf_job(1, 0, 10, 2, req_time=10),
    swf_job(2, 1, 5, 4, req_time=5),
    swf_job(3, 2, 3, 1, req_time=3),
    swf_job(4, 3, 20, 1, req_time=20),
    swf_job(5, 4, 2, 2, req_time=5),
]


def test_fcfs_is_strict():
    result = simulate(trace(*TRACE_A), make_R(1, 4), scheduler="fcfs", check=True)
    assert starts(result) == {1: 0, 2: 10, 3: 15, 4: 15, 5: 15}
    assert result.jobs_completed == 5
    assert result.jobs_skipped == 0


def test_easy_backfills_jobs_ending_by_the_shadow_time():
    result = simulate(trace(*TRACE_A), make_R(1, 4), scheduler="easy", check=True)
    assert starts(result) == {1: 0, 2: 10, 3: 2, 4: 15, 5: 5}


def test_easy_summary_numbers():
    result = simulate(trace(*TRACE_A), make_R(1, 4), scheduler="easy")
    assert result.makespan_s == 35  # job 4 ends at 15 + 20
    assert result.utilization == pytest.approx(67 / (4 * 35))  # core-seconds 20+20+3+20+4
    assert result.mean_wait_s == pytest.approx(4.4)  # waits 0, 9, 0, 12, 1
    assert result.p95_wait_s == 12
    assert result.mean_bounded_slowdown == pytest.approx(1.2)  # 1, 1.4, 1, 1.6, 1
    summary = result.summary()
    assert summary["allocs_per_s"] > 0
    assert summary["pool_calls"]["alloc"]["calls"] >= 5
    # one-core slots: core counts decide, so EASY needs no shadow copy of the pool
    assert result.placement_note == "every job asks for one-core slots, so every policy gives the same schedule"
    assert "copy" not in summary["pool_calls"]


# Job 3 ends long after the shadow time (10) but the head (3 cores) leaves one
# core free then, so EASY starts it at once; job 4 ends by the shadow time.
TRACE_B = [
    swf_job(1, 0, 10, 2, req_time=10),
    swf_job(2, 1, 5, 3, req_time=5),
    swf_job(3, 2, 100, 1, req_time=100),
    swf_job(4, 3, 1, 1, req_time=1),
]


def test_easy_backfills_jobs_that_do_not_delay_the_head():
    result = simulate(trace(*TRACE_B), make_R(1, 4), scheduler="easy", check=True)
    assert starts(result) == {1: 0, 2: 10, 3: 2, 4: 3}


def test_fcfs_on_the_same_trace():
    result = simulate(trace(*TRACE_B), make_R(1, 4), scheduler="fcfs", check=True)
    assert starts(result) == {1: 0, 2: 10, 3: 10, 4: 15}


def test_easy_tests_the_head_against_the_real_placement():
    """Three nodes of 2 cores, whole nodes for even sizes, first-fit.

    At 0: job 1 (1 core, to 100) -> node0 core0; job 2 (a whole node, to 10)
    -> node1; job 3 (1 core, to 10) -> node0 core1. Job 4 (2 whole nodes)
    waits: only node2 is whole. At the shadow time 10 it gets node1 + node2,
    and 5 - 4 = 1 core stays free, so a count says job 5 (1 core, to 102)
    may start. But the pool places job 5 on node2 (the only free cores now),
    which would leave one whole node at 10: the head would be delayed, so job 5
    waits until 10 and takes node0 core1.
    """
    jobs = trace(
        swf_job(1, 0, 100, 1, req_time=100),
        swf_job(2, 0, 10, 2, req_time=10),
        swf_job(3, 0, 10, 1, req_time=10),
        swf_job(4, 1, 5, 4, req_time=5),
        swf_job(5, 2, 100, 1, req_time=100),
    )
    result = simulate(jobs, make_R(3, 2), scheduler="easy", cores_per_node=2, node_exclusive=True, check=True)
    assert starts(result) == {1: 0, 2: 0, 3: 0, 4: 10, 5: 10}
    assert result.cost.calls["register_alloc"] == 1  # job 5 was tried on the shadow pool, and refused


def test_completions_before_submissions_and_zero_run_time():
    jobs = trace(
        swf_job(1, 0, 0, 4, req_time=0),  # starts and ends at 0
        swf_job(2, 0, 5, 4, req_time=5),  # starts at 0, once job 1 is freed
        swf_job(3, 5, 1, 4, req_time=1),  # submitted as job 2 completes: starts at 5
    )
    for scheduler in ("fcfs", "easy"):
        result = simulate(jobs, make_R(1, 4), scheduler=scheduler, check=True)
        assert starts(result) == {1: 0, 2: 0, 3: 5}
        assert result.makespan_s == 6


def test_ties_in_submit_time_go_by_job_number():
    jobs = trace(swf_job(2, 0, 5, 2, req_time=5), swf_job(1, 0, 5, 2, req_time=5))
    result = simulate(jobs, make_R(1, 2), scheduler="fcfs")
    assert starts(result) == {1: 0, 2: 5}


def test_policy_reaches_the_pool():
    """Two nodes of 4 cores; job 3 wants a whole node. Worst-fit spreads jobs 1
    and 2 over both nodes, so job 3 waits for job 1 (ends 10); first-fit and
    best-fit pack them on node0 and leave node1 whole."""
    jobs = trace(
        swf_job(1, 0, 10, 1, req_time=10),
        swf_job(2, 1, 10, 1, req_time=10),
        swf_job(3, 2, 1, 4, req_time=1),
    )
    got = {
        policy: simulate(jobs, make_R(2, 4), policy=policy, cores_per_node=4, node_exclusive=True).start_times[3]
        for policy in ("first-fit", "best-fit", "worst-fit")
    }
    assert got == {"first-fit": 2, "best-fit": 2, "worst-fit": 10}


def test_skipped_and_too_wide_jobs_are_counted_not_fatal():
    jobs = trace(
        swf_job(1, 0, 10, -1, req_procs=-1),  # no processor count
        swf_job(2, 0, -1, 2),  # unknown run time
        swf_job(3, 1, 10, 8, req_time=10),  # wider than 4 cores
        swf_job(4, 2, 10, -1, req_time=10, req_procs=2),  # field 8 used
        swf_job(5, 3, 10, 5, req_time=10),  # wider too
    )
    result = simulate(jobs, make_R(1, 4), scheduler="easy", check=True)
    assert result.jobs_completed == 1
    assert starts(result) == {4: 2}
    assert result.skipped == {"no-processors": 1, "negative-runtime": 1, "too-wide": 2}
    assert result.jobs_skipped == 4
    assert result.too_wide_ids == [3, 5]
    assert result.makespan_s == 10  # from job 4's submission to its end


def test_too_wide_whole_node_job():
    jobs = trace(swf_job(1, 0, 10, 12, req_time=10), swf_job(2, 0, 10, 4, req_time=10))
    result = simulate(jobs, make_R(2, 4), cores_per_node=4, node_exclusive=True)
    assert result.too_wide_ids == [1]
    assert result.jobs_completed == 1


def test_check_catches_a_pool_that_disagrees():
    pool = ResourcePool(make_R(1, 4))
    pool.alloc("intruder", pool.parse_resource_request(make_jobspec(1, 0)))
    sim = Simulation(pool, trace(swf_job(1, 0, 10, 1)), check=True)
    with pytest.raises(CheckError, match="rank 0"):
        sim.run()


def test_progress_and_timeline():
    reported = []
    sim = Simulation(ResourcePool(make_R(1, 4)), trace(*TRACE_A), scheduler="easy",
                     progress=reported.append, timeline=True)
    result = sim.run()
    assert sum(reported) == 5
    assert result.timeline[0] == (0, 2, 0)  # at 0: job 1 holds 2 cores, nothing waits
    assert result.timeline[-1] == (35, 0, 0)


def test_unknown_scheduler():
    with pytest.raises(ValueError, match="unknown scheduler"):
        Simulation(ResourcePool(make_R(1, 1)), [], scheduler="sjf")


def test_empty_trace():
    result = simulate([], make_R(1, 1))
    assert (result.jobs_completed, result.makespan_s, result.utilization) == (0, 0.0, 0.0)


def test_check_follows_gpus_of_whole_node_jobs():
    """Whole-node jobs take the nodes' GPUs too; --check compares those as well."""
    result = simulate(trace(*TRACE_A), make_R(2, 2, gpus_per_node=2), scheduler="easy",
                      cores_per_node=2, node_exclusive=True, check=True)
    assert result.jobs_completed == 5
    assert result.checks > 0


# -- conservative backfilling (issue 15) ---------------------------------------------------

# One node of 4 cores, every job runs exactly its requested time. Job 2 (the
# head, 3 cores) waits for job 1 (ends 10); job 3 (4 cores) will follow it at
# 20. Job 4 (1 core, 100 s) fits now and leaves the head its 3 cores at 10, so
# EASY starts it at 3, and job 3 waits until 103. Conservative gives job 3 its
# reservation at 20 first, so job 4 cannot start before 30. Job 5 (1 core,
# ends at 9) delays nobody and starts at once under both.
TRACE_C = [
    swf_job(1, 0, 10, 2, req_time=10),
    swf_job(2, 1, 10, 3, req_time=10),
    swf_job(3, 2, 10, 4, req_time=10),
    swf_job(4, 3, 100, 1, req_time=100),
    swf_job(5, 4, 5, 1, req_time=5),
]


def test_conservative_protects_every_reservation():
    conservative = simulate(trace(*TRACE_C), cluster_R(1, 4), scheduler="conservative", check=True)
    assert starts(conservative) == {1: 0, 2: 10, 3: 20, 4: 30, 5: 4}
    easy = simulate(trace(*TRACE_C), cluster_R(1, 4), scheduler="easy", check=True)
    assert starts(easy) == {1: 0, 2: 10, 3: 103, 4: 3, 5: 4}  # EASY protects the head only
    fcfs = simulate(trace(*TRACE_C), cluster_R(1, 4), scheduler="fcfs", check=True)
    assert starts(fcfs) == {1: 0, 2: 10, 3: 20, 4: 30, 5: 30}


def test_conservative_reservations_move_forward_when_a_job_ends_early():
    """Job 1 asked for 10 s but ends at 5: the head starts at 5 (job 5 holds
    one core), job 3 after it at 15, job 4 behind job 3 at 25."""
    jobs = [swf_job(1, 0, 5, 2, req_time=10)] + TRACE_C[1:]
    result = simulate(trace(*jobs), cluster_R(1, 4), scheduler="conservative", check=True)
    assert starts(result) == {1: 0, 2: 5, 3: 15, 4: 25, 5: 4}


def random_exact_trace(rng, njobs, width):
    """Jobs whose run time equals their requested time, submitted at distinct times."""
    lines, submit = [], 0
    for number in range(1, njobs + 1):
        submit += rng.randint(1, 5)
        run = rng.randint(1, 30)
        lines.append(swf_job(number, submit, run, rng.randint(1, width), req_time=run))
    return lines


@pytest.mark.parametrize("seed", range(12))
def test_conservative_later_jobs_never_delay_earlier_ones(seed):
    """With exact requested times, a job's start under conservative backfilling
    depends only on the jobs ahead of it: dropping every later job changes no
    start (the definition: a later job starts early only where it delays none)."""
    import random

    rng = random.Random(seed)
    lines = random_exact_trace(rng, 14, 4)
    full = starts(simulate(trace(*lines), cluster_R(2, 2), scheduler="conservative", check=True))
    for k in range(1, len(lines)):
        prefix = starts(simulate(trace(*lines[:k]), cluster_R(2, 2), scheduler="conservative"))
        assert prefix == {n: full[n] for n in prefix}, f"jobs after job {k} delayed an earlier one"


def test_easy_can_delay_the_second_job_where_conservative_does_not():
    """The same property fails for EASY on TRACE_C (job 4 delays job 3)."""
    full = starts(simulate(trace(*TRACE_C), cluster_R(1, 4), scheduler="easy"))
    prefix = starts(simulate(trace(*TRACE_C[:3]), cluster_R(1, 4), scheduler="easy"))
    assert prefix[3] == 20 and full[3] == 103


@pytest.mark.parametrize("scheduler", ["fcfs", "easy", "conservative"])
def test_schedulers_agree_with_the_pool_under_shapes(scheduler):
    """Mixed shapes (whole nodes and 1-core slots on 4-core nodes): the pool
    places, --check verifies every step, every job runs."""
    import random

    rng = random.Random(7)
    lines = random_exact_trace(rng, 40, 8)
    result = simulate(trace(*lines), cluster_R(2, 4), scheduler=scheduler, cores_per_node=4,
                      node_exclusive=True, check=True)
    assert result.jobs_completed == 40
    assert result.placement_note is None
    assert result.checks > 0


# -- deep queues: a pass looks at the jobs it can start, not at the queue ----------------


def test_deep_queue_easy_tries_only_jobs_that_fit():
    """3,000 jobs submitted at once on 16 one-core nodes: core counts decide, so
    the pool is asked to place each job exactly once (no failed alloc, no
    shadow copy), however deep the queue."""
    import random

    rng = random.Random(3)
    lines = []
    for number in range(1, 3001):
        run = rng.randint(10, 1000)
        lines.append(swf_job(number, 0, run, rng.choice([1, 1, 2, 4, 8]), req_time=run * rng.randint(1, 3)))
    for scheduler in ("easy", "conservative"):
        result = simulate(trace(*lines), cluster_R(16, 1), scheduler=scheduler)
        assert result.jobs_completed == 3000
        assert result.cost.calls["alloc"] == 3000
        assert "copy" not in result.cost.calls
        # pool time is counted inside the same span as the wall time
        assert result.cost.total_seconds <= result.wall_s


def test_wait_index_finds_the_first_candidate():
    from fluxpool.simulate import _WaitIndex

    needs = [4, 1, 3, 1, 2, 1]
    durations = [10.0, 50.0, 5.0, 8.0, 1.0, 2.0]
    index = _WaitIndex(needs, durations)
    for pos in range(6):
        index.add(pos)
    # at most 2 cores, ending within 9 s or at most 0 extra cores: job 3 (1 core, 8 s)
    assert index.find(1, 2, 9.0, 0) == 3
    # job 1 qualifies through the extra cores
    assert index.find(1, 2, 9.0, 1) == 1
    assert index.find(0, 0, 100.0, 100) == -1
    index.remove(3)
    assert index.find(1, 2, 9.0, 0) == 4
    assert index.first_fitting(2, 1) == 5
    assert index.count == 5


# -- library use, machine and shapes (issue 15) -----------------------------------------


def test_simulate_takes_what_read_swf_returns(tmp_path):
    path = tmp_path / "t.swf"
    path.write_text("; MaxProcs: 4\n" + "\n".join(TRACE_A) + "\n")
    result = simulate(read_swf(path), cluster_R(1, 4))
    assert result.scheduler == DEFAULT_SCHEDULER == "easy"
    assert starts(result) == {1: 0, 2: 10, 3: 2, 4: 15, 5: 5}  # the EASY schedule above
    with pytest.raises(TypeError, match="SwfJob"):
        simulate(["1 0 -1 10 2"], cluster_R(1, 4))


def test_cli_and_library_share_the_default_scheduler():
    from fluxpool.cli import _parser

    args = _parser().parse_args(["simulate"])
    assert args.scheduler == DEFAULT_SCHEDULER
    assert Simulation.__init__.__defaults__[0] == DEFAULT_SCHEDULER


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 4), "nodes must be 1 ... 4,194,304, got 0"),
        ((5_000_000, 1), "nodes must be 1 ... 4,194,304, got 5,000,000"),
        ((1, 100_000), "cores_per_node must be 1 ... 16,384, got 100,000"),
        ((1, 4, 5000), "gpus_per_node must be 0 ... 4,096, got 5,000"),
        ((4_194_304, 16_384), "the pool's bound is 256 MiB"),
    ],
)
def test_cluster_R_bounds_name_the_argument(args, message):
    with pytest.raises(ValueError, match=message):
        cluster_R(*args)


def test_cluster_R_types():
    with pytest.raises(TypeError, match="nodes must be an int"):
        cluster_R(2.0, 4)
    assert ResourcePool(cluster_R(2, 4, 1)).dumps() == "rank[0-1]/core[0-3],gpu0"


def test_new_pool_is_strict(monkeypatch):
    seen = {}

    class Recording(ResourcePool):
        def __init__(self, R, **kwargs):
            seen.update(kwargs)
            super().__init__(R, **kwargs)

    monkeypatch.setattr(simulate_module, "ResourcePool", Recording)
    simulate(trace(*TRACE_A), cluster_R(1, 4), policy="worst-fit")
    assert seen == {"policy": "worst-fit", "strict": True}


def test_plan_machine_says_why_and_warns():
    kth = plan_machine(100, 100, nodes=99)
    assert (kth.nodes, kth.cores_per_node) == (99, 2)
    assert "--nodes 99" in kth.why and "MaxProcs 100" in kth.why
    assert kth.warning == "the simulated cluster has 198 cores, 1.98 x the trace machine's 100 processors"
    atlas = plan_machine(1152, 9216)
    assert (atlas.describe(), atlas.warning) == ("1,152 nodes x 8 cores", None)
    assert "MaxNodes 1,152 and MaxProcs 9,216" in atlas.why
    lublin = plan_machine(256, None, cores_per_node=4)
    assert (lublin.nodes, lublin.cores, lublin.warning) == (64, 256, None)
    unknown = plan_machine(None, None, widest_job=12)
    assert unknown.trace_processors is None and unknown.warning is None
    assert "widest job" in unknown.why


def test_jobspec_tasks_of_k_cores():
    spec = make_jobspec(10, 60, cores_per_node=8, cores_per_task=4)
    assert spec["resources"] == [
        {"type": "slot", "count": 3, "label": "task", "with": [{"type": "core", "count": 4}]}
    ]


def test_jobspec_whole_nodes_split_into_tasks():
    spec = make_jobspec(10, 60, cores_per_node=8, node_exclusive=True, cores_per_task=2, tasks_per_node=3)
    node = spec["resources"][0]
    assert (node["type"], node["count"], node["exclusive"]) == ("node", 2, True)  # 5 tasks, 3 per node
    assert node["with"] == [{"type": "slot", "count": 3, "label": "task", "with": [{"type": "core", "count": 2}]}]
    with pytest.raises(ValueError, match="needs node_exclusive"):
        make_jobspec(10, 60, tasks_per_node=2)
    with pytest.raises(ValueError, match="cores_per_task must be at least 1"):
        make_jobspec(10, 60, cores_per_task=0)


def test_placement_note():
    one_core = simulate(trace(*TRACE_A), cluster_R(1, 4))
    assert one_core.placement_note == "every job asks for one-core slots, so every policy gives the same schedule"
    threes = simulate(trace(*TRACE_A), cluster_R(3, 8), cores_per_node=8, cores_per_task=3)
    assert threes.placement_note == (
        "every job asks for slots of 3 cores (2 per 8-core node), so every policy gives the same schedule"
    )
    whole = simulate(trace(swf_job(1, 0, 5, 4), swf_job(2, 0, 5, 8)), cluster_R(2, 4), cores_per_node=4,
                     node_exclusive=True, tasks_per_node=2, cores_per_task=2)
    assert whole.placement_note == "every job asks for whole nodes, so every policy gives the same schedule"
    mixed = simulate(trace(*TRACE_A), cluster_R(2, 2), cores_per_node=2, node_exclusive=True)
    assert mixed.placement_note is None
    gpus = simulate(trace(*TRACE_A), cluster_R(1, 4, 1))
    assert gpus.placement_note is None


@pytest.mark.parametrize("scheduler", ["fcfs", "easy", "conservative"])
def test_slot_sizes_that_do_not_divide_the_node(scheduler):
    """Slots of 3 cores on 8-core nodes: cores alone do not decide (8 free
    cores on two nodes may hold no slot), so the pool decides and checks pass."""
    lines = [swf_job(n, n, 7, 3 * (1 + n % 3), req_time=9) for n in range(1, 30)]
    result = simulate(trace(*lines), cluster_R(3, 8), scheduler=scheduler, cores_per_node=8,
                      cores_per_task=3, check=True)
    assert result.jobs_completed == 29


# -- pinned schedules: speed work must not change a start time (issue 15) ----------------

#: sha256 (first 16 hex digits) of "number:start;..." in job-number order, for the
#: embedded KTH trace (5,000 jobs) on its default machine (100 nodes x 1 core),
#: computed from the simulator before the deep-queue speed work.
PINNED_EMBEDDED = {
    "fcfs": "02fecb1a7d1f55f6",
    "easy": "713b05ecca39d6f7",
    "conservative": "d9e796b02d6e6bd0",
}


def start_hash(result):
    import hashlib

    text = ";".join(f"{n}:{result.start_times[n]!r}" for n in sorted(result.start_times))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("scheduler", sorted(PINNED_EMBEDDED))
def test_embedded_trace_schedules_are_pinned(scheduler):
    """Every start time on the embedded trace, per scheduler, is what it was
    before the schedulers were sped up (README, Deep queues)."""
    from importlib import resources

    ref = resources.files("fluxpool").joinpath("data").joinpath("KTH-SP2-1996-2.1-cln-first5000.swf.gz")
    with ref.open("rb") as stream:
        jobs = read_swf(stream, name="embedded")
    result = simulate(jobs, cluster_R(100, 1), scheduler=scheduler)
    assert result.jobs_completed == 5000
    assert start_hash(result) == PINNED_EMBEDDED[scheduler]


def deep_queue_lines(njobs=6000, seed=5):
    """``njobs`` jobs all submitted at time 0 (a queue that deep), of 1 to 16
    cores, requested times 1 to 3 x their run time."""
    import random

    rng = random.Random(seed)
    lines = []
    for number in range(1, njobs + 1):
        run = rng.randint(10, 1000)
        lines.append(swf_job(number, 0, run, rng.choice([1, 1, 2, 4, 8, 16]), req_time=run * rng.randint(1, 3)))
    return lines


def test_deep_queue_easy_pass_visits_a_bounded_number_of_jobs(monkeypatch):
    """An EASY pass on a queue 6,000 deep asks the waiting-job index once per
    job it starts plus once to learn that nothing more fits, and each ask
    looks at one min-tree per job size (5 here) plus the size tree: the jobs
    it visits do not grow with the queue's depth (README, Deep queues). This
    is the general loop (pools where core counts do not decide); the counted
    loop must match it (test_easy_counted_loop_matches_the_general_loop)."""
    from fluxpool.simulate import _MinTree, _WaitIndex

    counts = {"find": 0, "first": 0, "passes": 0}
    find, first, schedule = _WaitIndex.find, _MinTree.first, Simulation._schedule

    def counted(name, fn):
        def wrapper(*args):
            counts[name] += 1
            return fn(*args)
        return wrapper

    monkeypatch.setattr(_WaitIndex, "find", counted("find", find))
    monkeypatch.setattr(_MinTree, "first", counted("first", first))
    monkeypatch.setattr(Simulation, "_schedule", counted("passes", schedule))
    monkeypatch.setattr(Simulation, "_fast", False)
    lines = deep_queue_lines()
    result = simulate(trace(*lines), cluster_R(32, 1), scheduler="easy")
    assert result.jobs_completed == 6000
    assert counts["passes"] <= 6001  # one per event instant
    assert counts["find"] <= counts["passes"] + 6000
    assert counts["first"] <= 6 * counts["find"]
    assert result.cost.calls["alloc"] == 6000  # no job is tried and refused
    assert counts["find"] > 0


def test_conservative_profile_searches():
    """The conservative pass's three profile searches on a hand-made profile
    (breakpoint times ts, free cores fs from each)."""
    from fluxpool.simulate import _UNBOUNDED, _earliest_fit, _free_from_now, _longest_free

    ts, fs = [0.0, 10.0, 20.0, 30.0], [2, 0, 3, 4]
    assert _earliest_fit(ts, fs, 2, 5.0) == (0, 1, 5.0)  # fits before the drop at 10
    assert _earliest_fit(ts, fs, 2, 10.0) == (0, 1, 10.0)  # ends exactly at it
    assert _earliest_fit(ts, fs, 2, 15.0) == (2, 4, 35.0)  # after it; 30 falls within
    assert _earliest_fit(ts, fs, 4, 1.0) == (3, 4, 31.0)
    assert _earliest_fit(ts, fs, 1, 0.0) == (0, 1, 0.0)
    assert _free_from_now(ts, fs, 2) == pytest.approx(10.0)
    assert _free_from_now(ts, fs, 3) == -1.0  # not free now
    assert _free_from_now(ts, [2, 3, 3, 4], 2) == _UNBOUNDED  # never drops
    # T is breakpoint 4 (no core free at 40): stretches end by it
    ts, fs = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0], [2, 0, 3, 3, 0, 9]
    assert _longest_free(ts, fs, 1, 4) == pytest.approx(20.0)  # [20, 40), not [0, 10)
    assert _longest_free(ts, fs, 3, 4) == pytest.approx(20.0)
    assert _longest_free(ts, fs, 2, 1) == pytest.approx(10.0)  # only from before T counts
    assert _longest_free(ts, fs, 4, 4) == -1.0
    # the searches allow a hair of slack for rounding, never less than the stretch
    assert 20.0 <= _longest_free(ts, fs, 1, 4) < 20.0 + 1e-6


def test_deep_queue_conservative_pass_reserves_a_bounded_number_of_jobs(monkeypatch):
    """A conservative pass on a queue 6,000 deep reserves only the jobs that
    fit before T (the first time its profile has fewer free cores than the
    smallest waiting job) and stops once no job left can start now: here
    about 2.5 reservations per pass and never more than 14, where reserving
    every waiting job ahead of the last one that starts would make thousands
    (README, Deep queues). The starts are the plain pass's
    (test_conservative_matches_the_plain_pass_on_deep_queues)."""
    counts = {"reserved": 0, "passes": 0, "most": 0, "now": 0}
    earliest_fit, conservative = simulate_module._earliest_fit, Simulation._conservative

    def counted_fit(*args):
        counts["reserved"] += 1
        counts["now"] += 1
        return earliest_fit(*args)

    def counted_pass(self, now, head):
        counts["passes"] += 1
        counts["now"] = 0
        conservative(self, now, head)
        counts["most"] = max(counts["most"], counts["now"])

    monkeypatch.setattr(simulate_module, "_earliest_fit", counted_fit)
    monkeypatch.setattr(Simulation, "_conservative", counted_pass)
    lines = deep_queue_lines()
    result = simulate(trace(*lines), cluster_R(32, 1), scheduler="conservative")
    assert result.jobs_completed == 6000
    assert counts["passes"] > 1000
    assert counts["reserved"] <= 4 * counts["passes"]
    assert counts["most"] <= 32


def reference_conservative(self, now, head):
    """The conservative pass as first written (every search scans the profile
    from now, the stopping test is redone after every reservation): the
    definition the faster pass must match start for start."""
    import bisect

    if self.free_cores <= 0:
        return
    jobs = self.jobs
    ts, fs = [now], [self.free_cores]
    for end, index, _ in self.running:
        if end <= now:
            fs[0] += jobs[index].cores
            continue
        if end != ts[-1]:
            ts.append(end)
            fs.append(fs[-1])
        fs[-1] += jobs[index].cores
    pos = head.index
    while pos < self._arrived:
        job = jobs[pos]
        pos += 1
        if job.start is not None:
            continue
        need, duration = job.min_cores, job.duration
        i = 0
        while True:
            if fs[i] < need:
                i += 1
                continue
            j = i + 1
            while j < len(ts) and ts[j] < ts[i] + duration and fs[j] >= need:
                j += 1
            if j < len(ts) and ts[j] < ts[i] + duration:
                i = j + 1
                continue
            break
        amount = need
        if i == 0 and job is not head and self._try_start(job, now):
            amount = job.cores
        if duration > 0:
            until = ts[i] + duration
            k = bisect.bisect_left(ts, until, i)
            if k == len(ts) or ts[k] != until:
                ts.insert(k, until)
                fs.insert(k, fs[k - 1])
            for m in range(i, k):
                fs[m] -= amount
        # stop once no job behind could start now next to the reservations so far
        free_now = min(self.free_cores, fs[0])
        if not any(
            later.start is None and later.min_cores <= free_now
            and all(f >= later.min_cores for t, f in zip(ts, fs) if t < now + later.duration)
            for later in jobs[pos:self._arrived]
        ):
            break


@pytest.mark.parametrize("seed", range(6))
def test_conservative_matches_the_plain_pass_on_deep_queues(seed, monkeypatch):
    """Deep queues (all jobs at once, then a second wave), with requested
    times up to 3 x the run time and some runs past them: leaving out the
    jobs that cannot fit before T, resuming index searches and stopping once
    no job can start now give every job the start the plain pass gives
    (README, Deep queues)."""
    import random

    rng = random.Random(seed)
    lines = []
    for number in range(1, 301):
        submit = 0 if number <= 200 else 5000
        run = rng.randint(10, 3000)
        requested = run * rng.choice([1, 1.5, 3]) if number % 17 else run // 2
        lines.append(swf_job(number, submit, run, rng.choice([1, 1, 2, 3, 4, 8, 16]), req_time=int(requested)))
    fast = starts(simulate(trace(*lines), cluster_R(24, 1), scheduler="conservative"))
    monkeypatch.setattr(Simulation, "_conservative", reference_conservative)
    plain = starts(simulate(trace(*lines), cluster_R(24, 1), scheduler="conservative"))
    assert fast == plain


# -- queue depth: a pass looks at the first N waiting jobs, as Fluxion's queue-depth --------


def deep_lines(seed, njobs=120, width=8):
    """Jobs in three waves (deep queues), requested times up to 3 x the run
    time, some runs past their request; widths up to ``width`` cores."""
    import random

    rng = random.Random(seed)
    lines = []
    for number in range(1, njobs + 1):
        run = rng.randint(10, 2000)
        requested = int(run * rng.choice([1, 1.5, 3])) if number % 11 else run // 2
        lines.append(swf_job(number, 1000 * (number * 3 // njobs), run, rng.randint(1, width), req_time=requested))
    return lines


@pytest.mark.parametrize("scheduler", ["fcfs", "easy", "conservative"])
@pytest.mark.parametrize("seed", range(3))
def test_queue_depth_beyond_the_queue_changes_nothing(scheduler, seed):
    lines = deep_lines(seed)
    every = simulate(trace(*lines), cluster_R(8, 1), scheduler=scheduler)
    deep = simulate(trace(*lines), cluster_R(8, 1), scheduler=scheduler, queue_depth=len(lines))
    assert every.queue_depth is None and deep.queue_depth == len(lines)
    assert starts(deep) == starts(every)


@pytest.mark.parametrize("scheduler", ["fcfs", "easy", "conservative"])
@pytest.mark.parametrize("seed", range(3))
def test_queue_depth_one_is_first_come_first_served(scheduler, seed):
    """Looking at the head only, a backfilling scheduler has nobody to
    backfill; the passes repeat while they start jobs, so every job that can
    start at an instant does, as under plain FCFS."""
    lines = deep_lines(seed)
    fcfs = simulate(trace(*lines), cluster_R(8, 1), scheduler="fcfs")
    one = simulate(trace(*lines), cluster_R(8, 1), scheduler=scheduler, queue_depth=1, check=True)
    assert starts(one) == starts(fcfs)


@pytest.mark.parametrize("scheduler", ["fcfs", "easy", "conservative"])
@pytest.mark.parametrize("depth", [2, 5])
def test_a_job_starts_only_among_the_first_n_waiting(scheduler, depth):
    """A job starts only while fewer than N jobs ahead of it wait: those
    still waiting after its start instant were waiting in the pass that
    started it. A small depth does change a backfilling schedule."""
    lines = deep_lines(4)
    result = simulate(trace(*lines), cluster_R(8, 1), scheduler=scheduler, queue_depth=depth, check=True)
    jobs = sorted(trace(*lines), key=lambda j: (j.submit_time, j.job_number))
    start = result.start_times
    for k, job in enumerate(jobs):
        t = start[job.job_number]
        ahead = sum(1 for other in jobs[:k] if other.submit_time <= t and start[other.job_number] > t)
        assert ahead < depth, f"job {job.job_number} started at {t} with {ahead} jobs ahead waiting"
    unbounded = starts(simulate(trace(*lines), cluster_R(8, 1), scheduler=scheduler))
    if scheduler == "fcfs":
        assert starts(result) == unbounded  # FCFS only ever looks at the head
    else:
        assert starts(result) != unbounded


@pytest.mark.parametrize("depth, error", [(0, ValueError), (-3, ValueError), (True, TypeError),
                                          (2.0, TypeError), ("32", TypeError)])
def test_queue_depth_must_be_a_positive_count(depth, error):
    with pytest.raises(error, match="queue_depth"):
        simulate(trace(*TRACE_C), cluster_R(1, 4), queue_depth=depth)


def test_queue_depth_takes_any_integer_type():
    """An integer type other than int (numpy's, say: anything with ``__index__``) is a count."""

    class Count:
        def __index__(self):
            return 2

    result = simulate(trace(*TRACE_C), cluster_R(1, 4), queue_depth=Count())
    assert result.queue_depth == 2 and type(result.queue_depth) is int


def random_trace(rng, njobs, widths, waves=True):
    """SWF lines: deep waves or spread-out submits, fractional times, zero run
    times, runs past their requested time and runs equal to it (ties in end times)."""
    lines = []
    submit = 0.0
    for number in range(1, njobs + 1):
        if waves:
            submit = 0 if number <= njobs * 2 // 3 else 4000
        else:
            submit += rng.choice([0, 0, 1, 7.5, 60])
        run = rng.choice([0, rng.randint(1, 3000), rng.randint(1, 3000) + 0.25, 600])
        requested = rng.choice([run, run * 2, run * 1.5 + 0.1, max(run // 2, 1), 600, 0])
        lines.append(swf_job(number, submit, run, rng.choice(widths), req_time=requested))
    return lines


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("shape", ["slots", "slots-of-2", "whole-nodes"])
def test_easy_counted_loop_matches_the_general_loop(seed, shape, monkeypatch):
    """Where core counts decide, EASY runs its own counted loop (README, Deep
    queues); the general loop is the definition it must match: every start
    time, every pool call count, the timeline and the progress reports."""
    import random

    rng = random.Random(seed)
    if shape == "slots":
        R, kwargs, widths = cluster_R(24, 1), {}, [1, 1, 2, 3, 4, 8, 16, 24]
    elif shape == "slots-of-2":
        R, kwargs, widths = cluster_R(8, 4), {"cores_per_node": 4, "cores_per_task": 2}, [2, 2, 4, 6, 8, 16]
    else:
        R, kwargs, widths = cluster_R(8, 4), {"cores_per_node": 4, "node_exclusive": True}, [4, 4, 8, 12, 32]
    jobs = trace(*random_trace(rng, 300, widths, waves=seed % 2 == 0))

    def run(fast):
        monkeypatch.setattr(Simulation, "_fast", fast)
        reports = []
        sim = Simulation(ResourcePool(R), jobs, scheduler="easy", timeline=True, progress=reports.append, **kwargs)
        assert sim._counts_decide
        result = sim.run()
        return starts(result), result.cost.calls, result.timeline, sum(reports), result.summary()["utilization"]

    counted, general = run(True), run(False)
    assert counted == general
    assert counted[3] == 300


@pytest.mark.parametrize("fast", [True, False])
def test_easy_shadow_test_is_exact_where_rounding_differs(fast, monkeypatch):
    """The backfill test is "now + requested time <= shadow time", exactly:
    at 0.1 the shadow time is 0.3 (job 2's requested end; it overruns), and
    job 4 (0.1 + 0.2 = 0.30000000000000004 in floating point) would end after
    it while the head leaves no extra core, so job 5 behind it starts instead;
    in the counted loop and the general loop alike."""
    monkeypatch.setattr(Simulation, "_fast", fast)
    jobs = trace(
        swf_job(1, 0, 0.1, 1, req_time=0.1),
        swf_job(2, 0, 1000, 1, req_time=0.3),
        swf_job(3, 0, 10, 2, req_time=10),
        swf_job(4, 0, 5, 1, req_time=0.2),
        swf_job(5, 0, 0.1, 1, req_time=0.1),
    )
    result = simulate(jobs, cluster_R(2, 1), scheduler="easy")
    assert starts(result) == {1: 0, 2: 0, 3: 1000, 4: 1010, 5: 0.1}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scheduler", ["easy", "conservative"])
def test_queue_depth_shortcut_changes_no_start(seed, scheduler, monkeypatch):
    """A new pass at the same instant is skipped when no job behind the ones
    the last pass saw fits the free cores: with core counts deciding or not
    (whole nodes and one-core slots on 4-core nodes), the starts are those of
    running every pass."""
    lines = deep_lines(seed, njobs=150, width=8)
    for R, shape in ((cluster_R(8, 1), {}), (cluster_R(4, 4), dict(cores_per_node=4, node_exclusive=True))):
        for depth in (2, 3, 8):
            fast = starts(simulate(trace(*lines), R, scheduler=scheduler, queue_depth=depth, **shape))
            with monkeypatch.context() as patch:
                patch.setattr(Simulation, "_skip_idle_passes", False)
                plain = starts(simulate(trace(*lines), R, scheduler=scheduler, queue_depth=depth, **shape))
            assert fast == plain


def test_setup_leaves_the_garbage_collector_as_it_found_it(monkeypatch):
    """Building the jobs pauses the garbage collector (every object made there
    is kept) and restores it, also when building fails."""
    import gc

    jobs = trace(*TRACE_A)
    assert gc.isenabled()
    Simulation(new_pool(cluster_R(2, 2)), jobs)
    assert gc.isenabled()
    gc.disable()
    try:
        Simulation(new_pool(cluster_R(2, 2)), jobs)
        assert not gc.isenabled()
    finally:
        gc.enable()

    def broken(self, jobs):
        assert not gc.isenabled()
        raise RuntimeError("boom")

    monkeypatch.setattr(Simulation, "_prepare", broken)
    with pytest.raises(RuntimeError, match="boom"):
        Simulation(new_pool(cluster_R(2, 2)), jobs)
    assert gc.isenabled()
