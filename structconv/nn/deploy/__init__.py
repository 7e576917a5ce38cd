"""Deployable models: each planned layer in its kind's deployable form (``convert``: ``decompose``),
saved and rebuilt (``saved``), exported to ONNX (``export``), and the whole job from a trained
checkpoint (``job``: ``decompose_checkpoint``, what `structconv decompose` runs); ``deploy_for``: the
deployed network for a backend (BatchNorm folded, ``fold``; each layer's fastest form, ``tactics``)."""
from .convert import DecompositionReport, LayerDecomposition, decompose
from .deployed import deploy_decomposed, deploy_for
from .export import OnnxOptions, check_onnx, export_onnx
from .fold import fold_batchnorm
from .job import DecomposeRun, decompose_checkpoint, export_deployed
from .saved import load_decomposed, save_decomposed
from .tactics import DeployTarget, dense_form

__all__ = ["DecompositionReport", "LayerDecomposition", "decompose", "OnnxOptions", "check_onnx",
           "export_onnx", "DecomposeRun", "decompose_checkpoint", "load_decomposed", "save_decomposed",
           "deploy_for", "deploy_decomposed", "export_deployed", "DeployTarget", "dense_form",
           "fold_batchnorm"]
