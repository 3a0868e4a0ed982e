#!/usr/bin/env bash
# Run the test suite under valgrind's memcheck and fail on any invalid read or
# write, use of uninitialised memory or bad free in the process (the compiled
# core included).
#
#   bench/valgrind.sh                          # the suite (a few tens of minutes)
#   bench/valgrind.sh tests/test_idset.py -x   # arguments go to pytest
#
# PYTHON picks the interpreter (default python3); fluxpool, pytest and
# hypothesis must be importable by it (fluxpool installed, or PYTHONPATH=src in
# a checkout with the extension built). Use a distribution's Python (Debian's
# /usr/bin/python3 is clean under valgrind); some self-built interpreters
# (pyenv's, here) report errors of their own in the interpreter with no
# fluxpool code involved - the summary at the end counts the reports that
# have a frame in fluxpool's compiled core separately.
# PYTHONMALLOC=malloc makes Python use malloc directly, so valgrind sees every
# block (pymalloc's arenas otherwise show as false reports). Leaks are not
# counted: an interpreter never frees everything at exit; bench/memcheck.py is
# the check that memory does not grow. The short fuzz runs are left out
# (libFuzzer under valgrind is pointless) and the state machine runs fewer
# examples (FLUXPOOL_STATE_EXAMPLES, default 200 here). The full report goes
# to $VALGRIND_LOG (default: valgrind-fluxpool.log in the temporary directory);
# the exit status is 99 when valgrind found an error, else pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
LOG=${VALGRIND_LOG:-${TMPDIR:-/tmp}/valgrind-fluxpool.log}
export PYTHONMALLOC=malloc
export FLUXPOOL_STATE_EXAMPLES=${FLUXPOOL_STATE_EXAMPLES:-200}

if [ $# -eq 0 ]; then
    set -- tests --ignore=tests/test_fuzz_short.py
fi

status=0
valgrind --tool=memcheck --error-exitcode=99 --num-callers=40 \
    --leak-check=summary --errors-for-leak-kinds=none \
    --suppressions=bench/valgrind.supp \
    --log-file="$LOG" \
    "$PYTHON" -m pytest -q -p no:cacheprovider "$@" || status=$?

echo "valgrind log: $LOG"
grep -E "ERROR SUMMARY" "$LOG"
# Which reports involve fluxpool's compiled core (a frame in _rv1core)?
"$PYTHON" - "$LOG" <<'PY'
import re, sys
blocks, current = [], []
for line in open(sys.argv[1], errors="replace"):
    body = re.sub(r"^==\d+==\s?", "", line.rstrip("\n"))
    if not body.strip():
        if current:
            blocks.append(current)
        current = []
    else:
        current.append(body)
if current:
    blocks.append(current)
kinds = ("Invalid read", "Invalid write", "uninitialised", "Invalid free", "Mismatched free",
         "overlap", "Syscall param")
errors = [b for b in blocks if any(k in b[0] for k in kinds)]
ours = [b for b in errors if any("_rv1core" in line for line in b)]
print(f"error contexts: {len(errors)}, with a fluxpool (_rv1core) frame: {len(ours)}")
for b in ours:
    print("\n".join(b[:25]), end="\n\n")
PY
exit "$status"
