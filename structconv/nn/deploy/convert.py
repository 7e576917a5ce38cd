"""Whole models under a plan: each planned layer becomes its kind's deployable module.

For a structure that is SumPool + small conv/linear (``decomposition``); the kinds' torch
forms come from the registry, so nothing here knows one kind from another.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from ..layers import (
    Calibration,
    PlanEntry,
    calibration_inputs,
    checked_weight,
    design_scope,
    plan_entries,
    resolve_module_plan,
    set_submodule,
)
from ..padding import with_forward_padding


@dataclass(frozen=True)
class LayerDecomposition:
    """What ``decompose`` did with one planned layer."""

    name: str
    choice: str
    status: str                 # 'decomposed' | 'identity' | 'skipped' | 'dense' (kept dense: deployed.py)
    residual: float | None      # ||(I - A A^+) W|| / ||W|| before projection (None when skipped)
    params_before: int
    params_after: int
    note: str = ""
    fit_error: float | None = None  # a fitted module (a design): relative output error of its fit

    def to_dict(self) -> dict:
        return {"name": self.name, "choice": self.choice, "status": self.status, "residual": self.residual,
                "params_before": self.params_before, "params_after": self.params_after, "note": self.note,
                "fit_error": self.fit_error}


@dataclass(frozen=True)
class DecompositionReport:
    """Per-layer outcome of ``decompose``; ``to_dict()`` for JSON, ``to_markdown()`` for people."""

    plan: str
    layers: tuple[LayerDecomposition, ...] = field(default_factory=tuple)
    target: str = ""                             # deployed for (deploy.py): backend, batch, layout, threads
    folded_bn: tuple[str, ...] = ()              # BatchNorms folded into the conv before them

    @property
    def decomposed(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers if l.status == "decomposed")

    @property
    def kept_dense(self) -> tuple[str, ...]:
        """Layers deployed as their projected dense weight because that ran faster on the target."""
        return tuple(l.name for l in self.layers if l.status == "dense")

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers if l.status == "skipped")

    @property
    def max_fit_error(self) -> float | None:
        """The largest relative output error of the layers fitted here (None when none was)."""
        return max((l.fit_error for l in self.layers if l.fit_error is not None), default=None)

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
                "kept_dense": len(self.kept_dense), "target": self.target, "folded_bn": list(self.folded_bn),
                "max_residual": self.max_residual, "max_fit_error": self.max_fit_error,
                "layers": [l.to_dict() for l in self.layers]}

    def to_markdown(self) -> str:
        rows = ["| layer | choice | status | residual | fit error | params | note |",
                "|---|---|---|---|---|---|---|"]
        for l in self.layers:
            res = "" if l.residual is None else f"{l.residual:.3g}"
            fit = "" if l.fit_error is None else f"{l.fit_error:.3g}"
            rows.append(f"| {l.name} | {l.choice} | {l.status} | {res} | {fit} | {l.params_before} -> "
                        f"{l.params_after} | {l.note} |")
        return "\n".join(rows)


def _nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _check_finite(module: nn.Module, name: str) -> None:
    if isinstance(getattr(module, "weight", None), torch.Tensor):
        checked_weight(module, name)                  # a Conv2d/Linear: "weight" / "bias"
        return
    for pname, p in module.named_parameters():
        if not torch.isfinite(p.detach()).all():
            raise ValueError(f"layer {name!r}: parameter {pname!r} contains NaN or inf values")


def _precheck(entries: list[PlanEntry], strict: bool) -> None:
    """Every reason to refuse, before anything changes."""
    for e in entries:
        if e.form.pending is None:
            _check_finite(e.module, e.name)
        elif strict:
            raise ValueError(f"layer {e.name!r}: choice {e.choice.label!r} ({e.choice.kind}) cannot be "
                             f"deployed from trained weights: {e.form.pending}")


def _deploy_entry(model: nn.Module, e: PlanEntry, method: str) -> tuple[nn.Module, LayerDecomposition]:
    mod = model.get_submodule(e.name)
    before = _nparams(mod)
    if e.form.pending is not None:
        return model, LayerDecomposition(e.name, e.choice.label, "skipped", None, before, before,
                                         e.form.pending)
    res = e.form.residual_of(mod, e.choice, e.layer)
    new = e.form.deploy_module(mod, e.choice, e.layer, method)
    fit = getattr(new, "fit_error", None) if new is not mod else None
    new = with_forward_padding(mod, new, e.name)      # padding the original applied in its forward
    if new is mod:
        return model, LayerDecomposition(e.name, e.choice.label, "identity", res, before, before,
                                         "the layer is its own deployable form")
    model = set_submodule(model, e.name, new)
    note = "" if fit is None else "fitted to the layer's outputs by least squares"
    return model, LayerDecomposition(e.name, e.choice.label, "decomposed", res, before, _nparams(new),
                                     note, fit)


def decompose(model: nn.Module, plan, method: str = "auto", inplace: bool = False,
              strict: bool = False, *, calibration=None, calibration_size: int = 256,
              distill: bool = True) -> tuple[nn.Module, DecompositionReport]:
    """Replace each planned layer by its kind's deployable module (a structure: SumPool + small conv/linear).

    Returns (new_model, report). The model is deep-copied unless ``inplace``. A sparse-kernel
    design that is already a ``DesignConv`` (trained as one) stays as it is; a plain Conv2d
    planned with a design is fitted to its outputs by least squares (on ``calibration_size``
    samples of ``calibration``, a tensor, Dataset or DataBundle, when given; else for white-noise
    inputs), its relative output error in the report's ``fit_error``; ``distill=False`` builds
    it fresh (architecture only, e.g. before loading saved weights). Kinds whose torch form is
    pending are skipped with a note, or raise ValueError when ``strict``. Identity structures
    (window 1x1x1) are left as they are. A plan naming a missing layer, a choice that does not
    fit, a kind with no torch form or NaN/inf weights raise ValueError before anything changes.
    """
    plan = resolve_module_plan(model, plan)
    entries = plan_entries(model, plan)
    _precheck(entries, strict)
    init = "distill" if distill else "scratch"
    cal = None
    if calibration is not None and distill and entries:
        # the model as given is the reference: every layer is fitted on its activations
        ref = copy.deepcopy(model) if inplace else model
        cal = Calibration(ref, calibration_inputs(calibration, calibration_size))
    if not inplace:
        model = copy.deepcopy(model)
    rows = []
    with design_scope(init, cal):
        for e in entries:
            model, row = _deploy_entry(model, e, method)
            rows.append(row)
    return model, DecompositionReport(plan.name, tuple(rows))
