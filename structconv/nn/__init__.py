"""structconv.nn: structured layers, Structural Regularization, decomposition, export (PyTorch).

Public API (first half of issue 4):

* ``SumPool3d`` / ``sum_pool3d``, ``SumPool1d`` / ``sum_pool1d``: stride-1 sum-pooling over
  (channels per group, rows, cols) with padding and dilation; methods
  'avgpool' | 'separable' | 'cumsum' | 'conv' | 'auto'.
* ``StructuredWeight`` (a parametrization: weight = A alpha), ``StructuredConv2d``,
  ``StructuredLinear``, ``structure_(model, plan)`` / ``unstructure_(model)``.
* ``structural_regularization(model, plan)`` and ``StructuralRegularizer`` (build once, call
  each step): sum of ||(I - A A^+) W||_F / ||W||_F, Kronecker-factored, differentiable.
* ``decompose(model, plan) -> (model, DecompositionReport)``, ``decompose_conv``,
  ``decompose_linear``, ``save_decomposed`` / ``load_decomposed``.
* ``network_from_module(module, example_input) -> core Network``, ``layer_from_module``.
* ``export_onnx(model, example_input, path)``, ``check_onnx``.
* ``project``, ``alphas``, ``compose``, ``structural_residual``: torch ports of core.structure.
"""
from ._kron import alphas, compose, project, structural_residual
from .decompose import (DecomposedConv2d, DecomposedLinear, DecompositionReport, LayerDecomposition, decompose,
                        decompose_conv, decompose_linear, decompose_module, load_decomposed, projection_residual,
                        save_decomposed)
from .export import check_onnx, export_onnx
from .regularization import StructuralRegularizer, structural_regularization, structural_residuals
from .structured import (StructuredConv2d, StructuredLinear, StructuredWeight, plan_entries, structure_,
                         structure_module, structured_alpha, unstructure_)
from .sumpool import METHODS as SUMPOOL_METHODS
from .sumpool import SumPool1d, SumPool3d, choose_method, sum_pool1d, sum_pool3d
from .trace import layer_from_module, network_from_module

__all__ = [
    "SumPool3d", "SumPool1d", "sum_pool3d", "sum_pool1d", "choose_method", "SUMPOOL_METHODS",
    "StructuredWeight", "StructuredConv2d", "StructuredLinear", "structure_", "unstructure_",
    "structure_module", "structured_alpha", "plan_entries",
    "structural_regularization", "StructuralRegularizer", "structural_residuals",
    "decompose", "decompose_conv", "decompose_linear", "decompose_module", "projection_residual",
    "DecomposedConv2d", "DecomposedLinear", "DecompositionReport", "LayerDecomposition",
    "save_decomposed", "load_decomposed",
    "network_from_module", "layer_from_module", "export_onnx", "check_onnx",
    "project", "alphas", "compose", "structural_residual",
]
