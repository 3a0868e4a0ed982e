"""Fuzz target: RFC 29 hostlists (``fluxpool.hostlist.expand`` and ``compress``).

Two checks per input:

- the whole text is expanded: only ``ValueError`` (quoting the text) may
  escape; when it expands, ``expand(compress(names)) == names`` and
  ``Hostlist(text)`` agrees;
- each line of the text is taken as one host name (lines holding a separator
  or a bracket, which no host name can contain, are dropped) and the list must
  survive ``expand(compress(names)) == names`` (order and duplicates kept).
"""

from fluxpool import Hostlist, hostlist

from fuzzcheck import FuzzFailure, check, check_message, text_of

#: Hosts above which the first check stops after counting (a 4-million-host
#: list is allowed, SPEC §13, but expanding it is not what fuzzing is for).
EXPAND_LIMIT = 5_000
_NOT_IN_NAMES = frozenset(", \t[]")

WORDS = ["node", "n", "[", "]", "-", ",", "0", "1", "9", "10", "01", "09", "007",
         "1048575", "1048576", "-ib", " ", "\t"]


def _host_count(text):
    """Hosts ``text`` would expand to, from its segments (None if malformed)."""
    try:
        segments = hostlist._segments(text)
    except ValueError:
        return None
    return sum(1 if width < 0 else high - low + 1 for _, low, high, width, _ in segments)


def _round_trip(names, where):
    text = hostlist.compress(names)
    try:
        back = hostlist.expand(text)
    except ValueError as exc:
        raise FuzzFailure(f"{where}: compress({names!r}) = {text!r} does not expand: {exc}") from None
    check(back == names,
          lambda: f"{where}: expand(compress({names!r})) = {back!r} via {text!r}")
    return text


def target(data):
    text = text_of(data)
    count = _host_count(text)
    if count is None or count <= EXPAND_LIMIT:
        try:
            names = hostlist.expand(text)
        except ValueError as exc:
            check_message(exc, "hostlist.expand", quoted=text, source=text)
            check(count is None, lambda: f"expand({text!r}) refused what its parser accepted")
        else:
            check(count is not None, lambda: f"expand({text!r}) accepted malformed text")
            check(len(names) == count, lambda: f"expand({text!r}) gave {len(names)} names")
            for name in names:
                check(name and not (set(name) & _NOT_IN_NAMES),
                      lambda: f"expand({text!r}) produced the host name {name!r}")
            compressed = _round_trip(names, "expanded text")
            hosts = Hostlist(text)
            check(list(hosts) == names and str(hosts) == compressed,
                  lambda: f"Hostlist({text!r}) disagrees with expand/compress")

    names = [line for line in text.split("\n") if line and not (set(line) & _NOT_IN_NAMES)]
    if names:
        _round_trip(names, "name list")
        check(list(Hostlist(names)) == names, lambda: f"Hostlist({names!r}) changed the names")
