"""Jobspec resource requests (RFC 14 counts, RFC 25 jobspec, RFC 45 count strings).

``ResourceRequest.from_jobspec`` walks a jobspec's resource graph the way
flux-core does (SPEC §3.2), including its quirks (siblings overwrite, counts on
unknown vertices without a node are dropped), and turns every kind of bad
input into a ``ValueError``/``TypeError`` with a message.
"""

import marshal
from collections.abc import Mapping
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

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
    """An integer field of an RFC 14 count dict (a bool counts as 0 or 1). Only
    ``max`` may be null (unbounded); absent fields take ``default``."""
    value = spec.get(key, default)
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if value is None and key == "max":
        return None
    if not isinstance(value, int):
        raise ValueError(f"RFC 14 count: {key} must be an integer, got {value!r}")
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
    """An RFC 14 count range: ``min``, ``max`` (None = unbounded) and, for
    stepped or idset counts, the explicit allowed ``_values`` (ascending)."""

    __slots__ = ("min", "max", "_values")

    def __init__(self, min: int, max: Optional[int], values: Optional[Sequence[int]] = None) -> None:
        self.min = min
        self.max = max
        self._values = values

    @classmethod
    def from_count_spec(cls, v: Any, default: int = 1) -> "ResourceCount":
        """Parse a jobspec ``count``: an int, an RFC 14 dict or an RFC 45 string.

        Any other type (float, None, list) gives ``(default, default)``, as in
        flux-core. Raises ``ValueError`` for counts below 1, max below min,
        unsupported operators, malformed strings and values of 2^31 or more.
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
        """A count with min, max and values multiplied by ``factor`` (``self`` when 1)."""
        if factor == 1:
            return self
        mx = self.max * factor if self.max is not None else None
        values = None if self._values is None else tuple(x * factor for x in self._values)
        return ResourceCount(self.min * factor, mx, values)

    def valid_counts(self, available: int) -> Iterator[int]:
        """The allowed values up to ``min(available, max)``, largest first, down to ``min``."""
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
            if children:
                self.visit(children, factor * low, depth + 1)


class ResourceRequest:
    """A parsed resource request: what ``alloc`` and ``check_feasibility`` take.

    ``node_count`` is None for slot-only requests; ``slot_count`` is per node
    when there is a node count. See SPEC §3.2 for the derived properties.
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
        """Minimum node count; 0 for slot-only requests."""
        return self.node_count.min if self.node_count is not None else 0

    @property
    def nnodes_max(self) -> Optional[int]:
        """Maximum node count (None = unbounded); 0 for slot-only requests."""
        return self.node_count.max if self.node_count is not None else 0

    @property
    def nslots(self) -> int:
        """Minimum total slot count."""
        if self.node_count is None:
            return self.slot_count.min
        return self.slot_count.min * self.node_count.min

    @property
    def nslots_max(self) -> Optional[int]:
        """Maximum total slot count (None = unbounded)."""
        if self.node_count is None:
            return self.slot_count.max
        if self.node_count.max is None or self.slot_count.max is None:
            return None
        return self.slot_count.max * self.node_count.max

    @property
    def ncores(self) -> int:
        """Total cores requested: ``nslots * slot_size``."""
        return self.nslots * self.slot_size

    @property
    def ngpus(self) -> int:
        """Total GPUs requested: ``nslots * gpu_per_slot``."""
        return self.nslots * self.gpu_per_slot

    @classmethod
    def from_jobspec(cls, jobspec: Mapping) -> "ResourceRequest":
        """Parse a jobspec dict (RFC 14/25) into a request; the dict is not changed.

        Raises ``ValueError`` (or ``TypeError``/``KeyError``) with a message for
        anything it cannot use, including a malformed constraint (F3).
        """
        if type(jobspec) is not dict and not isinstance(jobspec, Mapping):
            raise TypeError(f"jobspec must be an object, got {type(jobspec).__name__}")
        resources = jobspec.get("resources")
        if not resources:
            raise ValueError("jobspec has no resources")
        walk = _Walk()
        walk.visit(resources, 1, 0)

        attributes = jobspec.get("attributes", _EMPTY)
        if type(attributes) is not dict and not isinstance(attributes, Mapping):
            raise ValueError("jobspec attributes must be an object")
        system = attributes.get("system")
        if system is None:
            duration = constraint = None
            if jobspec.get("version") == 1:
                raise ValueError("getting duration: Object item not found: system")
        else:
            if type(system) is not dict and not isinstance(system, Mapping):
                raise ValueError("jobspec attributes.system must be an object")
            duration = system.get("duration")
            if duration is None and jobspec.get("version") == 1:
                raise ValueError("getting duration: Object item not found: duration")
            constraint = system.get("constraints") or None
        if walk.slots is None:
            raise ValueError("Unable to determine slot count")
        if walk.slot_size is None:
            raise ValueError("Unable to determine slot size")

        node_count = walk.nodes.scaled(walk.node_factor) if walk.nodes is not None else None
        slot_count = walk.slots
        if walk.exclusive and node_count is None:
            node_count, slot_count = slot_count, ResourceCount(1, 1)
        duration = _duration(duration) if duration else 0.0
        if constraint is not None:
            # The cache hit inline (the common case); see _validate_constraint.
            try:
                known = marshal.dumps(constraint, 2) in _VALID_CONSTRAINTS
            except (ValueError, TypeError, RecursionError):
                known = False
            if not known:
                _validate_constraint(constraint)
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
_VALID_CONSTRAINTS: Dict[bytes, None] = {}  # marshal form of constraints that validated
_VALID_CONSTRAINTS_MAX = 1024          # entries
_VALID_CONSTRAINT_BYTES = 4096         # longest key kept (bounds the cache at 4 MiB)


def _validate_constraint(constraint: Any) -> None:
    """``constraint.validate``, remembering the constraints that passed.

    A scheduler sees the same few constraints over and over, each decoded anew
    from JSON. The key is the constraint's ``marshal`` form (version 2, no
    back-references): it exists only for exact built-in types (any subclass or
    other object raises, and is then validated every time), and equal bytes
    mean equal content, which is all validation looks at."""
    try:
        key = marshal.dumps(constraint, 2)
    except (ValueError, TypeError, RecursionError):
        _constraint.validate(constraint)
        return
    if key in _VALID_CONSTRAINTS:
        return
    _constraint.validate(constraint)
    if len(key) > _VALID_CONSTRAINT_BYTES:
        return
    if len(_VALID_CONSTRAINTS) >= _VALID_CONSTRAINTS_MAX:
        _VALID_CONSTRAINTS.clear()
    _VALID_CONSTRAINTS[key] = None


def _duration(value: Any) -> float:
    if not value:
        return 0.0
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise ValueError(f"jobspec duration must be a number, got {value!r}")

