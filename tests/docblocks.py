"""Code blocks of the README and the documentation, for the tests that run them.

A README fence is marked for the tests by an HTML comment on the line before it
(invisible on GitHub and PyPI):

- ``<!-- not run: REASON -->``: the block cannot run here (a live Flux, a
  downloaded trace, minutes of fuzzing); its test is skipped with REASON;
- ``<!-- output of: COMMAND -->``: the block is COMMAND's output, compared with
  what COMMAND prints now.

An rST code block is marked the same way by a comment line before it,
``.. not run: REASON``. Everything else runs.
"""

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import fluxpool

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*(not run|output of):\s*(.*?)\s*-->$")
_RST_BLOCK = re.compile(r"^(\s*)\.\. code-block:: (\w+)\s*$")
_RST_MARK = re.compile(r"^\s*\.\. not run: (.*)$")

#: Commands of a runnable shell block that a test does not re-run: the tests run
#: inside an installed (or in-place built) fluxpool, under pytest.
NOT_RERUN = (("pip", "install"), ("python", "-m", "pytest"))


@dataclass
class Block:
    """One fenced block: where it starts (1-based line of its first content line),
    its language, its text, and the mark before it (kind, argument) if any."""

    line: int
    lang: str
    text: str
    mark: Optional[Tuple[str, str]] = None

    @property
    def id(self) -> str:
        return f"{self.lang or 'plain'}-line{self.line}"


def _line_before(lines: List[str], i: int) -> str:
    """The last non-blank line before line ``i`` ("" when none): where a mark sits."""
    for j in range(i - 1, -1, -1):
        if lines[j].strip():
            return lines[j]
    return ""


def markdown_blocks(path: Path = README) -> List[Block]:
    """Every fenced block of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: List[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        mm = _MARK.match(_line_before(lines, i).strip())
        mark = (mm.group(1), mm.group(2)) if mm else None
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        blocks.append(Block(i + 2, m.group(1), "\n".join(lines[i + 1:end]) + "\n", mark))
        i = end + 1
    return blocks


def rst_blocks(path: Path) -> List[Block]:
    """Every ``.. code-block::`` of an rST file, in order, dedented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: List[Block] = []
    for i, line in enumerate(lines):
        m = _RST_BLOCK.match(line)
        if not m:
            continue
        mm = _RST_MARK.match(_line_before(lines, i))
        mark = ("not run", mm.group(1)) if mm else None
        indent = len(m.group(1))
        body: List[str] = []
        k = i + 1
        while k < len(lines) and (not lines[k].strip() or len(lines[k]) - len(lines[k].lstrip()) > indent):
            body.append(lines[k])
            k += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        width = min(len(b) - len(b.lstrip()) for b in body if b.strip())
        text = "\n".join(b[width:] for b in body) + "\n"
        blocks.append(Block(i + 1, m.group(2), text, mark))
    return blocks


def _env() -> dict:
    """The environment for a command: this test run's fluxpool first on the path."""
    import os

    env = dict(os.environ)
    where = str(Path(fluxpool.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = where + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def argv_of(command: List[str]) -> List[str]:
    """A README command as this interpreter runs it: ``fluxpool ...`` is
    ``python -m fluxpool.cli ...`` and ``python`` is ``sys.executable``."""
    if command[0] == "fluxpool":
        return [sys.executable, "-m", "fluxpool.cli", *command[1:]]
    if command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return command


def commands(text: str) -> List[List[str]]:
    """The simple commands of a shell block: one a line, ``&&`` separating
    several, ``#`` starting a comment. Pipes and redirections are not allowed."""
    out: List[List[str]] = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        current: List[str] = []
        for word in words:
            if word in ("|", ">", "<", ";", "||"):
                raise ValueError(f"README shell line {line!r}: only simple commands and && are run")
            if word == "&&":
                out.append(current)
                current = []
            else:
                current.append(word)
        if current:
            out.append(current)
    return out


def is_rerun(command: List[str]) -> bool:
    """False for the commands a test must not re-run (``NOT_RERUN``)."""
    return not any(tuple(command[:len(prefix)]) == prefix for prefix in NOT_RERUN)


def run(command: List[str]) -> subprocess.CompletedProcess:
    """Run one README command from the repository root; output captured as text."""
    return subprocess.run(argv_of(command), cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=600)


# Lines whose numbers depend on the machine: pool call rates and wall-clock times.
_MACHINE = re.compile(r"/s\b|\bwall\b")


def steady(text: str) -> List[str]:
    """The lines of a command's output that do not depend on the machine."""
    return [line.rstrip() for line in text.splitlines() if line.strip() and not _MACHINE.search(line)]
