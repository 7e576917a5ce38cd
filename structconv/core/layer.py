"""The data model: a Layer (conv2d, linear, transposed conv or activation matmul) and a Network of them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .checks import choice_field, int_field, pair_field, shown

# conv_transpose2d is counted as fvcore counts it: a stride-1 conv over the input map
# (Cin * Cout/g * kh * kw MACs per input pixel); no choice but dense applies to it.
# matmul is a product of two activations (attention's q.k^T and attn.v): no weights, only dense applies;
# it is stored as a grouped 1x1 conv, one group per head and batch, so counting and simulation (one GEMM
# per group, m = M rows, n = N columns, k = K) need no case of their own.
OPS = ("conv2d", "linear", "conv_transpose2d", "matmul")
PLANNABLE_OPS = ("conv2d", "linear")


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class Layer:
    """One conv2d or linear layer, with everything needed to count and simulate it.

    A linear layer is stored like a 1x1 convolution on a 1x1 input, so every
    downstream formula treats both alike.
    """

    name: str
    op: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: bool = False
    input_size: tuple[int, int] = (1, 1)
    shares: str | None = None        # a repeated call of the layer named here: same weights, counted once

    def __post_init__(self):
        where = f"layer {shown(self.name)}"
        if self.shares is not None and (not isinstance(self.shares, str) or not self.shares):
            raise ValueError(f"shares must be the name of the layer whose weights this call reuses, "
                             f"got {shown(self.shares)} (in {where})")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {shown(self.name)}")
        choice_field("op", self.op, OPS, where)
        set_ = object.__setattr__
        set_(self, "in_channels", int_field("in_channels", self.in_channels, 1, None, where))
        set_(self, "out_channels", int_field("out_channels", self.out_channels, 1, None, where))
        set_(self, "kernel", pair_field("kernel", self.kernel, 1, None, where))
        set_(self, "stride", pair_field("stride", self.stride, 1, None, where))
        set_(self, "padding", pair_field("padding", self.padding, 0, None, where))
        set_(self, "dilation", pair_field("dilation", self.dilation, 1, None, where))
        set_(self, "input_size", pair_field("input_size", self.input_size, 1, None, where))
        set_(self, "groups", int_field("groups", self.groups, 1, None, where))
        set_(self, "bias", bool(self.bias))
        g = self.groups
        if self.in_channels % g or self.out_channels % g:
            raise ValueError(
                f"groups = {g} must divide in_channels = {self.in_channels} and "
                f"out_channels = {self.out_channels}{'' if not where else f' (in {where})'}")
        if self.op == "linear" and (self.kernel != (1, 1) or self.input_size != (1, 1) or g != 1
                                    or self.stride != (1, 1) or self.padding != (0, 0)):
            raise ValueError(f"a linear layer has kernel (1, 1), input_size (1, 1) and groups 1 (in {where})")
        if self.op == "matmul" and (self.kernel != (1, 1) or self.stride != (1, 1) or self.padding != (0, 0)
                                    or self.dilation != (1, 1) or self.bias):
            raise ValueError(f"a matmul layer has kernel, stride and dilation (1, 1), padding 0 and no bias "
                             f"(in {where})")
        ho, wo = self.output_size
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"output size = ({ho}, {wo}) must be >= 1; input_size {self.input_size}, kernel "
                f"{self.kernel}, padding {self.padding}, dilation {self.dilation} (in {where})")

    # -- constructors -------------------------------------------------------
    @classmethod
    def conv2d(cls, name, in_channels, out_channels, kernel, input_size, stride=1, padding=0,
               dilation=1, groups=1, bias=False) -> Layer:
        return cls(name, "conv2d", in_channels, out_channels, kernel, stride, padding, dilation,
                   groups, bias, input_size)

    @classmethod
    def linear(cls, name, in_features, out_features, bias=True) -> Layer:
        return cls(name, "linear", in_features, out_features, bias=bias)

    @classmethod
    def matmul(cls, name, batch: int, m: int, k: int, n: int) -> Layer:
        """``batch`` products of an (m, k) by a (k, n) activation (heads x windows of one image)."""
        return cls(name, "matmul", batch * k, batch * n, groups=batch, input_size=(1, m))

    # -- derived ------------------------------------------------------------
    @property
    def output_size(self) -> tuple[int, int]:
        return (conv_out(self.input_size[0], self.kernel[0], self.stride[0], self.padding[0],
                         self.dilation[0]),
                conv_out(self.input_size[1], self.kernel[1], self.stride[1], self.padding[1],
                         self.dilation[1]))

    @property
    def group_in_channels(self) -> int:
        """Input channels each output channel sees (C / groups): the C of the structure math."""
        return self.in_channels // self.groups

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.group_in_channels == 1

    @property
    def kind(self) -> str:
        """'linear', 'matmul', 'transposed', 'depthwise', 'pointwise', 'grouped' or 'conv': what presets and
        rules key on."""
        if self.op in ("linear", "matmul"):
            return self.op
        if self.op == "conv_transpose2d":
            return "transposed"
        if self.is_depthwise:
            return "depthwise"
        if self.groups > 1:
            return "grouped"
        if self.kernel == (1, 1):
            return "pointwise"
        return "conv"

    def renamed(self, name: str) -> Layer:
        return replace(self, name=name)

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel": list(self.kernel),
                "stride": list(self.stride), "padding": list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups, "bias": self.bias,
                "input_size": list(self.input_size), "output_size": list(self.output_size),
                **({"shares": self.shares} if self.shares else {})}

    @classmethod
    def from_dict(cls, d: dict) -> Layer:
        keys = ("name", "op", "in_channels", "out_channels", "kernel", "stride", "padding",
                "dilation", "groups", "bias", "input_size", "shares")
        missing = [k for k in ("name", "op", "in_channels", "out_channels") if k not in d]
        if missing:
            raise ValueError(f"layer is missing field(s) {missing}")
        return cls(**{k: (tuple(d[k]) if isinstance(d[k], list) else d[k]) for k in keys if k in d})


def weight_shape(layer: Layer) -> tuple:
    """What two calls of one module must agree on to share its weights."""
    return (layer.op, layer.in_channels, layer.out_channels, layer.kernel, layer.groups, layer.bias)


def _check_shared(layer: Layer, by_name: dict, seen: set, where: str) -> None:
    first = by_name.get(layer.shares)
    if first is None or layer.shares not in seen or first.shares is not None:
        raise ValueError(f"layer {shown(layer.name)} shares = {shown(layer.shares)}, which is not an earlier "
                         f"layer with weights of its own (in {where})")
    if weight_shape(first) != weight_shape(layer):
        raise ValueError(f"layer {shown(layer.name)} shares the weights of {shown(layer.shares)} "
                         f"but their shapes differ: {weight_shape(layer)} vs {weight_shape(first)} "
                         f"(in {where})")


@dataclass(frozen=True)
class Network:
    """An ordered list of conv/linear layers plus the parameters that are not in them.

    ``extra_params`` holds BatchNorm affine parameters (and anything else with
    weights but no multiplies in our convention), so dense totals match torchinfo.
    """

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]
    extra_params: int = 0
    spec: object = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        where = f"network {shown(self.name)}"
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {shown(self.name)}")
        if isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__iter__"):
            raise TypeError(f"layers must be a sequence of Layer objects, "
                            f"got {type(self.layers).__name__} (in {where})")
        object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.input_shape, (str, bytes)) or not hasattr(self.input_shape, "__iter__"):
            raise TypeError(f"input_shape must be a sequence of positive integers such as (3, 224, 224), "
                            f"got {shown(self.input_shape)} (in {where})")
        object.__setattr__(self, "input_shape", tuple(
            int_field(f"input_shape[{i}]", v, 1, None, where) for i, v in enumerate(self.input_shape)))
        if not self.input_shape:
            raise ValueError(f"input_shape must hold at least one dimension, got () (in {where})")
        int_field("extra_params", self.extra_params, 0, None, where)
        if not self.layers:
            raise ValueError(f"network {shown(self.name)} has no layers")
        seen = set()
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise ValueError(f"layers must hold Layer objects, got {type(layer).__name__}")
            if layer.name in seen:
                raise ValueError(f"layer name {shown(layer.name)} appears twice "
                                 f"in network {shown(self.name)}")
            if layer.shares is not None:
                _check_shared(layer, {l.name: l for l in self.layers}, seen, where)
            seen.add(layer.name)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, key):
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"no layer named {key!r} in network {shown(self.name)}")
        return self.layers[key]

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def to_dict(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape),
                "extra_params": self.extra_params, "layers": [l.to_dict() for l in self.layers]}

    @classmethod
    def from_dict(cls, d: dict) -> Network:
        for k in ("name", "input_shape", "layers"):
            if k not in d:
                raise ValueError(f"network is missing field {shown(k)}")
        return cls(d["name"], tuple(d["input_shape"]), tuple(Layer.from_dict(l) for l in d["layers"]),
                   d.get("extra_params", 0))
