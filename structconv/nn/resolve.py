"""A model reference (and a checkpoint) resolved once: the torch module, its core Network and its Plan.

    m = resolve_model("resnet20", data, plan="uniform-n2")       # what `structconv train` trains
    t = resolve_trained("run/final.pt")                           # what `structconv decompose` deploys
    t.module, t.network, t.plan, t.meta

Each traces the network once and resolves the plan once against it; everything after (training,
the SR term, decomposition, saving) takes these objects instead of resolving again.

A checkpoint that records a Python model reference (``file.py:fn``, ``pkg.mod:fn``) never runs it
by itself: the caller names the same reference again (``model=``, `--model`) to confirm.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core import Network, Plan, resolve_network, resolve_plan, shown
from .devices import check_trace_memory
from .layers import apply_trainable_forms, structure_, unstructure_
from .model_refs import (
    DEFAULT_INPUT_SHAPE,
    confirmed_reference,
    is_module_ref,
    load_module_ref,
    network_from_ref,
)
from .rebuild import build_for_weights
from .trace import fold_repeated_calls, network_from_module
from .user_code import home_of, user_code
from .weights import read_weights
from .zoo import SMALL, SmallCNN, build_module


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference resolved once (``resolve_model``, ``resolve_trained``)."""

    name: str                          # the model reference: a zoo name, small_cnn or file.py:fn
    module: nn.Module = field(repr=False)
    network: Network | None            # the Network ``plan`` was resolved against (None: no plan)
    plan: Plan | None                  # resolved, repeated calls ("body#1") folded onto their module
    meta: dict = field(default_factory=dict)   # the checkpoint's meta ({} for a fresh model)


@contextmanager
def _user_plan(what: str):
    """Reading a user's plan: a TypeError there is an input error (a list where a mapping belongs),
    a one-line ValueError naming ``what``."""
    try:
        yield
    except TypeError as e:
        text = str(e).strip()
        raise ValueError(f"{what}: {text.splitlines()[0] if text else type(e).__name__}") from e


def _resolved_plan(ref, network: Network, what: str) -> Plan:
    with _user_plan(what):
        return fold_repeated_calls(resolve_plan(ref, network))   # "body#1" is a call of module "body"


# -- a model to train ------------------------------------------------------------------------------
def resolve_model(ref: str, data, *, plan=None, weights=None) -> ResolvedModel:
    """The module `structconv train REF` trains on ``data`` (a DataBundle), its initial ``weights``
    loaded (a state dict or checkpoint file), and ``plan`` resolved once against its Network at the
    data's input shape (a zoo network's from its spec, any other model traced once)."""
    small = ref in SMALL
    module = _module_for(ref, data, small)
    if weights is not None:
        load_weights(module, weights)
    if plan is None:
        return ResolvedModel(ref, module, None, None)
    network = _network_for(ref, module, data, small)
    return ResolvedModel(ref, module, network, _resolved_plan(plan, network, f"plan {shown(plan)}"))


def _module_for(ref: str, data, small: bool) -> nn.Module:
    if small:
        return SmallCNN(data.input_shape[0], data.num_classes)
    if is_module_ref(ref):
        return load_module_ref(ref)
    if ref.lower().endswith(".onnx"):
        raise ValueError(f"train needs a torch module: {shown(ref)} is an ONNX file; give a zoo name, "
                         f"small_cnn or a Python reference (path/to/file.py:function)")
    return build_module(ref, num_classes=data.num_classes)


def _network_for(ref: str, module: nn.Module, data, small: bool) -> Network:
    """The core Network a plan is checked against, at the dataset's input size."""
    if not small and not is_module_ref(ref):
        try:
            return resolve_network(ref, input_size=tuple(data.input_shape[1:]), num_classes=data.num_classes)
        except (TypeError, ValueError):
            pass                                   # no zoo spec at this size: trace the module
    shape = (1, *data.input_shape)
    if not is_module_ref(ref):
        return network_from_module(module, torch.zeros(shape), name=ref)
    with user_code(ref, "traced", home_of(ref)):     # the user's forward: its prints and exits fenced
        check_trace_memory(module, shape)
        return network_from_module(module, torch.zeros(shape), name=ref)


def load_weights(module: nn.Module, path) -> None:
    """Initial weights (a state dict or a `structconv train` checkpoint) into ``module``; ValueError
    naming --weights when they do not fit it."""
    sd = read_weights(path, "--weights")[1]
    misfit = f"--weights {shown(str(path))} does not fit the model"
    try:
        res = module.load_state_dict(sd, strict=False)
    except RuntimeError as e:                               # shape mismatches
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        raise ValueError(f"{misfit}: {lines[-1] if lines else e}") from None
    if res.missing_keys or res.unexpected_keys:
        raise ValueError(f"{misfit}: missing {list(res.missing_keys)[:3]}, "
                         f"unexpected {list(res.unexpected_keys)[:3]}")


# -- a trained checkpoint --------------------------------------------------------------------------
def resolve_trained(checkpoint, *, model: str | None = None, plan=None, input_shape=None) -> ResolvedModel:
    """The trained model in ``checkpoint`` (a `structconv train` checkpoint, or a bare state dict with
    ``model``) in plain form, with the Network it runs as and its plan (``plan``, else the
    checkpoint's) resolved once against that Network.

    ``model``: the zoo name or Python reference the weights are for (default: the checkpoint's); a
    reference the checkpoint records is run only when ``model`` names it too. ``input_shape``
    (N, C, H, W): where a Python reference is traced (default: the shape the checkpoint records).
    """
    ck_model, sd, ck_plan, meta = read_weights(checkpoint, "checkpoint")
    name = _model_name(model, ck_model, checkpoint)
    module, network = _model_and_network(name, meta, input_shape, sd, f"checkpoint {shown(str(checkpoint))}")
    plan = _trained_plan(plan, ck_plan, network)
    _check_finite(sd)
    return ResolvedModel(name, _trained_module(name, module, sd, plan), network, plan, meta)


def _model_name(model, ck_model, checkpoint) -> str:
    name = model or ck_model
    if not name:
        raise ValueError("the checkpoint does not name its model: give --model NAME")
    if model and ck_model and model != ck_model:
        raise ValueError(f"--model {shown(model)} does not match the checkpoint's model {shown(ck_model)}")
    return confirmed_reference(name, model, f"checkpoint {shown(str(checkpoint))}")


def _trained_plan(ref, ck_plan, network: Network) -> Plan:
    """``ref`` (--preset/--plan), else the checkpoint's own plan, resolved against ``network``."""
    if ref is None and ck_plan:
        with _user_plan("checkpoint plan"):
            ref = Plan.from_dict(ck_plan, source="checkpoint plan")
    if ref is None:
        raise ValueError("no plan: the checkpoint holds none; give --plan FILE or --preset NAME")
    return _resolved_plan(ref, network, f"plan {shown(ref) if isinstance(ref, str) else 'of the checkpoint'}")


def _check_finite(sd) -> None:
    for k, v in sd.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"checkpoint weight {shown(k)} contains NaN or inf values")


def _small_shape(meta) -> tuple[int, int, int]:
    shape = meta.get("input_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in shape)
            and isinstance(meta.get("num_classes"), int)):
        raise ValueError("a small_cnn checkpoint must record meta.input_shape [C, H, W] and meta.num_classes "
                         "(`structconv train` writes both)")
    return tuple(shape)


def _ref_shape(meta, input_shape) -> tuple:
    shape = meta.get("input_shape")
    if input_shape is not None:
        return tuple(input_shape)
    if isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(v, int) and v >= 1
                                                                    for v in shape):
        return (1, *shape)
    return DEFAULT_INPUT_SHAPE


def _model_and_network(name: str, meta: dict, input_shape=None, sd=None,
                       where: str = "checkpoint") -> tuple[nn.Module, Network]:
    """(a fresh torch module, the core Network its plan is checked against) for ``name``; a zoo model or
    small_cnn is checked against the weights ``sd`` first (rebuild.py)."""
    sd = sd or {}
    if is_module_ref(name):                          # the user's module, traced at the shape it ran on
        module = load_module_ref(name)
        return module, network_from_ref(name, input_shape=_ref_shape(meta, input_shape), module=module)
    if name in SMALL:                                # not a zoo network: its shape is in the checkpoint
        shape = _small_shape(meta)
        module = build_for_weights(name, sd, where, num_classes=meta["num_classes"], in_channels=shape[0])
        return module, network_from_module(module, torch.zeros((1,) + shape), name=name)
    network = resolve_network(name)                  # ValueError for unknown names
    # a model trained on digits has 10 classes, not the zoo default: the checkpoint says
    return build_for_weights(name, sd, where, num_classes=meta.get("num_classes")), network


def _trained_module(name: str, module: nn.Module, sd: dict, plan: Plan) -> nn.Module:
    """The module with the checkpoint's weights, in plain form (StructuredWeight parametrizations removed).

    A checkpoint from `structconv train` holds the plan's trainable forms (parametrized structures,
    sparse-kernel design modules): when its keys are not the plain module's, the plan's forms are
    applied first (fresh, the weights come from the checkpoint) so the weights load by name."""
    if any(".parametrizations." in k for k in sd):      # trained with StructuredWeight
        module = structure_(module, plan, init="scratch")
    elif set(sd) != set(module.state_dict()):           # design modules swapped in, structures saved plain
        module = apply_trainable_forms(module, plan, init="scratch", skip_regularized=True)[0]
    missing, unexpected = _load_state(module, sd)
    if missing or unexpected:
        raise ValueError(f"checkpoint weights do not match model {name!r}: missing {missing[:3]}"
                         f"{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
                         f"{'...' if len(unexpected) > 3 else ''}")
    return unstructure_(module).eval()


def _load_state(module: nn.Module, sd: dict) -> tuple[list, list]:
    try:
        res = module.load_state_dict(sd, strict=False)
    except RuntimeError as e:                                 # shape mismatches
        text = str(e).strip()
        detail = text.splitlines()[1:2]
        first = text.splitlines()[0] if text else type(e).__name__
        raise ValueError("checkpoint weights do not fit the model: "
                         f"{(detail[0].strip() if detail else first)}") from None
    return list(res.missing_keys), list(res.unexpected_keys)
