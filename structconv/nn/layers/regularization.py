"""Structural Regularization: sum over structured layers of ||(I - A A^+) W||_F / ||W||_F.

W is each layer's (C_out, C/groups, kh, kw) kernel (a linear layer's (M, C));
the projector A A^+ is applied one Kronecker factor at a time (``_kron``), never
as a dense matrix, so the term costs O(size of W) per layer, is differentiable
and runs on whatever device and dtype the weights have.

    reg = StructuralRegularizer(model, plan)      # resolve + validate once
    loss = task_loss + lam * reg()                # each step

``structural_regularization(model, plan)`` does both in one call.
"""
from __future__ import annotations

import torch
from torch import nn

from . import _kron
from .plans import plan_entries, unwrap
from .registry import weight_structure


def _weight4(module: nn.Module) -> torch.Tensor:
    w = module.weight
    return w[:, :, None, None] if w.dim() == 2 else w


def _term(entry) -> tuple[str, int, int, int]:
    """(layer name, c, nh, nw) of one regularized layer, its weight checked finite."""
    if not torch.isfinite(entry.module.weight).all():
        raise ValueError(f"layer {entry.name!r}: weight contains NaN or inf values")
    s = weight_structure(entry.choice, entry.layer)
    return entry.name, s.c, s.nh, s.nw


class StructuralRegularizer(nn.Module):
    """The SR term of a model under a plan, with layer look-up and validation done once.

    Only layers whose choice puts a structure on their own weight contribute
    (``registry.weight_structure``): dense layers, sparse-kernel designs and identity
    structures (window 1x1x1, residual always 0) do not. With ``check_finite`` (the
    default) a non-finite result raises ValueError naming the first layer whose
    weight holds NaN or inf (one host sync per call; pass False to skip it).
    """

    def __init__(self, model: nn.Module, plan, check_finite: bool = True):
        super().__init__()
        self.check_finite = bool(check_finite)
        model = unwrap(model)
        self.terms = tuple(_term(e) for e in plan_entries(model, plan) if weight_structure(e.choice, e.layer))
        # modules are looked up through the model each call, so a deepcopy / .to() of the
        # model is followed; keep the model out of this module's children (no double registration)
        self._model = [model]

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(t[0] for t in self.terms)

    def _model_or_own(self, model: nn.Module | None) -> nn.Module:
        return self._model[0] if model is None else unwrap(model)

    def per_layer(self, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """Each structured layer's residual ratio (0-d tensors, differentiable)."""
        model = self._model_or_own(model)
        return {name: _kron.structural_residual(_weight4(model.get_submodule(name)), c, nh, nw)
                for name, c, nh, nw in self.terms}

    def forward(self, model: nn.Module | None = None) -> torch.Tensor:
        model = self._model_or_own(model)
        total = None
        for r in self.per_layer(model).values():
            total = r if total is None else total + r
        if total is None:
            return _zero_like_params(model)
        if self.check_finite and not bool(torch.isfinite(total)):
            self._raise_nonfinite(model)
        return total

    def _raise_nonfinite(self, model: nn.Module) -> None:
        for name, *_ in self.terms:
            if not torch.isfinite(model.get_submodule(name).weight).all():
                raise ValueError(f"layer {name!r}: weight contains NaN or inf values")
        raise ValueError("structural regularization is not finite")


def _zero_like_params(model: nn.Module) -> torch.Tensor:
    """A 0-d zero with the dtype and device of the model's first (floating) parameter."""
    p = next(model.parameters(), None)
    return torch.zeros((), dtype=p.dtype if p is not None and p.is_floating_point() else torch.float32,
                       device=p.device if p is not None else None)


def structural_regularization(model: nn.Module, plan, check_finite: bool = True) -> torch.Tensor:
    """sum over the plan's structured layers of ||(I - A A^+) W||_F / ||W||_F (a 0-d tensor).

    Raises ValueError if the plan names a layer the model lacks, a choice does not
    fit its layer, or a weight holds NaN/inf. For repeated use (every training
    step) build a ``StructuralRegularizer`` once instead.
    """
    return StructuralRegularizer(model, plan, check_finite=check_finite)()


def structural_residuals(model: nn.Module, plan) -> dict[str, float]:
    """Per structured layer, the residual ratio as a float (for reports and logs)."""
    reg = StructuralRegularizer(model, plan)
    with torch.no_grad():
        return {k: float(v) for k, v in reg.per_layer().items()}
