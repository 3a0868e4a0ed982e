"""`fluxpool simulate --topology` and TreePool runs of the simulator (issue 14,
SPEC §17): a trace replayed on a TreePool, beside the three policies."""

import json

import pytest

from fluxpool import TreePool
from fluxpool.cli import main
from fluxpool.simulate import TREE, cluster_R, new_pool, simulate, tree_R
from fluxpool.swf import SwfJob

TOPOLOGY = {"socket": [{"numa": [{"cores": "0-7", "gpus": "0-1"}, {"cores": "8-15", "gpus": "2-3"}]},
                       {"numa": [{"cores": "16-23", "gpus": "4-5"}, {"cores": "24-31", "gpus": "6-7"}]}]}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def topology(tmp_path):
    path = tmp_path / "node.json"
    path.write_text(json.dumps(TOPOLOGY))
    return str(path)


def test_tree_R_gives_every_node_the_topology():
    R = tree_R(3, TOPOLOGY)
    assert R["execution"]["R_lite"] == [{"rank": "0-2", "children": {"core": "0-31", "gpu": "0-7"}}]
    assert R["scheduling"]["children"] == [{"ranks": "0-2", "topo": TOPOLOGY}]
    pool = new_pool(R, TREE)
    assert isinstance(pool, TreePool) and pool.strict
    # a GPU slot lands inside one NUMA domain
    request = pool.parse_resource_request({
        "version": 1, "attributes": {"system": {"duration": 0}}, "tasks": [],
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 4}, {"type": "gpu", "count": 1}]}]})
    assert pool.alloc(1, request).dumps() == "rank0/core[0-3],gpu0"


@pytest.mark.parametrize("topology, error", [
    ({"socket": 5}, ValueError), ([], TypeError), ({"socket": [{"cores": "x"}]}, ValueError),
    ({"socket": [{"cores": 3}]}, TypeError),
])
def test_tree_R_refuses_a_malformed_topology(topology, error):
    with pytest.raises(error):
        tree_R(2, topology)


def test_simulate_library_on_a_tree_pool():
    jobs = [SwfJob(i + 1, i * 10.0, 100.0, 8, 8, 100.0, i + 1, ()) for i in range(6)]
    result = simulate(jobs, tree_R(2, TOPOLOGY), policy=TREE)
    assert result.policy == TREE and result.jobs_completed == 6


def test_cli_topology_runs_on_a_tree_pool(capsys, topology):
    code, out, err = run(capsys, "simulate", "--topology", topology, "--nodes", "4", "-q",
                         "--scheduler", "fcfs")
    assert code == 0, err
    assert "policy                                 tree" in out
    assert "4 nodes x 32 cores + 8 GPUs of topology" in out


def test_cli_topology_compare_adds_the_tree_pool(capsys, topology):
    code, out, err = run(capsys, "simulate", "--topology", topology, "--nodes", "4", "-q",
                         "--compare", "--json", "-")
    assert code == 0, err
    assert set(json.loads(out)["policies"]) == {"first-fit", "best-fit", "worst-fit", TREE}


def test_cli_R_with_children_runs_on_a_tree_pool(capsys, tmp_path):
    path = tmp_path / "R.json"
    path.write_text(json.dumps(tree_R(4, TOPOLOGY)))
    code, out, err = run(capsys, "simulate", "--R", str(path), "-q", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["policy"] == TREE
    code, out, err = run(capsys, "simulate", "--R", str(path), "-q", "--json", "-",
                         "--policy", "worst-fit")
    assert code == 0 and json.loads(out)["policy"] == "worst-fit"


@pytest.mark.parametrize("extra, words", [
    (["--cores-per-node", "4"], "--cores-per-node"),
    (["--gpus-per-node", "2"], "--gpus-per-node"),
    (["--R", "x.json"], "--R"),
])
def test_cli_topology_refuses_contradictions(capsys, topology, extra, words):
    code, out, err = run(capsys, "simulate", "--topology", topology, *extra)
    assert code == 2 and words in err and "Traceback" not in err


def test_cli_tree_policy_needs_a_topology(capsys):
    code, out, err = run(capsys, "simulate", "--policy", TREE, "-q")
    assert code == 2 and "needs a node topology" in err


def test_cli_bad_topology_names_the_file(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"socket": [{"numa": [{"cores": "0-3,2"}]}]}')
    code, out, err = run(capsys, "simulate", "--topology", str(path))
    assert code == 2 and str(path) in err


def test_cli_alloc_on_an_R_with_children(capsys, tmp_path):
    R = tree_R(2, TOPOLOGY)
    rpath, jpath = tmp_path / "R.json", tmp_path / "j.json"
    rpath.write_text(json.dumps(R))
    jpath.write_text(json.dumps({
        "version": 1, "attributes": {"system": {"duration": 0}}, "tasks": [],
        "resources": [{"type": "numa", "count": 1, "exclusive": True,
                       "with": [{"type": "slot", "count": 1, "label": "task",
                                 "with": [{"type": "core", "count": 1}]}]}]}))
    code, out, err = run(capsys, "alloc", str(rpath), str(jpath))
    assert code == 0, err
    allocated = json.loads(out)
    assert [e["rank"] for e in allocated["execution"]["R_lite"]] == ["0"]
    assert allocated["scheduling"]["children"][0]["ranks"] == "0"  # trimmed to the allocation
    code, out, err = run(capsys, "alloc", str(rpath), str(jpath), "--policy", "worst-fit")
    assert code == 0, err
    assert "scheduling" in json.loads(out)  # the plain pool carries scheduling through


def test_cluster_R_is_unchanged_by_topology_support():
    assert "scheduling" not in cluster_R(2, 4)
