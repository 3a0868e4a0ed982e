"""The CI guard against speed-dependent tests (.ci/no_timing_asserts.py):
it must catch a stopwatch or a wall-clock comparison, and pass this suite."""

import importlib.util
import pathlib

import pytest

CHECK = pathlib.Path(__file__).resolve().parent.parent / ".ci" / "no_timing_asserts.py"


@pytest.fixture(scope="module")
def check():
    if not CHECK.exists():  # an installed wheel's test run has no .ci/
        pytest.skip(".ci/no_timing_asserts.py is not in this tree")
    spec = importlib.util.spec_from_file_location("no_timing_asserts", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("source", [
    "import time\nstart = time.perf_counter()\nassert time.perf_counter() - start < 2\n",
    "from time import monotonic\nt = monotonic()\n",
    "import time\nassert time.time() < deadline\n",
    "import time\nok = abs(end - time.time()) < 1.0\n",
])
def test_catches_timing(check, tmp_path, source):
    path = tmp_path / "test_x.py"
    path.write_text(source)
    assert list(check.findings(path))


def test_allows_end_times_and_this_suite(check, tmp_path):
    path = tmp_path / "test_y.py"
    path.write_text("import time\nclock_before = time.time()\nassert clock_before + 60 <= end\n")
    assert list(check.findings(path)) == []
    assert check.main() == 0
