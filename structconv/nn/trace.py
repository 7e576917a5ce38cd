"""From a torch module to a core Network: ``network_from_module`` (forward hooks + a torch-function watch).

Every ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear`` that runs during one forward pass of
the example input becomes a core Layer named by the module's qualified name, with the shapes the
conv or matmul actually saw. So are functional ``F.conv2d``/``F.conv_transpose2d``/``F.linear``
calls and ``x @ w`` products whose weight is a parameter of the module (named by the parameter, less
".weight"), ``nn.MultiheadAttention`` calls (projections and per-head products, nn/attention.py) and
every product of two activations (``q @ k.transpose(-2, -1)``, ``F.scaled_dot_product_attention``):
``matmul`` layers ``<module>.matmul<i>``, which only ``dense`` applies to. All other parameters
(BatchNorm affine weights, LayerNorm, embeddings, ...) go into ``Network.extra_params`` so that the
network's parameter total equals ``sum(p.numel() for p in module.parameters())`` (torchinfo).

Counting conventions (each equals fvcore's conv/linear MACs):
* padding done inside a conv module's forward (timm ``Conv2dSame``, TF "same", ``F.pad`` then
  ``F.conv2d``) is part of the layer: symmetric -> ``padding``; asymmetric -> ``input_size``
  enlarged by the pads and ``padding`` 0, so the output size and the counts stay exact;
* a Linear on an (d0, d1, ..., dk, C) tensor runs at every position of every leading dimension but the
  image batch N (the example input's first dimension; windows or patches folded into d0 count): it
  becomes a 1x1 conv2d Layer on a (d0*...*d(k-1)/N, dk) map (an (N, H, W, C) input -> an H x W map);
* a transposed conv multiplies each input pixel by a Cout/g x kh x kw kernel: a stride-1 conv2d
  Layer over the input map (input enlarged by dilation*(k-1), output = input size), so mults =
  Cin * Cout/g * kh * kw * H_in * W_in and params = the weight's;
* a module called several times is one Layer per call (``name``, ``name#1``, ...).
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..core import Layer, Network, Plan, conv_layer, linear_layer, transposed_layer
from . import attention as att
from .layer_shapes import _min_input, conv_padding, padding_pairs

CONV_FUNCS = ("conv2d", "conv_transpose2d", "linear")


#: attribute of a module that replaced a planned layer for training (a kind's trainable form):
#: the core Layer it stands for, so the plan still resolves on the trained model
PLANNED_LAYER = "structconv_layer"


def layer_from_module(name: str, module: nn.Module, input_size=None) -> Layer:
    """The core Layer of a Conv2d or Linear (``input_size`` (H, W); by default the
    smallest input the kernel fits, enough for ``Choice.validate``), or the one a
    trainable replacement module stands for (``PLANNED_LAYER``)."""
    planned = getattr(module, PLANNED_LAYER, None)
    if planned is not None:
        return planned
    if isinstance(module, nn.Linear):
        return Layer.linear(name or "linear", module.in_features, module.out_features,
                            bias=module.bias is not None)
    if isinstance(module, nn.Conv2d) and not isinstance(module, nn.ConvTranspose2d):
        l, r, t, b = conv_padding(module)
        if input_size is None:                       # a validation stand-in: padding as its larger side
            pad = (max(t, b), max(l, r))
            mh, mw = _min_input(module.kernel_size, module.dilation)
            input_size = (max(1, mh - 2 * pad[0]), max(1, mw - 2 * pad[1]))
            t = b = pad[0]
            l = r = pad[1]
        return conv_layer(name or "conv", module.in_channels, module.out_channels, module.kernel_size,
                          input_size, ((t, b), (l, r)), stride=module.stride, dilation=module.dilation,
                          groups=module.groups, bias=module.bias is not None)
    raise ValueError(f"layer {name!r} is a {type(module).__name__}, not an nn.Conv2d or nn.Linear")


def is_layer_module(module: nn.Module) -> bool:
    """Whether ``module`` is a core layer a plan can change: an nn.Conv2d (not transposed) or an nn.Linear."""
    return isinstance(module, (nn.Conv2d, nn.Linear)) and not isinstance(module, nn.ConvTranspose2d)


def is_counted_module(module: nn.Module) -> bool:
    """Whether tracing counts ``module``'s calls: a layer module, an nn.ConvTranspose2d or an
    nn.MultiheadAttention."""
    return is_layer_module(module) or isinstance(module, (nn.ConvTranspose2d, nn.MultiheadAttention))


def layer_base(param_name: str) -> str:
    """The layer name of a parameter used functionally: its module's name for a ``.weight``."""
    return param_name[: -len(".weight")] if param_name.endswith(".weight") else param_name


def module_network(module: nn.Module, name: str | None = None) -> Network:
    """A core Network of ``module``'s Conv2d/Linear layers in registration order, without running it.

    Input sizes are the smallest each kernel fits (enough to validate and resolve plans,
    not to count ops: use ``network_from_module`` for that). For the zoo modules the
    registration order is the core network's layer order.
    """
    layers = tuple(layer_from_module(n, m) for n, m in _layer_modules(module))
    if not layers:
        raise ValueError(f"module {type(module).__name__} has no nn.Conv2d or nn.Linear layer")
    return Network(name or type(module).__name__, (layers[0].in_channels, 1, 1), layers, 0)


def _layer_modules(module: nn.Module):
    """(name, module) of every Conv2d/Linear and trainable replacement (not the layers inside one)."""
    inside = None
    for name, m in module.named_modules():
        if inside is not None and name.startswith(inside):
            continue
        if hasattr(m, PLANNED_LAYER):
            inside = f"{name}." if name else ""
            yield name, m
        elif is_layer_module(m):
            yield name, m


# -- repeated calls: "body#1" is a call of module "body" -------------------------------------------
_CALL = re.compile(r"^(.+)#([1-9][0-9]*)$")


def module_of_call(layer_name: str) -> str:
    """The module a traced layer name stands for: ``body#2`` -> ``body``."""
    m = _CALL.match(layer_name)
    return m.group(1) if m else layer_name


def fold_repeated_calls(plan):
    """``plan`` with each ``X#k`` entry merged onto ``X`` (a module is one set of weights, whatever
    the calls), so a plan made on a traced network applies to the module. ValueError when two calls
    of one module get different choices. References other than a Plan, a mapping of layer names or
    a plan file pass through unchanged."""
    if isinstance(plan, (str, os.PathLike)) and Path(plan).suffix.lower() in (".yaml", ".yml", ".json") \
            and Path(plan).is_file():
        plan = Plan.load(plan)
    if isinstance(plan, dict) and "layers" not in plan:
        plan = Plan(plan)
    if not isinstance(plan, Plan) or not any(_CALL.match(k) for k in plan.choices):
        return plan
    merged: dict = {}
    for name, choice in plan.choices.items():
        base = module_of_call(name)
        if base in merged and merged[base][1].to_dict() != choice.to_dict():
            raise ValueError(f"plan {plan.name!r} gives layer {merged[base][0]!r} {merged[base][1].label!r} "
                             f"and {name!r} {choice.label!r}: calls of one module share its weights, "
                             "so they need one choice")
        merged.setdefault(base, (name, choice))
    return Plan({k: c for k, (_, c) in merged.items()}, name=plan.name, model=plan.model)


# -- tracing -------------------------------------------------------------------------------------
class _Call:
    """One run of a counted module: its input shape, the F.pad and conv/linear calls inside it."""

    def __init__(self, qname: str, mod: nn.Module, x, inputs=()):
        self.qname, self.mod, self.inputs = qname, mod, inputs
        self.shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None
        self.kind = type(x).__name__
        self.pads: list = []
        self.op = None                              # (func name, args, kwargs) of the first conv/linear


def _arg(args, kwargs, i: int, key: str, default):
    return args[i] if len(args) > i else kwargs.get(key, default)


class _Tracer:
    """Records each counted module call and each functional conv/linear on a parameter as a core
    Layer, and every compute the core model cannot count (functional ops outside those)."""

    def __init__(self, module: nn.Module, batch: int = 1):
        self.batch = batch                          # images in the example input: not counted positions
        self.products: dict[str, int] = {}         # module name -> matmul layers named in it so far
        self.layers: list[Layer] = []
        self.first: dict[str, Layer] = {}          # module name -> the Layer of its first call
        self.calls: dict[str, int] = {}
        self.traced: dict[int, nn.Parameter] = {}   # id -> parameter the layers hold (counted once)
        self.param_names = {id(p): n for n, p in module.named_parameters()}
        self.notes: list[str] = []                 # warnings for the caller, in order, once each
        self.stack: list[tuple[str, nn.Module, _Call | None]] = []
        self.uncounted: dict[str, list[str]] = {}  # op name -> modules it ran in

    def layer_name(self, base: str) -> str:
        k = self.calls.get(base, 0)
        self.calls[base] = k + 1
        return base + (f"#{k}" if k else "")

    def add(self, layer: Layer) -> None:
        """``layer``; a repeated call (``base#k``) shares the first call's weights (params counted once)."""
        base = module_of_call(layer.name)
        first = self.first.get(base)
        if first is None or base == layer.name:
            self.first.setdefault(base, layer)
        elif _weight_shape(first) == _weight_shape(layer):
            layer = replace(layer, shares=base)
        self.layers.append(layer)

    def note(self, msg: str | None) -> None:
        if msg and msg not in self.notes:
            self.notes.append(msg)

    # -- where the forward pass is: a counted layer, a module counted elsewhere, or plain code
    def enter(self, qname: str, mod: nn.Module, args, kwargs=None) -> None:
        call = None
        if isinstance(mod, nn.MultiheadAttention):
            call = _Call(qname, mod, args[0] if args else None, att.attention_inputs(mod, args, kwargs or {}))
        elif is_counted_module(mod):
            call = _Call(qname, mod, args[0] if args else None)
        self.stack.append((qname, mod, call))

    def leave(self) -> None:
        if not self.stack:
            return
        _, mod, call = self.stack.pop()
        if isinstance(mod, nn.MultiheadAttention):
            self.attention(call)
        elif call is not None:
            self.add(self.module_layer(call))
            self.traced.update((id(p), p) for p in mod.parameters())

    def attention(self, call: _Call) -> None:
        """An nn.MultiheadAttention call: its projections and per-head products (nn/attention.py)."""
        if not all(isinstance(x, torch.Tensor) for x in call.inputs):
            raise ValueError(f"layer {call.qname!r}: query, key and value must be tensors")
        start = self.products.get(call.qname, 0)
        layers = att.attention_layers(call.qname, call.mod, call.inputs, self.batch, start)
        for layer in layers:
            if layer.op == "matmul":
                self.layers.append(layer)
            else:
                self.add(replace(layer, name=self.layer_name(layer.name)))
        self.products[call.qname] = start + sum(layer.op == "matmul" for layer in layers)
        self.traced.update((id(p), p) for p in att.attention_params(call.mod))

    def product(self, name: str, args, kwargs) -> None:
        """A product outside a counted module: a Linear when the right operand is a parameter, else the
        matmul layer(s) of two activations, named in the module that ran it."""
        weight = att.weight_operand(name, args, kwargs, self.param_names)
        if weight is not None:
            x = args[1] if name == "addmm" else args[0]
            lname = self.layer_name(layer_base(self.param_names[id(weight)]))
            self.add(linear_layer(lname, weight.shape[0], weight.shape[1], tuple(x.shape), False, self.batch))
            self.traced[id(weight)] = weight
            return
        where = self.stack[-1][0] if self.stack else ""
        start = self.products.get(where, 0)
        layers = att.matmul_layers(where, start, att.products(name, args, kwargs), self.batch)
        self.layers.extend(layers)
        self.products[where] = start + len(layers)

    def module_layer(self, call: _Call) -> Layer:
        lname = self.layer_name(call.qname or type(call.mod).__name__.lower())
        if call.shape is None:
            raise ValueError(f"layer {lname!r}: input is a {call.kind}, not a tensor")
        mod = call.mod
        if isinstance(mod, nn.Linear):
            shape = _op_input_shape(call) or call.shape
            return linear_layer(lname, mod.in_features, mod.out_features, shape, mod.bias is not None,
                                self.batch)
        if len(call.shape) not in (3, 4):
            raise ValueError(f"layer {lname!r}: {type(mod).__name__} input must be 4-D, "
                             f"got shape {call.shape}")
        hw = call.shape[-2:]
        if isinstance(mod, nn.ConvTranspose2d):
            return transposed_layer(lname, mod.in_channels, mod.out_channels, mod.kernel_size, hw,
                                    mod.dilation, mod.groups, mod.bias is not None)
        return self.padded_conv(lname, mod, call, hw)

    def padded_conv(self, lname: str, mod: nn.Conv2d, call: _Call, hw) -> Layer:
        """The conv as it ran: padding applied in forward (F.pad) folded into the layer's pads."""
        own = padding_pairs(mod.padding, mod.kernel_size, mod.dilation)
        seen = _op_input_shape(call)
        if call.op is not None and call.op[0] == "conv2d":
            args, kwargs = call.op[1], call.op[2]
            own = padding_pairs(_arg(args, kwargs, 4, "padding", 0), mod.kernel_size, mod.dilation)
        pads, size = own, hw
        if seen is not None and tuple(seen[-2:]) != tuple(hw):
            fwd = _forward_pads(call.pads, hw, seen[-2:])
            pads = tuple((o[0] + f[0], o[1] + f[1]) for o, f in zip(own, fwd)) if fwd else own
            size = hw if fwd else tuple(seen[-2:])
        return conv_layer(lname, mod.in_channels, mod.out_channels, mod.kernel_size, size, pads,
                          stride=mod.stride, dilation=mod.dilation, groups=mod.groups,
                          bias=mod.bias is not None)

    def saw_op(self, func, args, kwargs) -> None:
        name = _op_name(func)
        if name is None:
            return
        top = self.stack[-1][2] if self.stack else None
        if top is not None:                          # the counted module's own pad / conv / matmul
            if name == "pad":
                top.pads.append(_arg(args, kwargs, 1, "pad", ()))
            elif name in CONV_FUNCS and top.op is None:
                top.op = (name, args, kwargs)
            return
        if name == "pad" or any(is_counted_module(m) or isinstance(m, UNCOUNTED_MODULES)
                                for _, m, _ in self.stack):
            return
        weight = _arg(args, kwargs, 1, "weight", None)
        if name in CONV_FUNCS and isinstance(weight, nn.Parameter) and id(weight) in self.param_names:
            self.functional_layer(name, args, kwargs, weight)
            return
        if name in att.PRODUCT_OPS:
            self.product(name, args, kwargs)
            return
        where = self.stack[-1][0] if self.stack else ""
        places = self.uncounted.setdefault(name, [])
        if where not in places:
            places.append(where)

    def functional_layer(self, name: str, args, kwargs, weight) -> None:
        """F.conv2d / F.conv_transpose2d / F.linear on a parameter: a layer named by the parameter."""
        x, bias = args[0], _arg(args, kwargs, 2, "bias", None)
        lname = self.layer_name(layer_base(self.param_names[id(weight)]))
        has_bias = isinstance(bias, torch.Tensor)
        w = tuple(weight.shape)
        if name == "linear":
            layer = linear_layer(lname, w[1], w[0], tuple(x.shape), has_bias, self.batch)
        elif name == "conv2d":
            g = int(_arg(args, kwargs, 6, "groups", 1))
            stride, dil = (_pair(_arg(args, kwargs, 3, "stride", 1)),
                           _pair(_arg(args, kwargs, 5, "dilation", 1)))
            pads = padding_pairs(_arg(args, kwargs, 4, "padding", 0), w[2:], dil)
            layer = conv_layer(lname, w[1] * g, w[0], w[2:], tuple(x.shape[-2:]), pads, stride=stride,
                               dilation=dil, groups=g, bias=has_bias)
        else:
            g, dil = int(_arg(args, kwargs, 6, "groups", 1)), _pair(_arg(args, kwargs, 7, "dilation", 1))
            layer = transposed_layer(lname, w[0], w[1] * g, w[2:], tuple(x.shape[-2:]), dil, g, has_bias)
        self.add(layer)
        self.traced[id(weight)] = weight
        if has_bias and id(bias) in self.param_names:
            self.traced[id(bias)] = bias


def _weight_shape(layer: Layer) -> tuple:
    """What two calls must agree on to share one set of weights (core checks the same)."""
    return (layer.op, layer.in_channels, layer.out_channels, layer.kernel, layer.groups, layer.bias)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(x) for x in v)


def _op_input_shape(call: _Call):
    if call.op is None or not isinstance(call.op[1][0] if call.op[1] else None, torch.Tensor):
        return None
    return tuple(call.op[1][0].shape)


def _forward_pads(pad_calls: list, hw, seen) -> tuple | None:
    """((top, bottom), (left, right)) that F.pad calls inside the module added, when they explain the
    size the conv saw; None otherwise (the conv's own input is then the layer's input)."""
    top = bottom = left = right = 0
    for p in pad_calls:
        p = [int(v) for v in p]
        left, right = left + p[0], right + p[1]
        if len(p) >= 4:
            top, bottom = top + p[2], bottom + p[3]
    ok = (hw[0] + top + bottom, hw[1] + left + right) == tuple(seen) and min(top, bottom, left, right) >= 0
    return ((top, bottom), (left, right)) if pad_calls and ok else None


#: torch functions that compute what a core layer counts (a conv, a product), by ``__name__``
COUNTED_OPS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
               "linear", "bilinear", "matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "addmm", "baddbmm",
               "einsum", "scaled_dot_product_attention", "lstm", "gru", "rnn_tanh", "rnn_relu", "pad")

#: module types whose compute the core model does not count (each warned about once per type)
UNCOUNTED_MODULES = (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose3d,
                     nn.RNNBase, nn.RNNCellBase)


def _op_name(func) -> str | None:
    name = getattr(func, "__name__", None)
    if name not in COUNTED_OPS:
        return None
    return "matmul" if name in ("__matmul__", "__rmatmul__") else name


class _OpWatch(TorchFunctionMode):
    """Sees every torch function the forward pass calls (nothing is changed)."""

    def __init__(self, tracer: _Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        swap = getattr(func, "__name__", "") == "__rmatmul__"       # b.__rmatmul__(a) is a @ b
        seen = (args[1], args[0]) + tuple(args[2:]) if swap else args
        self.tracer.saw_op(func, seen, kwargs)
        return func(*args, **kwargs)


def _inputs(example_input) -> tuple:
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    if not inputs or not isinstance(inputs[0], torch.Tensor):
        raise ValueError("example_input must be a tensor (or a tuple of tensors)")
    return inputs


def _run_traced(module: nn.Module, inputs: tuple, tracer: _Tracer) -> None:
    handles = []
    for q, m in module.named_modules():
        handles.append(m.register_forward_pre_hook(
            lambda mod, args, kwargs, q=q: tracer.enter(q, mod, args, kwargs), with_kwargs=True))
        handles.append(m.register_forward_hook(lambda mod, args, out: tracer.leave()))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad(), _OpWatch(tracer):
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)


def uncounted_notes(module: nn.Module, tracer: _Tracer) -> list[str]:
    """One line per module type and per functional op whose compute the Network leaves out."""
    by_type: dict[str, list[str]] = {}
    for q, m in module.named_modules():
        if isinstance(m, UNCOUNTED_MODULES) and not is_layer_module(m):
            by_type.setdefault(f"nn.{type(m).__name__}", []).append(q or "(the module itself)")
    notes = [f"{kind} layers {names[:5]}{' ...' if len(names) > 5 else ''} are not nn.Conv2d/nn.Linear: "
             f"their compute is not counted, their parameters go to extra_params"
             for kind, names in by_type.items()]
    for op, places in tracer.uncounted.items():
        shown_places = [p or "the top-level forward" for p in places[:3]]
        notes.append(f"torch.{op} ran outside an nn.Conv2d/nn.Linear module (in {shown_places}"
                     f"{' ...' if len(places) > 3 else ''}) on a weight that is not a parameter: "
                     f"its compute is not counted")
    return notes


def trace_module(module: nn.Module, example_input, name: str | None = None) -> tuple[Network, list[str]]:
    """(Network, notes): ``network_from_module`` without warning (the notes are the warnings)."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    inputs = _inputs(example_input)
    tracer = _Tracer(module, int(inputs[0].shape[0]) if inputs[0].dim() else 1)
    _run_traced(module, inputs, tracer)
    if not tracer.layers:
        raise ValueError("the module ran no nn.Conv2d, nn.ConvTranspose2d or nn.Linear on the example input")
    total = sum(p.numel() for p in module.parameters())
    # parametrized originals included: a structured layer owns its alpha
    extra = total - sum(p.numel() for p in tracer.traced.values())
    shape = tuple(int(v) for v in inputs[0].shape[1:])
    net = Network(name or type(module).__name__, shape, tuple(tracer.layers), max(0, int(extra)))
    return net, tracer.notes + uncounted_notes(module, tracer)


def network_from_module(module: nn.Module, example_input, name: str | None = None) -> Network:
    """Build a core Network by running ``module`` once on ``example_input``.

    Layer names are qualified module names (``layer1.0.conv1``), so a Plan written
    for the Network applies to the module (``structural_regularization``,
    ``decompose``). A module called more than once yields one Layer per call
    (``name``, ``name#1``, ...), so multiplies are right; a plan naming ``name#1`` applies to the
    module (``fold_repeated_calls``). Conv1d/Conv3d are not layers of the core model: their
    parameters go to ``extra_params``. Compute the core model cannot count (Conv1d/Conv3d, RNNs,
    attention, functional convs and matmuls on weights that are not parameters) is warned about
    once per module type or op, at the caller's line. See the module doc for the conventions.
    """
    net, notes = trace_module(module, example_input, name)
    for msg in notes:                                        # at the caller's line, once per kind
        warnings.warn(f"network_from_module: {msg}", UserWarning, stacklevel=2)
    return net
