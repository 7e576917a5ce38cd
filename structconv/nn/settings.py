"""Bounds of numeric settings, stated once for the Python API and the command line.

A settings record (``TrainSettings``, ``DataSettings``) checks its fields against a table of
``Bound``s; a field out of range is a ``SettingError`` naming the field, the value and the
allowed range. The command line names its flag instead (``SettingError.renamed``), so both
read the same bounds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from ..core import shown


class SettingError(ValueError):
    """A setting out of its range, as one line; ``field`` is the setting's name."""

    def __init__(self, field: str, detail: str):
        super().__init__(f"{field} {detail}")
        self.field, self.detail = field, detail

    def renamed(self, name: str) -> SettingError:
        """The same error naming ``name`` (a command-line flag) instead of the field."""
        return SettingError(name, self.detail)


def _end(v: float) -> str:
    return "inf" if v == math.inf else f"{v:g}"


@dataclass(frozen=True)
class Bound:
    """The range of one numeric setting: [lo, hi], either end open; ``integer`` for counts."""

    lo: float
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    @property
    def text(self) -> str:
        return (f"{'(' if self.lo_open else '['}{_end(self.lo)}, {_end(self.hi)}"
                f"{')' if self.hi_open or self.hi == math.inf else ']'}")

    def contains(self, v) -> bool:
        # `not (...)` comparisons: NaN is in no range
        return ((self.lo < v if self.lo_open else self.lo <= v)
                and (v < self.hi if self.hi_open or self.hi == math.inf else v <= self.hi))

    def check(self, field: str, value):
        """``value`` as an int (``integer``) or a float; SettingError when it is not in the range."""
        kind = Integral if self.integer else Real
        if isinstance(value, bool) or not isinstance(value, kind):
            what = "an integer" if self.integer else "a number"
            raise SettingError(field, f"must be {what} in {self.text}, got {shown(value)}")
        if not self.contains(value):
            raise SettingError(field, f"= {value!r} is out of range {self.text}")
        return int(value) if self.integer else float(value)


def check_choice(field: str, value, allowed) -> None:
    if value not in allowed:
        raise SettingError(field, f"= {shown(value)} is not one of {list(allowed)}")


def checked_fields(record, bounds: dict[str, Bound]) -> dict:
    """{field: checked value} of ``record``'s fields that ``bounds`` names and that are set (not None)."""
    return {name: bound.check(name, getattr(record, name)) for name, bound in bounds.items()
            if getattr(record, name) is not None}
