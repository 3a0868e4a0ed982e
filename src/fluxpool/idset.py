"""RFC 22 idsets: the ``IDset`` value type and text helpers.

Parsing and encoding run in the compiled core (``IdRanges``); this module gives
them the public names. Bounds: ids 0 .. 2^31 - 1, text up to 16 MiB.
"""

from collections.abc import Iterable
from typing import Union

from ._rv1core import IdRanges, decode_idset

__all__ = ["IDset", "decode", "encode", "display", "as_idranges"]


class IDset(IdRanges):
    """An immutable set of non-negative ids, iterable in ascending order.

    ``IDset("0-3,7")`` parses RFC 22 text (``ValueError`` when malformed);
    ``IDset([3, 1, 2])`` takes any iterable of ints. ``str()`` is the
    canonical form.
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
    """Parse RFC 22 text into an ``IDset``; ``ValueError`` quotes malformed text."""
    return IDset(text)


def encode(ids: Iterable[int]) -> str:
    """Canonical RFC 22 text: ascending runs, ``A-B`` for two or more ids."""
    return _ranges(ids).encode()


def display(ids: Iterable[int]) -> str:
    """The bracketed display form used by ``dumps()``: ``[...]`` around two or more ids."""
    return _ranges(ids).display()


def _ranges(ids: Iterable[int]) -> IdRanges:
    return ids if isinstance(ids, IdRanges) else IdRanges.from_ints(ids)


def as_idranges(value) -> IdRanges:
    """Rank ids from what the API accepts for them: idset text, an int, an
    iterable of ints, or any object whose ``str()`` is idset text (flux's IDset)."""
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
