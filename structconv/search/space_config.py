"""What the user may restrict in the search space: grid defaults, exclusions, per-kind and per-layer rules.

A search-space YAML file (``load_space_config``)::

    c_fractions: [1, 0.75, 0.5, 0.375, 0.25, 0.125]   # default grid for every layer
    n: [1, 2, 3]                                        # default: every n in [1, k]
    designs: true                                       # sparse-kernel designs for k x k convs
    max_designs: 6                                      # at most this many per layer
    exclude: [conv1, "layer4.*"]                        # names or globs: kept dense
    kinds:                                              # conv | pointwise | depthwise | grouped | linear
      depthwise: {c: [1], n: [2, 3]}
      linear: {dense_only: true}
    layers:                                             # globs; override the kind rules
      "layer1.*.conv2": {c_fractions: [0.5], designs: false}

A ``Rule`` is what every choice kind's ``options(layer, rule)`` reads (the Choice
protocol): ``dense_only``, ``c_values(C)``, ``n_values(k)``, ``designs``, ``max_designs``.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

from ..core import Layer, load_data_file

DEFAULT_C_FRACTIONS = (1.0, 0.75, 0.5, 0.375, 0.25, 0.125)
KINDS = ("conv", "pointwise", "depthwise", "grouped", "linear")
RULE_KEYS = ("c", "c_fractions", "n", "designs", "max_designs", "dense_only")
TOP_KEYS = ("c_fractions", "n", "designs", "max_designs", "exclude", "kinds", "layers")


def c_grid(C: int, fractions) -> list[int]:
    """Distinct c = round(C * f) clipped to [1, C], largest first."""
    return sorted({min(C, max(1, int(round(C * f)))) for f in fractions}, reverse=True)


@dataclass(frozen=True)
class Rule:
    """Restrictions for one layer (all optional; None = inherit)."""

    c: tuple[int, ...] | None = None
    c_fractions: tuple[float, ...] | None = None
    n: tuple[int, ...] | None = None
    designs: bool | None = None
    max_designs: int | None = None
    dense_only: bool | None = None

    def merged(self, over: Rule) -> Rule:
        """``over``'s fields where set, else this rule's."""
        return Rule(**{k: (getattr(over, k) if getattr(over, k) is not None else getattr(self, k))
                       for k in RULE_KEYS})

    def c_values(self, C: int) -> list[int]:
        """The c grid for C input channels per group: ``c`` (those <= C) or ``c_fractions``, largest first."""
        if self.c is not None:
            return sorted({c for c in self.c if c <= C}, reverse=True)
        return c_grid(C, self.c_fractions or DEFAULT_C_FRACTIONS)

    def n_values(self, k: int) -> list[int]:
        """Sorted n in [1, k]: ``n`` (those <= k) or all."""
        return sorted({n for n in (self.n if self.n is not None else range(1, k + 1)) if n <= k})

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k in RULE_KEYS
                if (v := getattr(self, k)) is not None}


DEFAULT_RULE = Rule(c_fractions=DEFAULT_C_FRACTIONS, designs=True, max_designs=6, dense_only=False)


@dataclass(frozen=True)
class SpaceConfig:
    """Grid defaults, excluded layers and per-kind / per-layer rules."""

    default: Rule = DEFAULT_RULE
    exclude: tuple[str, ...] = ()
    kinds: dict = field(default_factory=dict)            # kind -> Rule
    layers: dict = field(default_factory=dict)           # name or glob -> Rule

    def excluded(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.exclude)

    def rule_for(self, layer: Layer) -> Rule:
        rule = self.default
        if layer.kind in self.kinds:
            rule = rule.merged(self.kinds[layer.kind])
        for pat, r in self.layers.items():          # later patterns win
            if fnmatch.fnmatchcase(layer.name, pat):
                rule = rule.merged(r)
        return rule

    def to_dict(self) -> dict:
        return {**self.default.to_dict(), "exclude": list(self.exclude),
                "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
                "layers": {k: v.to_dict() for k, v in self.layers.items()}}


# -- parsing: every error names the field and where it is -------------------------
def _number(name, v, kind, where):
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise ValueError(f"{name} must hold integers, got {v!r} (in {where})")
    if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
        raise ValueError(f"{name} must hold numbers, got {v!r} (in {where})")


def _list_of(name, value, kind, where, lo=None, hi=None):
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list, got {value!r} (in {where})")
    for v in value:
        _number(name, v, kind, where)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            lo_s = "(0" if kind is float else f"[{lo}"
            raise ValueError(f"{name} = {v!r} is out of range {lo_s}, {hi if hi is not None else 'inf'}] "
                             f"(in {where})")
    return tuple(kind(v) for v in value)


def _fractions(value, where):
    fr = _list_of("c_fractions", value, float, where, hi=1)
    if any(f <= 0 for f in fr):
        raise ValueError(f"c_fractions = {list(fr)} must lie in (0, 1] (in {where})")
    return fr


def _flag(key, value, where):
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r} (in {where})")
    return value


def _max_designs(v, where):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"max_designs must be an integer >= 0, got {v!r} (in {where})")
    return v


_FIELD_PARSERS = {
    "c": lambda v, w: _list_of("c", v, int, w, lo=1),
    "c_fractions": _fractions,
    "n": lambda v, w: _list_of("n", v, int, w, lo=1),
    "designs": lambda v, w: _flag("designs", v, w),
    "dense_only": lambda v, w: _flag("dense_only", v, w),
    "max_designs": _max_designs,
}


def _rule(d, where: str) -> Rule:
    if d is None:
        return Rule()
    if not isinstance(d, dict):
        raise ValueError(f"a rule must be a mapping with keys {list(RULE_KEYS)}, got {d!r} (in {where})")
    unknown = sorted(set(d) - set(RULE_KEYS))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} (in {where}); allowed: {list(RULE_KEYS)}")
    return Rule(**{k: _FIELD_PARSERS[k](d[k], where) for k in RULE_KEYS if k in d})


def _exclude(d, source):
    exclude = d.get("exclude") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise ValueError(f"{source}: exclude must be a list of layer names or globs, got {exclude!r}")
    return tuple(exclude)


def _kind_rules(d, source):
    kinds = d.get("kinds") or {}
    if not isinstance(kinds, dict):
        raise ValueError(f"{source}: kinds must be a mapping kind -> rule, got {kinds!r}")
    bad = sorted(set(kinds) - set(KINDS))
    if bad:
        raise ValueError(f"{source}: kinds has unknown layer kind(s) {bad}; allowed: {list(KINDS)}")
    return {k: _rule(v, f"{source}: kinds.{k}") for k, v in kinds.items()}


def _layer_rules(d, source):
    layers = d.get("layers") or {}
    if not isinstance(layers, dict) or not all(isinstance(k, str) for k in layers):
        raise ValueError(f"{source}: layers must be a mapping name-or-glob -> rule, got {layers!r}")
    return {k: _rule(v, f"{source}: layers.{k!r}") for k, v in layers.items()}


def space_config_from_dict(d, source: str = "search space") -> SpaceConfig:
    """Validate a parsed YAML mapping into a SpaceConfig (errors name the field)."""
    d = {} if d is None else d
    if not isinstance(d, dict):
        raise ValueError(f"{source}: the search space file must hold a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - set(TOP_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown}; allowed: {list(TOP_KEYS)}")
    top = _rule({k: d[k] for k in ("c_fractions", "n", "designs", "max_designs") if k in d}, source)
    return SpaceConfig(default=DEFAULT_RULE.merged(top), exclude=_exclude(d, source),
                       kinds=_kind_rules(d, source), layers=_layer_rules(d, source))


def load_space_config(path) -> SpaceConfig:
    """Read a search-space YAML file into a validated SpaceConfig."""
    data = load_data_file(path, "search space file")
    return space_config_from_dict(data, source=f"search space file {str(path)!r}")
