"""Padding a conv module applies inside its own ``forward`` (timm ``Conv2dSame``, TF "same", ``F.pad``
before ``F.conv2d``), kept when the module is replaced (``decompose``): ``with_forward_padding``.

A plain ``nn.Conv2d`` pads through its ``padding`` argument, which its replacements already honour;
a subclass that overrides ``forward`` may pad the input itself. Such a module is probed on small
zero inputs of three sizes: the pads it applies are either the TF-"same" pads of each size
(recomputed per input by ``ForwardPadded``) or the same fixed pads every time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..core import tf_same_pads


class ForwardPadded(nn.Module):
    """``F.pad`` (TF "same" for each input size, or fixed pads) then ``inner``."""

    def __init__(self, inner: nn.Module, same: bool, pads=(0, 0, 0, 0), kernel=(1, 1), stride=(1, 1),
                 dilation=(1, 1), mode: str = "constant", value: float = 0.0):
        super().__init__()
        self.inner = inner
        self.same, self.pads, self.mode, self.value = same, tuple(pads), mode, value
        self.kernel, self.stride, self.dilation = tuple(kernel), tuple(stride), tuple(dilation)

    def pads_for(self, h: int, w: int) -> tuple[int, int, int, int]:
        if not self.same:
            return self.pads
        t, b = tf_same_pads(h, self.kernel[0], self.stride[0], self.dilation[0])
        l, r = tf_same_pads(w, self.kernel[1], self.stride[1], self.dilation[1])
        return (l, r, t, b)

    def forward(self, x):
        pads = self.pads_for(int(x.shape[-2]), int(x.shape[-1]))
        if self.mode == "constant":
            return self.inner(F.pad(x, pads, value=self.value))
        return self.inner(F.pad(x, pads, mode=self.mode))

    def extra_repr(self) -> str:
        return "TF same" if self.same else f"pads={self.pads}, mode={self.mode!r}"


class _PadWatch(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.pads: list = []
        self.conv_input = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", None)
        if name == "pad":
            self.pads.append((tuple(int(v) for v in (args[1] if len(args) > 1 else kwargs["pad"])),
                              args[2] if len(args) > 2 else kwargs.get("mode", "constant"),
                              args[3] if len(args) > 3 else kwargs.get("value", None)))
        elif name == "conv2d" and self.conv_input is None:
            self.conv_input = tuple(args[0].shape)
        return func(*args, **kwargs)


def _probe(conv: nn.Conv2d, h: int, w: int):
    weight = conv.weight
    x = torch.zeros(1, conv.in_channels, h, w, dtype=weight.dtype, device=weight.device)
    watch = _PadWatch()
    was_training = conv.training
    try:
        conv.eval()
        with torch.no_grad(), watch:
            conv(x)
    finally:
        conv.train(was_training)
    return watch


def _summed(pads: list) -> tuple[tuple[int, int, int, int], str, float]:
    l = r = t = b = 0
    mode, value = "constant", 0.0
    for p, m, v in pads:
        l, r = l + p[0], r + p[1]
        if len(p) >= 4:
            t, b = t + p[2], b + p[3]
        mode, value = m or "constant", float(v or 0.0)
    return (l, r, t, b), mode, value


def forward_padding(conv: nn.Conv2d, name: str = "conv") -> dict | None:
    """How ``conv`` pads its input in ``forward`` (ForwardPadded's arguments), None when it does not."""
    if not isinstance(conv, nn.Conv2d) or type(conv).forward is nn.Conv2d.forward:
        return None
    k, s, d = tuple(conv.kernel_size), tuple(conv.stride), tuple(conv.dilation)
    base = max(dd * (kk - 1) + 1 for kk, dd in zip(k, d)) + 2 * max(s)
    seen = []
    for extra in (0, 1, 2):
        h, w = base + extra, base + 2 * extra + 1
        watch = _probe(conv, h, w)
        pads, mode, value = _summed(watch.pads)
        if (watch.conv_input is not None
                and tuple(watch.conv_input[-2:]) != (h + pads[2] + pads[3], w + pads[0] + pads[1])):
            raise ValueError(f"layer {name!r}: {type(conv).__name__} changes its input's size in forward "
                             "other than by F.pad; its replacement cannot reproduce that")
        seen.append((h, w, pads))
    if all(p == (0, 0, 0, 0) for _, _, p in seen):
        return None
    common = dict(kernel=k, stride=s, dilation=d, mode=mode, value=value)
    if all(p == (*tf_same_pads(w, k[1], s[1], d[1]), *tf_same_pads(h, k[0], s[0], d[0])) for h, w, p in seen):
        return dict(same=True, **common)
    if len({p for _, _, p in seen}) == 1:
        return dict(same=False, pads=seen[0][2], **common)
    raise ValueError(f"layer {name!r}: {type(conv).__name__} pads its input in forward by amounts "
                     "that depend on the input size in a way that is not TF 'same'; "
                     "its replacement cannot reproduce that")


def with_forward_padding(original: nn.Module, new: nn.Module, name: str = "conv") -> nn.Module:
    """``new`` (the replacement of ``original``) behind the padding ``original`` applied in its forward,
    or ``new`` itself when ``original`` pads only through its ``padding`` argument."""
    spec = forward_padding(original, name) if new is not original else None
    return new if spec is None else ForwardPadded(new, **spec)
