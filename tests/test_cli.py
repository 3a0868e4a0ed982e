"""The ``fluxpool`` command, run in-process through ``fluxpool.cli.main(argv)``."""

import gzip
import json
import sys

import pytest

import fluxpool
from fluxpool.cli import main
from fluxpool.simulate import make_R

LINES = [
    "; Version: 2.2",
    "; Acknowledge: hand-made for the tests",
    "; MaxNodes: 1",
    "; MaxProcs: 4",
    "1 0 -1 10 2 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1",
    "2 1 -1 5 4 -1 -1 4 5 -1 1 1 1 -1 -1 -1 -1 -1",
    "3 2 -1 3 1 -1 -1 1 3 -1 1 1 1 -1 -1 -1 -1 -1",
    "4 3 -1 20 1 -1 -1 1 20 -1 1 1 1 -1 -1 -1 -1 -1",
    "5 4 -1 2 2 -1 -1 2 5 -1 1 1 1 -1 -1 -1 -1 -1",
    "6 5 -1 2 9 -1 -1 9 5 -1 1 1 1 -1 -1 -1 -1 -1",
]

REQUIRED_KEYS = {
    "jobs_completed", "jobs_skipped", "makespan_s", "utilization", "mean_wait_s",
    "p95_wait_s", "mean_bounded_slowdown", "allocs_per_s",
}


@pytest.fixture
def swf(tmp_path):
    path = tmp_path / "small.swf"
    path.write_text("\n".join(LINES) + "\n")
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0
    assert out == f"fluxpool {fluxpool.__version__}\n"


def test_simulate_prints_the_summary(capsys, swf):
    code, out, err = run(capsys, "simulate", "--trace", swf, "--scheduler", "easy")
    assert code == 0
    assert err == ""  # no progress bar when stderr is not a terminal
    assert "1 node x 4 cores" in out  # the header's machine
    for label in ("jobs completed", "jobs skipped", "makespan", "utilization", "mean wait",
                  "p95 wait", "mean bounded slowdown", "pool allocs/s", "pool frees/s", "pool copies/s"):
        assert label in out
    assert "skipped 1 job(s): wider than the cluster, can never fit (job 6)" in out


def test_json_keys_and_values(capsys, swf, tmp_path):
    target = tmp_path / "out.json"
    code, out, err = run(capsys, "simulate", "--trace", swf, "--scheduler", "easy", "--json", str(target), "-q")
    assert code == 0
    summary = json.loads(target.read_text())
    assert REQUIRED_KEYS <= set(summary)
    assert summary["jobs_completed"] == 5
    assert summary["jobs_skipped"] == 1
    assert summary["too_wide_ids"] == [6]
    assert summary["makespan_s"] == 35
    assert summary["p95_wait_s"] == 12
    assert summary["policy"] == "first-fit"


def test_compare_runs_three_policies(capsys, swf, tmp_path):
    target = tmp_path / "cmp.json"
    code, out, err = run(capsys, "simulate", "--trace", swf, "--compare", "--json", str(target), "--check")
    assert code == 0
    header = next(line for line in out.splitlines() if line.strip().startswith("policy"))
    assert header.split()[1:] == ["first-fit", "best-fit", "worst-fit"]
    assert "checks passed" in out
    document = json.loads(target.read_text())
    assert set(document["policies"]) == {"first-fit", "best-fit", "worst-fit"}
    for summary in document["policies"].values():
        assert REQUIRED_KEYS <= set(summary)


def test_gzipped_trace_and_cluster_options(capsys, swf, tmp_path):
    packed = tmp_path / "small.swf.gz"
    with open(swf, "rb") as f:
        packed.write_bytes(gzip.compress(f.read()))
    code, out, err = run(capsys, "simulate", "--trace", str(packed), "--nodes", "2", "--cores-per-node", "8",
                         "--gpus-per-node", "1", "--node-exclusive", "--policy", "worst-fit", "-q")
    assert code == 0
    assert "machine: 2 nodes x 8 cores + 1 GPU (from --nodes and --cores-per-node)" in out
    assert "skipped" not in out.split("jobs skipped")[1]  # job 6 (9 cores) fits 16 cores


def test_R_file(capsys, swf, tmp_path):
    R = tmp_path / "R.json"
    R.write_text(json.dumps(make_R(2, 2)))
    code, out, err = run(capsys, "simulate", "--trace", swf, "--R", str(R), "-q")
    assert code == 0
    assert "2 nodes, 4 cores from" in out
    code, out, err = run(capsys, "simulate", "--trace", swf, "--R", str(R), "--nodes", "3")
    assert code == 2
    assert "--R" in err


def test_embedded_default_trace(capsys):
    code, out, err = run(capsys, "simulate", "--scheduler", "fcfs", "-q")
    assert code == 0
    assert "(embedded) KTH-SP2-1996-2.1-cln-first5000.swf.gz" in out
    assert "machine: 100 nodes x 1 core (from the trace's MaxNodes 100 and MaxProcs 100)" in out


# -- error paths --------------------------------------------------------------------


def test_missing_trace(capsys, tmp_path):
    code, out, err = run(capsys, "simulate", "--trace", str(tmp_path / "absent.swf"))
    assert code == 2
    assert out == ""
    assert err.startswith("fluxpool: error: cannot read trace ")
    assert "absent.swf" in err and "No such file" in err
    assert "Traceback" not in err


def test_malformed_line_names_its_number(capsys, tmp_path):
    path = tmp_path / "bad.swf"
    path.write_text("\n".join(LINES[:5] + ["7 9 -1 1 1 -1 -1 1 x -1 1 1 1 -1 -1 -1 -1 -1"]) + "\n")
    code, out, err = run(capsys, "simulate", "--trace", str(path))
    assert code == 2
    assert "bad.swf, line 6: field 9 (requested_time) is not a number: 'x'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--scheduler", "sjf"], "invalid choice: 'sjf'"),
        (["simulate", "--policy", "random-fit"], "invalid choice: 'random-fit'"),
        (["simulate", "--nodes", "0"], "must be at least 1"),
        (["simulate", "--cores-per-node", "four"], "not an integer"),
        (["simulate", "--frobnicate"], "unrecognized arguments"),
        ([], "required"),
    ],
)
def test_bad_options(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_plot_without_matplotlib(capsys, swf, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    code, out, err = run(capsys, "simulate", "--trace", swf, "--plot", str(tmp_path / "p.png"))
    assert code == 2
    assert "--plot needs matplotlib" in err
    assert out == ""  # refused before running anything


def test_bad_R_file(capsys, swf, tmp_path):
    R = tmp_path / "R.json"
    R.write_text('{"execution": {}}')
    code, out, err = run(capsys, "simulate", "--trace", swf, "--R", str(R))
    assert code == 2
    assert "not a valid R version 1 object: missing key 'version'" in err


# -- alloc ------------------------------------------------------------------------


def jobspec(slots, cores=1):
    return {
        "version": 1,
        "resources": [{"type": "slot", "count": slots, "label": "task", "with": [{"type": "core", "count": cores}]}],
        "tasks": [],
        "attributes": {"system": {"duration": 0}},
    }


@pytest.fixture
def files(tmp_path):
    R = tmp_path / "R.json"
    R.write_text(json.dumps(make_R(2, 4)))
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(jobspec(5)))
    return str(R), str(spec)


def test_alloc_prints_the_allocated_R(capsys, files):
    R, spec = files
    code, out, err = run(capsys, "alloc", R, spec)
    assert code == 0
    allocated = json.loads(out)
    assert allocated["execution"]["R_lite"] == [
        {"rank": "0", "children": {"core": "0-3"}},
        {"rank": "1", "children": {"core": "0"}},
    ]
    assert allocated["execution"]["nslots"] == 5


def test_alloc_policy(capsys, files):
    R, spec = files
    code, out, err = run(capsys, "alloc", R, spec, "--policy", "worst-fit")
    assert code == 0
    assert json.loads(out)["execution"]["nodelist"] == ["node[0-1]"]


def test_alloc_errors(capsys, files, tmp_path):
    R, spec = files
    code, out, err = run(capsys, "alloc", str(tmp_path / "nope.json"), spec)
    assert (code, out) == (2, "")
    assert "cannot read R" in err and "nope.json" in err

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, err = run(capsys, "alloc", R, str(broken))
    assert code == 2
    assert "jobspec" in err and "is not valid JSON" in err

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": 1, "resources": []}))
    code, out, err = run(capsys, "alloc", R, str(empty))
    assert code == 2
    assert "cannot parse jobspec: jobspec has no resources" in err

    bad_R = tmp_path / "badR.json"
    bad_R.write_text(json.dumps({"version": 2}))
    code, out, err = run(capsys, "alloc", str(bad_R), spec)
    assert code == 2
    assert "R version 2 not supported" in err

    too_big = tmp_path / "big.json"
    too_big.write_text(json.dumps(jobspec(9)))
    code, out, err = run(capsys, "alloc", R, str(too_big))
    assert code == 1
    assert err.startswith("fluxpool: alloc: unsatisfiable request")
    assert "Traceback" not in err

    code, out, err = run(capsys, "alloc", R)
    assert code == 2
