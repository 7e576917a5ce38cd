"""Structured layers: weight = A alpha with alpha the trainable parameter.

Two ways to get one:

* ``StructuredWeight(c, n)``, a ``torch.nn.utils.parametrize`` parametrization:
  ``parametrize.register_parametrization(conv, "weight", StructuredWeight(c, n))``
  (or ``structure_(model, plan)`` for every structured layer of a plan) keeps the
  user's own module; ``conv.weight`` is then A alpha, recomputed when read, and
  alpha lives at ``conv.parametrizations.weight.original``. ``unstructure_(model)``
  bakes the weights back into plain ``weight`` tensors (plain state dict again).
* ``StructuredConv2d`` / ``StructuredLinear``: nn.Conv2d / nn.Linear subclasses
  built with that parametrization (``from_module`` converts an existing layer).

Both support groups/depthwise, stride, padding, dilation, bias and rectangular
kernels (``n`` an int or an (nh, nw) pair). ``structure_`` and ``plan_entries``, which
map a Plan onto a model's modules, are in ``plans``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from ...core import int_field, pair_field
from . import _kron


class StructuredWeight(nn.Module):
    """Parametrization alpha -> A alpha for a conv (C_out, C, kh, kw) or linear (M, C) weight.

    ``weight_shape`` is taken from the weight when the parametrization is
    registered (``right_inverse`` sees it), or can be given up front. On
    registration the existing weight is replaced by its least-squares alphas
    (A^+ W, i.e. the weight is projected onto the structure).
    """

    def __init__(self, c: int, n=1, weight_shape=None):
        super().__init__()
        self.c = int_field("c", c, 1)
        self.nh, self.nw = pair_field("n", n, 1)
        self.weight_shape = None if weight_shape is None else self._check_shape(tuple(weight_shape))

    def _check_shape(self, shape):
        if len(shape) not in (2, 4):
            raise ValueError(f"weight must be 2-D (linear) or 4-D (conv), got shape {shape}")
        C = shape[1]
        kh, kw = (shape[2], shape[3]) if len(shape) == 4 else (1, 1)
        int_field("c", self.c, 1, C, "StructuredWeight")
        int_field("n", self.nh, 1, kh, "StructuredWeight")
        int_field("n", self.nw, 1, kw, "StructuredWeight")
        return tuple(int(s) for s in shape)

    @property
    def alpha_shape(self) -> tuple[int, ...]:
        s = self.weight_shape
        return (s[0], self.c) if len(s) == 2 else (s[0], self.c, self.nh, self.nw)

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:
        s = self.weight_shape
        if s is None:
            raise RuntimeError("StructuredWeight has no weight_shape: register it on a module first")
        if len(s) == 2:
            return _kron.compose(alpha[:, :, None, None], s[1], 1, 1)[:, :, 0, 0]
        return _kron.compose(alpha, s[1], s[2], s[3])

    @torch.no_grad()
    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        shape = self._check_shape(tuple(weight.shape))
        if self.weight_shape is None:
            self.weight_shape = shape
        elif shape != self.weight_shape:
            raise ValueError(f"weight shape {shape} does not match this parametrization's "
                             f"{self.weight_shape}")
        if not torch.isfinite(weight).all():
            raise ValueError("weight contains NaN or inf values")
        W = weight if weight.dim() == 4 else weight[:, :, None, None]
        a = _kron.alphas(W, self.c, self.nh, self.nw)
        return a if weight.dim() == 4 else a[:, :, 0, 0]

    def extra_repr(self) -> str:
        n = self.nh if self.nh == self.nw else (self.nh, self.nw)
        return f"c={self.c}, n={n}, weight_shape={self.weight_shape}"


def structure_module(module: nn.Module, c: int, n=1) -> nn.Module:
    """Register ``StructuredWeight(c, n)`` on ``module.weight`` in place (a Conv2d or Linear)."""
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise ValueError(f"can only structure nn.Conv2d or nn.Linear, got {type(module).__name__}")
    if parametrize.is_parametrized(module, "weight"):
        raise ValueError(f"{type(module).__name__}.weight is already parametrized")
    if isinstance(module, nn.Linear):
        n = 1
    parametrize.register_parametrization(module, "weight", StructuredWeight(c, n))
    return module


def structured_alpha(module: nn.Module) -> torch.Tensor:
    """The trainable alpha of a module structured by ``StructuredWeight``."""
    if not is_structured(module):
        raise ValueError(f"{type(module).__name__}.weight is not parametrized by StructuredWeight")
    return module.parametrizations.weight.original


class StructuredConv2d(nn.Conv2d):
    """An nn.Conv2d whose weight is A alpha for structure (c, n); alpha is ``self.alpha``.

    nn.Conv2d's constructor plus ``c`` and ``n`` (its other arguments by keyword: stride, padding,
    dilation, groups, bias, padding_mode, device, dtype). Everything that reads
    ``.weight`` (SR loss, decompose, counting) sees the full structured kernel.
    """

    def __init__(self, in_channels, out_channels, kernel_size, c: int, n=1, **conv):
        super().__init__(in_channels, out_channels, kernel_size, **conv)
        parametrize.register_parametrization(self, "weight", StructuredWeight(c, n))

    @property
    def alpha(self) -> torch.Tensor:
        return self.parametrizations.weight.original

    @classmethod
    def from_module(cls, conv: nn.Conv2d, c: int, n=1) -> StructuredConv2d:
        """A StructuredConv2d with alpha = A^+ conv.weight (bias copied)."""
        w = conv.weight.detach()
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, c, n, stride=conv.stride,
                  padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                  bias=conv.bias is not None, padding_mode=conv.padding_mode, device=w.device, dtype=w.dtype)
        with torch.no_grad():
            new.weight = w                         # goes through right_inverse: alpha = A^+ W
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        return new


class StructuredLinear(nn.Linear):
    """An nn.Linear whose (M, C) weight is A alpha with c structured inputs."""

    def __init__(self, in_features, out_features, c: int, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        parametrize.register_parametrization(self, "weight", StructuredWeight(c, 1))

    @property
    def alpha(self) -> torch.Tensor:
        return self.parametrizations.weight.original

    @classmethod
    def from_module(cls, linear: nn.Linear, c: int) -> StructuredLinear:
        w = linear.weight.detach()
        new = cls(linear.in_features, linear.out_features, c, bias=linear.bias is not None,
                  device=w.device, dtype=w.dtype)
        with torch.no_grad():
            new.weight = w
            if linear.bias is not None:
                new.bias.copy_(linear.bias)
        return new


def is_structured(module: nn.Module) -> bool:
    """Whether ``module.weight`` is parametrized by a ``StructuredWeight``."""
    return parametrize.is_parametrized(module, "weight") and any(
        isinstance(p, StructuredWeight) for p in module.parametrizations.weight)
