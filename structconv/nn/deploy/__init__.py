"""Deployable models: each planned layer in its kind's deployable form (``convert``: ``decompose``),
saved and rebuilt (``saved``), exported to ONNX (``export``), and the whole job from a trained
checkpoint (``job``: ``decompose_checkpoint``, what `structconv decompose` runs)."""
from .convert import DecompositionReport, LayerDecomposition, decompose
from .export import OnnxOptions, check_onnx, export_onnx
from .job import DecomposeRun, decompose_checkpoint
from .saved import load_decomposed, save_decomposed

__all__ = ["DecompositionReport", "LayerDecomposition", "decompose", "OnnxOptions", "check_onnx",
           "export_onnx", "DecomposeRun", "decompose_checkpoint", "load_decomposed", "save_decomposed"]
