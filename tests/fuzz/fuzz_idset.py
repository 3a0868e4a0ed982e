"""Fuzz target: RFC 22 idset decoding (``fluxpool.idset.decode`` / ``IDset``).

Checks, for any text: only ``ValueError`` escapes, with a message quoting the
input; the decoder accepts exactly what a small reference decoder written from
SPEC §2.1 accepts, with the same ids; decode -> encode -> decode is the
identity and encode is canonical.
"""

from fluxpool import IDset, idset

from fuzzcheck import check, check_message, text_of

MAX_ID = 2**31 - 1
MAX_TEXT = 16 * 1024 * 1024
_DIGITS = frozenset("0123456789")

WORDS = ["0", "1", "-", ",", "[", "]", "2147483647", "2147483648", "4294967296", "01"]


class Rejected(Exception):
    """The reference decoder refuses the text."""


def _number(text):
    if not text or not set(text) <= _DIGITS:
        raise Rejected(f"not a number: {text!r}")
    if len(text) > 1 and text[0] == "0":
        raise Rejected(f"leading zero: {text!r}")
    value = int(text)
    if value > MAX_ID:
        raise Rejected(f"above the maximum id: {text!r}")
    return value


def reference_decode(text):
    """SPEC §2.1 decoding as a list of maximal ``(first, last)`` runs."""
    if len(text) > MAX_TEXT:
        raise Rejected("too long")
    body = text
    if body.startswith("["):
        if len(body) < 2 or not body.endswith("]"):
            raise Rejected("unbalanced bracket")
        body = body[1:-1]
    if body == "":
        return []
    runs = []
    prev = -1
    for element in body.split(","):
        low, dash, high = element.partition("-")
        a = _number(low)
        b = _number(high) if dash else a
        if dash and b <= a:
            raise Rejected("range end not above start")
        if a <= prev:
            raise Rejected("not ascending")
        if runs and a == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
        prev = b
    return runs


def _encode_runs(runs):
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def target(data):
    text = text_of(data)
    try:
        expected = reference_decode(text)
    except Rejected as why:
        expected = why
    try:
        ids = idset.decode(text)
    except ValueError as exc:
        check_message(exc, "idset.decode", quoted=text, source=text)
        check(isinstance(expected, Rejected),
              lambda exc=exc: f"idset.decode refused {text!r} ({exc}), the SPEC accepts it")
        return
    check(not isinstance(expected, Rejected),
          lambda: f"idset.decode accepted {text!r}, the SPEC refuses it ({expected})")
    runs = [tuple(run) for run in ids.intervals()]
    check(runs == expected, lambda: f"idset.decode({text!r}) gave {runs}, expected {expected}")
    size = sum(b - a + 1 for a, b in expected)
    check(len(ids) == size, lambda: f"len(decode({text!r})) is {len(ids)}, expected {size}")

    canonical = idset.encode(ids)
    check(canonical == _encode_runs(expected),
          lambda: f"encode(decode({text!r})) is {canonical!r}, not canonical")
    check(str(ids) == canonical, lambda: f"str() and encode() differ for {text!r}")
    again = idset.decode(canonical)
    check(again == ids, lambda: f"decode(encode(decode({text!r}))) differs")
    bracketed = idset.decode(f"[{canonical}]")
    check(bracketed == ids, lambda: f"bracketed canonical form of {text!r} differs")
    shown = idset.display(ids)
    check(shown == (f"[{canonical}]" if size > 1 else canonical),
          lambda: f"display form of {text!r} is {shown!r}")
    check(IDset(text) == ids, lambda: f"IDset({text!r}) differs from decode")
    if expected:
        first, last = expected[0][0], expected[-1][1]
        check(first in ids and last in ids, lambda: f"{first} or {last} not in decode({text!r})")
        check((last + 1 in ids) is False, lambda: f"{last + 1} in decode({text!r})")
    if size <= 4096:
        members = list(ids)
        check(members == [v for a, b in expected for v in range(a, b + 1)],
              lambda: f"iteration of decode({text!r}) differs")
        check(IDset(members) == ids, lambda: f"IDset(list(decode({text!r}))) differs")
