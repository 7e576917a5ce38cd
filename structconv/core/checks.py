"""Input validation shared by every public constructor.

Every error names the field, the offending value and the allowed range, so the
CLI can print it as one line.
"""
from __future__ import annotations

import unicodedata
from numbers import Integral


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control, bidi and other invisible characters escaped, cut to ``limit`` with an ellipsis.

    For table cells and headings: a U+202E cannot reorder what follows, a 100 kB name cannot flood.
    """
    safe = "".join(ch if ch.isprintable() and not unicodedata.category(ch).startswith("C")
                   else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return safe if limit is None or len(safe) <= limit else safe[:limit - 1] + "…"


def shown(value, limit: int = 80) -> str:
    """A user's value safe to echo in a message: strings quoted, escaped by ``printable``, cut to ``limit``.

    Every message that echoes a user's value (a layer name, a file name, a field) goes through this.
    """
    if not isinstance(value, str):
        return printable(repr(value), limit)
    return "'" + printable(value, limit).replace("'", "\\'") + "'"


class FieldError(ValueError):
    """A bad value, its message built around the names of the fields it is about: ``str()`` spells them as
    the API does, ``spelled(spell)`` as a command line does (``--train-size``), so each user reads the
    name they typed."""

    def __init__(self, *parts: tuple[str, str]):
        self.parts = parts                    # (field, the text that follows its name), in order
        super().__init__(self.spelled(str))

    def spelled(self, spell) -> str:
        return "".join(spell(name) + text for name, text in self.parts)


def where_suffix(where: str | None) -> str:
    return f" (in {where})" if where else ""


def int_field(name: str, value, lo: int | None = None, hi: int | None = None,
              where: str | None = None) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` and the range."""
    rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer in {rng}, got {shown(value)}{where_suffix(where)}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} = {v} is out of range {rng}{where_suffix(where)}")
    return v


def pair_field(name: str, value, lo: int | None = None, hi=None,
               where: str | None = None) -> tuple[int, int]:
    """An int or a 2-sequence of ints, each checked; ``hi`` may be a pair."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}{where_suffix(where)}")
        a, b = value
    else:
        a = b = value
    his = hi if isinstance(hi, tuple) else (hi, hi)
    return int_field(name, a, lo, his[0], where), int_field(name, b, lo, his[1], where)


def choice_field(name: str, value, allowed, where: str | None = None):
    if value not in allowed:
        raise ValueError(f"{name} = {value!r} is not one of {sorted(allowed)}{where_suffix(where)}")
    return value
