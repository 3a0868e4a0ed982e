"""What every fuzz target checks, and the fixed pools they run against.

A target is a function ``target(data: bytes) -> None``. It feeds ``data`` to one
parser and raises ``FuzzFailure`` (an ``AssertionError``) when the library breaks
its contract (SPEC §1.2): an exception other than the documented ones escaped,
an exception had no message, a round trip did not hold, or the pool changed
when a call failed. Any other exception escaping a target is a failure too;
atheris reports it with the input that caused it.
"""

import json
import math
import os
import sys

from fluxpool import InfeasibleRequest, InsufficientResources, ResourcePool

# tests/ holds the SPEC fixtures; the fuzz runner starts with only tests/fuzz on the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from specdata import MIX  # noqa: E402
from specdata import snapshot as shared_snapshot  # noqa: E402

__all__ = [
    "FuzzFailure", "BAD_INPUT", "ALLOC_ERRORS", "POLICIES", "check", "check_message",
    "text_of", "NotJSON", "json_of", "same_json", "snapshot", "mix_pool", "MIX_R", "MIX_NAMES",
    "MIX_PROPERTIES", "slot_jobspec",
]

#: What bad input may raise from a parser (SPEC §1.2).
BAD_INPUT = (ValueError, TypeError, KeyError)
#: What ``alloc``/``check_feasibility`` may raise for a request that parsed.
ALLOC_ERRORS = (InsufficientResources, InfeasibleRequest)
POLICIES = ("first-fit", "worst-fit", "best-fit")


class FuzzFailure(AssertionError):
    """The library broke its contract on this input."""


def check(condition, why):
    """Raise ``FuzzFailure(why())`` unless ``condition`` holds (``why`` is lazy)."""
    if not condition:
        raise FuzzFailure(why() if callable(why) else why)


def check_message(exc, where, quoted=None, source=""):
    """An exception from bad input must say what was wrong: a non-empty
    message that is not Cython's or Python's own internal text (a phrase that
    occurs in the input ``source`` itself is not held against it). With
    ``quoted``, plain ASCII input text must appear in the message (idsets,
    hostlists)."""
    message = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    check(message.strip() != "", lambda: f"{where}: {type(exc).__name__} with an empty message")
    for internal in ("Argument '", "an integer is required", "unhashable type",
                     "object is not subscriptable", "object has no attribute",
                     "object is not iterable", "Cannot convert", "must be real number",
                     "not supported between instances", "int too large"):
        check(internal not in message or internal in source,
              lambda: f"{where}: {type(exc).__name__} with an internal message: {message!r}")
    if quoted is not None and _plain(quoted) and len(quoted) <= 200:
        check(quoted in message,
              lambda: f"{where}: message {message!r} does not quote the input {quoted!r}")


def _plain(text):
    return text.isascii() and text.isprintable() and not any(c in text for c in "'\"\\")


def text_of(data):
    """Fuzzer bytes as text; undecodable bytes become lone surrogates, so every
    byte string maps to a distinct ``str``."""
    return data.decode("utf-8", "surrogateescape")


class NotJSON(Exception):
    """The fuzzer's bytes are not JSON at all: nothing of ours to test."""


def json_of(data):
    """Decode fuzzer bytes as JSON. ``NotJSON`` when the standard library
    refuses them (including its own RecursionError on deep nesting)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise NotJSON(str(exc)) from None


def same_json(a, b):
    """Equality of JSON values that treats NaN as equal to itself."""
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


def snapshot(pool):
    """Everything a failed call must leave unchanged (SPEC §10): the shared
    fixture snapshot plus the pool's expiration."""
    return shared_snapshot(pool) + (pool.expiration,)


MIX_R = MIX  # the SPEC fixture, shared with the unit tests
MIX_NAMES = [f"node{i}" for i in range(12)]
MIX_PROPERTIES = {"fat": {0, 1, 2, 3}, "debug": {9}, "+local": {0}}


def mix_pool(policy="first-fit", busy=False):
    """The SPEC's MIX fixture. With ``busy``: rank 2 down and job 999 holding
    some cores and GPUs, so requests meet a pool that is not pristine."""
    pool = ResourcePool(json.loads(json.dumps(MIX_R)), policy=policy)
    if busy:
        pool.mark_down("2")
        pool.register_alloc(999, {
            "version": 1,
            "execution": {"R_lite": [
                {"rank": "0", "children": {"core": "0-11", "gpu": "0-2"}},
                {"rank": "4-5", "children": {"core": "0-7"}},
                {"rank": "10", "children": {"core": "0-3"}},
            ]},
        })
    return pool


def slot_jobspec(constraint=None, n=1):
    """``n`` one-core slots, optionally with a constraint (SPEC §14 ``spec``)."""
    system = {"duration": 0}
    if constraint is not None:
        system["constraints"] = constraint
    return {
        "version": 1,
        "resources": [{"type": "slot", "count": n, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [],
        "attributes": {"system": system},
    }


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
