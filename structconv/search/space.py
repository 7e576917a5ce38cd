"""The search space: for every layer an ordered tuple of Choices, one integer per layer.

Per layer the choices are ``Dense()`` first, then the candidates every registered
choice kind offers under the layer's rule (``cls.options(layer, rule)`` for each
kind in ``core.choice_kinds()``: structures over the c and n grid, the admissible
sparse-kernel designs, any plug-in kind). Everything after Dense is sorted by
decreasing cost (mults, then params), so a larger index means a cheaper, more
aggressive choice and neighbouring indices are similar: that is why the search
suggests an *integer* per layer instead of a categorical (Optuna treats
categorical values as unordered). What the user may restrict: ``space_config``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core import (
    Choice,
    Dense,
    Layer,
    Network,
    Plan,
    choice_kinds,
    count_ops,
    presets_for,
    resolve_plan,
    shown,
)
from .space_config import Rule, SpaceConfig

DENSE = Dense()


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
    presets: tuple[Plan, ...] = field(default=(), compare=False)   # the network's presets, resolved once

    def __getstate__(self):                 # Plans hold mapping proxies: presets travel in their saved form
        return {**self.__dict__, "presets": [p.to_dict() for p in self.presets]}

    def __setstate__(self, state):
        self.__dict__.update(state, presets=tuple(Plan.from_dict(p) for p in state["presets"]))

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
        choices = {ls.name: ls.choices[i] for ls, i in zip(self.layers, idx) if i != 0}     # 0 is dense
        return Plan(choices, name=name, model=self.network.name)

    def params_of(self, plan) -> dict[str, int]:
        """{layer: index} for the searched layers (ValueError if a choice is outside the space).

        A Plan is read as a plan of this network, resolved already (``core.resolve_plan``); any
        other reference is resolved here.
        """
        if not isinstance(plan, Plan):
            plan = resolve_plan(plan, self.network)
        unknown = sorted(set(plan.choices) - set(self.network.layer_names))
        if unknown:
            raise ValueError(f"plan {shown(plan.name)} names layer {shown(unknown[0])}, which network "
                             f"{shown(self.network.name)} does not have")
        for ls in self.layers:
            if len(ls) == 1 and plan.choice_for(ls.name) != DENSE:
                raise ValueError(f"plan {plan.name!r} changes layer {ls.name!r}, "
                                 "which the search space keeps dense")
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


def _cost_key(layer: Layer, choice: Choice):
    op = count_ops(layer, choice)
    return (-op.mults, -op.params, -op.adds, choice.label)


def _add(out: list, choice: Choice) -> None:
    if choice != DENSE and choice not in out:
        out.append(choice)


def layer_choices(layer: Layer, rule: Rule, extra=()) -> tuple[Choice, ...]:
    """Dense, then every registered kind's options under ``rule`` (and ``extra``), most expensive first."""
    out: list[Choice] = []
    for kind in choice_kinds().values():
        for choice in kind.options(layer, rule):
            if choice.fits(layer) is None:              # e.g. an attention product takes only dense
                _add(out, choice)
    for choice in extra:                                # e.g. choices of the enqueued presets
        choice.validate(layer)
        _add(out, choice)
    return (DENSE,) + tuple(sorted(out, key=lambda ch: _cost_key(layer, ch)))


def _check_names(network: Network, config: SpaceConfig) -> None:
    unknown = [p for p in list(config.exclude) + list(config.layers)
               if not any(ch in p for ch in "*?[") and p not in network.layer_names]
    if unknown:
        raise ValueError(f"search space names layer(s) {unknown} that network {network.name!r} does not have")


def build_space(network: Network, config: SpaceConfig | None = None, extra_plans=(),
                with_presets: bool = False) -> SearchSpace:
    """The search space of ``network`` under ``config`` (default grid when None).

    The network's presets (``core.presets_for``) are resolved once and kept as
    ``space.presets`` (the study's seeds, the baselines). ``extra_plans``: plans (or plan
    references) whose choices must be representable; ``with_presets`` adds the presets to
    them. Their choices are added to non-excluded layers.
    """
    config = config or SpaceConfig()
    _check_names(network, config)
    presets = tuple(resolve_plan(p, network) for p in presets_for(network).values())
    plans = [resolve_plan(p, network) for p in extra_plans] + (list(presets) if with_presets else [])
    layers = []
    for layer in network.layers:
        if config.excluded(layer.name):
            layers.append(LayerSpace(layer, (DENSE,)))
            continue
        extra = [p.choice_for(layer.name) for p in plans]
        layers.append(LayerSpace(layer, layer_choices(layer, config.rule_for(layer), extra)))
    return SearchSpace(network, tuple(layers), config, presets)
