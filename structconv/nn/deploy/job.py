"""`structconv decompose`: a trained checkpoint to its deployable model, saved (and exported to ONNX)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..resolve import ResolvedModel, resolve_trained
from ..user_code import fence_for
from .convert import DecompositionReport, decompose
from .deployed import deploy_decomposed
from .export import export_onnx
from .saved import save_decomposed


@dataclass(frozen=True)
class DecomposeRun:
    """What ``decompose_checkpoint`` did: the trained model as resolved, its deployable form, and
    where it went."""

    trained: ResolvedModel
    decomposed: nn.Module = field(repr=False)
    report: DecompositionReport
    out: Path
    onnx: Path | None = None


def decompose_checkpoint(checkpoint, out, *, model: str | None = None, plan=None, input_shape=None,
                         method: str = "auto", strict: bool = False, onnx=None) -> DecomposeRun:
    """Decompose the model in ``checkpoint`` (``resolve_trained``: ``model``, ``plan`` and ``input_shape``
    as there) under its plan and save it to ``out`` (``save_decomposed``; ``load_decomposed`` rebuilds
    it); with ``onnx``, also export it there, checked with onnxruntime. A failed export or check keeps
    ``out`` (the decomposition is right; only the export failed) and raises one ValueError line
    saying so; the .onnx is written atomically, so no half of it is left."""
    trained = resolve_trained(checkpoint, model=model, plan=plan, input_shape=input_shape)
    with fence_for(trained.name, "decomposed"):          # the user's forward: its prints and exits fenced
        dec, report = decompose(trained.module, trained.plan, method=method, inplace=True, strict=strict)
    meta = {k: v for k, v in trained.meta.items() if isinstance(v, (str, int, float, bool))}
    path = save_decomposed(dec, out, trained.name, trained.plan, method=method,
                           meta={"source": str(checkpoint), **meta})
    onnx_path = None
    if onnx:
        try:
            with fence_for(trained.name, "exported"):
                onnx_path = export_onnx(dec, torch.randn((1,) + tuple(trained.network.input_shape)), onnx)
        except Exception as exc:                     # keep the good dec.pt; say why the .onnx is absent
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{path.name} kept; the ONNX export failed: {why}") from exc
    return DecomposeRun(trained, dec, report, path, onnx_path)


def export_deployed(run: DecomposeRun, onnx, target) -> tuple[Path, DecompositionReport]:
    """``run``'s decomposed model (a copy) deployed for ``target`` (a DeployTarget: BatchNorm folded,
    each layer's fastest form there, ``deploy_decomposed``) and exported to ONNX at ``onnx``, checked
    with onnxruntime; returns (path, the deployment's report)."""
    x = torch.randn((1,) + tuple(run.trained.network.input_shape))
    dep, report = deploy_decomposed(copy.deepcopy(run.decomposed), run.report, x, target)
    return export_onnx(dep, x, onnx), report
