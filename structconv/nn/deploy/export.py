"""ONNX export of (decomposed) models, written atomically and checked with onnxruntime.

With a ``plan`` the model is first turned into its deployable form through the kinds'
torch forms (``decompose``), so the file holds what the hardware runs.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core import atomic_path
from .convert import decompose


@dataclass(frozen=True)
class OnnxOptions:
    """How ``export_onnx`` writes and checks a file: the opset (None: torch's default), a dynamic
    batch dimension, and whether onnxruntime must reproduce torch to ``rtol`` relative to the
    output's scale: max |onnxruntime - torch| / max |torch output| <= rtol (float32 round-off
    grows with the logits' size, so a fixed absolute tolerance fails large outputs)."""

    opset: int | None = None
    dynamic_batch: bool = True
    verify: bool = True
    rtol: float = 1e-4


def export_onnx(model: nn.Module, example_input: torch.Tensor, path, options: OnnxOptions = OnnxOptions(), *,
                plan=None, method: str = "auto") -> Path:
    """Export ``model`` (eval mode) to ONNX at ``path``, atomically (a temp file renamed into place).

    ``plan`` (any plan reference): export ``decompose(model, plan, method)`` instead, the
    deployable form (``model`` itself is left as it is).

    With ``options.verify`` (default) and onnxruntime importable, the file is run on
    ``example_input`` and must match torch to ``options.rtol`` of the output's scale (max abs error
    over max |torch output|; ValueError naming both otherwise) before it
    replaces ``path``. The batch dimension is dynamic unless ``options.dynamic_batch`` is False.
    Weights are embedded (one self-contained file).
    """
    if not isinstance(example_input, torch.Tensor):
        raise ValueError("example_input must be a tensor")
    path = Path(path)
    if plan is not None:
        model, _ = decompose(model, plan, method=method)
    was_training = model.training
    model.eval()
    try:
        with atomic_path(path, suffix=".onnx") as tmp:
            _onnx_program(model, example_input, options.opset, options.dynamic_batch).save(str(tmp),
                                                                                          external_data=False)
            if options.verify:
                err = check_onnx(tmp, model, example_input, relative=True)
                if err is not None and not err <= options.rtol:
                    raise ValueError(f"ONNX export of {type(model).__name__} differs from torch by "
                                     f"{err:.3g} of the output's max |value| (relative error > "
                                     f"tolerance {options.rtol:g})")
    finally:
        model.train(was_training)
    return path


def _onnx_program(model: nn.Module, example_input: torch.Tensor, opset, dynamic_batch: bool):
    kwargs = {}
    trace_input = example_input
    if dynamic_batch:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1)},)
        if example_input.shape[0] == 1:          # torch.export specializes a size-1 dim
            trace_input = torch.cat([example_input, example_input])
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)             # "torchvision is not installed" notices
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            return torch.onnx.export(model, (trace_input,), dynamo=True, opset_version=opset,
                                     external_data=False, verbose=False, **kwargs)
    finally:
        quiet.setLevel(level)


def check_onnx(path, model: nn.Module, example_input: torch.Tensor, *,
               relative: bool = False) -> float | None:
    """Max |onnxruntime(path)(x) - model(x)|, or None when onnxruntime is not installed. With
    ``relative``, that error divided by max |model(x)| (the output's scale; 1 when it is all zero)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = example_input.detach().cpu()
    (name,) = [i.name for i in sess.get_inputs()]
    got = sess.run(None, {name: x.numpy()})[0]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            want = model(example_input).detach().cpu().numpy()
    finally:
        model.train(was_training)
    if got.shape != want.shape:
        return float("inf")
    if not got.size:
        return 0.0
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    scale = float(np.max(np.abs(want.astype(np.float64))))
    return err / scale if relative and scale > 0 else err
