"""``fluxpool.flux:TreePool`` driven through flux-core's own sched-simple code
(SPEC §11, §17), beside flux-core's TreePool in the same scheduler.

Uses the broker-less harness of test_flux_integration.py; skipped where
flux-core's Python bindings are absent (as in CI).
"""

import copy


from specdata import nodes, slots, spec
from test_flux_integration import Harness, fx  # noqa: F401  (fx is a fixture)
from test_treepool import container, slot_of, tree_R

OURS = "fluxpool.flux:TreePool"
THEIRS = "flux.resource.TreePool:TreePool"

WORKLOAD = [
    spec(slots(1, cores=2, gpus=1)),
    spec(slots(3, cores=1)),
    spec(slot_of(2, container("numa"))),
    spec(nodes(1, slot_of(1, container("socket")))),
    spec(nodes(1, slots(1, cores=1), exclusive=True)),
    spec({"type": "node", "count": 1, "exclusive": True,
          "with": [{"type": "slot", "count": 1, "label": "task"}]}),
    spec(slots(1, cores=6, gpus=2)),
    spec(slot_of(1, container("rack"))),          # denied: no such level
    spec(slots(1, cores=40)),                     # denied: no node that big
]


def run(fx, pool_class):
    harness = Harness(fx, "sched-simple", "SimpleScheduler", pool=pool_class,
                      R=copy.deepcopy(tree_R()))
    for jobid, jobspec in enumerate(WORKLOAD, 1):
        harness.submit(jobid, jobspec)
        harness.schedule()
    return harness


def test_sched_simple_places_like_flux_cores_treepool(fx):
    ours, theirs = run(fx, OURS), run(fx, THEIRS)
    assert type(ours.pool).__name__ == "TreePool" and ours.pool.impl.name.startswith("fluxpool")
    assert ours.outcomes() == theirs.outcomes()
    outcomes = [o[0] for o in ours.outcomes().values()]
    assert outcomes.count("deny") == 2 and outcomes.count("success") >= 6
    assert ours.status() == theirs.status()
    assert not ours.errors()


def test_scheduler_reload_keeps_jobs_on_every_rank(fx):
    """The hello path (SPEC §17 T1/T2): jobs on ranks other than 0, one partly
    freed, are registered again by a new scheduler with fluxpool's TreePool;
    flux-core's TreePool logs an error for each (the job would be killed)."""
    first = run(fx, OURS)
    placed = {j: r.R for j, r in first.requests.items() if r.outcome == "success"}
    off_zero = [j for j, R in placed.items()
                if any(e["rank"] != "0" for e in R["execution"]["R_lite"])]
    assert off_zero
    for pool_class, expect_errors in ((OURS, False), (THEIRS, True)):
        again = Harness(fx, "sched-simple", "SimpleScheduler", pool=pool_class,
                        R=copy.deepcopy(tree_R()))
        failed = 0
        for jobid, R in placed.items():
            try:
                again.hello(jobid, R)
            except ValueError:
                failed += 1
        assert (failed > 0) == expect_errors
        if not expect_errors:
            assert again.status() == first.status()
