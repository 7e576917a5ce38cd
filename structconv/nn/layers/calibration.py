"""Calibration for layer-wise distillation: the second moments of a conv's input patches on
calibration data (``Moments``), a reference model that provides them per layer
(``Calibration``), and the scope the design forms read their settings from (``design_scope``):
the registry's callables take (module, choice, layer) only, so ``structure_``, ``train`` and
``decompose`` say 'fit on these inputs' or 'start fresh' by opening a scope around them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..trace import conv_padding


# -- calibration moments -------------------------------------------------------------------------
def patches(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """(N*L, C*kh*kw) input patches the conv multiplies by its weight (its padding applied)."""
    l, r, t, b = conv_padding(conv)
    if conv.padding_mode != "zeros" or (l, t) != (r, b):
        x = F.pad(x, (l, r, t, b), mode="constant" if conv.padding_mode == "zeros" else conv.padding_mode)
        pad = 0
    else:
        pad = (t, l)
    cols = F.unfold(x, tuple(conv.kernel_size), dilation=tuple(conv.dilation), padding=pad,
                    stride=tuple(conv.stride))
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


class Moments:
    """Running second moments (Sigma) and mean (mu) of a conv's input patches, in float64."""

    def __init__(self):
        self.sxx = None
        self.sx = None
        self.n = 0

    def add(self, conv: nn.Conv2d, x: torch.Tensor) -> None:
        p = patches(conv, x.detach()).double()
        if self.sxx is None:
            self.sxx, self.sx = p.T @ p, p.sum(0)
        else:
            self.sxx += p.T @ p
            self.sx += p.sum(0)
        self.n += p.shape[0]

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.n:
            raise ValueError("no calibration inputs reached the layer")
        return (self.sxx / self.n).cpu(), (self.sx / self.n).cpu()


# -- calibration data and the scope the design forms read -------------------------------------------
INITS = ("distill", "scratch")


def calibration_inputs(data, n: int, seed: int = 0) -> torch.Tensor:
    """Up to ``n`` model inputs (N, C, H, W) from a tensor, a Dataset of (x, y) or a DataBundle (its
    training split), drawn without replacement by ``seed``."""
    data = getattr(data, "train", data)
    if isinstance(data, torch.Tensor):
        if data.dim() != 4:
            raise ValueError(f"calibration inputs must have shape (N, C, H, W), got {tuple(data.shape)}")
        x = data
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        return x[idx.sort().values]
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise ValueError("calibration must be a tensor, a Dataset or a DataBundle, "
                         f"got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("calibration: the dataset is empty")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return torch.stack([torch.as_tensor(data[int(i)][0]) for i in idx])


class Calibration:
    """Inputs to a fixed reference model; ``moments(name)`` gives the (Sigma, mu) of layer ``name``'s
    input patches on them (the reference model's own inputs: every layer is fitted on the dense
    network's activations, independently of the others)."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, batch_size: int = 64):
        self.model = model
        self.inputs = inputs
        self.batch_size = int(batch_size)
        self._cache: dict[str, tuple] = {}

    @torch.no_grad()
    def moments(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self._cache:
            conv = self.model.get_submodule(name)
            if not isinstance(conv, nn.Conv2d):
                raise ValueError(f"layer {name!r}: calibration needs an nn.Conv2d, got {type(conv).__name__}")
            acc = Moments()
            handle = conv.register_forward_pre_hook(lambda m, args: acc.add(m, args[0]))
            was_training = self.model.training
            self.model.eval()
            p = next(self.model.parameters())
            try:
                for i in range(0, len(self.inputs), self.batch_size):
                    self.model(self.inputs[i:i + self.batch_size].to(device=p.device, dtype=p.dtype))
            finally:
                handle.remove()
                self.model.train(was_training)
            self._cache[name] = acc.result()
        return self._cache[name]


@dataclass(frozen=True)
class DesignScope:
    """How the design forms build a module: fitted ('distill') or fresh ('scratch'), and on what."""

    init: str = "distill"
    calibration: Calibration | None = None


_SCOPE: list[DesignScope] = [DesignScope()]


class design_scope:
    """``with design_scope(init, calibration):`` the design forms called inside use these settings
    (``structure_``, ``train`` and ``decompose`` open one; the registry's callables take no options)."""

    def __init__(self, init: str = "distill", calibration: Calibration | None = None):
        if init not in INITS:
            raise ValueError(f"init = {init!r} is not one of {list(INITS)}")
        self.scope = DesignScope(init, calibration)

    def __enter__(self) -> DesignScope:
        _SCOPE.append(self.scope)
        return self.scope

    def __exit__(self, *exc) -> None:
        _SCOPE.pop()


def current_scope() -> DesignScope:
    return _SCOPE[-1]
