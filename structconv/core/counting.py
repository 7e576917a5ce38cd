"""Exact op counts under the counting convention of DESIGN.md.

A linear layer is a 1x1 conv on a 1x1 input, so its sum-pool count
g*c*H1*W1*(kc*a*b - 1) reduces to c*(C - c), the convention's linear formula.
"""
from __future__ import annotations

from dataclasses import dataclass

from .choice import Choice, Dense, Structure
from .layer import Layer, Network


@dataclass(frozen=True)
class OpCount:
    """Multiplies, additions (sum-pool adds included), sum-pool adds alone, parameters."""

    mults: int
    adds: int
    sumpool_adds: int
    params: int

    def __add__(self, other: "OpCount") -> "OpCount":
        return OpCount(self.mults + other.mults, self.adds + other.adds,
                       self.sumpool_adds + other.sumpool_adds, self.params + other.params)

    def to_dict(self) -> dict:
        return {"mults": self.mults, "adds": self.adds, "sumpool_adds": self.sumpool_adds,
                "params": self.params}


ZERO = OpCount(0, 0, 0, 0)


def _dense(layer: Layer) -> OpCount:
    ho, wo = layer.output_size
    kh, kw = layer.kernel
    taps = layer.group_in_channels * kh * kw
    pixels = layer.out_channels * ho * wo
    bias = 1 if layer.bias else 0
    return OpCount(mults=pixels * taps, adds=pixels * (taps - 1 + bias), sumpool_adds=0,
                   params=layer.out_channels * (taps + bias))


def sumpool_output_size(layer: Layer, s: Structure) -> tuple[int, int]:
    """(H1, W1): the stride-1 sum-pool output the small conv reads, H + 2p - d*(a-1)."""
    _, a, b = s.window(layer)
    (H, W), (ph, pw), (dh, dw) = layer.input_size, layer.padding, layer.dilation
    return H + 2 * ph - dh * (a - 1), W + 2 * pw - dw * (b - 1)


def _structured(layer: Layer, s: Structure) -> OpCount:
    s.validate(layer)
    kc, a, b = s.window(layer)
    h1, w1 = sumpool_output_size(layer, s)
    sumpool = layer.groups * s.c * h1 * w1 * (kc * a * b - 1)
    ho, wo = layer.output_size
    taps = s.c * s.nh * s.nw
    pixels = layer.out_channels * ho * wo
    bias = 1 if layer.bias else 0
    return OpCount(mults=pixels * taps, adds=pixels * (taps - 1 + bias) + sumpool, sumpool_adds=sumpool,
                   params=layer.out_channels * (taps + bias))


def count_ops(layer: Layer, choice: Choice | None = None) -> OpCount:
    """What ``layer`` costs under ``choice`` (dense when None)."""
    if choice is None or isinstance(choice, Dense):
        return _dense(layer)
    if isinstance(choice, Structure):
        return _structured(layer, choice)
    choice.validate(layer)
    total = ZERO
    for part in choice.expand(layer):      # sparse-kernel designs: a stack of plain layers
        total = total + _dense(part)
    return total


@dataclass(frozen=True)
class LayerCost:
    """One row of a network count: the layer, its choice, and both counts."""

    layer: Layer
    choice: Choice
    original: OpCount
    structured: OpCount

    def to_dict(self) -> dict:
        return {"name": self.layer.name, "choice": self.choice.label,
                **{k: v for k, v in self.structured.to_dict().items()},
                "orig_mults": self.original.mults, "orig_adds": self.original.adds,
                "orig_params": self.original.params}


@dataclass(frozen=True)
class NetworkCost:
    """Per-layer and total counts of a network, dense vs under a plan."""

    network: Network
    plan_name: str
    layers: tuple[LayerCost, ...]
    extra_params: int

    @property
    def original(self) -> OpCount:
        t = sum((r.original for r in self.layers), ZERO)
        return OpCount(t.mults, t.adds, t.sumpool_adds, t.params + self.extra_params)

    @property
    def structured(self) -> OpCount:
        t = sum((r.structured for r in self.layers), ZERO)
        return OpCount(t.mults, t.adds, t.sumpool_adds, t.params + self.extra_params)

    def to_dict(self) -> dict:
        o, s = self.original, self.structured
        return {"model": self.network.name, "plan": self.plan_name,
                "original": {"mults": o.mults, "adds": o.adds, "params": o.params},
                "structured": s.to_dict(),
                "layers": [r.to_dict() for r in self.layers]}


def count_network(network: Network, plan=None) -> NetworkCost:
    """Count every layer of ``network`` dense and under ``plan`` (a Plan, a mapping or None)."""
    from .plan import Plan

    plan = Plan.coerce(plan)
    plan.validate(network)
    rows = tuple(LayerCost(layer, plan.choice_for(layer.name), _dense(layer),
                           count_ops(layer, plan.choice_for(layer.name)))
                 for layer in network.layers)
    return NetworkCost(network, plan.name, rows, network.extra_params)
