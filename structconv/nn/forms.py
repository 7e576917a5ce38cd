"""The torch forms of the built-in kinds, registered once (see ``registry``).

* dense: the layer as it is, in training and deployed.
* structure: trained as a ``StructuredWeight`` parametrization on the user's own module
  (weight = A alpha; names and state dict keep their shape), deployed as SumPool3d + small
  conv (SumPool1d + small linear); an identity structure (window 1x1x1) stays as it is.
* the sparse-kernel designs: pending (they change the architecture, so they cannot be
  derived from a trained dense layer; their torch modules come with their own issue).
"""
from __future__ import annotations

from torch import nn

from ..core import DESIGNS, Choice, Layer
from .decomposition import decompose_module, projection_residual
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
for _design in DESIGNS.values():
    register_torch_choice(_design.kind, pending=f"{_design.kind} design: changes the architecture, not derivable from "
                                         "weights; train it as its own model")
