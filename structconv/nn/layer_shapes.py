"""Core Layers of what a torch module or an ONNX node computes, under one set of counting conventions
(see nn/trace.py): padding folded into the layer, a Linear counted at every position, a transposed conv
as a stride-1 conv over its input map.
"""
from __future__ import annotations

import math
from dataclasses import replace

from torch import nn

from ..core import Layer


def conv_padding(module: nn.Conv2d) -> tuple[int, int, int, int]:
    """The zero padding a Conv2d applies, as F.pad's (left, right, top, bottom).

    Handles ``padding='same'`` (asymmetric for even kernels) and ``'valid'``.
    """
    if isinstance(module.padding, str):
        rp = module._reversed_padding_repeated_twice            # set by torch for 'same'/'valid'
        return tuple(int(v) for v in rp)
    ph, pw = module.padding
    return (pw, pw, ph, ph)


def _min_input(kernel, dilation) -> tuple[int, int]:
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def _axis(size: int, pads: tuple[int, int]) -> tuple[int, int]:
    """(input, padding) of one axis: symmetric pads stay padding; asymmetric ones enlarge the input."""
    a, b = pads
    return (size, a) if a == b else (size + a + b, 0)


def conv_layer(name, in_channels, out_channels, kernel, input_size, stride, pads, dilation, groups, bias) -> Layer:
    """A conv2d Layer; ``pads`` = ((top, bottom), (left, right)) of zero padding around ``input_size``."""
    (h, ph), (w, pw) = _axis(input_size[0], pads[0]), _axis(input_size[1], pads[1])
    return Layer.conv2d(name, in_channels, out_channels, tuple(kernel), (h, w), stride=tuple(stride),
                        padding=(ph, pw), dilation=tuple(dilation), groups=groups, bias=bias)


def transposed_layer(name, in_channels, out_channels, kernel, input_size, dilation, groups, bias) -> Layer:
    """A transposed conv counted as fvcore does: a stride-1 conv over the input map (see the module doc)."""
    pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
    conv = conv_layer(name, in_channels, out_channels, kernel, input_size, (1, 1), pads, dilation, groups, bias)
    return replace(conv, op="conv_transpose2d")


def linear_layer(name, in_features, out_features, shape, bias) -> Layer:
    """A Linear on ``shape`` (N, ..., in_features): every position counted (a 1x1 conv on a map)."""
    mid = [int(s) for s in shape[1:-1]]
    if math.prod(mid) <= 1:
        return Layer.linear(name, in_features, out_features, bias=bias)
    size = (math.prod(mid[:-1]), mid[-1])
    return Layer.conv2d(name, in_features, out_features, (1, 1), size, bias=bias)


def _same_pads(kernel, dilation) -> tuple[tuple[int, int], ...]:
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple((t // 2, t - t // 2) for t in total)          # torch's 'same': the odd one at the end


def padding_pairs(padding, kernel, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) of a conv's ``padding`` argument (int, pair, 'same', 'valid')."""
    if isinstance(padding, str):
        return _same_pads(kernel, dilation) if padding == "same" else ((0, 0), (0, 0))
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    return ((int(ph), int(ph)), (int(pw), int(pw)))
