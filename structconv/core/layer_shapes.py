"""Layers of what a traced torch op or an ONNX node computes, under one set of counting conventions.

nn's tracer and the ONNX importer build their layers here, so a torch model exported to ONNX
counts the same: padding folded into the layer (asymmetric pads enlarge the input), a Linear
counted at every position of every leading dimension but the image batch (windows, patches and heads
folded into the first dimension count), a transposed conv as a stride-1 conv over its input map
(fvcore), a product of two activations as one GEMM per head and window of one image.
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


def per_image(count: int, batch: int) -> int:
    """``count`` positions of a tensor whose leading dimensions hold the ``batch`` images: those of one image
    (all of them when the batch does not divide them, so nothing is ever counted low)."""
    return count // batch if batch > 1 and count % batch == 0 else count


def linear_layer(name, in_features, out_features, shape, bias, batch: int = 1) -> Layer:
    """A Linear on ``shape`` (..., in_features) of a model run on ``batch`` images: every position of every
    leading dimension counted but the image batch (a 1x1 conv on a 1 x positions map; the (H, W) map when
    the input is (N, H, W, C), so a plan's layer geometry stays what it was)."""
    dims = [int(s) for s in shape[:-1]]
    positions = per_image(math.prod(dims), batch)
    if positions <= 1:
        return Layer.linear(name, in_features, out_features, bias=bias)
    last = dims[-1] if dims else 1
    size = (positions // last, last) if positions % last == 0 else (1, positions)
    return Layer.conv2d(name, in_features, out_features, (1, 1), size, bias=bias)


def matmul_layer(name, a_shape, b_shape, batch: int = 1) -> Layer:
    """The product of activations ``a_shape`` (..., M, K) and ``b_shape`` (..., K, N) (batch dimensions
    broadcast, 1-D operands as torch.matmul promotes them) in a model run on ``batch`` images: one (M, K) x
    (K, N) GEMM per head and window of one image."""
    a = [int(s) for s in a_shape] if len(a_shape) > 1 else [1, int(a_shape[0])]
    b = [int(s) for s in b_shape] if len(b_shape) > 1 else [int(b_shape[0]), 1]
    if a[-1] != b[-2]:
        raise ValueError(f"layer {name!r}: a matmul of shapes {tuple(a_shape)} and {tuple(b_shape)} "
                         "does not fit")
    lead = _broadcast(a[:-2], b[:-2], name)
    groups, m = math.prod(lead), a[-2]
    if batch > 1 and groups % batch:                    # the image batch folded into the rows
        m = per_image(m, batch)
    return Layer.matmul(name, per_image(groups, batch), m, a[-1], b[-1])


def _broadcast(a: list, b: list, name) -> list:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x, y = (a[-i] if i <= len(a) else 1), (b[-i] if i <= len(b) else 1)
        if x != y and 1 not in (x, y):
            raise ValueError(f"layer {name!r}: matmul batch dimensions {a} and {b} do not broadcast")
        out.append(max(x, y))
    return out
