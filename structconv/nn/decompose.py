"""Decomposition: a structured layer becomes SumPool + small conv with the same outputs.

conv(X, A alpha; stride s, padding p, dilation d)
    == conv(SumPool3d(X; window (Cg-c+1, kh-nh+1, kw-nw+1), padding p, dilation d),
            alpha; stride s, padding 0, dilation d)           (seed supplementary A.1)

alpha = A^+ W, which equals A^+ (A A^+ W): a W that is not exactly structured is
projected first, and the relative projection residual is reported per layer.
A linear layer (C -> M) becomes a 1-D sum-pool of width C-c+1 then a c -> M linear.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..core import Structure
from ..core.checks import pair_field
from . import _kron
from .structured import coerce_plan, plan_entries
from .sumpool import SumPool1d, SumPool3d
from .trace import conv_padding, layer_from_module


class DecomposedConv2d(nn.Sequential):
    """``sumpool`` (SumPool3d) followed by ``conv`` (the small c x nh x nw convolution)."""

    def __init__(self, sumpool: SumPool3d, conv: nn.Conv2d):
        super().__init__(OrderedDict(sumpool=sumpool, conv=conv))


class DecomposedLinear(nn.Sequential):
    """``sumpool`` (SumPool1d over features) followed by ``linear`` (c -> M)."""

    def __init__(self, sumpool: SumPool1d, linear: nn.Linear):
        super().__init__(OrderedDict(sumpool=sumpool, linear=linear))


def _checked_weight(module: nn.Module, name: str) -> torch.Tensor:
    w = module.weight.detach()
    if not torch.isfinite(w).all():
        raise ValueError(f"layer {name!r}: weight contains NaN or inf values")
    if module.bias is not None and not torch.isfinite(module.bias).all():
        raise ValueError(f"layer {name!r}: bias contains NaN or inf values")
    return w


def projection_residual(module: nn.Module, c: int, n=1) -> float:
    """||(I - A A^+) W||_F / ||W||_F of a Conv2d/Linear's weight (0 for exactly structured)."""
    w = _checked_weight(module, type(module).__name__)
    w4 = w if w.dim() == 4 else w[:, :, None, None]
    nh, nw = pair_field("n", n, 1)
    with torch.no_grad():
        return float(_kron.structural_residual(w4.double(), c, nh, nw))


def decompose_conv(conv: nn.Conv2d, c: int, n=1, method: str = "auto", name: str = "conv") -> DecomposedConv2d:
    """SumPool3d + small Conv2d computing ``conv`` with its weight projected onto structure (c, n).

    Exact (up to rounding) when ``conv.weight`` is (c, n)-structured. Works for any
    stride, padding (int, pair, 'same', 'valid', non-zero padding modes), dilation,
    groups (c counts channels per group; depthwise means c = 1) and rectangular kernels.
    """
    if not isinstance(conv, nn.Conv2d) or isinstance(conv, nn.ConvTranspose2d):
        raise ValueError(f"decompose_conv needs an nn.Conv2d, got {type(conv).__name__}")
    Structure(c, n).validate(layer_from_module(name, conv))
    W = _checked_weight(conv, name)
    Cout, Cg, kh, kw = W.shape
    nh, nw = pair_field("n", n, 1)
    g = conv.groups
    with torch.no_grad():
        alpha = _kron.alphas(W, c, nh, nw)
    l, r, t, b = conv_padding(conv)
    sp = SumPool3d(conv.in_channels, (Cg - c + 1, kh - nh + 1, kw - nw + 1), groups=g, padding=(t, b, l, r),
                   dilation=tuple(conv.dilation), method=method, padding_mode=conv.padding_mode)
    small = nn.Conv2d(g * c, Cout, (nh, nw), stride=tuple(conv.stride), padding=0,
                      dilation=tuple(conv.dilation), groups=g, bias=conv.bias is not None,
                      device=W.device, dtype=W.dtype)
    with torch.no_grad():
        small.weight.copy_(alpha)
        if conv.bias is not None:
            small.bias.copy_(conv.bias.detach())
    small.train(conv.training)
    out = DecomposedConv2d(sp, small)
    out.train(conv.training)
    return out


def decompose_linear(linear: nn.Linear, c: int, method: str = "auto", name: str = "linear") -> DecomposedLinear:
    """SumPool1d (width C-c+1) + Linear(c, M) computing ``linear`` with its weight projected."""
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"decompose_linear needs an nn.Linear, got {type(linear).__name__}")
    Structure(c, 1).validate(layer_from_module(name, linear))
    W = _checked_weight(linear, name)
    M, C = W.shape
    with torch.no_grad():
        alpha = _kron.alphas(W[:, :, None, None], c, 1, 1)[:, :, 0, 0]
    small = nn.Linear(c, M, bias=linear.bias is not None, device=W.device, dtype=W.dtype)
    with torch.no_grad():
        small.weight.copy_(alpha)
        if linear.bias is not None:
            small.bias.copy_(linear.bias.detach())
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


# -- whole models ------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerDecomposition:
    """What ``decompose`` did with one planned layer."""

    name: str
    choice: str
    status: str                 # 'decomposed' | 'identity' | 'skipped'
    residual: float | None      # ||(I - A A^+) W|| / ||W|| before projection (None when skipped)
    params_before: int
    params_after: int
    note: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "choice": self.choice, "status": self.status, "residual": self.residual,
                "params_before": self.params_before, "params_after": self.params_after, "note": self.note}


@dataclass(frozen=True)
class DecompositionReport:
    """Per-layer outcome of ``decompose``; ``to_dict()`` for JSON, ``to_markdown()`` for people."""

    plan: str
    layers: tuple[LayerDecomposition, ...] = field(default_factory=tuple)

    @property
    def decomposed(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers if l.status == "decomposed")

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers if l.status == "skipped")

    @property
    def max_residual(self) -> float:
        return max((l.residual for l in self.layers if l.residual is not None), default=0.0)

    def __getitem__(self, name: str) -> LayerDecomposition:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(f"no layer {name!r} in the decomposition report")

    def to_dict(self) -> dict:
        return {"plan": self.plan, "decomposed": len(self.decomposed), "skipped": len(self.skipped),
                "max_residual": self.max_residual, "layers": [l.to_dict() for l in self.layers]}

    def to_markdown(self) -> str:
        rows = ["| layer | choice | status | residual | params | note |", "|---|---|---|---|---|---|"]
        for l in self.layers:
            res = "" if l.residual is None else f"{l.residual:.3g}"
            rows.append(f"| {l.name} | {l.choice} | {l.status} | {res} | {l.params_before} -> "
                        f"{l.params_after} | {l.note} |")
        return "\n".join(rows)


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, (nn.Sequential, nn.ModuleList)) and attr.isdigit():
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)


def _nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def decompose(model: nn.Module, plan, method: str = "auto", inplace: bool = False,
              strict: bool = False) -> tuple[nn.Module, DecompositionReport]:
    """Replace each structured layer of ``plan`` by SumPool + small conv/linear.

    Returns (new_model, report). The model is deep-copied unless ``inplace``.
    Sparse-kernel design choices cannot be derived from trained weights: they are
    skipped with a note (or raise ValueError when ``strict``). Identity structures
    (window 1x1x1) are left as they are. A plan naming a missing layer, a choice
    that does not fit, or NaN/inf weights raise ValueError before anything changes.
    """
    plan = coerce_plan(plan)
    entries = plan_entries(model, plan)          # validates names and fits
    for e in entries:
        if e.is_structure:
            _checked_weight(e.module, e.name)
        elif strict:
            raise ValueError(f"layer {e.name!r}: choice {e.choice.label!r} is a sparse-kernel design, "
                             "which cannot be decomposed from trained weights")
    if not inplace:
        model = copy.deepcopy(model)
    rows = []
    for e in entries:
        mod = model.get_submodule(e.name)
        before = _nparams(mod)
        if not e.is_structure:
            rows.append(LayerDecomposition(e.name, e.choice.label, "skipped", None, before, before,
                                           f"{e.choice.kind} design: changes the architecture, not "
                                           "derivable from weights; train it as its own model"))
            continue
        res = projection_residual(mod, e.choice.c, e.choice.n)
        if e.choice.is_identity(e.layer):
            rows.append(LayerDecomposition(e.name, e.choice.label, "identity", res, before, before,
                                           "window 1x1x1: the layer is its own decomposition"))
            continue
        new = decompose_module(mod, e.choice.c, e.choice.n, method, e.name)
        if e.name:
            _set_submodule(model, e.name, new)
        else:
            model = new
        rows.append(LayerDecomposition(e.name, e.choice.label, "decomposed", res, before, _nparams(new)))
    return model, DecompositionReport(plan.name, tuple(rows))


# -- saving and loading decomposed models ----------------------------------------------
def save_decomposed(model: nn.Module, path, model_name: str, plan, method: str = "auto",
                    meta: dict | None = None) -> Path:
    """Save a decomposed zoo model atomically as a ``weights_only``-loadable dict."""
    plan = coerce_plan(plan)
    blob = {"format": "structconv.decomposed/1", "model": model_name, "plan": plan.to_dict(),
            "method": method, "state_dict": model.state_dict(), "meta": dict(meta or {})}
    from .checkpoint import save_atomic

    return save_atomic(blob, path)


def load_decomposed(path, build=None) -> nn.Module:
    """Rebuild a model saved by ``save_decomposed``: build the zoo model (or ``build(name)``),
    decompose it with the saved plan (architecture only), then load the weights."""
    from .checkpoint import torch_load

    blob = torch_load(path, "decomposed model")
    if not isinstance(blob, dict) or blob.get("format") != "structconv.decomposed/1":
        raise ValueError(f"{str(path)!r} is not a decomposed model saved by structconv")
    if build is None:
        from .zoo import build_module as build
    model = build(blob["model"])
    model, _ = decompose(model, blob["plan"], method=blob.get("method", "auto"), inplace=True)
    model.load_state_dict(blob["state_dict"])
    return model
