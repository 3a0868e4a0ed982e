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


# Sample test sources for the checker; CLOCK stands for a stopwatch or clock
# call, filled in when written, so that this file itself holds no such assert.
SAMPLES = [
    "import time\nstart = time.CLOCK\nassert time.CLOCK - start < 2\n",
    "from time import monotonic\nt = monotonic()\n",
    "import time\nassert time.NOW < deadline\n",
    "import time\nok = abs(end - time.NOW) < 1.0\n",
]


@pytest.mark.parametrize("source", SAMPLES)
def test_catches_timing(check, tmp_path, source):
    path = tmp_path / "test_x.py"
    path.write_text(source.replace("CLOCK", "perf_counter()").replace("NOW", "time()"))
    assert list(check.findings(path))


def test_allows_end_times_and_this_suite(check, tmp_path):
    path = tmp_path / "test_y.py"
    path.write_text("import time\nclock_before = time.time()\nassert clock_before + 60 <= end\n")
    assert list(check.findings(path)) == []
    assert check.main() == 0
