"""RFC 31 constraints compiled into rank masks.

One walk over the expression serves two purposes: ``validate`` checks it
without a pool (so ``parse_resource_request`` rejects a bad constraint at
submission), and ``compile_mask`` builds the core's ``RankMask`` for a pool.
Operators, in the order that decides when several are present: properties,
hostlist, ranks, and, or, not.
"""

from collections.abc import Mapping
from typing import Any, List

from ._rv1core import IdRanges, RankMask, Topology, decode_idset
from .hostlist import HostMatcher, NameTable, _segments, expand
from .rformat import parse_text

__all__ = ["validate", "compile_mask", "decode"]

OPERATORS = ("properties", "hostlist", "ranks", "and", "or", "not")
MAX_DEPTH = 100  # deepest nesting of and/or/not


def decode(constraint: Any) -> Mapping:
    """The constraint as a dict: JSON text is decoded; anything else must be a dict."""
    if isinstance(constraint, str):
        constraint = parse_text(constraint)
    if not isinstance(constraint, Mapping):
        raise ValueError(f"constraint must be a JSON object, got {constraint!r}")
    return constraint


def _list_operand(op: str, operand: Any) -> list:
    if not isinstance(operand, list):
        raise ValueError(f"'{op}' operand must be a list, got {operand!r}")
    return operand


def _ranks_of(items: list) -> IdRanges:
    result = IdRanges()
    for item in items:
        if isinstance(item, str):
            result = result.union(decode_idset(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            result = result.union(IdRanges.from_ints([item]))
        else:
            raise ValueError(f"'ranks' items must be idset strings or integers, got {item!r}")
    return result


class _Builder:
    """Mask operations for one pool; ``None`` stands for every rank."""

    def __init__(self, topo: Topology, names: NameTable, properties: Mapping) -> None:
        self.topo = topo
        self.names = names
        self.properties = properties

    def everything(self) -> RankMask:
        return self.topo.mask_all()

    def nothing(self) -> RankMask:
        return self.topo.mask_none()

    def prop(self, name: str) -> RankMask:
        ranks = self.properties.get(name)
        return self.topo.mask_of_ranks(ranks) if ranks is not None else self.topo.mask_none()

    def hosts(self, text: str) -> RankMask:
        # Walk whichever is shorter: the constraint's host names, or the pool's
        # ranks tested against the hostlist's ranges (a few bracket ranges can
        # name millions of hosts).
        matcher = HostMatcher(text)
        ranks: List[int] = []
        if len(matcher) <= len(self.topo):
            for host in expand(text):
                ranks.extend(self.names.ranks_named(host))
        else:
            ranks = [r for r in self.topo.ranks() if self.names.name(r) in matcher]
        return self.topo.mask_of_ranks(IdRanges.from_ints(ranks))

    def ranks(self, ids: IdRanges) -> RankMask:
        return self.topo.mask_of_ranks(ids)

    @staticmethod
    def both(a: RankMask, b: RankMask) -> RankMask:
        return a.and_(b)

    @staticmethod
    def either(a: RankMask, b: RankMask) -> RankMask:
        return a.or_(b)

    @staticmethod
    def negate(a: RankMask) -> RankMask:
        return a.invert()


class _Checker:
    """The same operations with no pool: checks operands, builds nothing."""

    def everything(self) -> None:
        return None

    nothing = everything

    def prop(self, name: str) -> None:
        return None

    def hosts(self, text: str) -> None:
        _segments(text)

    def ranks(self, ids: IdRanges) -> None:
        return None

    @staticmethod
    def both(a: Any, b: Any) -> None:
        return None

    either = both

    @staticmethod
    def negate(a: Any) -> None:
        return None


def _walk(expr: Any, ops: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"constraint nesting exceeds maximum depth {MAX_DEPTH}")
    if not isinstance(expr, Mapping):
        raise ValueError(f"constraint must be a JSON object, got {expr!r}")
    op = next((name for name in OPERATORS if name in expr), None)
    if op is None:
        raise ValueError(f"unknown constraint operator(s): {list(expr)}")
    operand = expr[op]
    if op == "not":
        if not isinstance(operand, list) or not operand:
            raise ValueError(f"'not' operand must be a non-empty list, got {operand!r}")
        return ops.negate(_walk(operand[0], ops, depth + 1))
    items = _list_operand(op, operand)
    if op == "properties":
        result = ops.everything()
        for name in items:
            if not isinstance(name, str):
                raise ValueError(f"'properties' items must be strings, got {name!r}")
            mask = ops.negate(ops.prop(name[1:])) if name.startswith("^") else ops.prop(name)
            result = ops.both(result, mask)
        return result
    if op == "hostlist":
        for host in items:
            if not isinstance(host, str):
                raise ValueError(f"'hostlist' items must be strings, got {host!r}")
        return ops.hosts(",".join(items))
    if op == "ranks":
        return ops.ranks(_ranks_of(items))
    if op == "and":
        result = ops.everything()
        for sub in items:
            result = ops.both(result, _walk(sub, ops, depth + 1))
        return result
    result = ops.nothing()
    for sub in items:
        result = ops.either(result, _walk(sub, ops, depth + 1))
    return result


def validate(constraint: Any) -> None:
    """Raise ``ValueError`` if ``constraint`` (a dict or JSON text) is malformed."""
    _walk(decode(constraint), _Checker())


def compile_mask(constraint: Any, topo: Topology, names: NameTable,
                 properties: Mapping) -> RankMask:
    """The positions of ``topo`` whose ranks satisfy ``constraint``."""
    return _walk(decode(constraint), _Builder(topo, names, properties))
