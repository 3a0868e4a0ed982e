"""The examples of the documentation (docs/*.rst) run and show what they say.

Per page, in order and in one namespace: a ``.. code-block:: python`` runs as
code, one that starts with ``>>>`` runs as a doctest (its printed results and
exception messages must match). In a ``.. code-block:: console`` of the pages
without Flux, each ``$ fluxpool ...`` command runs and the lines after it must
be what it prints (machine-dependent rates and times aside); ``pip install``
and ``python -m pytest`` are not re-run. A block after an rST comment
``.. not run: REASON`` is skipped. Skipped where docs/ is absent (an installed
wheel's tests).
"""

import doctest

import pytest

from docblocks import DOCS, ROOT, commands, is_rerun, rst_blocks, run, steady

PAGES = ["getting-started.rst", "guide.rst", "simulator.rst", "flux.rst"]

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is only in a source checkout")


@pytest.mark.parametrize("page", PAGES)
def test_page_examples(page, monkeypatch):
    blocks = [b for b in rst_blocks(DOCS / page) if b.lang == "python"]
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    for block in blocks:
        if block.mark:
            assert block.mark[1], f"{page}:{block.line}: 'not run' needs a reason"
            continue
        where = f"{page}:{block.line}"
        if block.text.lstrip().startswith(">>>"):
            test = parser.get_doctest(block.text, namespace, where, str(DOCS / page), block.line)
            result = runner.run(test, clear_globs=False)
            assert result.failed == 0, f"{where}: doctest failed (see the output above)"
        else:
            exec(compile(block.text, where, "exec"), namespace)
        ran += 1
    if page in ("getting-started.rst", "guide.rst"):
        assert ran >= 1, f"{page}: its examples ran"


# flux.rst's console blocks need a live Flux instance; the other pages' run here.
CONSOLE_PAGES = ["getting-started.rst", "simulator.rst"]


def _sessions(text):
    """``[(command line, [output lines])]`` of a console block."""
    sessions = []
    for line in text.splitlines():
        if line.startswith("$ "):
            sessions.append((line[2:], []))
        elif sessions:
            sessions[-1][1].append(line)
    return sessions


@pytest.mark.parametrize("page", CONSOLE_PAGES)
def test_page_console_examples(page):
    ran = 0
    for block in rst_blocks(DOCS / page):
        if block.lang != "console" or block.mark:
            continue
        for line, output in _sessions(block.text):
            for command in commands(line):
                if not is_rerun(command):
                    continue
                assert command[0] == "fluxpool", f"{page}:{block.line}: {line!r} cannot run here; mark the block"
                done = run(command)
                printed = done.stdout if done.returncode == 0 else done.stderr
                if output:
                    assert steady(printed) == steady("\n".join(output)), f"{page}:{block.line}: {line}"
                else:
                    assert done.returncode == 0, f"{page}:{block.line}: {line}\n{done.stderr}"
                ran += 1
    if page == "getting-started.rst":
        assert ran >= 3, f"{page}: its commands ran"
