"""RFC 22 idsets: the ``IDset`` value type and text helpers.

Parsing and encoding run in the compiled core (``IdRanges``); this module gives
them the public names. Bounds: ids 0 .. 2^31 - 1, text up to 16 MiB.
"""

from collections.abc import Iterable
from typing import Union

from ._rv1core import IdRanges, decode_idset

__all__ = ["IDset", "decode", "encode", "display", "as_idranges", "ids_of"]


class IDset(IdRanges):
    """An immutable set of non-negative ids (ranks, cores, GPUs), as in RFC 22.

    Iterates in ascending order; supports ``len()``, ``in``, ``==`` and hashing;
    ``str()`` is the canonical RFC 22 form (``"0-3,7"``). It is the type the pools
    return from ``ranks()`` and views from ``ranks``, like flux-core's
    ``flux.idset.IDset``. Parsing and storage are compiled; a set is stored as runs,
    so ``IDset("0-2000000")`` is small.

    Args:
        ids: RFC 22 text (``"0-3,7"``, optionally in brackets: ``"[0-3]"``; ``""``
            is empty), any iterable of non-negative ints (sorted and deduplicated),
            or ``None`` for the empty set.

    Raises:
        ValueError: Malformed text, quoting it: a sign, a space, a leading zero,
            a range end before its start, elements out of order or overlapping,
            an empty element (``"1,,2"``, which flux-core accepts), an id above
            2,147,483,647 (flux-core wraps large ids around), or text longer than
            16 MiB; a negative or too large int in an iterable.
        TypeError: ``ids`` is neither text nor an iterable, or an item is not an int.
    """

    def __new__(cls, ids: Union[str, Iterable[int], None] = None) -> "IDset":
        new = IdRanges.__new__(cls)
        source = ids if ids is not None else ()
        if isinstance(source, str):
            ranges = decode_idset(source)
        elif isinstance(source, Iterable):
            ranges = IdRanges.from_ints(source)
        else:
            raise TypeError(
                f"IDset takes idset text or an iterable of ids, got {type(source).__name__}"
            )
        return new._assign(ranges)

    def __repr__(self) -> str:
        return f"IDset({str(self)!r})"


def decode(text: str) -> IDset:
    """Parse RFC 22 idset text.

    Args:
        text: Idset text such as ``"0-3,7"`` or ``"[0-3]"``.

    Returns:
        The :class:`IDset`.

    Raises:
        ValueError: Malformed text or an id above 2^31 - 1 (the message quotes the
            text); see :class:`IDset`.
        TypeError: ``text`` is not a string.
    """
    return IDset(text)


def encode(ids: Iterable[int]) -> str:
    """Canonical RFC 22 text of ``ids``: ascending runs joined by commas, a run of two
    or more ids written ``A-B``: ``{0, 1, 2, 5, 7, 8}`` is ``"0-2,5,7-8"``, the empty
    set ``""``. This is the form R version 1 uses.

    Args:
        ids: An :class:`IDset` or any iterable of non-negative ints.

    Raises:
        ValueError: A negative id or one above 2^31 - 1.
        TypeError: An item is not an int.
    """
    return _ranges(ids).encode()


def display(ids: Iterable[int]) -> str:
    """The display form ``dumps()`` uses: the canonical text in brackets when there
    are two or more ids (``{0, 1}`` is ``"[0-1]"``, ``{0, 2}`` is ``"[0,2]"``), bare
    otherwise (``{3}`` is ``"3"``, the empty set ``""``), as flux-core writes it.

    Args:
        ids: An :class:`IDset` or any iterable of non-negative ints.

    Raises:
        ValueError: A negative id or one above 2^31 - 1.
        TypeError: An item is not an int.
    """
    return _ranges(ids).display()


def _ranges(ids: Iterable[int]) -> IdRanges:
    return ids if isinstance(ids, IdRanges) else IdRanges.from_ints(ids)


def as_idranges(value) -> IdRanges:
    """Rank ids from any form the pool API accepts for them.

    Args:
        value: Idset text, an ``int``, a list, tuple, set, frozenset or range of
            ints, an ``IdRanges``/:class:`IDset`, or any other object whose
            ``str()`` is idset text (flux-core's ``flux.idset.IDset``).

    Returns:
        The ids as the core's ``IdRanges``.

    Raises:
        ValueError: Malformed idset text, or an id out of range.
        TypeError: ``value`` is a ``bool``, or an iterable item is not an int.
    """
    if isinstance(value, IdRanges):
        return value
    if isinstance(value, str):
        return decode_idset(value)
    if isinstance(value, bool):
        raise TypeError(f"expected rank ids, got {value!r}")
    if isinstance(value, int):
        return IdRanges.from_ints([value])
    if isinstance(value, (list, tuple, set, frozenset, range)):
        return IdRanges.from_ints(value)
    return decode_idset(str(value))


def ids_of(value: object, what: str, error: type = TypeError) -> IdRanges:
    """Ids in the forms flux-core's ``IDset()`` reads: idset text, an integer,
    or a list (or tuple) of those, unioned.

    ``what`` names the field in messages; a value or item of any other type
    (a bool included) raises ``error`` (``TypeError`` for R fields,
    ``ValueError`` for constraint operands); malformed text or an id out of
    range raises ``ValueError``."""
    if isinstance(value, str):
        return decode_idset(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return IdRanges.from_ints([value])
    if not isinstance(value, (list, tuple)):
        raise error(f"{what} must be an idset string, an integer or a list of them, got {value!r}")
    result = IdRanges()
    for item in value:
        if isinstance(item, str):
            result = result.union(decode_idset(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            result = result.union(IdRanges.from_ints([item]))
        else:
            raise error(f"{what} items must be idset strings or integers, got {item!r}")
    return result
