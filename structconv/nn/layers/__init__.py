"""Structured layers and the torch forms of choice kinds: what a planned layer becomes.

* ``registry`` (``register_torch_choice``) and ``forms`` (the built-in kinds, registered on import):
  each kind's trainable and deployable module;
* ``structured`` (``StructuredWeight``: weight = A alpha), ``sumpool``, ``decomposition`` (sum-pool +
  small conv), ``design_modules`` + ``distill`` + ``calibration`` (sparse-kernel designs fitted by
  least squares), ``_kron`` (the projector one Kronecker factor at a time);
* ``plans``: a plan mapped onto a model's modules (``plan_entries``, ``structure_``);
* ``regularization``: the SR term.
"""
from . import forms as _forms  # noqa: F401  (registers the built-in kinds' torch forms)
from ._kron import alphas, compose, project, structural_residual
from .calibration import Calibration, Moments, calibration_inputs, design_scope
from .decomposition import (
                            DecomposedConv2d,
                            DecomposedLinear,
                            checked_weight,
                            decompose_conv,
                            decompose_linear,
                            decompose_module,
                            projection_residual,
)
from .design_modules import ChannelShuffle, DesignConv
from .distill import distill_design, effective_kernel, output_error
from .plans import (
                            PlanEntry,
                            apply_trainable_forms,
                            plan_entries,
                            resolve_module_plan,
                            set_submodule,
                            structure_,
                            unstructure_,
                            unwrap,
)
from .registry import (
                            TorchForm,
                            register_torch_choice,
                            torch_form,
                            torch_forms,
                            unregister_torch_choice,
                            weight_structure,
)
from .regularization import StructuralRegularizer, structural_regularization, structural_residuals
from .structured import (
                            StructuredConv2d,
                            StructuredLinear,
                            StructuredWeight,
                            structure_module,
                            structured_alpha,
)
from .sumpool import METHODS as SUMPOOL_METHODS
from .sumpool import SumPool1d, SumPool3d, choose_method, sum_pool1d, sum_pool3d

__all__ = ["alphas", "compose", "project", "structural_residual", "Calibration", "Moments",
           "calibration_inputs", "design_scope", "DecomposedConv2d", "DecomposedLinear", "checked_weight",
           "decompose_conv", "decompose_linear", "decompose_module", "projection_residual", "ChannelShuffle",
           "DesignConv", "distill_design", "effective_kernel", "output_error", "PlanEntry",
           "apply_trainable_forms", "plan_entries", "resolve_module_plan", "set_submodule", "structure_",
           "unstructure_", "unwrap", "TorchForm", "register_torch_choice", "torch_form", "torch_forms",
           "unregister_torch_choice", "weight_structure", "StructuralRegularizer",
           "structural_regularization", "structural_residuals", "StructuredConv2d", "StructuredLinear",
           "StructuredWeight", "structure_module", "structured_alpha", "SUMPOOL_METHODS", "SumPool1d",
           "SumPool3d", "choose_method", "sum_pool1d", "sum_pool3d"]
