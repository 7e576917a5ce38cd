"""A convolution node's attributes checked against its weight and input before they are counted.

ONNX shape inference checks the lengths and signs of strides, dilations and pads, but not that
``kernel_shape`` is the weight's kernel, nor a ConvTranspose's input channels against its weight, nor
values no network has; a count made from such a node would be silently wrong. Each mismatch is one
line naming the node.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core import shown
from ._onnx_sizes import node_label

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
#: strides, dilations and pads beyond the largest input side structconv counts at (--input-shape)
MAX_SIDE = 1 << 16


@dataclass(frozen=True)
class ConvAttrs:
    """A 2-D Conv or ConvTranspose node's attributes, checked (``conv_attrs``)."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    group: int
    auto_pad: str
    pads: tuple[int, int, int, int]     # top, left, bottom, right (ONNX's begin..., end... order)


def conv_attrs(node, a: dict, x: tuple, w: tuple, transposed: bool = False) -> ConvAttrs:
    """The attributes ``a`` of the Conv (or ConvTranspose) ``node`` on input shape ``x`` with weight shape
    ``w`` (both 4-D); ValueError naming the node and the mismatch."""
    label = node_label(node)
    group = a.get("group", 1)
    if not isinstance(group, int) or group < 1:
        raise ValueError(f"{label}: group = {shown(group)} must be an integer >= 1")
    _check_channels(label, x, w, group, transposed)
    kernel = _ints(label, a, "kernel_shape", tuple(w[2:]), 2, 1)
    if kernel != tuple(w[2:]):
        raise ValueError(f"{label}: kernel_shape = {list(kernel)} does not match its weight's kernel "
                         f"{list(w[2:])} (weight shape {list(w)})")
    strides = _ints(label, a, "strides", (1, 1), 2, 1)
    dilations = _ints(label, a, "dilations", (1, 1), 2, 1)
    pads = _ints(label, a, "pads", (0, 0, 0, 0), 4, 0)
    auto_pad = a.get("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        raise ValueError(f"{label}: auto_pad = {shown(auto_pad)} is not one of {list(AUTO_PADS)}")
    return ConvAttrs(kernel, strides, dilations, group, auto_pad, pads)


def _check_channels(label: str, x: tuple, w: tuple, group: int, transposed: bool) -> None:
    """Conv weights are (out, in / group, kh, kw), ConvTranspose's (in, out / group, kh, kw)."""
    if transposed:
        if x[1] != w[0]:
            raise ValueError(f"{label}: input has {x[1]} channels, its weight {w} has {w[0]} input channels "
                             "(is the input shape right?)")
    elif x[1] != w[1] * group:
        raise ValueError(f"{label}: input has {x[1]} channels, its weight {w} with group {group} needs "
                         f"{w[1] * group} (is the input shape right?)")
    if w[0] % group:
        what = "input" if transposed else "output"
        raise ValueError(f"{label}: group = {group} does not divide its weight's {w[0]} {what} channels "
                         f"(weight shape {list(w)})")


def _ints(label: str, a: dict, name: str, default: tuple, n: int, lo: int) -> tuple:
    v = a.get(name, default)
    if not isinstance(v, (list, tuple)) or len(v) != n \
            or not all(isinstance(i, int) and lo <= i <= MAX_SIDE for i in v):
        raise ValueError(f"{label}: {name} = {shown(v)} must be {n} integers in [{lo}, {MAX_SIDE}]")
    return tuple(v)


def gemm_transposes(node, a: dict) -> tuple[bool, bool]:
    """(transA, transB) of a Gemm node, each 0 or 1."""
    flags = tuple(a.get(name, 0) for name in ("transA", "transB"))
    for name, v in zip(("transA", "transB"), flags):
        if v not in (0, 1) or isinstance(v, float):
            raise ValueError(f"{node_label(node)}: {name} = {shown(v)} must be 0 or 1")
    return bool(flags[0]), bool(flags[1])
