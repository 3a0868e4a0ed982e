"""CI's short fuzz runs (issue 9): every fuzz target of tests/fuzz/ over its seed
corpus, then a few seconds of atheris each.

The corpus replay needs nothing but fluxpool. The atheris runs are skipped,
saying why, where atheris cannot be imported (it ships wheels for Linux
x86_64 only). Long runs: ``python tests/fuzz/run.py TARGET --seconds 600``.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

import fluxpool

FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
SECONDS = int(os.environ.get("FLUXPOOL_FUZZ_SECONDS", "3"))


def _load_runner():
    if FUZZ not in sys.path:
        sys.path.insert(0, FUZZ)
    spec = importlib.util.spec_from_file_location("fluxpool_fuzz_run", os.path.join(FUZZ, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()

try:
    import atheris  # noqa: F401
    ATHERIS = None
except ImportError as exc:  # pragma: no cover - depends on the platform
    ATHERIS = (f"atheris is not importable ({exc}); it installs from PyPI as a wheel on "
               "Linux x86_64 only (pip install atheris) - short fuzz runs skipped")


@pytest.mark.parametrize("target", runner.TARGETS)
def test_seed_corpus(target, monkeypatch):
    """Every seed input of the target passes all its checks, strictly (no known
    bug is excused), and the corpus is a handful of small text files."""
    monkeypatch.setenv("FLUXPOOL_FUZZ_STRICT", "1")
    corpus = runner.corpus_dir(target)
    names = sorted(os.listdir(corpus))
    assert len(names) >= 10
    for name in names:
        assert os.path.getsize(os.path.join(corpus, name)) <= 8192, name
    ran, failures, known = runner.replay(target, [corpus])
    assert ran == len(names)
    assert not failures, "\n".join(f"{path}:\n{text}" for path, text in failures)
    assert not known


@pytest.mark.skipif(ATHERIS is not None, reason=ATHERIS or "")
@pytest.mark.parametrize("target", runner.TARGETS)
def test_short_fuzz_run(target, tmp_path):
    """A few seconds of coverage-guided fuzzing find no crash, no undocumented
    exception, no broken round trip, no hang and no memory blow-up."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fluxpool.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, os.path.join(FUZZ, "run.py"), target,
               "--seconds", str(SECONDS), "--workdir", str(tmp_path), "--quiet", "--seed", "1"]
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=SECONDS + 120)
    log = tmp_path / target / "fuzz.log"
    details = log.read_text(errors="replace")[-6000:] if log.exists() else done.stderr[-6000:]
    assert done.returncode == 0, f"{done.stdout}\n{details}"
    assert " executions in " in done.stdout and "no failures" in done.stdout, done.stdout
