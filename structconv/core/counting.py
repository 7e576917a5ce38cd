"""Exact op counts of layers and networks under the counting convention (docs/design.md)."""
from __future__ import annotations

from dataclasses import dataclass

from .checks import shown
from .choice import Choice, choice_from_dict
from .layer import Layer, Network
from .ops import ZERO, OpCount, dense_ops
from .resolve import resolve_network, resolve_plan


def count_ops(layer: Layer, choice: Choice | None = None) -> OpCount:
    """What ``layer`` costs under ``choice`` (dense when None; a saved form is parsed)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a Layer, got {type(layer).__name__}")
    return choice_from_dict(choice, where=f"layer {shown(layer.name)}").count(layer)


@dataclass(frozen=True)
class LayerCost:
    """One row of a network count: the layer, its choice, and both counts."""

    layer: Layer
    choice: Choice
    original: OpCount
    structured: OpCount

    def to_dict(self) -> dict:
        return {"name": self.layer.name, "choice": self.choice.label, **self.structured.to_dict(),
                "orig_mults": self.original.mults, "orig_adds": self.original.adds,
                "orig_params": self.original.params,
                **({"shares": self.layer.shares} if self.layer.shares else {})}


@dataclass(frozen=True)
class NetworkCost:
    """Per-layer and total counts of a network, dense vs under a plan."""

    network: Network
    plan_name: str
    layers: tuple[LayerCost, ...]
    extra_params: int

    def _total(self, which: str) -> OpCount:
        t = sum((getattr(r, which) for r in self.layers), ZERO)
        return t + OpCount(0, 0, 0, self.extra_params)

    @property
    def original(self) -> OpCount:
        return self._total("original")

    @property
    def structured(self) -> OpCount:
        return self._total("structured")

    def to_dict(self) -> dict:
        o = self.original
        return {"model": self.network.name, "plan": self.plan_name,
                "original": {"mults": o.mults, "adds": o.adds, "params": o.params},
                "structured": self.structured.to_dict(),
                "layers": [r.to_dict() for r in self.layers]}


def count_network(network, plan=None) -> NetworkCost:
    """Count every layer of ``network`` dense and under ``plan``.

    ``network``: a Network or any model reference ``resolve_network`` reads;
    ``plan``: None (dense), a Plan, a mapping, a preset name or a plan file.
    """
    network = resolve_network(network)
    plan = resolve_plan(plan, network)
    rows = tuple(_row(layer, plan.choice_for(layer.name)) for layer in network.layers)
    return NetworkCost(network, plan.name, rows, network.extra_params)


def _row(layer: Layer, choice: Choice) -> LayerCost:
    original, structured = dense_ops(layer), choice.count(layer)
    if layer.shares is not None:              # a repeated call: its weights are the first call's
        original, structured = _no_params(original), _no_params(structured)
    return LayerCost(layer, choice, original, structured)


def _no_params(op: OpCount) -> OpCount:
    return OpCount(op.mults, op.adds, op.sumpool_adds, 0)
