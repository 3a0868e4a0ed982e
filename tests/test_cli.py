"""The ``fluxpool`` command, run in-process through ``fluxpool.cli.main(argv)`` and, for
pipes, standard input and ``python -m fluxpool``, as a child process (issue 15; strict pools: SPEC §15)."""

import gzip
import json
import os
import subprocess
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


# -- issue 15: inputs read once, errors that blame the right thing, outputs checked first --

# Where the imported fluxpool lives (src in a checkout, site-packages when installed).
SRC = os.path.dirname(os.path.dirname(os.path.abspath(fluxpool.__file__)))


def fluxpool_process(*argv, stdin=None, shell=None):
    """Run ``python -m fluxpool`` (or a shell pipeline using it) in a child process."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if shell is not None:
        return subprocess.run(["bash", "-c", shell], capture_output=True, env=env, input=stdin, check=False,
                              timeout=300)
    return subprocess.run([sys.executable, "-m", "fluxpool", *argv], capture_output=True, env=env,
                          input=stdin, check=False, timeout=300)


def completed(out):
    line = next(line for line in out.splitlines() if line.strip().startswith("jobs completed"))
    return int(line.split()[-1].replace(",", ""))


@pytest.mark.parametrize("packed", [False, True])
def test_trace_from_a_pipe_with_dash(swf, packed):
    with open(swf, "rb") as f:
        data = f.read()
    data = gzip.compress(data) if packed else data
    proc = fluxpool_process("simulate", "--trace", "-", "-q", stdin=data)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("fluxpool simulate: <stdin>\n")
    assert completed(out) == 5


def test_trace_from_dev_stdin_and_process_substitution(swf):
    """The issue's two commands: each input is opened once, gzip sniffed on the stream."""
    packed = swf + ".gz"
    with open(swf, "rb") as f, open(packed, "wb") as g:
        g.write(gzip.compress(f.read()))
    proc = fluxpool_process(shell=f"cat {packed} | {sys.executable} -m fluxpool simulate -q --trace /dev/stdin")
    assert proc.returncode == 0, proc.stderr
    assert completed(proc.stdout.decode()) == 5
    proc = fluxpool_process(shell=f"{sys.executable} -m fluxpool simulate -q --trace <(zcat {packed})")
    assert proc.returncode == 0, proc.stderr
    assert completed(proc.stdout.decode()) == 5


def test_R_from_a_pipe(swf):
    proc = fluxpool_process("simulate", "--trace", swf, "--R", "-", "-q", stdin=json.dumps(make_R(2, 2)).encode())
    assert proc.returncode == 0, proc.stderr
    assert "machine: 2 nodes, 4 cores from R <stdin>" in proc.stdout.decode()


def test_python_dash_m_and_version_everywhere():
    for argv in (["--version"], ["simulate", "--version"], ["alloc", "--version"]):
        proc = fluxpool_process(*argv)
        assert proc.returncode == 0
        assert proc.stdout.decode() == f"fluxpool {fluxpool.__version__}\n"


def test_no_broken_pipe_traceback_into_head():
    proc = fluxpool_process(shell=f"{sys.executable} -m fluxpool simulate -q --scheduler fcfs | head -1")
    assert proc.returncode == 0
    assert proc.stdout.decode().startswith("fluxpool simulate: (embedded)")
    assert proc.stderr.decode() == ""  # no "BrokenPipeError", no traceback


def test_output_files_are_written_when_the_reader_stops_early(tmp_path):
    """``| head -1`` closes the pipe after one line of the summary: the --json
    file asked for is written all the same (the files come first)."""
    path = tmp_path / "out.json"
    proc = fluxpool_process(shell=f"{sys.executable} -m fluxpool simulate -q --scheduler fcfs "
                                  f"--json {path} | head -1")
    assert proc.returncode == 0 and proc.stderr.decode() == ""
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["jobs_completed"] == 5000


@pytest.mark.parametrize("text", ["", "; Version: 2.2\n; MaxProcs: 4\n\n"])
def test_empty_trace_is_an_error_unless_allowed(capsys, tmp_path, text):
    path = tmp_path / "empty.swf"
    path.write_text(text)
    code, out, err = run(capsys, "simulate", "--trace", str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "has no jobs" in err and "--allow-empty" in err
    code, out, err = run(capsys, "simulate", "--trace", str(path), "--allow-empty", "-q")
    assert code == 0
    assert completed(out) == 0


def test_empty_trace_from_a_pipe():
    proc = fluxpool_process("simulate", "--trace", "-", stdin=b"")
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "fluxpool: error: trace <stdin> has no jobs (0 header line(s)); give --allow-empty to simulate it anyway\n"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nodes", "5000000"], "argument --nodes: must be at most 4,194,304 (the most ranks in one pool), got 5,000,000"),
        (["--cores-per-node", "100000"], "argument --cores-per-node: must be at most 16,384"),
        (["--gpus-per-node", "5000"], "argument --gpus-per-node: must be at most 4,096"),
        (["--nodes", "4194304", "--cores-per-node", "16384"],
         "cannot build 4,194,304 nodes x 16,384 cores (from --nodes and --cores-per-node)"),
        (["--compare", "--policy", "best-fit"], "--compare runs every policy; it cannot be combined with --policy"),
        (["--tasks-per-node", "2"], "--tasks-per-node splits whole nodes; it needs --node-exclusive"),
        (["--cores-per-task", "2"], "--cores-per-task 2 does not fit nodes of 1 cores"),
        (["--cores-per-node", "4", "--node-exclusive", "--tasks-per-node", "3", "--cores-per-task", "2"],
         "--tasks-per-node 3 x --cores-per-task 2 does not fit nodes of 4 cores"),
        (["--trace", "-", "--R", "-"], "only one of --trace and --R can be read from standard input"),
    ],
)
def test_errors_name_the_option_and_the_limit(capsys, argv, message):
    code, out, err = run(capsys, "simulate", "-q", *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert "Traceback" not in err and "R (generated)" not in err


def test_alloc_on_an_R_without_resources(capsys, tmp_path):
    R = tmp_path / "R.json"
    R.write_text(json.dumps({"version": 1, "execution": {"R_lite": []}}))
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(jobspec(1)))
    code, out, err = run(capsys, "alloc", str(R), str(spec))
    assert (code, out) == (2, "")
    assert "R.json has no resources" in err
    code, out, err = run(capsys, "simulate", "--R", str(R))
    assert code == 2 and "has no resources" in err


@pytest.mark.parametrize(
    "plot, message",
    [
        ("out.txt", "cannot tell the image format from '.txt'"),
        ("noext", "cannot tell the image format"),
        ("missing/dir/p.png", "no such directory"),
        ("-", "--plot writes an image file"),
    ],
)
def test_bad_plot_path_refused_before_running(capsys, swf, tmp_path, monkeypatch, plot, message):
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr("fluxpool.cli.Simulation.run", lambda self: ran.append(1))
    code, out, err = run(capsys, "simulate", "--trace", swf, "--plot", plot)
    assert (code, out, ran) == (2, "", [])
    assert message in err


def test_plot_into_a_directory_is_refused(capsys, swf, tmp_path):
    folder = tmp_path / "p.png"
    folder.mkdir()
    code, out, err = run(capsys, "simulate", "--trace", swf, "--plot", str(folder))
    assert code == 2 and "is a directory" in err


def test_bad_json_path_refused_before_running(capsys, swf, monkeypatch):
    ran = []
    monkeypatch.setattr("fluxpool.cli.Simulation.run", lambda self: ran.append(1))
    code, out, err = run(capsys, "simulate", "--trace", swf, "--json", "/no/such/dir/x.json")
    assert (code, out, ran) == (2, "", [])
    assert "cannot write --json /no/such/dir/x.json: no such directory /no/such/dir" in err


def test_json_dash_writes_standard_output(capsys, swf):
    code, out, err = run(capsys, "simulate", "--trace", swf, "--json", "-", "-q")
    assert code == 0
    document = json.loads(out)  # standard output is the JSON document only
    assert document["jobs_completed"] == 5
    assert "jobs completed" in err  # the summary moved to stderr


def test_machine_is_explained_and_differences_warned(capsys):
    code, out, err = run(capsys, "simulate", "--nodes", "99", "-q", "--scheduler", "fcfs")
    assert code == 0
    assert "machine: 99 nodes x 2 cores (from --nodes 99, cores per node to hold the trace's MaxProcs 100)" in out
    assert err == "fluxpool: warning: the simulated cluster has 198 cores, 1.98 x the trace machine's 100 processors\n"


def test_lublin_style_trace_keeps_its_size(capsys, tmp_path):
    path = tmp_path / "lublin.swf"
    path.write_text("; MaxNodes: 8\n" + "\n".join(LINES[4:9]) + "\n")
    code, out, err = run(capsys, "simulate", "--trace", str(path), "--cores-per-node", "4", "-q")
    assert code == 0
    assert "machine: 2 nodes x 4 cores (from --cores-per-node 4, nodes to hold the trace's MaxNodes 8" in out
    assert err == ""


def test_compare_notes_when_shapes_make_policies_equal(capsys, swf):
    code, out, err = run(capsys, "simulate", "--trace", swf, "--compare", "-q")
    assert code == 0
    assert "note: every job asks for one-core slots, so every policy gives the same schedule" in out
    code, out, err = run(capsys, "simulate", "--trace", swf, "--compare", "-q", "--nodes", "2",
                         "--cores-per-node", "4", "--node-exclusive")
    assert code == 0
    assert "note:" not in out


def test_conservative_from_the_command_line(capsys, swf):
    code, out, err = run(capsys, "simulate", "--trace", swf, "--scheduler", "conservative", "--check", "-q")
    assert code == 0
    assert "scheduler conservative" in out and completed(out) == 5


def test_time_in_pool_within_wall(capsys, swf, tmp_path):
    target = tmp_path / "s.json"
    code, out, err = run(capsys, "simulate", "--trace", swf, "-q", "--json", str(target))
    summary = json.loads(target.read_text())
    assert summary["pool_seconds"] <= summary["wall_s"]


def test_plot_is_written(capsys, swf, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "p.png"
    code, out, err = run(capsys, "simulate", "--trace", swf, "--compare", "--plot", str(target), "-q")
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_binned_averages_over_time():
    from fluxpool.cli import _bin_seconds, binned

    # busy 4 cores for 30 min, then 2 cores for 90 min; 1 job waits in the first hour
    timeline = [(0, 4, 1), (1800, 2, 1), (3600, 2, 0), (7200, 0, 0)]
    starts, busy, peak = binned(timeline, 3600)
    assert starts == [0, 3600]
    assert busy == [3.0, 2.0]
    assert peak == [1, 0]
    # a partial last bin is averaged over its own length
    assert binned([(0, 2, 3), (5400, 0, 0)], 3600) == ([0, 3600], [2.0, 2.0], [3, 3])
    assert _bin_seconds(2 * 86400) == (3600.0, "hour")
    assert _bin_seconds(72 * 86400) == (86400.0, "day")
    assert _bin_seconds(333 * 86400) == (7 * 86400.0, "week")
    assert _bin_seconds(2500 * 86400) == (30 * 86400.0, "30 days")


def test_cli_pools_are_strict(capsys, files, monkeypatch):
    import fluxpool.simulate as simulate_module

    seen = []
    real = simulate_module.ResourcePool

    def recording(R, **kwargs):
        seen.append(kwargs)
        return real(R, **kwargs)

    monkeypatch.setattr(simulate_module, "ResourcePool", recording)
    R, spec = files
    assert run(capsys, "alloc", R, spec)[0] == 0
    assert run(capsys, "simulate", "--R", R, "-q")[0] == 0
    assert seen and all(kwargs.get("strict") is True for kwargs in seen)


def test_queue_depth_is_shown_and_checked(capsys, swf):
    code, out, err = run(capsys, "simulate", "--trace", swf, "--scheduler", "conservative",
                         "--queue-depth", "2", "--json", "-", "-q")
    assert code == 0
    assert "scheduler conservative (queue depth 2)" in err
    assert json.loads(out)["queue_depth"] == 2
    code, out, err = run(capsys, "simulate", "--trace", swf, "--queue-depth", "0", "-q")
    assert code == 2 and "--queue-depth: must be at least 1, got 0" in err
