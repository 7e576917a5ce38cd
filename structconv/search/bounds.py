"""The allowed values of every search setting, in one table, and the one shape of their messages.

The Python API and the command line check a setting with the same rule (``BOUNDS``) and
report it in one line naming the field, the value and the allowed range. A
``SettingError`` keeps field names as ``{field}`` placeholders: ``str(e)`` names the
Python field (``trials = 0 is out of range [1, inf)``), ``e.line(flag_of)`` the CLI's
flag (``--trials = 0 ...``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..core import shown

SAMPLERS = ("nsga2", "tpe", "random")
MODES = ("auto", "exact", "sampler")
PRUNERS = ("sha", "hyperband", "none")
MAX_WORKERS = 256
MAX_POPULATION = 100_000
# a study file holds ~200k trials under its 4 GiB cap (study/journal.py): more is a run that never ends
MAX_TRIALS = 1_000_000


class SettingError(ValueError):
    """A bad setting, one line; ``{field}`` placeholders are rendered by ``line(label)``."""

    def __init__(self, template: str):
        self.template = template
        super().__init__(self.line())

    def line(self, label=str) -> str:
        return self.template.format_map(_Labels(label))


class _Labels(dict):
    def __init__(self, label):
        super().__init__()
        self.label = label

    def __missing__(self, key: str) -> str:
        return self.label(key)


def value(v) -> str:
    """A user's value as a message shows it (``core.shown``; sequences as lists), safe in a template."""
    v = list(v) if isinstance(v, tuple) else v
    return shown(v).replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class Ints:
    """Integers in [lo, hi] (hi None: no upper end)."""

    lo: int
    hi: int | None = None

    def check(self, name: str, v) -> None:
        rng = f"[{self.lo}, {'inf)' if self.hi is None else f'{self.hi}]'}"
        if isinstance(v, bool) or not isinstance(v, int):
            raise SettingError(f"{{{name}}} = {value(v)} must be an integer in {rng}")
        if v < self.lo or (self.hi is not None and v > self.hi):
            raise SettingError(f"{{{name}}} = {value(v)} is out of range {rng}")


@dataclass(frozen=True)
class Positive:
    """Finite numbers > 0."""

    def check(self, name: str, v) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SettingError(f"{{{name}}} = {value(v)} must be a number in (0, inf)")
        if not 0 < v < math.inf:                          # NaN fails too
            raise SettingError(f"{{{name}}} = {value(v)} is out of range (0, inf)")


@dataclass(frozen=True)
class OneOf:
    options: tuple

    def check(self, name: str, v) -> None:
        if not isinstance(v, str) or v not in self.options:
            raise SettingError(f"{{{name}}} = {value(v)} is not one of {list(self.options)}")


@dataclass(frozen=True)
class Increasing:
    """Increasing integers >= 1, as a sequence or a comma list ("1,2,4")."""

    def parse(self, name: str, v) -> tuple:
        try:
            out = tuple(int(t) for t in v.split(",")) if isinstance(v, str) else tuple(v)
        except (TypeError, ValueError):
            out = ()
        if not out or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in out) \
                or list(out) != sorted(set(out)):
            raise SettingError(f"{{{name}}} = {value(v)} must be increasing integers >= 1, e.g. 1,2,4")
        return out


BUDGET_RATIO = Positive()
BOUNDS = {
    "trials": Ints(1, MAX_TRIALS), "workers": Ints(1, MAX_WORKERS),
    "population": Ints(2, MAX_POPULATION),                           # NSGA-II crosses two parents
    "seed": Ints(0, 2**32 - 1), "heartbeat_interval": Ints(1, 3600), "rerank": Ints(0), "anchors": Ints(1),
    "timeout": Positive(), "max_cycles_ratio": BUDGET_RATIO, "max_energy_ratio": BUDGET_RATIO,
    "max_params_ratio": BUDGET_RATIO, "sampler": OneOf(SAMPLERS), "mode": OneOf(MODES),
    "candidates": Ints(1), "pruner": OneOf(PRUNERS), "train_size": Ints(1),
}


def check(record, names, optional=()) -> None:
    """Check ``record``'s fields ``names`` against BOUNDS; those in ``optional`` may be None."""
    for name in names:
        v = getattr(record, name)
        if v is not None or name not in optional:
            BOUNDS[name].check(name, v)


def _unmakeable(path: Path) -> str | None:
    """Why directory ``path`` can be neither used nor made (None: it can)."""
    if os.path.lexists(path) and not path.is_dir():
        return "exists and is not a directory"
    anc = path
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        return f"cannot be created ({value(str(anc))} is not a directory)"
    if not os.access(anc, os.W_OK | os.X_OK):
        return f"cannot be created (directory {value(str(anc))} is not writable)"
    return None


def check_out_dir(name: str, path, of: str | None = None) -> None:
    """``path`` (setting ``name``, or the directory of its value ``of``) is a directory or can become one."""
    if path is None:
        return
    why = _unmakeable(Path(path).absolute())
    if why is not None:
        where = f"{value(str(of))}: its directory " if of is not None else f"{value(str(path))} "
        raise SettingError(f"{{{name}}} = {where}{why}")
