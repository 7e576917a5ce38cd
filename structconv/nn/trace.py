"""From a torch module to a core Network: ``network_from_module`` (forward hooks).

Every ``nn.Conv2d`` and ``nn.Linear`` that runs during one forward pass of the
example input becomes a core Layer named by the module's qualified name, with
the spatial input size the hook saw. All other parameters (BatchNorm affine
weights, LayerNorm, embeddings, ...) go into ``Network.extra_params`` so that the
network's parameter total equals ``sum(p.numel() for p in module.parameters())``
(what torchinfo reports).
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..core import Layer, Network


def conv_padding(module: nn.Conv2d) -> tuple[int, int, int, int]:
    """The zero padding a Conv2d applies, as F.pad's (left, right, top, bottom).

    Handles ``padding='same'`` (asymmetric for even kernels) and ``'valid'``.
    """
    if isinstance(module.padding, str):
        rp = module._reversed_padding_repeated_twice            # set by torch for 'same'/'valid'
        return tuple(int(v) for v in rp)
    ph, pw = module.padding
    return (pw, pw, ph, ph)


def _min_input(kernel, dilation) -> tuple[int, int]:
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


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
        if (l, t) != (r, b) and input_size is not None:
            warnings.warn(f"layer {name!r}: asymmetric padding {(t, b, l, r)} is counted as "
                          f"({max(t, b)}, {max(l, r)})", stacklevel=2)
        pad = (max(t, b), max(l, r))
        if input_size is None:
            kh, kw = module.kernel_size
            mh, mw = _min_input(module.kernel_size, module.dilation)
            input_size = (max(1, mh - 2 * pad[0]), max(1, mw - 2 * pad[1]))
        return Layer.conv2d(name or "conv", module.in_channels, module.out_channels, tuple(module.kernel_size),
                            tuple(input_size), stride=tuple(module.stride), padding=pad,
                            dilation=tuple(module.dilation), groups=module.groups,
                            bias=module.bias is not None)
    raise ValueError(f"layer {name!r} is a {type(module).__name__}, not an nn.Conv2d or nn.Linear")


def is_layer_module(module: nn.Module) -> bool:
    """Whether ``module`` is a core layer: an nn.Conv2d (not transposed) or an nn.Linear."""
    return isinstance(module, (nn.Conv2d, nn.Linear)) and not isinstance(module, nn.ConvTranspose2d)


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


class _Tracer:
    """Forward hooks that record each Conv2d/Linear call as a core Layer, and every compute the
    core model cannot count (functional convs and matmuls outside those modules)."""

    def __init__(self):
        self.layers: list[Layer] = []
        self.calls: dict[str, int] = {}
        self.traced: dict[str, nn.Module] = {}
        self.notes: list[str] = []                 # warnings for the caller, in order, once each
        self.stack: list[tuple[str, nn.Module]] = []
        self.uncounted: dict[str, list[str]] = {}  # op name -> modules it ran in

    def hook_for(self, qname: str):
        return lambda mod, args: self.record(qname, mod, args[0]) if args else None

    def record(self, qname: str, mod: nn.Module, x) -> None:
        k = self.calls.get(qname, 0)
        self.calls[qname] = k + 1
        lname = (qname or type(mod).__name__.lower()) + (f"#{k}" if k else "")
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"layer {lname!r}: input is a {type(x).__name__}, not a tensor")
        if isinstance(mod, nn.Linear):
            self.note(_flattened_linear(lname, x))
            self.layers.append(layer_from_module(lname, mod))
        else:
            if x.dim() != 4:
                raise ValueError(f"layer {lname!r}: Conv2d input must be 4-D, got shape {tuple(x.shape)}")
            with warnings.catch_warnings(record=True) as seen:   # asymmetric padding: said to the caller
                warnings.simplefilter("always")
                self.layers.append(layer_from_module(lname, mod, (int(x.shape[-2]), int(x.shape[-1]))))
            for w in seen:
                self.note(str(w.message))
        self.traced[qname] = mod

    def note(self, msg: str | None) -> None:
        if msg and msg not in self.notes:
            self.notes.append(msg)

    # -- where the forward pass is: a counted layer, a module counted elsewhere, or plain code
    def enter(self, qname: str, mod: nn.Module) -> None:
        self.stack.append((qname, mod))

    def leave(self) -> None:
        if self.stack:
            self.stack.pop()

    def saw_op(self, func) -> None:
        name = _op_name(func)
        if name is None or any(is_layer_module(m) or isinstance(m, UNCOUNTED_MODULES) for _, m in self.stack):
            return
        where = self.stack[-1][0] if self.stack else ""
        places = self.uncounted.setdefault(name, [])
        if where not in places:
            places.append(where)


#: torch functions that compute what a core layer counts (a conv, a product), by ``__name__``
COUNTED_OPS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
               "linear", "bilinear", "matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "addmm", "baddbmm",
               "einsum", "scaled_dot_product_attention", "lstm", "gru", "rnn_tanh", "rnn_relu")

#: module types whose compute the core model does not count (each warned about once per type)
UNCOUNTED_MODULES = (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                     nn.RNNBase, nn.RNNCellBase, nn.MultiheadAttention)


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
        self.tracer.saw_op(func)
        return func(*args, **(kwargs or {}))


def _flattened_linear(lname: str, x: torch.Tensor) -> str | None:
    extra = 1
    for s in x.shape[1:-1]:
        extra *= int(s)
    if x.dim() > 2 and extra > 1:
        return f"layer {lname!r}: Linear on input of shape {tuple(x.shape)} is counted for one position per sample"
    return None


def _inputs(example_input) -> tuple:
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    if not inputs or not isinstance(inputs[0], torch.Tensor):
        raise ValueError("example_input must be a tensor (or a tuple of tensors)")
    return inputs


def _run_traced(module: nn.Module, inputs: tuple, tracer: _Tracer) -> None:
    handles = [m.register_forward_pre_hook(tracer.hook_for(q)) for q, m in module.named_modules()
               if is_layer_module(m)]
    for q, m in module.named_modules():
        handles.append(m.register_forward_pre_hook(lambda mod, args, q=q: tracer.enter(q, mod)))
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
             f"their compute is not counted, their parameters go to extra_params" for kind, names in by_type.items()]
    for op, places in tracer.uncounted.items():
        shown_places = [p or "the top-level forward" for p in places[:3]]
        notes.append(f"torch.{op} ran outside an nn.Conv2d/nn.Linear module (in {shown_places}"
                     f"{' ...' if len(places) > 3 else ''}): its compute is not counted")
    return notes


def network_from_module(module: nn.Module, example_input, name: str | None = None) -> Network:
    """Build a core Network by running ``module`` once on ``example_input``.

    Layer names are qualified module names (``layer1.0.conv1``), so a Plan written
    for the Network applies to the module (``structural_regularization``,
    ``decompose``). A module called more than once yields one Layer per call
    (``name``, ``name#1``, ...), so multiplies are right; its parameters then count
    once per call. Conv1d/Conv3d/transposed convs are not layers of the core model:
    their parameters go to ``extra_params``. Compute the core model cannot count (Conv1d/Conv3d,
    transposed convs, RNNs, attention, functional ``F.conv2d``/``F.linear``/matmul calls outside
    an nn.Conv2d/nn.Linear) is warned about once per module type or op, at the caller's line.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    inputs = _inputs(example_input)
    tracer = _Tracer()
    _run_traced(module, inputs, tracer)
    if not tracer.layers:
        raise ValueError("the module ran no nn.Conv2d or nn.Linear on the example input")
    for msg in tracer.notes + uncounted_notes(module, tracer):    # at the caller's line, once per kind
        warnings.warn(f"network_from_module: {msg}", UserWarning, stacklevel=2)
    total = sum(p.numel() for p in module.parameters())
    # parametrized originals included: a structured layer owns its alpha
    in_layers = {id(p): p.numel() for m in tracer.traced.values() for p in m.parameters(recurse=True)}
    extra = total - sum(in_layers.values())
    shape = tuple(int(v) for v in inputs[0].shape[1:])
    return Network(name or type(module).__name__, shape, tuple(tracer.layers), max(0, int(extra)))
