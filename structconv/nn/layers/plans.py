"""Plans on torch modules: resolve a plan reference for a model, find each planned layer's
module, and make the model trainable under the plan (``structure_``) or plain again.

Every function here takes a plan the way core's ``resolve_plan`` does: a Plan, a mapping,
a preset name such as ``"uniform-n2"`` or a plan file, resolved against the model's own
Conv2d/Linear layers (``module_network``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn
from torch.nn.utils import parametrize

from ...core import Choice, Layer, Plan, resolve_plan
from ..padding import with_forward_padding
from ..trace import PLANNED_LAYER, fold_repeated_calls, layer_from_module, module_network
from .calibration import Calibration, calibration_inputs, design_scope
from .registry import TorchForm, torch_form, weight_structure
from .structured import is_structured


def unwrap(model: nn.Module) -> nn.Module:
    """The wrapped module of DistributedDataParallel / DataParallel (names then match the plan)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def resolve_module_plan(model: nn.Module, plan) -> Plan:
    """``plan`` as a Plan for ``model``.

    A reference (None, a mapping, a preset name, a plan file) is resolved by ``core.resolve_plan``
    against the network of ``model``'s Conv2d/Linear layers. A Plan is taken as resolved already
    (``resolve_model``, ``resolve_trained`` or the caller did it, against the traced network), so a
    run resolves its plan once; either way ``plan_entries`` checks each planned layer against its
    module where it is used.
    """
    if isinstance(plan, Plan):
        return fold_repeated_calls(plan)        # a plan on the traced network may name "body#1"
    model = unwrap(model)
    return resolve_plan(fold_repeated_calls(plan),
                        module_network(model, f"{type(model).__name__} (its Conv2d/Linear modules)"))


@dataclass(frozen=True)
class PlanEntry:
    """One planned layer resolved on a model: qualified name, module, its choice, its core Layer."""

    name: str
    module: nn.Module
    choice: Choice
    layer: Layer

    @property
    def form(self) -> TorchForm:
        """The torch form of the choice's kind (ValueError naming the layer when it has none)."""
        return torch_form(self.choice, self.name)


def _entry(modules: dict, plan: Plan, name: str, choice: Choice) -> PlanEntry:
    if isinstance(modules.get(name.rpartition(".")[0]), nn.MultiheadAttention) and choice.kind != "dense":
        raise ValueError(f"plan {plan.name!r}: layer {name!r} belongs to an nn.MultiheadAttention, which "
                         "reads its weights itself: attention projections are counted, simulated and "
                         "searched, not trained or decomposed structured (leave them dense here)")
    if name not in modules:
        raise ValueError(f"plan {plan.name!r} names layer {name!r}, which the model does not have")
    layer = layer_from_module(name, modules[name])
    choice.validate(layer)
    torch_form(choice, name)  # a kind without a torch form fails here, before any change
    return PlanEntry(name, modules[name], choice, layer)


def plan_entries(model: nn.Module, plan) -> list[PlanEntry]:
    """Every planned layer whose kind changes the module (not dense), resolved and validated.

    Raises ValueError when the plan names a layer the model lacks, a layer that is not a
    Conv2d/Linear, a choice that does not fit (``Choice.validate``), or a kind with no
    registered torch form.
    """
    model = unwrap(model)
    plan = resolve_module_plan(model, plan)
    modules = dict(model.named_modules())
    entries = [_entry(modules, plan, name, choice) for name, choice in plan.choices.items()]
    return [e for e in entries if e.form.changes_module]


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """Put ``new`` at ``name`` in ``model``; returns the model (``new`` itself for the root)."""
    if not name:
        return new
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, (nn.Sequential, nn.ModuleList)) and attr.isdigit():
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)
    return model


def structure_(model: nn.Module, plan, *, init: str = "distill", calibration=None,
               calibration_size: int = 256) -> nn.Module:
    """Make every planned layer trainable in its kind's torch form, in place; returns the model.

    For a structure that is a ``StructuredWeight`` parametrization (weight = A alpha) on the
    user's own module, so module names and the state dict keep their shape. A kind whose
    trainable form is a new module (a sparse-kernel design) gets it swapped in, marked with the
    layer it stands for: fitted to the dense layer (``init="distill"``; on ``calibration``
    inputs (a tensor, Dataset or DataBundle, ``calibration_size`` samples) when given, else for
    white-noise inputs) or fresh (``init="scratch"``).
    """
    return apply_trainable_forms(model, plan, init=init, calibration=calibration,
                                 calibration_size=calibration_size)[0]


def apply_trainable_forms(model: nn.Module, plan, *, init: str = "distill", calibration=None,
                          calibration_size: int = 256, skip_regularized: bool = False,
                          seed: int = 0) -> tuple[nn.Module, dict]:
    """``structure_`` that also returns {layer: fit_error} of the modules it swapped in (None when
    not fitted). ``skip_regularized``: leave the layers SR regularizes (a weight structure) dense."""
    with design_scope(init):                      # the init value is checked before anything changes
        pass
    entries = plan_entries(model, plan)
    if skip_regularized:
        entries = [e for e in entries if weight_structure(e.choice, e.layer) is None]
    cal = None
    if calibration is not None and init == "distill" and entries:
        # a dense copy: every layer is fitted on the original network's activations
        cal = Calibration(copy.deepcopy(unwrap(model)),
                          calibration_inputs(calibration, calibration_size, seed))
    fits = {}
    with design_scope(init, cal):
        for e in entries:
            new = e.form.train_module(e.module, e.choice, e.layer)
            if new is not e.module:
                fit = getattr(new, "fit_error", None)
                new = with_forward_padding(e.module, new, e.name)
                setattr(new, PLANNED_LAYER, e.layer)
                model = set_submodule(model, e.name, new)
                fits[e.name] = fit
    return model, fits


def unstructure_(model: nn.Module) -> nn.Module:
    """Remove every StructuredWeight parametrization, keeping A alpha as a plain weight."""
    for mod in model.modules():
        if is_structured(mod):
            parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
    return model
