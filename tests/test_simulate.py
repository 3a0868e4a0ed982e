"""The simulator: SWF job -> jobspec mapping, FCFS and EASY on hand-made traces.

Every expected start time below was worked out by hand from the rules in
``fluxpool.simulate`` and is written as a literal.
"""

import pytest

from fluxpool import ResourcePool
from fluxpool.simulate import (
    CheckError,
    Simulation,
    machine_shape,
    make_R,
    rank_core_counts,
    simulate,
)
from fluxpool.swf import (
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
