"""Fail if any test under tests/ depends on the machine's speed.

CI runs on a loaded 2-core machine, where a wall-clock assertion fails at random.
A test asserts the property instead (a bound checked before the work, an
operation count, traced memory). This check refuses, in every test module and test helper under tests/ (the
fuzzers' own runner, tests/fuzz/run.py, spends a time budget and is no test):
- any call of a stopwatch (time.perf_counter, monotonic, process_time,
  thread_time and their _ns forms): tests have no use for one;
- time.time() inside an assert or a comparison (the pool's end times are
  wall-clock, so time.time() itself is allowed where it makes an end time).
Exit status 1 and one line per finding when there is any.
"""

import ast
import pathlib
import sys

STOPWATCHES = {"perf_counter", "monotonic", "process_time", "thread_time"}
STOPWATCHES |= {name + "_ns" for name in STOPWATCHES}


def called_name(node):
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            return func.attr
        if isinstance(func, ast.Name):
            return func.id
    return None


def findings(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        name = called_name(node)
        if name in STOPWATCHES:
            yield node.lineno, f"calls {name}()"
        if isinstance(node, (ast.Assert, ast.Compare)):
            for inner in ast.walk(node):
                if called_name(inner) in ("time", "time_ns"):
                    yield node.lineno, "compares wall-clock time"
                    break


def main():
    root = pathlib.Path(__file__).resolve().parent.parent / "tests"
    bad = [f"{path.relative_to(root.parent)}:{line}: {what}"
           for path in sorted(root.rglob("*.py")) if path != root / "fuzz" / "run.py"
           for line, what in findings(path)]
    for line in bad:
        print(f"timing-dependent test: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
