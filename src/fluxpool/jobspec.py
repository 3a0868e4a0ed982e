"""Jobspec resource requests (RFC 14 counts, RFC 25 jobspec, RFC 45 count strings).

``ResourceRequest.from_jobspec`` walks a jobspec's resource graph the way
flux-core does, including its quirks (siblings overwrite, counts on
unknown vertices without a node are dropped), and turns every kind of bad
input into a ``ValueError``/``TypeError`` with a message.
"""

import marshal
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import constraint as _constraint
from ._rv1core import decode_idset

__all__ = ["ResourceCount", "ResourceRequest", "MAX_COUNT", "MAX_DEPTH", "MAX_VALUES"]

MAX_COUNT = 2**31 - 1  # largest count value
MAX_DEPTH = 100        # deepest resource nesting
MAX_VALUES = 65536     # most values a stepped count may expand to


def _check_count(value: int, what: str) -> int:
    if value > MAX_COUNT:
        raise ValueError(f"RFC 14 count: {what} {value} exceeds the maximum count {MAX_COUNT}")
    return value


def _int_field(spec: Mapping, key: str, default: Any) -> Any:
    """An integer field of an RFC 14 count dict, read as flux-core reads it,
    with ``int()``: a bool counts as 0 or 1, ``2.0`` and ``"2"`` as 2. Only
    ``max`` may be null (unbounded); absent fields take ``default``."""
    value = spec.get(key, default)
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if value is None and key == "max":
        return None
    if not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"RFC 14 count: {key} must be an integer, got {value!r}") from None
    return _check_count(int(value), key)


def _number(text: str, whole: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"RFC 45 count {whole!r}: {text!r} is not a number")
    return _check_count(int(text), "value")


def _expand(mn: int, mx: int, operator: str, operand: int) -> Tuple[int, ...]:
    """The values of a stepped count, bounded before they are built."""
    if operator not in ("+", "*", "^"):
        raise ValueError(f"RFC 14 count: operator {operator!r} is not supported")
    if operator == "+" and operand <= 0:
        raise ValueError(f"RFC 14 count: operator '+' requires operand > 0, got {operand}")
    if operator in ("*", "^") and operand <= 1:
        raise ValueError(f"RFC 14 count: operator {operator!r} requires operand > 1, got {operand}")
    if operator == "^" and mn < 2:
        raise ValueError(f"RFC 14 count: operator '^' requires min >= 2, got {mn}")
    if operator == "+" and (mx - mn) // operand + 1 > MAX_VALUES:
        raise ValueError(f"RFC 14 count: more than {MAX_VALUES} values")
    values = []
    v = mn
    while v <= mx:
        values.append(v)
        if operator == "^" and (v.bit_length() - 1) * operand > mx.bit_length():
            break  # the next power is beyond max: don't build a huge integer to see it
        v = v + operand if operator == "+" else (v * operand if operator == "*" else v**operand)
    return tuple(values)


class ResourceCount:
    """An RFC 14 count: a range of allowed values, as flux-core's ``ResourceCount``.

    Args:
        min: The smallest allowed value (an int, at least 1 when parsed).
        max: The largest allowed value, or ``None`` for unbounded.
        values: For stepped (RFC 14 ``operator``/``operand``) or idset counts, the
            explicit allowed values in ascending order; ``None`` for a plain
            contiguous range. The pools refuse requests with explicit values as
            infeasible, as flux-core's do.

    Attributes:
        min: As given.
        max: As given.

    Counts compare equal when min, max and values are equal, and are hashable.
    """

    __slots__ = ("min", "max", "_values")

    def __init__(self, min: int, max: Optional[int], values: Optional[Sequence[int]] = None) -> None:
        self.min = min
        self.max = max
        self._values = values

    @classmethod
    def from_count_spec(cls, v: Any, default: int = 1) -> "ResourceCount":
        """Parse a jobspec vertex's ``count``.

        Args:
            v: An ``int`` (a ``bool`` counts as 0 or 1) giving ``(v, v)``; an RFC 14
                dict with ``min`` (default ``default``), ``max`` (absent or null:
                unbounded), ``operator`` (``"+"``, ``"*"`` or ``"^"``, default
                ``"+"``) and ``operand`` (default 1), whose stepped values are
                expanded (``{"min": 2, "max": 8, "operator": "*", "operand": 2}``
                allows 2, 4, 8); or an RFC 45 string: ``"4"``, ``"2-8"``, ``"4+"``
                (unbounded), ``"2-8:2:*"`` (stepped), ``"1,7-9"`` (an idset of
                allowed values), optionally in brackets. Any other type (a float,
                ``None``, a list) gives ``(default, default)``, as flux-core does.
            default: The value used for a missing ``min`` and for other types.

        Returns:
            The count.

        Raises:
            ValueError: A value below 1, ``max`` below ``min``, an unsupported
                operator or operand, an unbounded count with a step other than
                ``+1``, malformed RFC 45 text, a value of 2^31 or more, or more
                than 65,536 expanded values.
        """
        kind = type(v)
        if kind is str:
            return cls._from_string(v)
        if kind is dict:
            return cls._from_dict(v, default)
        if isinstance(v, int):
            if v < 1:
                raise ValueError(f"RFC 14 count: integer count must be >= 1, got {v}")
            v = _check_count(int(v), "count")
            return cls(v, v)
        if isinstance(v, Mapping):
            return cls._from_dict(v, default)
        if isinstance(v, str):
            return cls._from_string(v)
        return cls(default, default)

    @classmethod
    def _from_dict(cls, v: Mapping, default: int) -> "ResourceCount":
        operator = v.get("operator", "+")
        operand = _int_field(v, "operand", 1)
        mn = _int_field(v, "min", default)
        if mn < 1:
            raise ValueError(f"RFC 14 count: min must be >= 1, got {mn}")
        mx = _int_field(v, "max", None)
        if mx is None:
            if operator != "+" or operand != 1:
                raise ValueError(
                    f"RFC 14 count: unbounded count with operator={operator!r} "
                    f"operand={operand} cannot be expanded to a finite set"
                )
            return cls(mn, None)
        if mx < mn:
            raise ValueError(f"RFC 14 count: max must be >= min, got max={mx} min={mn}")
        if operator == "+" and operand == 1:
            return cls(mn, mx)
        return cls(mn, mx, _expand(mn, mx, operator, operand))

    @classmethod
    def _from_string(cls, v: str) -> "ResourceCount":
        s = v.strip()
        if s.startswith("[") and s.endswith("]"):
            s = s[1:-1]
        if "," in s:
            ids = decode_idset(s)
            if ids.first < 1:
                raise ValueError(f"RFC 45 count {v!r}: min must be >= 1")
            return cls(ids.first, ids.last, ids)
        parts = s.split(":")
        if len(parts) > 3:
            raise ValueError(f"RFC 45 count {v!r}: too many ':' fields")
        head = parts[0]
        operand = _number(parts[1], v) if len(parts) > 1 else 1
        operator = parts[2] if len(parts) > 2 else "+"
        if head.endswith("+"):
            mn = _number(head[:-1], v)
            if mn < 1:
                raise ValueError(f"RFC 45 count {v!r}: min must be >= 1")
            if operator != "+" or operand != 1:
                raise ValueError(
                    f"RFC 45 count {v!r}: an unbounded count takes no step other than +1"
                )
            return cls(mn, None)
        lo, sep, hi = head.partition("-")
        mn = _number(lo, v)
        mx = _number(hi, v) if sep else mn
        if mn < 1:
            raise ValueError(f"RFC 45 count {v!r}: min must be >= 1")
        if mx < mn:
            raise ValueError(f"RFC 45 count {v!r}: max must be >= min")
        if operator == "+" and operand == 1:
            return cls(mn, mx)
        return cls(mn, mx, _expand(mn, mx, operator, operand))

    def scaled(self, factor: int) -> "ResourceCount":
        """A new count with ``min``, ``max`` and the explicit values multiplied by
        ``factor`` (an int); ``self`` when ``factor`` is 1. Used to scale a node
        count by the counts of the vertices above it."""
        if factor == 1:
            return self
        mx = self.max * factor if self.max is not None else None
        values = None if self._values is None else tuple(x * factor for x in self._values)
        return ResourceCount(self.min * factor, mx, values)

    def valid_counts(self, available: int) -> Iterator[int]:
        """The allowed values that fit ``available`` (an int), largest first.

        Yields the allowed values from ``min(available, max)`` down to ``min``
        (only the explicit values, when the count has them); nothing when that
        cap is below ``min``. ``ResourceCount(2, 8)`` with 5 available yields 5, 4,
        3, 2."""
        cap = available if self.max is None else min(available, self.max)
        if cap < self.min:
            return
        if self._values is not None:
            for x in sorted(self._values, reverse=True):
                if self.min <= x <= cap:
                    yield x
        else:
            yield from range(cap, self.min - 1, -1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceCount):
            return NotImplemented
        return (self.min, self.max, _values_tuple(self)) == (other.min, other.max, _values_tuple(other))

    def __hash__(self) -> int:
        return hash((self.min, self.max, _values_tuple(self)))

    def __repr__(self) -> str:
        if self._values is not None:
            return f"ResourceCount({self.min}, {self.max}, values={_values_tuple(self)!r})"
        return f"ResourceCount({self.min}, {self.max})"


def _values_tuple(count: ResourceCount) -> Optional[Tuple[int, ...]]:
    return None if count._values is None else tuple(count._values)


class _Walk:
    """What the resource-graph walk has seen so far (later vertices overwrite)."""

    __slots__ = ("nodes", "slots", "slot_size", "gpu_per_slot", "exclusive", "node_factor")

    def __init__(self) -> None:
        self.nodes: Optional[ResourceCount] = None
        self.slots: Optional[ResourceCount] = None
        self.slot_size: Optional[int] = None
        self.gpu_per_slot = 0
        self.exclusive = False
        self.node_factor = 1

    def visit(self, vertices: Any, factor: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ValueError(f"jobspec resource nesting exceeds maximum depth {MAX_DEPTH}")
        if not isinstance(vertices, list):
            raise ValueError(f"jobspec resources must be a list, got {type(vertices).__name__}")
        for vertex in vertices:
            if type(vertex) is not dict and not isinstance(vertex, Mapping):
                raise ValueError(f"jobspec resource vertex must be an object, got {vertex!r}")
            kind = vertex.get("type", "")
            spec = vertex.get("count", 1)
            # The common count, a plain int in range, needs no ResourceCount for
            # core and GPU vertices (only its value is used).
            if type(spec) is int and 0 < spec <= MAX_COUNT:
                low = spec
                count = None
            else:
                count = ResourceCount.from_count_spec(spec)
                low = count.min
            children = vertex.get("with")
            if kind == "node":
                self._node_vertex()
                self.nodes = count if count is not None else ResourceCount(low, low)
                self.node_factor = factor
                if vertex.get("exclusive", False):
                    self.exclusive = True
                if children:
                    self.visit(children, factor, depth + 1)
                continue
            if kind == "slot":
                self.slots = count if count is not None else ResourceCount(low, low)
                if vertex.get("exclusive", False):
                    self.exclusive = True
            elif kind == "core":
                self.slot_size = low
            elif kind == "gpu":
                self.gpu_per_slot = low
            else:
                self._other_vertex(kind, vertex, low, children)
            if children:
                self.visit(children, factor * low, depth + 1)

    def _node_vertex(self) -> None:
        """Hook: a node vertex is about to be recorded (TreePool's walk)."""

    def _other_vertex(self, kind: Any, vertex: Mapping, low: int, children: Any) -> None:
        """Hook: a vertex that is not node, slot, core or GPU, with its minimum count."""


class ResourceRequest:
    """A parsed resource request: what ``alloc`` and ``check_feasibility`` take.

    Made by :meth:`from_jobspec` (``pool.parse_resource_request``); the positional
    constructor is public, as in flux-core, whose tests and schedulers build
    requests directly.

    Args:
        node_count: A :class:`ResourceCount` of nodes, or ``None`` for a request
            of slots placed anywhere.
        slot_count: A :class:`ResourceCount` of slots: per node when there is a
            node count, in total otherwise.
        slot_size: Cores per slot (an int, at least 1).
        gpu_per_slot: GPUs per slot (an int, 0 for none).
        duration: Seconds the job may run; 0.0 (or negative) for none.
        constraint: An RFC 31 constraint as a dict or JSON text, or ``None``.
        exclusive: Whether the job takes whole nodes.
        jobspec: The jobspec the request was parsed from, or ``None``.

    The derived counts are read-only properties: :attr:`nnodes`,
    :attr:`nnodes_max`, :attr:`nslots`, :attr:`nslots_max`, :attr:`ncores`,
    :attr:`ngpus`. A request is immutable in use and may be shared between
    threads and pools.
    """

    __slots__ = (
        "node_count",
        "slot_count",
        "slot_size",
        "gpu_per_slot",
        "duration",
        "constraint",
        "exclusive",
        "jobspec",
        "_compiled",
    )

    def __init__(
        self,
        node_count: Optional[ResourceCount],
        slot_count: ResourceCount,
        slot_size: int,
        gpu_per_slot: int,
        duration: float,
        constraint: Union[Mapping, str, None],
        exclusive: bool,
        jobspec: Optional[Mapping] = None,
    ) -> None:
        self.node_count = node_count
        self.slot_count = slot_count
        self.slot_size = slot_size
        self.gpu_per_slot = gpu_per_slot
        self.duration = duration
        self.constraint = constraint
        self.exclusive = exclusive
        self.jobspec = jobspec
        self._compiled: Any = None  # (constraint, topology, mask) cached by a pool

    @property
    def nnodes(self) -> int:
        """Minimum number of nodes (``node_count.min``); 0 for slot-only requests."""
        return self.node_count.min if self.node_count is not None else 0

    @property
    def nnodes_max(self) -> Optional[int]:
        """Maximum number of nodes (``node_count.max``; ``None`` = unbounded); 0 for
        slot-only requests."""
        return self.node_count.max if self.node_count is not None else 0

    @property
    def nslots(self) -> int:
        """Minimum total number of slots.

        ``slot_count.min``, times ``node_count.min`` when there is a node count."""
        if self.node_count is None:
            return self.slot_count.min
        return self.slot_count.min * self.node_count.min

    @property
    def nslots_max(self) -> Optional[int]:
        """Maximum total number of slots (``None`` = unbounded).

        ``slot_count.max``, times ``node_count.max`` when there is a node count."""
        if self.node_count is None:
            return self.slot_count.max
        if self.node_count.max is None or self.slot_count.max is None:
            return None
        return self.slot_count.max * self.node_count.max

    @property
    def ncores(self) -> int:
        """Minimum total cores, ``nslots * slot_size``."""
        return self.nslots * self.slot_size

    @property
    def ngpus(self) -> int:
        """Minimum total GPUs, ``nslots * gpu_per_slot``."""
        return self.nslots * self.gpu_per_slot

    @classmethod
    def from_jobspec(cls, jobspec: Mapping, strict: bool = False) -> "ResourceRequest":
        """Parse a jobspec (RFC 14/25) into a request, the way flux-core's pool does;
        the dict is not changed.

        The resource tree is walked depth-first, in list order: a ``node``
        vertex gives the node count (scaled by the counts of the non-node
        vertices above it), a ``slot`` vertex the slot count, ``core`` and
        ``gpu`` vertices the cores and GPUs per slot (their minimum counts);
        ``"exclusive": true`` on a node or slot makes the request exclusive.
        Other vertex types are walked through. Later vertices overwrite earlier
        ones (siblings are not added), and without a node vertex the counts of
        enclosing vertices are dropped (flux-core behaviour). An exclusive
        request without a node vertex takes one whole node per slot.
        ``attributes.system.duration`` (seconds; a numeric string is read as a
        number) becomes :attr:`duration`, ``attributes.system.constraints`` the
        constraint, checked here.

        Args:
            jobspec: The jobspec dict.
            strict: Also refuse counts RFC 14 does not allow, which flux-core's
                pool reads leniently (a list, float, bool or null count as 1; a
                dict without ``min``; non-integer dict fields; 0), and apply RFC
                31 to the letter to the constraint.

        Returns:
            The request.

        Raises:
            ValueError: ``"jobspec has no resources"``; ``"Unable to determine
                slot count"`` / ``"slot size"`` (no slot or core vertex); for
                version 1, ``"getting duration: Object item not found: system"``
                or ``"... duration"``; a bad count; a duration that is not a
                number; a malformed constraint; nesting deeper than 100 levels
                (the message says "depth"; never a ``RecursionError``).
            TypeError: ``jobspec`` is not a ``Mapping``, or a part of it has a
                wrong type.
        """
        walk, system = _walk_jobspec(jobspec, _Walk(), strict)
        if walk.slots is None:
            raise ValueError("Unable to determine slot count")
        if walk.slot_size is None:
            raise ValueError("Unable to determine slot size")

        node_count = walk.nodes.scaled(walk.node_factor) if walk.nodes is not None else None
        slot_count = walk.slots
        if walk.exclusive and node_count is None:
            node_count, slot_count = slot_count, ResourceCount(1, 1)
        duration, constraint = _system_fields(system, strict)
        return cls(
            node_count,
            slot_count,
            walk.slot_size,
            walk.gpu_per_slot,
            duration,
            constraint,
            walk.exclusive,
            jobspec,
        )


_EMPTY: Mapping = {}  # never changed: the default of absent attributes
# marshal forms of the constraints that validated, one cache per mode (strict
# mode applies RFC 31 to the letter, so a constraint may pass in one only)
_VALID_CONSTRAINTS: Dict[bytes, None] = {}
_VALID_STRICT_CONSTRAINTS: Dict[bytes, None] = {}
_VALID_CONSTRAINTS_MAX = 1024          # entries
_VALID_CONSTRAINT_BYTES = 4096         # longest key kept (bounds the cache at 4 MiB)
# The last few constraints that passed, as (exact copy, strict): only those made
# of dicts, lists and strings, so that equality is equality of content (no
# 1 == 1.0 == True between an accepted and a refused number).
_RECENT_VALID: List[Tuple[Any, bool]] = []
_RECENT_MAX = 8


def _only_text(value: Any) -> bool:
    """Whether ``value`` is built of exact dicts, lists and strings only (walked
    with a stack: a constraint may nest deeper than Python's recursion limit)."""
    stack = [value]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            if not all(type(k) is str for k in value):
                return False
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is not str:
            return False
    return True


def _walk_jobspec(jobspec: Any, walk: _Walk, strict: bool) -> Tuple[_Walk, Mapping]:
    """Walk a jobspec's resources into ``walk`` and check its attributes the way
    flux-core does; returns ``(walk, attributes.system or {})``."""
    if type(jobspec) is not dict and not isinstance(jobspec, Mapping):
        raise TypeError(f"jobspec must be an object, got {type(jobspec).__name__}")
    resources = jobspec.get("resources")
    if not resources:
        raise ValueError("jobspec has no resources")
    walk.visit(resources, 1, 0)
    if strict:
        _check_strict_counts(resources)

    attributes = jobspec.get("attributes", _EMPTY)
    if type(attributes) is not dict and not isinstance(attributes, Mapping):
        raise ValueError("jobspec attributes must be an object")
    system = attributes.get("system")
    if system is None:
        if jobspec.get("version") == 1:
            raise ValueError("getting duration: Object item not found: system")
        return walk, _EMPTY
    if type(system) is not dict and not isinstance(system, Mapping):
        raise ValueError("jobspec attributes.system must be an object")
    if system.get("duration") is None and jobspec.get("version") == 1:
        raise ValueError("getting duration: Object item not found: duration")
    return walk, system or _EMPTY


def _system_fields(system: Mapping, strict: bool) -> Tuple[float, Any]:
    """``(duration, constraint)`` of attributes.system, the constraint validated."""
    duration = system.get("duration")
    duration = _duration(duration) if duration else 0.0
    constraint = system.get("constraints") or None
    if constraint is not None:
        # A recent constraint again (the common case) costs a few equality
        # tests; see _validate_constraint.
        for ref, ref_strict in _RECENT_VALID:
            if ref_strict is strict and constraint == ref:
                break
        else:
            _validate_constraint(constraint, strict)
    return duration, constraint


def _validate_constraint(constraint: Any, strict: bool) -> None:
    """``constraint.validate``, remembering the constraints that passed.

    A scheduler sees the same few constraints over and over, each decoded anew
    from JSON. The key is the constraint's ``marshal`` form (version 2, no
    back-references): it exists only for exact built-in types (any subclass or
    other object raises, and is then validated every time), and equal bytes
    mean equal content, which is all validation looks at. The last few that
    passed are also kept as exact copies of dicts, lists and strings, which
    ``_system_fields`` compares with ``==`` first (cheaper than marshalling):
    an equal constraint has the same content, unless it is built of subclasses
    that override how they are read, which the pool's compile refuses later."""
    try:
        key = marshal.dumps(constraint, 2)
    except (ValueError, TypeError, RecursionError):
        _constraint.validate(constraint, strict)
        return
    cache = _VALID_STRICT_CONSTRAINTS if strict else _VALID_CONSTRAINTS
    if key not in cache:
        _constraint.validate(constraint, strict)
        if len(key) > _VALID_CONSTRAINT_BYTES:
            return
        if len(cache) >= _VALID_CONSTRAINTS_MAX:
            cache.clear()
        cache[key] = None
    if _only_text(constraint):
        _RECENT_VALID.insert(0, (marshal.loads(key), strict))
        del _RECENT_VALID[_RECENT_MAX:]


def _duration(value: Any) -> float:
    # flux-core reads the duration with float(): True is 1 s, "60" is 60 s.
    if not value:
        return 0.0
    if isinstance(value, (int, float, str)):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise ValueError(f"jobspec duration must be a number, got {value!r}")



def _check_strict_counts(vertices: list) -> None:
    """Refuse, in strict mode, every count RFC 14 does not allow (SPEC §15).

    Runs after the ordinary walk, which has checked the nesting depth and the
    vertex types and has refused counts below 1 and ``max`` below ``min``.
    """
    stack = [vertices]
    while stack:
        for vertex in stack.pop():
            count = vertex.get("count", 1)
            where = f"jobspec {vertex.get('type', '')!s} count"
            if isinstance(count, bool) or not isinstance(count, (int, str, Mapping)):
                raise ValueError(f"{where} must be an integer or an RFC 14 range, got {count!r}")
            if isinstance(count, Mapping):
                if "min" not in count:
                    raise ValueError(f"{where} {dict(count)!r} has no 'min'")
                for key in ("min", "max", "operand"):
                    value = count.get(key)
                    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                        raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
                if count.get("operator", "+") not in ("+", "*", "^"):
                    raise ValueError(f"{where}: unknown operator {count['operator']!r}")
            children = vertex.get("with")
            if children:
                stack.append(children)
