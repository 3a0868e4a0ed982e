"""The Python examples of the documentation (docs/*.rst) run and show what they say.

Per page, in order and in one namespace: a ``.. code-block:: python`` runs as
code, one that starts with ``>>>`` runs as a doctest (its printed results and
exception messages must match). A block after an rST comment
``.. not run: REASON`` is skipped. Skipped where docs/ is absent (an installed
wheel's tests).
"""

import doctest

import pytest

from docblocks import DOCS, ROOT, rst_blocks

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
