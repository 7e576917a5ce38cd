"""The torch forms of choice kinds: how a core Choice becomes torch modules, keyed by kind.

core stays torch-free, so each kind's torch side is registered here, once:

    register_torch_choice("my_kind", trainable=make_trainable, deployable=make_deployable)

* ``trainable(module, choice, layer) -> nn.Module``: the module to train in the user's
  network (the same module changed in place, or a replacement that ``structure_`` swaps in).
* ``deployable(module, choice, layer, method) -> nn.Module``: the module to deploy, derived
  from the trained one (``decompose`` and the ONNX path); returning ``module`` itself means
  the layer is already its own deployable form.
* ``residual(module, choice, layer) -> float``: optional; how far the trained weight is from
  what the deployable form keeps (``decompose`` reports it).
* ``pending``: a kind whose torch form is not built yet: training leaves the layer as it is
  and ``decompose`` skips it with this note (or raises when ``strict``).

Left out, ``trainable``/``deployable`` keep the module as it is (the dense kind). A kind with no
registration at all is a one-line ValueError naming the layer and the kind.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ...core import Choice, Layer, Structure


@dataclass(frozen=True)
class TorchForm:
    """One kind's torch side (see the module docstring)."""

    kind: str
    trainable: Callable | None = None
    deployable: Callable | None = None
    residual: Callable | None = None
    pending: str | None = None

    @property
    def changes_module(self) -> bool:
        """Whether training or deployment does anything to the layer (dense: no)."""
        return bool(self.trainable or self.deployable or self.pending)

    def train_module(self, module: nn.Module, choice: Choice, layer: Layer) -> nn.Module:
        return module if self.trainable is None else self.trainable(module, choice, layer)

    def deploy_module(self, module: nn.Module, choice: Choice, layer: Layer, method: str) -> nn.Module:
        return module if self.deployable is None else self.deployable(module, choice, layer, method)

    def residual_of(self, module: nn.Module, choice: Choice, layer: Layer) -> float | None:
        return None if self.residual is None else self.residual(module, choice, layer)


_FORMS: dict[str, TorchForm] = {}


def register_torch_choice(kind: str, *, trainable: Callable | None = None, deployable: Callable | None = None,
                          residual: Callable | None = None, pending: str | None = None) -> TorchForm:
    """Register (or replace) the torch form of choice kind ``kind``; returns it."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")
    form = TorchForm(kind, trainable, deployable, residual, pending)
    _FORMS[kind] = form
    return form


def unregister_torch_choice(kind: str) -> None:
    """Forget ``kind``'s torch form (tests that register a kind of their own)."""
    _FORMS.pop(kind, None)


def torch_forms() -> dict[str, TorchForm]:
    """kind -> TorchForm of every registered kind."""
    return dict(_FORMS)


def torch_form(choice: Choice, layer_name: str) -> TorchForm:
    """The torch form of ``choice``'s kind; ValueError naming the layer when none is registered."""
    form = _FORMS.get(choice.kind)
    if form is None:
        raise ValueError(f"layer {layer_name!r}: choice kind {choice.kind!r} has no torch form "
                         f"(register one with structconv.nn.register_torch_choice)")
    return form


def weight_structure(choice: Choice, layer: Layer) -> Structure | None:
    """The structure ``choice`` puts on ``layer``'s own weight (None when it runs no sum-pool
    in front of that layer: dense, identity structures, designs that replace the layer)."""
    parts = choice.parts(layer)
    if len(parts) == 1 and parts[0].layer == layer:
        return parts[0].structure
    return None
