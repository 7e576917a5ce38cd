"""The padding of torch conv modules and calls, as the pads core's ``conv_layer`` takes (core/layer_shapes.py
holds the counting conventions the tracer shares with the ONNX importer).
"""
from __future__ import annotations

from torch import nn


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


def _same_pads(kernel, dilation) -> tuple[tuple[int, int], ...]:
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple((t // 2, t - t // 2) for t in total)          # torch's 'same': the odd one at the end


def padding_pairs(padding, kernel, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) of a conv's ``padding`` argument (int, pair, 'same', 'valid')."""
    if isinstance(padding, str):
        return _same_pads(kernel, dilation) if padding == "same" else ((0, 0), (0, 0))
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    return ((int(ph), int(ph)), (int(pw), int(pw)))
