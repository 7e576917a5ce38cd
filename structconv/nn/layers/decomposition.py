"""Decomposition of one layer: a structured layer becomes SumPool + small conv with the same outputs.

conv(X, A alpha; stride s, padding p, dilation d)
    == conv(SumPool3d(X; window (Cg-c+1, kh-nh+1, kw-nw+1), padding p, dilation d),
            alpha; stride s, padding 0, dilation d)           (seed supplementary A.1)

alpha = A^+ W, which equals A^+ (A A^+ W): a W that is not exactly structured is
projected first, and the relative projection residual is reported per layer.
A linear layer (C -> M) becomes a 1-D sum-pool of width C-c+1 then a c -> M linear.
Whole models under a plan: ``deploy.decompose``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ...core import Structure, pair_field
from ..trace import conv_padding, layer_from_module
from . import _kron
from .sumpool import SumPool1d, SumPool3d


class DecomposedConv2d(nn.Sequential):
    """``sumpool`` (SumPool3d) followed by ``conv`` (the small c x nh x nw convolution)."""

    def __init__(self, sumpool: SumPool3d, conv: nn.Conv2d):
        super().__init__(OrderedDict(sumpool=sumpool, conv=conv))


class DecomposedLinear(nn.Sequential):
    """``sumpool`` (SumPool1d over features) followed by ``linear`` (c -> M)."""

    def __init__(self, sumpool: SumPool1d, linear: nn.Linear):
        super().__init__(OrderedDict(sumpool=sumpool, linear=linear))


def checked_weight(module: nn.Module, name: str) -> torch.Tensor:
    w = module.weight.detach()
    if not torch.isfinite(w).all():
        raise ValueError(f"layer {name!r}: weight contains NaN or inf values")
    if module.bias is not None and not torch.isfinite(module.bias).all():
        raise ValueError(f"layer {name!r}: bias contains NaN or inf values")
    return w


def projection_residual(module: nn.Module, c: int, n=1) -> float:
    """||(I - A A^+) W||_F / ||W||_F of a Conv2d/Linear's weight (0 for exactly structured)."""
    w = checked_weight(module, type(module).__name__)
    w4 = w if w.dim() == 4 else w[:, :, None, None]
    nh, nw = pair_field("n", n, 1)
    with torch.no_grad():
        return float(_kron.structural_residual(w4.double(), c, nh, nw))


def decompose_conv(conv: nn.Conv2d, c: int, n=1, method: str = "auto",
                   name: str = "conv") -> DecomposedConv2d:
    """SumPool3d + small Conv2d computing ``conv`` with its weight projected onto structure (c, n).

    Exact (up to rounding) when ``conv.weight`` is (c, n)-structured. Works for any
    stride, padding (int, pair, 'same', 'valid', non-zero padding modes), dilation,
    groups (c counts channels per group; depthwise means c = 1) and rectangular kernels.
    """
    if not isinstance(conv, nn.Conv2d) or isinstance(conv, nn.ConvTranspose2d):
        raise ValueError(f"decompose_conv needs an nn.Conv2d, got {type(conv).__name__}")
    Structure(c, n).validate(layer_from_module(name, conv))
    W = checked_weight(conv, name)
    Cout, Cg, kh, kw = W.shape
    nh, nw = pair_field("n", n, 1)
    l, r, t, b = conv_padding(conv)
    sp = SumPool3d(conv.in_channels, (Cg - c + 1, kh - nh + 1, kw - nw + 1), groups=conv.groups,
                   padding=(t, b, l, r), dilation=tuple(conv.dilation), method=method,
                   padding_mode=conv.padding_mode)
    small = nn.Conv2d(conv.groups * c, Cout, (nh, nw), stride=tuple(conv.stride), padding=0,
                      dilation=tuple(conv.dilation), groups=conv.groups, bias=conv.bias is not None,
                      device=W.device, dtype=W.dtype)
    with torch.no_grad():
        _copy_params(small, _kron.alphas(W, c, nh, nw), conv.bias)
    small.train(conv.training)
    out = DecomposedConv2d(sp, small)
    out.train(conv.training)
    return out


def _copy_params(small: nn.Module, alpha: torch.Tensor, bias) -> None:
    small.weight.copy_(alpha)
    if bias is not None:
        small.bias.copy_(bias.detach())


def decompose_linear(linear: nn.Linear, c: int, method: str = "auto",
                     name: str = "linear") -> DecomposedLinear:
    """SumPool1d (width C-c+1) + Linear(c, M) computing ``linear`` with its weight projected."""
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"decompose_linear needs an nn.Linear, got {type(linear).__name__}")
    Structure(c, 1).validate(layer_from_module(name, linear))
    W = checked_weight(linear, name)
    M, C = W.shape
    small = nn.Linear(c, M, bias=linear.bias is not None, device=W.device, dtype=W.dtype)
    with torch.no_grad():
        _copy_params(small, _kron.alphas(W[:, :, None, None], c, 1, 1)[:, :, 0, 0], linear.bias)
    out = DecomposedLinear(SumPool1d(C, C - c + 1, method=method), small)
    out.train(linear.training)
    return out


def decompose_module(module: nn.Module, c: int, n=1, method: str = "auto", name: str = "layer") -> nn.Module:
    """``decompose_conv`` or ``decompose_linear`` by the module's type."""
    if isinstance(module, nn.Linear):
        if pair_field("n", n, 1) != (1, 1):
            raise ValueError(f"n = {n} is out of range [1, 1] (in layer {name!r}, a linear layer)")
        return decompose_linear(module, c, method, name)
    return decompose_conv(module, c, n, method, name)
