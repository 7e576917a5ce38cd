"""The search space: for every layer an ordered tuple of Choices, one integer per layer.

Per layer the choices are: ``Dense()`` first, then ``Structure(c, n)`` over a grid
of c in [1, C/groups] (fractions of C/groups, rounded and deduplicated) and
n in [1, k], then, for eligible k x k standard convs, the admissible sparse-kernel
designs (full information field only, ``core.designs.admissible_designs``).
Everything after Dense is sorted by decreasing cost (mults, then params), so a
larger index means a cheaper, more aggressive choice and neighbouring indices
are similar: that is why the search suggests an *integer* per layer instead of
a categorical (Optuna treats categorical values as unordered).

Users restrict the space with a YAML file (``load_space_config``)::

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
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field


from ..core import Choice, Dense, Layer, Network, Plan, Structure, count_ops
from ..core.files import load_data_file

DEFAULT_C_FRACTIONS = (1.0, 0.75, 0.5, 0.375, 0.25, 0.125)
KINDS = ("conv", "pointwise", "depthwise", "grouped", "linear")
RULE_KEYS = ("c", "c_fractions", "n", "designs", "max_designs", "dense_only")
TOP_KEYS = ("c_fractions", "n", "designs", "max_designs", "exclude", "kinds", "layers")


# -- configuration ---------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Restrictions for one layer (all optional; None = inherit)."""

    c: tuple[int, ...] | None = None
    c_fractions: tuple[float, ...] | None = None
    n: tuple[int, ...] | None = None
    designs: bool | None = None
    max_designs: int | None = None
    dense_only: bool | None = None

    def merged(self, over: "Rule") -> "Rule":
        """``over``'s fields where set, else this rule's."""
        return Rule(**{k: (getattr(over, k) if getattr(over, k) is not None else getattr(self, k))
                       for k in RULE_KEYS})

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k in RULE_KEYS
                if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class SpaceConfig:
    """Grid defaults, excluded layers and per-kind / per-layer rules."""

    default: Rule = field(default_factory=lambda: Rule(c_fractions=DEFAULT_C_FRACTIONS, designs=True,
                                                       max_designs=6, dense_only=False))
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


def _list_of(name, value, kind, where, lo=None, hi=None):
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list, got {value!r} (in {where})")
    out = []
    for v in value:
        if kind is int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must hold integers, got {v!r} (in {where})")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must hold numbers, got {v!r} (in {where})")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            lo_s = "(0" if kind is float else f"[{lo}"
            raise ValueError(f"{name} = {v!r} is out of range {lo_s}, {hi if hi is not None else 'inf'}] "
                             f"(in {where})")
        out.append(kind(v))
    return tuple(out)


def _rule(d, where: str) -> Rule:
    if d is None:
        return Rule()
    if not isinstance(d, dict):
        raise ValueError(f"a rule must be a mapping with keys {list(RULE_KEYS)}, got {d!r} (in {where})")
    unknown = sorted(set(d) - set(RULE_KEYS))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} (in {where}); allowed: {list(RULE_KEYS)}")
    kw = {}
    if "c" in d:
        kw["c"] = _list_of("c", d["c"], int, where, lo=1)
    if "c_fractions" in d:
        fr = _list_of("c_fractions", d["c_fractions"], float, where, hi=1)
        if any(f <= 0 for f in fr):
            raise ValueError(f"c_fractions = {list(fr)} must lie in (0, 1] (in {where})")
        kw["c_fractions"] = fr
    if "n" in d:
        kw["n"] = _list_of("n", d["n"], int, where, lo=1)
    for key in ("designs", "dense_only"):
        if key in d:
            if not isinstance(d[key], bool):
                raise ValueError(f"{key} must be true or false, got {d[key]!r} (in {where})")
            kw[key] = d[key]
    if "max_designs" in d:
        v = d["max_designs"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"max_designs must be an integer >= 0, got {v!r} (in {where})")
        kw["max_designs"] = v
    return Rule(**kw)


def space_config_from_dict(d, source: str = "search space") -> SpaceConfig:
    """Validate a parsed YAML mapping into a SpaceConfig (errors name the field)."""
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ValueError(f"{source}: the search space file must hold a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - set(TOP_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown}; allowed: {list(TOP_KEYS)}")
    base = SpaceConfig()
    top = _rule({k: d[k] for k in ("c_fractions", "n", "designs", "max_designs") if k in d}, source)
    exclude = d.get("exclude") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise ValueError(f"{source}: exclude must be a list of layer names or globs, got {exclude!r}")
    kinds = d.get("kinds") or {}
    if not isinstance(kinds, dict):
        raise ValueError(f"{source}: kinds must be a mapping kind -> rule, got {kinds!r}")
    bad = sorted(set(kinds) - set(KINDS))
    if bad:
        raise ValueError(f"{source}: kinds has unknown layer kind(s) {bad}; allowed: {list(KINDS)}")
    layers = d.get("layers") or {}
    if not isinstance(layers, dict) or not all(isinstance(k, str) for k in layers):
        raise ValueError(f"{source}: layers must be a mapping name-or-glob -> rule, got {layers!r}")
    return SpaceConfig(default=base.default.merged(top), exclude=tuple(exclude),
                       kinds={k: _rule(v, f"{source}: kinds.{k}") for k, v in kinds.items()},
                       layers={k: _rule(v, f"{source}: layers.{k!r}") for k, v in layers.items()})


def load_space_config(path) -> SpaceConfig:
    """Read a search-space YAML file (yaml.safe_load) into a validated SpaceConfig."""
    data = load_data_file(path, "search space file")
    return space_config_from_dict(data, source=f"search space file {str(path)!r}")


# -- the space -------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSpace:
    """One searched layer: its Layer and its ordered choices (Dense first)."""

    layer: Layer
    choices: tuple[Choice, ...]

    @property
    def name(self) -> str:
        return self.layer.name

    def __len__(self) -> int:
        return len(self.choices)

    def index(self, choice: Choice) -> int:
        try:
            return self.choices.index(choice)
        except ValueError:
            raise ValueError(f"choice {choice.label} is not in the search space of layer {self.name!r} "
                             f"({len(self.choices)} choices)") from None


@dataclass(frozen=True)
class SearchSpace:
    """The ordered per-layer choices of one network; fixed layers stay dense."""

    network: Network
    layers: tuple[LayerSpace, ...]          # every network layer, in network order
    config: SpaceConfig = field(default_factory=SpaceConfig, compare=False)

    def __post_init__(self):
        if not self.searched:
            raise ValueError(f"the search space of {self.network.name!r} is empty: every layer is excluded "
                             f"or has no choice but dense")

    @property
    def searched(self) -> tuple[LayerSpace, ...]:
        """The layers with more than one choice: one Optuna parameter each."""
        return tuple(ls for ls in self.layers if len(ls) > 1)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(ls.name for ls in self.searched)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(ls) for ls in self.searched)

    @property
    def log10_size(self) -> float:
        return sum(math.log10(len(ls)) for ls in self.layers)

    def __getitem__(self, name: str) -> LayerSpace:
        for ls in self.layers:
            if ls.name == name:
                return ls
        raise KeyError(f"no layer named {name!r} in the search space of {self.network.name!r}")

    # -- index <-> plan -----------------------------------------------------------
    def full_indices(self, searched_idx) -> list[int]:
        """Indices over every network layer (fixed layers 0) from indices over searched layers."""
        it = iter(int(i) for i in searched_idx)
        return [next(it) if len(ls) > 1 else 0 for ls in self.layers]

    def plan(self, params, name: str = "search") -> Plan:
        """The Plan of a parameter dict {layer: index} or a sequence over searched layers."""
        if isinstance(params, dict):
            idx = [int(params.get(ls.name, 0)) for ls in self.layers]
        else:
            idx = self.full_indices(params)
        choices = {ls.name: ls.choices[i] for ls, i in zip(self.layers, idx) if not isinstance(ls.choices[i], Dense)}
        return Plan(choices, name=name, model=self.network.name)

    def params_of(self, plan: Plan) -> dict[str, int]:
        """{layer: index} for the searched layers (ValueError if a choice is outside the space)."""
        plan = Plan.coerce(plan)
        plan.validate(self.network)
        for ls in self.layers:
            if len(ls) == 1 and not isinstance(plan.choice_for(ls.name), Dense):
                raise ValueError(f"plan {plan.name!r} changes layer {ls.name!r}, which the search space keeps dense")
        return {ls.name: ls.index(plan.choice_for(ls.name)) for ls in self.searched}

    def contains(self, plan: Plan) -> bool:
        try:
            self.params_of(plan)
            return True
        except ValueError:
            return False

    def to_dict(self) -> dict:
        return {"model": self.network.name, "searched_layers": len(self.searched),
                "fixed_layers": len(self.layers) - len(self.searched),
                "log10_size": round(self.log10_size, 2),
                "layers": {ls.name: [c.label for c in ls.choices] for ls in self.layers}}


def c_grid(C: int, fractions) -> list[int]:
    """Distinct c = round(C * f) clipped to [1, C], largest first."""
    return sorted({min(C, max(1, int(round(C * f)))) for f in fractions}, reverse=True)


def _cost_key(layer: Layer, choice: Choice):
    op = count_ops(layer, choice)
    return (-op.mults, -op.params, -op.adds, choice.label)


def layer_choices(layer: Layer, rule: Rule, extra=()) -> tuple[Choice, ...]:
    """Dense, then the structures and designs the rule allows, most expensive first."""
    out: list[Choice] = []
    if not rule.dense_only:
        C = layer.group_in_channels
        kh, kw = layer.kernel
        cs = [c for c in rule.c if c <= C] if rule.c is not None else c_grid(C, rule.c_fractions or DEFAULT_C_FRACTIONS)
        ns = sorted({n for n in (rule.n if rule.n is not None else range(1, max(kh, kw) + 1)) if n <= max(kh, kw)})
        for c in cs:
            for n in ns:
                s = Structure(c, (min(n, kh), min(n, kw)))
                if not s.is_identity(layer) and s not in out:
                    out.append(s)
        if rule.designs and rule.max_designs != 0 and layer.op == "conv2d" and layer.groups == 1 \
                and layer.kernel != (1, 1):
            from ..core.designs import admissible_designs
            out += [d for d in admissible_designs(layer, max_options=rule.max_designs) if d not in out]
    for ch in extra:                                    # e.g. choices of the enqueued presets
        if not isinstance(ch, Dense) and ch not in out:
            ch.validate(layer)
            out.append(ch)
    return (Dense(),) + tuple(sorted(out, key=lambda ch: _cost_key(layer, ch)))


def build_space(network: Network, config: SpaceConfig | None = None, extra_plans=()) -> SearchSpace:
    """The search space of ``network`` under ``config`` (default grid when None).

    ``extra_plans``: plans whose choices must be representable (the uniform presets
    the study enqueues); their choices are added to non-excluded layers.
    """
    config = config or SpaceConfig()
    unknown = [p for p in list(config.exclude) + list(config.layers)
               if not any(ch in p for ch in "*?[") and p not in network.layer_names]
    if unknown:
        raise ValueError(f"search space names layer(s) {unknown} that network {network.name!r} does not have")
    layers = []
    for layer in network.layers:
        if config.excluded(layer.name):
            layers.append(LayerSpace(layer, (Dense(),)))
            continue
        extra = [Plan.coerce(p).choice_for(layer.name) for p in extra_plans]
        layers.append(LayerSpace(layer, layer_choices(layer, config.rule_for(layer), extra)))
    return SearchSpace(network, tuple(layers), config)

