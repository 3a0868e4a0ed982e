"""RFC 31 constraints compiled into rank masks.

One walk over the expression serves two purposes: ``validate`` checks it
without a pool (so ``parse_resource_request`` rejects a bad constraint at
submission), and ``compile_mask`` builds the core's ``RankMask`` for a pool.
Operators, in the order that decides when several are present: properties,
hostlist, ranks, and, or, not.
"""

from collections.abc import Mapping
from typing import Any, List

from ._rv1core import IdRanges, RankMask, Topology
from .hostlist import HostMatcher, NameTable, _segments, expand
from .idset import ids_of
from .rformat import bad_property_name, parse_text

__all__ = ["validate", "compile_mask", "decode"]

OPERATORS = ("properties", "hostlist", "ranks", "and", "or", "not")
MAX_DEPTH = 100  # deepest nesting of and/or/not


def decode(constraint: Any) -> Mapping:
    """The constraint as a ``Mapping``: JSON text is decoded; a ``Mapping`` is
    returned as is.

    Raises:
        ValueError: Malformed JSON text, or a value that is not a JSON object.
    """
    if isinstance(constraint, str):
        constraint = parse_text(constraint)
    if not isinstance(constraint, Mapping):
        raise ValueError(f"constraint must be a JSON object, got {constraint!r}")
    return constraint


def _operand_items(op: str, operand: Any) -> list:
    """The items of an operand that must be an array (RFC 31)."""
    if not isinstance(operand, (list, tuple)):
        raise ValueError(f"'{op}' operand must be a list, got {operand!r}")
    return list(operand)


def _hosts_of(operand: Any) -> str:
    """A ``hostlist`` operand as one hostlist string. flux-core's pool reads a
    single string as a hostlist too (SPEC M22), so both forms are accepted."""
    if isinstance(operand, str):
        return operand
    items = _operand_items("hostlist", operand)
    for host in items:
        if not isinstance(host, str):
            raise ValueError(f"'hostlist' items must be strings, got {host!r}")
    return ",".join(items)


def _ranks_of(operand: Any) -> IdRanges:
    """A ``ranks`` operand as ids: an idset string or an integer (SPEC M22), or
    a list of them, whose items are unioned (SPEC F8)."""
    return ids_of(operand, "'ranks'", ValueError)


def _property_names(operand: Any, strict: bool) -> list:
    """A ``properties`` operand's names. A string is refused (SPEC F7: flux-core
    would read it letter by letter); an object's keys are its names, as
    flux-core reads them, except in strict mode, which wants an array."""
    if isinstance(operand, Mapping) and not strict:
        names = list(operand)
    else:
        names = _operand_items("properties", operand)
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"'properties' items must be strings, got {name!r}")
        if strict and bad_property_name(name[1:] if name.startswith("^") else name):
            raise ValueError(f"constraint property name {name!r} is not a valid property name")
    return names


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


def _walk(expr: Any, ops: Any, strict: bool, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"constraint nesting exceeds maximum depth {MAX_DEPTH}")
    if not isinstance(expr, Mapping):
        raise ValueError(f"constraint must be a JSON object, got {expr!r}")
    op = next((name for name in OPERATORS if name in expr), None)
    if op is None:
        if strict and not expr:
            return ops.everything()  # RFC 31: the empty constraint matches every rank
        raise ValueError(f"unknown constraint operator(s): {list(expr)}")
    operand = expr[op]
    if op == "not":
        if strict:
            items = _operand_items("not", operand)
            if len(items) != 1:
                raise ValueError(f"'not' takes exactly one constraint, got {operand!r}")
        elif not isinstance(operand, (list, tuple)) or not operand:
            raise ValueError(f"'not' operand must be a non-empty list, got {operand!r}")
        return ops.negate(_walk(operand[0], ops, strict, depth + 1))
    if op == "properties":
        result = ops.everything()
        for name in _property_names(operand, strict):
            mask = ops.negate(ops.prop(name[1:])) if name.startswith("^") else ops.prop(name)
            result = ops.both(result, mask)
        return result
    if op == "hostlist":
        return ops.hosts(_hosts_of(operand))
    if op == "ranks":
        return ops.ranks(_ranks_of(operand))
    items = _operand_items(op, operand)
    if op == "and" or (strict and not items):
        # RFC 31: an empty "and" and (strictly) an empty "or" match every rank;
        # flux-core's empty "or" matches none.
        result = ops.everything()
        for sub in items:
            result = ops.both(result, _walk(sub, ops, strict, depth + 1))
        return result
    result = ops.nothing()
    for sub in items:
        result = ops.either(result, _walk(sub, ops, strict, depth + 1))
    return result


def validate(constraint: Any, strict: bool = False) -> None:
    """Check an RFC 31 constraint without a pool, as ``parse_resource_request`` does
    so that a scheduler denies a bad constraint at submission (flux-core notices
    it only while testing ranks, in ``alloc``).

    Operators, the first present deciding: ``properties`` (a list of names,
    ``"^name"`` negated), ``hostlist`` (a list of hostlists, or one string as
    flux-core accepts), ``ranks`` (a list of idsets or ints, unioned; or one
    idset string or int), ``and``, ``or`` (lists of constraints) and ``not``
    (a non-empty list; its first element is negated).

    Args:
        constraint: A dict or JSON text.
        strict: Apply RFC 31 to the letter: ``{}`` and an empty ``or`` match
            every rank, ``not`` takes exactly one constraint, property names
            must be valid, operands must be arrays.

    Raises:
        ValueError: Naming the fault: not an object, ``"unknown constraint
            operator(s): [...]"``, an operand of the wrong form (e.g.
            ``"'properties' operand must be a list, got 'bigmem'"``; flux-core
            would read the string letter by letter), a bad idset or hostlist, or
            nesting deeper than 100 levels.
    """
    _walk(decode(constraint), _Checker(), strict)


def compile_mask(constraint: Any, topo: Topology, names: NameTable,
                 properties: Mapping, strict: bool = False) -> RankMask:
    """Compile a constraint into the core's ``RankMask`` over ``topo``'s positions:
    the ranks that satisfy it. Ranks are matched by their host names from
    ``names`` (``rank<N>`` where the nodelist gives none) and by the property
    rank sets in ``properties``; a property no rank has never holds.

    Raises:
        ValueError: As :func:`validate` does.
    """
    return _walk(decode(constraint), _Builder(topo, names, properties), strict)
