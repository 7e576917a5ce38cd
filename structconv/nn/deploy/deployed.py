"""A network deployed for a target: decomposed under its plan, BatchNorm folded, and each layer in
the form that runs fastest there (tactics.py), so it is never slower than dense layer by layer."""
from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from ..layers import DecomposedConv2d, set_submodule
from .convert import DecompositionReport, LayerDecomposition, decompose
from .fold import fold_batchnorm
from .tactics import BACKENDS, DENSE, DeployTarget, candidates, pick, time_forms


def layer_inputs(model: nn.Module, names, example_input: torch.Tensor) -> dict[str, tuple]:
    """(C, H, W) of the input each named module sees when ``model`` runs on ``example_input``."""
    shapes, hooks = {}, []
    for name in names:
        def hook(mod, args, name=name):
            shapes.setdefault(name, tuple(args[0].shape[1:]))
        hooks.append(model.get_submodule(name).register_forward_pre_hook(hook))
    try:
        with torch.inference_mode():
            model(example_input)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _deployed_row(model, row: LayerDecomposition, shape, target: DeployTarget):
    """(model, row) with the layer ``row`` names in its fastest form on ``target``."""
    dec = model.get_submodule(row.name)
    if row.status != "decomposed" or not isinstance(dec, DecomposedConv2d) or shape is None:
        return model, row
    default = f"decomposed:{dec.sumpool.resolved_method(target.channels_last)}"
    best, why = pick(time_forms(dec, shape, target), target.margin, default)
    forms = candidates(dec, target.backend)
    if best == DENSE:
        model = set_submodule(model, row.name, forms[DENSE])
        dense = forms[DENSE]
        params = sum(p.numel() for p in dense.parameters())
        return model, dataclasses.replace(row, status="dense", params_after=params,
                                          note=f"kept dense on {target.backend}: {why}")
    dec.sumpool.method = best.removeprefix("decomposed:")
    return model, dataclasses.replace(row, note=f"{best}: {why}")


def deploy_decomposed(dec: nn.Module, report: DecompositionReport, example_input: torch.Tensor,
                      target: DeployTarget) -> tuple[nn.Module, DecompositionReport]:
    """A decomposed model (``decompose``'s model and report; changed in place) deployed for ``target``:
    eval mode, BatchNorm folded unless ``target.fold_bn`` is False, each decomposed layer in its
    fastest form (a sum-pool method or the projected dense weight, same outputs)."""
    if target.backend not in BACKENDS:
        raise ValueError(f"backend = {target.backend!r} is not one of {list(BACKENDS)}")
    dec.eval()
    folded = ()
    if target.fold_bn:
        dec, folded = fold_batchnorm(dec, inplace=True)
    shapes = layer_inputs(dec, report.decomposed, example_input)
    rows = []
    for row in report.layers:
        dec, row = _deployed_row(dec, row, shapes.get(row.name), target)
        rows.append(row)
    return dec, DecompositionReport(report.plan, tuple(rows), target.describe(), folded)


def deploy_for(model: nn.Module, plan, example_input: torch.Tensor,
               target: DeployTarget | None = None) -> tuple[nn.Module, DecompositionReport]:
    """``model`` (left as it is) decomposed under ``plan`` and deployed for ``target``
    (``deploy_decomposed``; None: ``DeployTarget()``, torch, batch 1, NCHW, one thread).
    ``example_input`` (any batch) gives each layer's input shape; timings use ``target.batch``.
    The report says per layer which form was kept and the timings why."""
    target = DeployTarget() if target is None else target
    dec, report = decompose(copy.deepcopy(model).eval(), plan, inplace=True)
    return deploy_decomposed(dec, report, example_input, target)
