"""Bugs the fuzzers found that are reported but not fixed yet.

Each entry has a reproducer (``present``). While it still reproduces, the
fuzz runner excuses failures the entry explains (``excuses``) or skips inputs
that would trigger it (``skips``), so a long run can go on to find *other*
bugs. Once the code is fixed the reproducer fails, the entry switches itself
off and the fuzzers are strict again — delete the entry then, together with
the matching ``xfail`` test in ``tests/test_robustness.py``.

``FLUXPOOL_FUZZ_STRICT=1`` (``run.py --strict``) switches every entry off.
"""

import os

__all__ = ["KNOWN", "excuse", "skip", "active"]


class KnownBug:
    def __init__(self, name, summary, targets, present, excuses=None, skips=None):
        self.name = name
        self.summary = summary
        self.targets = frozenset(targets)
        self._present = present
        self._excuses = excuses
        self._skips = skips
        self._state = None

    def active(self):
        """True while the reproducer still shows the bug (checked once)."""
        if os.environ.get("FLUXPOOL_FUZZ_STRICT") == "1":
            return False
        if self._state is None:
            try:
                self._state = bool(self._present())
            except Exception:  # the reproducer itself broke: be strict
                self._state = False
        return self._state

    def excuses(self, target, exc, data):
        return (target in self.targets and self._excuses is not None
                and self.active() and self._excuses(exc, data))

    def skips(self, target, data):
        return (target in self.targets and self._skips is not None
                and self.active() and self._skips(data))


# ------------------------------------------------------------ the entries
#
# Add an entry here when a fuzzer finds a bug that is reported but not fixed.
# Fixed and removed (their regression tests are in tests/test_robustness.py):
# deep-json-text, deep-constraint, huge-int-float, unicode-digits-hostlist,
# hostlist-trailing-newline, unhashable-version, big-topology,
# hostlist-constraint-expansion, power-count-blowup, nodelist-range-roundtrip,
# bool-count-field, count-null-operand.

KNOWN = []


def active():
    """The entries whose bug still reproduces."""
    return [bug for bug in KNOWN if bug.active()]


def excuse(target, exc, data):
    """The name of the known bug that explains ``exc`` on ``data``, or None."""
    for bug in KNOWN:
        if bug.excuses(target, exc, data):
            return bug.name
    return None


def skip(target, data):
    """The name of the known bug ``data`` would trigger (input skipped), or None."""
    for bug in KNOWN:
        if bug.skips(target, data):
            return bug.name
    return None
