"""Layers of what a traced torch op or an ONNX node computes, under one set of counting conventions.

nn's tracer and the ONNX importer build their layers here, so a torch model exported to ONNX
counts the same: padding folded into the layer (asymmetric pads enlarge the input), a Linear
counted at every position, a transposed conv as a stride-1 conv over its input map (fvcore).
"""
from __future__ import annotations

import math
from dataclasses import replace

from .layer import Layer


def tf_same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF/timm "same" padding of one axis: out = ceil(size / stride), the odd pixel at the end."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _axis(size: int, pads: tuple[int, int]) -> tuple[int, int]:
    """(input, padding) of one axis: symmetric pads stay padding; asymmetric ones enlarge the input."""
    a, b = pads
    return (size, a) if a == b else (size + a + b, 0)


def conv_layer(name, in_channels, out_channels, kernel, input_size, pads, **conv) -> Layer:
    """``Layer.conv2d`` with ``pads`` = ((top, bottom), (left, right)) of zero padding around ``input_size``
    instead of its symmetric ``padding``; ``conv``: its stride, dilation, groups and bias."""
    (h, ph), (w, pw) = _axis(input_size[0], pads[0]), _axis(input_size[1], pads[1])
    return Layer.conv2d(name, in_channels, out_channels, tuple(kernel), (h, w), padding=(ph, pw), **conv)


def transposed_layer(name, in_channels, out_channels, kernel, input_size, dilation, groups, bias) -> Layer:
    """A transposed conv counted as fvcore does: a stride-1 conv over the input map (see the module doc)."""
    pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
    conv = conv_layer(name, in_channels, out_channels, kernel, input_size, pads,
                      dilation=dilation, groups=groups, bias=bias)
    return replace(conv, op="conv_transpose2d")


def linear_layer(name, in_features, out_features, shape, bias) -> Layer:
    """A Linear on ``shape`` (N, ..., in_features): every position counted (a 1x1 conv on a map)."""
    mid = [int(s) for s in shape[1:-1]]
    if math.prod(mid) <= 1:
        return Layer.linear(name, in_features, out_features, bias=bias)
    size = (math.prod(mid[:-1]), mid[-1])
    return Layer.conv2d(name, in_features, out_features, (1, 1), size, bias=bias)
