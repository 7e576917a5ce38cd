"""Sparse-kernel designs as torch modules: ``DesignConv`` runs the plain layers a design choice
expands to (``choice.expand(layer)``), with a ShuffleNet channel shuffle where the design's
kernel sequence has one (``choice.kernels(layer)``):

    dw_pw       DW(k) C->C, PW C->F
    gc_pwg      GC(M) C->C, shuffle(M), PWG(N) C->F
    pw_dw_pw    PW C->K, DW(k) K->K, PW K->F
    pwg_dw_pwg  PWG(M) C->K, shuffle(M), DW(k), PWG(N) K->F

The first spatial stage keeps the replaced conv's stride, padding (mode included) and
dilation; only the last stage has a bias, so params and MACs are core's ``count_ops``.
The composition is linear, so a design is exactly one conv (``distill.effective_kernel``),
which is what the layer-wise distillation fits.
"""
from __future__ import annotations

import torch
from torch import nn

from ...core import Choice, Layer
from ..trace import PLANNED_LAYER


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: (B, g*m, H, W) seen as (g, m) channels, transposed to (m, g)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = int(groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.groups
        return x.unflatten(1, (g, x.shape[1] // g)).transpose(1, 2).flatten(1, 2)

    def permutation(self, channels: int) -> torch.Tensor:
        """perm with ``out[:, i] == in[:, perm[i]]``."""
        return torch.arange(channels).view(self.groups, channels // self.groups).t().reshape(-1)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


def _conv(part: Layer, padding, padding_mode: str) -> nn.Conv2d:
    return nn.Conv2d(part.in_channels, part.out_channels, tuple(part.kernel), stride=tuple(part.stride),
                     padding=padding, dilation=tuple(part.dilation), groups=part.groups, bias=part.bias,
                     padding_mode=padding_mode)


def _spatial_padding(part: Layer, template: nn.Conv2d | None):
    """The replaced conv's own padding for a spatial stage (a string or mode kept), else the Layer's."""
    if template is not None and tuple(part.kernel) != (1, 1):
        return template.padding, template.padding_mode
    return tuple(part.padding), "zeros"


class DesignConv(nn.Module):
    """The module sequence of a design ``choice`` on ``layer`` (``stages``: Conv2d and ChannelShuffle).

    ``template``: the nn.Conv2d it replaces (its padding and padding mode are kept; nothing is
    copied from its weights: see ``distill_design``). Fresh stages have torch's default init.
    """

    def __init__(self, choice: Choice, layer: Layer, template: nn.Conv2d | None = None):
        super().__init__()
        choice.validate(layer)
        parts = [p.layer for p in choice.parts(layer)]
        kernels = [k.kind for k in choice.kernels(layer)]
        if sum(k != "SHUFFLE" for k in kernels) != len(parts):
            raise ValueError(f"layer {layer.name!r}: design {choice.label!r} has {len(parts)} layers but "
                             f"kernels {kernels}")
        stages, it = [], iter(parts)
        for k in kernels:
            if k == "SHUFFLE":
                stages.append(ChannelShuffle(stages[-1].groups))
            else:
                part = next(it)
                stages.append(_conv(part, *_spatial_padding(part, template)))
        self.stages = nn.Sequential(*stages)
        self.choice = choice
        self.layer = layer
        self.fit_error: float | None = None       # relative output error of the distilled fit, if any
        setattr(self, PLANNED_LAYER, layer)       # plans still resolve on a model that holds it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    @property
    def convs(self) -> list[nn.Conv2d]:
        return [m for m in self.stages if isinstance(m, nn.Conv2d)]

    @property
    def label(self) -> str:
        return self.choice.label

    def extra_repr(self) -> str:
        return f"design={self.choice.label}, layer={self.layer.name!r}"
