#!/usr/bin/env python3
"""Run one fluxpool fuzz target (or all of them) with atheris, or replay inputs.

    python tests/fuzz/run.py idset --seconds 600     # fuzz for ten minutes
    python tests/fuzz/run.py all --seconds 5         # every target, briefly
    python tests/fuzz/run.py rv1 --replay crash-...  # re-run inputs, no atheris needed

Targets: idset, hostlist, rv1 (R parsing), jobspec, constraint, tree (TreePool R). Each starts
from its seed corpus in tests/fuzz/corpus/<target>/ (never written to); what
the fuzzer learns goes to <workdir>/<target>/corpus, crashing inputs to
<workdir>/<target>/crash-* (workdir: --workdir, default
$TMPDIR/fluxpool-fuzz). fluxpool must be importable (installed, or
PYTHONPATH=src in a checkout with the extension built).

Known, reported bugs (knownbugs.py) are excused while their reproducer still
reproduces; --strict excuses nothing. The exit status is non-zero when a
target found a crash, an unexpected exception, a broken round trip, a hang
(--timeout seconds, default 60, for one input) or memory beyond --rss-limit-mb.
"""

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TARGETS = ("idset", "hostlist", "rv1", "jobspec", "constraint", "tree")
JSON_TARGETS = ("rv1", "jobspec", "constraint", "tree")
MAX_LEN = 4096


def corpus_dir(target):
    return os.path.join(HERE, "corpus", target)


def load_target(target):
    module = importlib.import_module(f"fuzz_{target}")
    return module


def guarded(target):
    """The target function wrapped with the known-bug filter; the second value
    counts, per known bug, the inputs it excused or skipped."""
    import knownbugs

    function = load_target(target).target
    counts = {}

    def one_input(data):
        name = knownbugs.skip(target, data)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
            return
        try:
            function(data)
        except BaseException as exc:  # noqa: B902 - a fuzz target must see everything
            name = knownbugs.excuse(target, exc, data)
            if name is None:
                raise
            counts[name] = counts.get(name, 0) + 1

    return one_input, counts


def _inputs(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full):
                    yield full
        elif os.path.isfile(path):
            yield path


def replay(target, paths):
    """Run every input file through the target; return the failures as
    ``(path, formatted traceback)``."""
    one_input, counts = guarded(target)
    failures = []
    ran = 0
    for path in _inputs(paths):
        with open(path, "rb") as f:
            data = f.read()
        ran += 1
        try:
            one_input(data)
        except BaseException as exc:  # noqa: B902
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append((path, "".join(traceback.format_exception(exc))))
    return ran, failures, counts


# ------------------------------------------------------------- the child


def _dictionary(target, workdir):
    """A libFuzzer dictionary made of the target's WORDS."""
    words = getattr(load_target(target), "WORDS", ())
    path = os.path.join(workdir, "words.dict")
    with open(path, "w", encoding="ascii") as f:
        for word in words:
            if not word:
                continue  # libFuzzer refuses empty entries
            escaped = "".join(
                c if (" " <= c <= "~" and c not in '"\\') else
                ("\\" + c if c in '"\\' else "".join(f"\\x{b:02X}" for b in c.encode()))
                for c in word)
            f.write(f'"{escaped}"\n')
    return path


def child(target, libfuzzer_args):
    import atheris

    # The compiled core is not instrumented (it is not built with clang's
    # -fsanitize=fuzzer-no-link), so coverage comes from fluxpool's Python shell
    # and from the target itself: its reference decoders teach the fuzzer the
    # grammar of what the core parses.
    with atheris.instrument_imports(include=["fluxpool", f"fuzz_{target}"]):
        import fluxpool  # noqa: F401
        import fluxpool.constraint  # noqa: F401
        import fluxpool.hostlist  # noqa: F401
        import fluxpool.jobspec  # noqa: F401
        import fluxpool.rformat  # noqa: F401
        import fluxpool.rv1  # noqa: F401
        load_target(target)
    import knownbugs

    for bug in knownbugs.KNOWN:
        if target in bug.targets:
            state = "still present: excused" if bug.active() else "not reproduced: strict"
            print(f"known bug {bug.name}: {state}", file=sys.stderr, flush=True)

    one_input, counts = guarded(target)
    stats_path = os.environ.get("FLUXPOOL_FUZZ_STATS")
    excused = [0]

    def recorded(data):
        before = sum(counts.values())
        one_input(data)
        if stats_path and sum(counts.values()) != before:
            excused[0] += 1
            with open(stats_path, "w") as f:
                json.dump(counts, f)

    mutator = None
    if target in JSON_TARGETS:
        from jsonmutator import make_mutator

        module = load_target(target)
        structured = make_mutator(module.WORDS, module.KEYS, getattr(module, "TEMPLATES", ()))

        def mutator(data, max_size, seed):
            return structured(data, max_size, seed, atheris.Mutate)

    argv = [sys.argv[0]] + libfuzzer_args
    if mutator is not None:
        atheris.Setup(argv, recorded, custom_mutator=mutator)
    else:
        atheris.Setup(argv, recorded)
    atheris.Fuzz()


# ------------------------------------------------------------- the parent

_EXECS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def fuzz(target, args):
    """Fuzz one target in a child process; return (ok, summary line)."""
    workdir = os.path.join(args.workdir, target)
    corpus = os.path.join(workdir, "corpus")
    os.makedirs(corpus, exist_ok=True)
    stats = os.path.join(workdir, "known.json")
    if os.path.exists(stats):
        os.remove(stats)
    libfuzzer = [
        corpus, corpus_dir(target),
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-max_len={MAX_LEN}",
        f"-artifact_prefix={workdir}{os.sep}",
        f"-dict={_dictionary(target, workdir)}",
        "-print_final_stats=1",
    ] + (["-seed=%d" % args.seed] if args.seed is not None else []) + args.libfuzzer
    env = dict(os.environ, FLUXPOOL_FUZZ_STATS=stats)
    if args.strict:
        env["FLUXPOOL_FUZZ_STRICT"] = "1"
    log_path = os.path.join(workdir, "fuzz.log")
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", target, "--"] + libfuzzer,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
            errors="replace")
        execs = None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if not args.quiet:
                sys.stdout.write(line)
            m = _EXECS.search(line) or _DONE.search(line)
            if m:
                execs = int(m.group(1))
        code = proc.wait()
    elapsed = time.monotonic() - start
    known = {}
    if os.path.exists(stats):
        with open(stats) as f:
            known = json.load(f)
    crashes = sorted(n for n in os.listdir(workdir)
                     if n.startswith(("crash-", "timeout-", "oom-", "leak-")))
    ok = code == 0
    summary = (f"{target}: {execs if execs is not None else '?'} executions in {elapsed:.0f} s, "
               f"exit {code}, {'no failures' if ok else 'FAILED'}"
               + (f", known bugs excused/skipped: {known}" if known else "")
               + (f", artifacts: {', '.join(crashes)}" if crashes else "")
               + f" (log: {log_path})")
    return ok, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=TARGETS + ("all",))
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "fluxpool-fuzz"))
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds one input may take before it counts as a hang")
    parser.add_argument("--rss-limit-mb", type=int, default=2048,
                        help="resident memory that counts as a failure")
    parser.add_argument("--seed", type=int, default=None, help="libFuzzer's random seed")
    parser.add_argument("--strict", action="store_true",
                        help="excuse no known bug (knownbugs.py)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--replay", nargs="*", metavar="PATH",
                        help="run these input files/directories (default: the seed corpus "
                             "and the learned corpus) through the target, without atheris")
    parser.add_argument("libfuzzer", nargs="*", default=[],
                        help="extra libFuzzer flags, after '--'")
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        target = sys.argv[2]
        rest = sys.argv[3:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        child(target, rest)
        return 0
    args = parser.parse_args()
    if args.strict:
        os.environ["FLUXPOOL_FUZZ_STRICT"] = "1"
    targets = TARGETS if args.target == "all" else (args.target,)
    status = 0
    summaries = []
    for target in targets:
        if args.replay is not None:
            paths = args.replay or [corpus_dir(target), os.path.join(args.workdir, target, "corpus")]
            ran, failures, known = replay(target, paths)
            for path, text in failures:
                print(f"--- {target}: {path}\n{text}")
            summaries.append(f"{target}: replayed {ran} inputs, {len(failures)} failures"
                             + (f", known bugs excused/skipped: {known}" if known else ""))
            status |= bool(failures)
        else:
            ok, summary = fuzz(target, args)
            summaries.append(summary)
            status |= not ok
    print("\n".join(summaries))
    return status


if __name__ == "__main__":
    sys.exit(main())
