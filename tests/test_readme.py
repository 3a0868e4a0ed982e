"""Every code block of README.md runs, so the README cannot go stale.

- ``python`` blocks run in order in one namespace, from the repository root;
- ``sh`` blocks: each command runs (``fluxpool`` as ``python -m fluxpool.cli``)
  and must exit 0, except ``pip install`` and ``python -m pytest``, which are
  what got this test running;
- ``text`` blocks marked ``<!-- output of: COMMAND -->`` must equal what COMMAND
  prints now (stdout when it exits 0, else stderr), machine-dependent lines
  (rates per second, wall times) aside;
- blocks marked ``<!-- not run: REASON -->`` are skipped with REASON.

Any other block fails: a README block must be either run or say why not.
Skipped where the README or examples/ are absent (an installed wheel's tests).
"""

import contextlib
import io
import os
import re

import pytest

from docblocks import EXAMPLES, README, ROOT, commands, is_rerun, markdown_blocks, run, steady

pytestmark = pytest.mark.skipif(
    not (README.is_file() and EXAMPLES.is_dir()),
    reason="README.md and examples/ are only in a source checkout",
)

BLOCKS = markdown_blocks() if README.is_file() else []


# ``print(exc)  # message`` or ``print(x.dumps(), ...)  # "summary", ...``: what it prints first.
_SHOWN = re.compile(r'^\s*print\((?:exc|[^)]*\.dumps\(\))[^\n]*#\s*"?([^"\n]*?)"?(?:, .*)?$', re.M)


def test_readme_has_no_private_references():
    """The README stands alone: nothing that only the project's developers have."""
    text = README.read_text(encoding="utf-8")
    for private in ("SPEC.md", "SPEC §", "../shared", "/work/"):
        assert private not in text


def test_every_block_is_run_or_says_why_not():
    for block in BLOCKS:
        kind = block.mark[0] if block.mark else None
        if kind == "not run":
            assert block.mark[1], f"README line {block.line}: 'not run' needs a reason"
        elif block.lang == "text":
            assert kind == "output of", f"README line {block.line}: a text block must be an 'output of:'"
        else:
            assert block.lang in ("python", "sh"), f"README line {block.line}: block {block.lang!r} is not run"


def test_python_blocks_in_order(monkeypatch):
    """The python blocks, in order, in one namespace (each may use what the ones before defined)."""
    python = [b for b in BLOCKS if b.lang == "python" and not b.mark]
    assert python, "the README has python examples"
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__readme__"}
    checked = 0
    for block in python:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, f"README.md:{block.line}", "exec"), namespace)
        # A trailing "# value" comment on a print line is what the print shows.
        printed = out.getvalue().splitlines()
        shown = [m.group(1) for m in _SHOWN.finditer(block.text)]
        for expected, got in zip(shown, printed):
            assert got.startswith(expected), f"README line {block.line}: printed {got!r}, comment says {expected!r}"
            checked += 1
    assert checked >= 2, "the README's printed values are checked against their comments"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "sh"], ids=lambda b: b.id)
def test_shell_block(block):
    if block.mark and block.mark[0] == "not run":
        pytest.skip(block.mark[1])
    ran = 0
    for command in commands(block.text):
        if not is_rerun(command):
            continue
        done = run(command)
        assert done.returncode == 0, f"README line {block.line}: {' '.join(command)}\n{done.stderr}"
        ran += 1
    assert ran, f"README line {block.line}: nothing to run"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark and b.mark[0] == "output of"],
                         ids=lambda b: b.id)
def test_output_block(block):
    (command,) = commands(block.mark[1])
    done = run(command)
    printed = done.stdout if done.returncode == 0 else done.stderr
    assert steady(printed) == steady(block.text), f"README line {block.line}: output of {block.mark[1]} changed"
    assert len(steady(block.text)) >= 1


@pytest.mark.skipif(os.name == "nt", reason="paths in the README are POSIX")
def test_examples_are_the_ones_the_readme_uses():
    """Every examples/ file is used by the README or the documentation."""
    text = README.read_text(encoding="utf-8")
    docs = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.rst"))
    for path in EXAMPLES.iterdir():
        assert f"examples/{path.name}" in text + docs, path.name
