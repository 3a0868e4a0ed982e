"""Fuzz target: RFC 31 constraint compilation, through ``parse_resource_request``
and ``alloc``.

The input is a constraint, tried both as JSON text (the string form a jobspec
may carry) and, when it is JSON, as the decoded value. For each form:

- ``parse_resource_request`` accepts it exactly when a reference evaluator
  written from SPEC §3.3 does, and refuses it only with ``ValueError``;
- a request built by hand with the same constraint makes ``alloc`` and
  ``check_feasibility`` raise ``ValueError`` exactly when parsing refused it,
  on a pristine pool, an empty pool and a fully down pool (F3);
- an accepted constraint selects exactly the ranks the reference selects: on
  the pristine pool (first-fit), one slot lands on the lowest allowed rank, and
  a request for as many nodes as there are allowed ranks takes exactly those;
- through a parsed request on a busy pool, ``alloc`` raises nothing but
  ``InsufficientResources``/``InfeasibleRequest``, and a failed call changes
  nothing.
"""

import json

from fluxpool import (IDset, InfeasibleRequest, InsufficientResources, ResourceCount,
                      ResourcePool, ResourceRequest, hostlist)

from fuzzcheck import (ALLOC_ERRORS, MIX_NAMES, MIX_PROPERTIES, FuzzFailure, check,
                    check_message, mix_pool, slot_jobspec, snapshot, text_of)

OPERATORS = ("properties", "hostlist", "ranks", "and", "or", "not")
ALL = frozenset(range(len(MIX_NAMES)))
MAX_ID = 2**31 - 1
MAX_DEPTH = 100  # deepest and/or/not nesting (README Bounds)
#: Hostlist operands above this many hosts are not expanded by the reference.
REFERENCE_HOSTS = 100_000

WORDS = ["fat", "^fat", "debug", "^debug", "+local", "quantum", "^", "node0", "node7",
         "node[0-3]", "node[4-11]", "rank3", "0", "0-2", "9", "10", "2,10", "0-2147483647",
         "properties", "hostlist", "ranks", "and", "or", "not"]
KEYS = list(OPERATORS) + ["frobnicate"]
TEMPLATES = ['{"properties": ["fat"]}', '{"not": [{"ranks": ["0-2"]}]}',
             '{"hostlist": ["node[1-3]"]}', '{"or": [{"ranks": ["9"]}, {"ranks": [5]}]}',
             '{"and": [{"properties": ["^fat"]}, {"hostlist": ["node7"]}]}']


class Rejected(Exception):
    """The reference evaluator refuses the constraint."""


class Unknown(Exception):
    """The reference cannot judge this constraint (too deep or too large)."""


def _hosts(items):
    text = ",".join(items)
    try:
        segments = hostlist._segments(text)
    except ValueError:
        raise Rejected("bad hostlist") from None
    if sum(1 if w < 0 else hi - lo + 1 for _, lo, hi, w, _ in segments) > REFERENCE_HOSTS:
        raise Unknown("hostlist too large for the reference")
    return set(hostlist.expand(text))


def _evaluate(expr, depth=0):
    if depth > MAX_DEPTH:
        raise Rejected("nested too deeply")
    if not isinstance(expr, dict):
        raise Rejected("not an object")
    op = next((name for name in OPERATORS if name in expr), None)
    if op is None:
        raise Rejected("no operator")
    operand = expr[op]
    if op == "not":
        if not isinstance(operand, list) or not operand:
            raise Rejected("'not' needs a non-empty list")
        return ALL - _evaluate(operand[0], depth + 1)
    # SPEC M22: a hostlist or ranks operand may be one string (or one integer
    # rank), read as a one-item list; a properties object stands for its keys.
    if op in ("hostlist", "ranks") and (
            isinstance(operand, str) or (op == "ranks" and isinstance(operand, int))):
        operand = [operand]
    if op == "properties" and isinstance(operand, dict):
        operand = list(operand)
    if not isinstance(operand, list):
        raise Rejected("operand not a list")
    if op == "properties":
        allowed = set(ALL)
        for name in operand:
            if not isinstance(name, str):
                raise Rejected("property not a string")
            if name.startswith("^"):
                allowed -= MIX_PROPERTIES.get(name[1:], set())
            else:
                allowed &= MIX_PROPERTIES.get(name, set())
        return allowed
    if op == "hostlist":
        if not all(isinstance(item, str) for item in operand):
            raise Rejected("host not a string")
        names = _hosts(operand)
        return {rank for rank in ALL if MIX_NAMES[rank] in names}
    if op == "ranks":
        ids = set()
        for item in operand:
            if isinstance(item, str):
                try:
                    runs = IDset(item).intervals()
                except ValueError:
                    raise Rejected("bad idset") from None
                ids |= {r for r in ALL if any(a <= r <= b for a, b in runs)}
            elif isinstance(item, int) and not isinstance(item, bool):
                if not 0 <= item <= MAX_ID:
                    raise Rejected("rank out of range")
                ids.add(item)
            else:
                raise Rejected("rank item of the wrong type")
        return ids & ALL
    results = [_evaluate(sub, depth + 1) for sub in operand]  # every branch is checked
    if op == "and":
        allowed = set(ALL)
        for r in results:
            allowed &= r
        return allowed
    allowed = set()
    for r in results:
        allowed |= r
    return allowed


def reference(constraint):
    """The set of MIX ranks ``constraint`` allows (all for no constraint)."""
    if not constraint:
        return set(ALL)
    try:
        if isinstance(constraint, str):
            try:
                constraint = json.loads(constraint)
            except ValueError:
                raise Rejected("not JSON") from None
        return _evaluate(constraint)
    except RecursionError:
        raise Unknown("too deep for the reference") from None


_POOLS = {}


def _pools():
    if not _POOLS:
        down = mix_pool("first-fit")
        down.mark_down("all")
        _POOLS.update(pristine=mix_pool("first-fit"), busy=mix_pool("worst-fit", busy=True),
                      empty=ResourcePool(), down=down)
    return _POOLS


def _hand_request(constraint, nnodes=0):
    nodes = ResourceCount(nnodes, nnodes) if nnodes else None
    return ResourceRequest(nodes, ResourceCount(1, 1), 1, 0, 0.0, constraint or None, False)


def _expect_value_error(call, where, text):
    try:
        call()
    except ValueError as exc:
        check_message(exc, where, source=text)
        return
    except ALLOC_ERRORS as exc:
        raise FuzzFailure(f"{where}: {type(exc).__name__} for a constraint parsing refused "
                          f"(F3 wants ValueError)") from None
    raise FuzzFailure(f"{where}: accepted a constraint parsing refused")


def _alloc_free(pool, request, where):
    before = snapshot(pool)
    try:
        result = pool.alloc(7, request)
    except ALLOC_ERRORS as exc:
        check_message(exc, where)
        check(snapshot(pool) == before, f"{where}: a failed alloc changed the pool")
        return exc
    pool.free(7, result.to_dict(), final=True)
    return result


def _one_form(constraint, text):
    pools = _pools()
    try:
        expected = reference(constraint)
    except (Rejected, Unknown) as why:
        expected = why
    try:
        request = pools["pristine"].parse_resource_request(slot_jobspec(constraint))
    except ValueError as exc:
        check_message(exc, "parse_resource_request", source=text)
        if isinstance(expected, Unknown):
            expected = Rejected("refused by parsing")
        check(isinstance(expected, Rejected),
              lambda exc=exc: f"parse_resource_request refused {constraint!r} ({exc}); "
                      f"the SPEC allows ranks {sorted(expected)}")
        hand = _hand_request(constraint)
        for name in ("pristine", "empty", "down"):
            _expect_value_error(lambda: pools[name].alloc(7, hand), f"alloc on {name}", text)
        _expect_value_error(lambda: pools["pristine"].check_feasibility(hand),
                            "check_feasibility", text)
        return
    check(not isinstance(expected, Rejected),
          lambda: f"parse_resource_request accepted {constraint!r}; the SPEC refuses it "
                  f"({expected})")

    _alloc_free(pools["busy"], request, "alloc (parsed request, busy pool)")
    hand = _hand_request(constraint)
    outcome = _alloc_free(pools["pristine"], hand, "alloc (pristine pool)")
    check(not isinstance(outcome, InsufficientResources),
          "InsufficientResources on a pool with nothing allocated")
    if not isinstance(expected, Unknown):
        if expected:
            check(not isinstance(outcome, Exception),
                  lambda: f"{constraint!r} allows ranks {sorted(expected)}, alloc raised "
                          f"{outcome!r}")
            got = list(outcome.ranks())
            check(got == [min(expected)],
                  lambda: f"{constraint!r}: one slot went to {got}, expected {min(expected)}")
            every = _alloc_free(pools["pristine"], _hand_request(constraint, len(expected)),
                                "alloc (every allowed rank)")
            check(not isinstance(every, Exception) and set(every.ranks()) == expected,
                  lambda: f"{constraint!r}: {len(expected)} nodes gave {every!r}, "
                          f"expected ranks {sorted(expected)}")
        else:
            check(isinstance(outcome, InfeasibleRequest),
                  lambda: f"{constraint!r} allows no rank, alloc gave {outcome!r}")
    empty = _alloc_free(pools["empty"], hand, "alloc (empty pool)")
    check(isinstance(empty, InfeasibleRequest), "alloc on an empty pool did not fail as infeasible")
    down = _alloc_free(pools["down"], hand, "alloc (down pool)")
    check(isinstance(down, ALLOC_ERRORS), "alloc on a fully down pool succeeded")


def target(data):
    text = text_of(data)
    forms = [text]
    try:
        forms.append(json.loads(data))
    except (ValueError, RecursionError):
        pass
    for constraint in forms:
        _one_form(constraint, text)
