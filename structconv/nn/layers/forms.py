"""The torch forms of the built-in kinds, registered once (see ``registry``).

* dense: the layer as it is, in training and deployed.
* structure: trained as a ``StructuredWeight`` parametrization on the user's own module
  (weight = A alpha; names and state dict keep their shape), deployed as SumPool3d + small
  conv (SumPool1d + small linear); an identity structure (window 1x1x1) stays as it is.
* the sparse-kernel designs (dw_pw, gc_pwg, pw_dw_pw, pwg_dw_pwg): a ``DesignConv`` (the plain
  convs of ``choice.expand(layer)`` with the channel shuffles of its kernel sequence) replaces
  the layer, in training and deployed. Built from a dense Conv2d it is fitted to that layer's
  outputs by least squares (``distill``: on calibration data when the caller's ``design_scope``
  has some, else for white-noise inputs), or freshly initialised (scope init 'scratch'); a
  DesignConv is its own deployable form. SR does not touch it (no weight structure).
"""
from __future__ import annotations

from torch import nn

from ...core import DESIGNS, Choice, Layer
from .calibration import current_scope
from .decomposition import decompose_module, projection_residual
from .design_modules import DesignConv
from .distill import distill_design
from .registry import register_torch_choice, weight_structure
from .structured import structure_module


def _structure_trainable(module: nn.Module, choice: Choice, layer: Layer) -> nn.Module:
    s = weight_structure(choice, layer)
    return module if s is None else structure_module(module, s.c, s.n)


def _structure_deployable(module: nn.Module, choice: Choice, layer: Layer, method: str) -> nn.Module:
    s = weight_structure(choice, layer)
    return module if s is None else decompose_module(module, s.c, s.n, method, layer.name)


def _structure_residual(module: nn.Module, choice: Choice, layer: Layer) -> float:
    return projection_residual(module, choice.c, choice.n)


register_torch_choice("dense")
register_torch_choice("structure", trainable=_structure_trainable, deployable=_structure_deployable,
                      residual=_structure_residual)


def _design_module(module: nn.Module, choice: Choice, layer: Layer) -> nn.Module:
    """The design's module for a planned layer: the layer itself when it is one already."""
    if isinstance(module, DesignConv):
        return module
    scope = current_scope()
    if scope.init == "scratch":
        w = module.weight
        new = DesignConv(choice, layer, template=module).to(device=w.device, dtype=w.dtype)
        new.train(module.training)
        return new
    moments = scope.calibration.moments(layer.name) if scope.calibration is not None else None
    return distill_design(module, choice, layer, moments)


def _design_deployable(module: nn.Module, choice: Choice, layer: Layer, method: str) -> nn.Module:
    return _design_module(module, choice, layer)


for _design in DESIGNS.values():
    register_torch_choice(_design.kind, trainable=_design_module, deployable=_design_deployable)
