"""Deployable models: each planned layer in its kind's deployable form (``convert``: ``decompose``),
saved and rebuilt (``save_decomposed`` / ``load_decomposed``), exported to ONNX (``export``)."""
from .convert import DecompositionReport, LayerDecomposition, decompose, load_decomposed, save_decomposed
from .export import check_onnx, export_onnx

__all__ = ["DecompositionReport", "LayerDecomposition", "decompose", "load_decomposed", "save_decomposed",
           "check_onnx", "export_onnx"]
