"""OpCount and the two closed forms every Choice's count is made of (DESIGN: counting convention).

A plain layer (``dense_ops``) and a sum-pool in front of a small conv
(``structured_ops``); a choice's count is the sum over the parts it runs as.
A linear layer is a 1x1 conv on a 1x1 input, so its sum-pool count
g*c*H1*W1*(kc*a*b - 1) reduces to c*(C - c), the convention's linear formula.
"""
from __future__ import annotations

from dataclasses import dataclass

from .layer import Layer


@dataclass(frozen=True)
class OpCount:
    """Multiplies, additions (sum-pool adds included), the paper's sum-pool adds alone, parameters.

    ``sumpool_adds`` is the paper's naive adder-tree count over the full stride-1
    sum-pool map; what a hardware sum-pool unit really adds is ``spu_adds`` in sim.
    """

    mults: int
    adds: int
    sumpool_adds: int
    params: int

    def __add__(self, other: OpCount) -> OpCount:
        return OpCount(self.mults + other.mults, self.adds + other.adds,
                       self.sumpool_adds + other.sumpool_adds, self.params + other.params)

    def to_dict(self) -> dict:
        return {"mults": self.mults, "adds": self.adds, "sumpool_adds": self.sumpool_adds,
                "params": self.params}


ZERO = OpCount(0, 0, 0, 0)


def _conv_ops(layer: Layer, taps: int, sumpool_adds: int) -> OpCount:
    ho, wo = layer.output_size
    pixels = layer.out_channels * ho * wo
    bias = 1 if layer.bias else 0
    # a matmul multiplies two activations: no weights
    params = 0 if layer.op == "matmul" else layer.out_channels * (taps + bias)
    return OpCount(mults=pixels * taps, adds=pixels * (taps - 1 + bias) + sumpool_adds,
                   sumpool_adds=sumpool_adds, params=params)


def dense_ops(layer: Layer) -> OpCount:
    kh, kw = layer.kernel
    return _conv_ops(layer, layer.group_in_channels * kh * kw, 0)


def sumpool_output_size(layer: Layer, window: tuple[int, int, int]) -> tuple[int, int]:
    """(H1, W1): the stride-1 sum-pool output the small conv reads, H + 2p - d*(a-1)."""
    _, a, b = window
    (H, W), (ph, pw), (dh, dw) = layer.input_size, layer.padding, layer.dilation
    return H + 2 * ph - dh * (a - 1), W + 2 * pw - dw * (b - 1)


def structured_ops(layer: Layer, c: int, n: tuple[int, int], window: tuple[int, int, int]) -> OpCount:
    """A (kc, a, b) sum-pool (naive adder tree) on c channels per group, then a c x nh x nw conv."""
    kc, a, b = window
    h1, w1 = sumpool_output_size(layer, window)
    return _conv_ops(layer, c * n[0] * n[1], layer.groups * c * h1 * w1 * (kc * a * b - 1))
