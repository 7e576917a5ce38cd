"""One module as an onnxruntime CPU session, for timing (tactics.py): exported as ``export_onnx``
would (dynamo, the export forms of the sum-pools), to a temp file that is gone once loaded."""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from .export import _onnx_program


def ort_session(module: nn.Module, x: torch.Tensor, threads: int):
    """An onnxruntime InferenceSession of ``module`` traced on ``x`` (static shapes), ``threads``
    intra-op threads, sequential execution."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    with tempfile.TemporaryDirectory(prefix="structconv-ort-") as tmp:
        path = Path(tmp) / "m.onnx"
        _onnx_program(module, x.contiguous(), None, False).save(str(path), external_data=False)
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_runner(module: nn.Module, x: torch.Tensor, threads: int):
    """A no-argument callable running ``module``'s session once on ``x``."""
    sess = ort_session(module, x, threads)
    feed = {sess.get_inputs()[0].name: x.contiguous().numpy()}
    return lambda: sess.run(None, feed)
