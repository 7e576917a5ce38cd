"""ONNX files as model references: ``load_onnx(path)`` -> core Network (the ``onnx`` importer, ``*.onnx``).

Only the graph and the initializers' SHAPES are read (no weight data is needed: an initializer
may also be declared as a graph input with a static shape, as weight-stripped files do; every
graph input after the first is taken as a weight). Shapes come from ``onnx.shape_inference``.

Counted nodes, with the same conventions as nn's ``network_from_module`` (both build their layers with
core/layer_shapes.py), so a torch model exported to ONNX imports to the same counts:
* Conv (2-D): group, dilations, strides, pads, auto_pad SAME_UPPER / SAME_LOWER / VALID;
  asymmetric pads enlarge the layer's input_size (padding 0), so counts and output size are exact;
* ConvTranspose (2-D): a stride-1 conv over the input map, mults = Cin*Cout/g*kh*kw*H_in*W_in (fvcore);
* Gemm with a constant B: a linear layer; MatMul with a constant 2-D weight (directly, or through
  Transpose / Identity / Cast of one): every position of an (N, d1, ..., dk, K) input counted, as a
  1x1 conv on a (d1*...*d(k-1), dk) map; an Add of a constant (M,) vector right after it is its bias.
Layer names: the weight's name without ".weight" (torch exports keep parameter names), else the
bias's without ".bias", else the node's; a weight used by several nodes gives ``name``, ``name#1``...
Params: every float initializer (and weight input) once; BatchNormalization's running mean and
variance are buffers, not parameters (torchinfo does not count them). Those not in a counted layer
go to ``extra_params``. Nodes without MACs are listed in ``network.spec.uncounted_ops``;
compute-bearing nodes that cannot be counted give one warning per op type, naming the node.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import replace
from pathlib import Path

from ..core import (ImportInfo, Layer, Network, check_input_shape, conv_layer, linear_layer, shown, tf_same_pads,
                    transposed_layer)
from ._onnx_fold import FLOAT_TYPES, attrs as _attrs, dims as _dims, folded_and_inferred as _folded_and_inferred
from ._onnx_fold import onnx_module as _onnx

PASS_THROUGH = ("Transpose", "Identity", "Cast", "CastLike")     # a weight seen through these is still the weight

#: ops with no multiply-accumulates in the counting convention (listed, not counted, not warned about)
NO_MACS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization BitShift Cast CastLike
Ceil Celu Clip Compress Concat ConcatFromSequence Constant ConstantOfShape Cos Cosh CumSum DepthToSpace
DequantizeLinear Div Dropout DynamicQuantizeLinear Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather
GatherElements GatherND Gelu GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample
GroupNormalization HardSigmoid HardSwish Hardmax Identity InstanceNormalization IsInf IsNaN LRN
LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax LpNormalization LpPool MaxPool MaxRoiPool
MaxUnpool Max Mean Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or PRelu Pad Pow
QuantizeLinear Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin
ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RoiAlign Round ScatterElements
ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split
SplitToSequence Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unique Unsqueeze
Upsample Where Xor RMSNormalization SkipLayerNormalization Swish
""".split())


def is_onnx_ref(ref) -> bool:
    return isinstance(ref, str) and ref.lower().endswith(".onnx")


def _read(path):
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"model file {shown(str(path))} does not exist" if not p.exists()
                         else f"model file {shown(str(path))} is not a file")
    try:
        return onnx.load(str(p), load_external_data=False)
    except Exception as e:                        # a truncated or foreign file: protobuf's own errors
        raise ValueError(f"model file {shown(str(path))} is not a readable ONNX model ({type(e).__name__})") from e


def _set_dims(value_info, dims) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for v in dims:
        shape.dim.add().dim_value = int(v)


def _fix_inputs(model, input_shape, path) -> tuple[str, dict]:
    """The data input's name, the weights declared as inputs {name: shape}; the data input's dims made concrete."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if not inputs:
        raise ValueError(f"model file {shown(str(path))}: the graph has no input")
    data, weights = inputs[0], {}
    for w in inputs[1:]:
        dims = _dims(w.type)
        if dims is None or None in dims:
            raise ValueError(f"model file {shown(str(path))}: graph input {shown(w.name)} (taken as a weight) "
                             f"has no static shape")
        weights[w.name] = (dims, w.type.tensor_type.elem_type)
    dims = _dims(data.type) or ()
    if input_shape is not None:
        shape = check_input_shape(input_shape)
        if len(shape) != len(dims):
            raise ValueError(f"input_shape = {','.join(map(str, shape))} has {len(shape)} dimensions; the ONNX input "
                             f"{shown(data.name)} has {len(dims)}")
        dims = shape
    elif None in dims[1:] or not dims:
        raise ValueError(f"model file {shown(str(path))}: input {shown(data.name)} has symbolic dimensions "
                         f"{dims}: give input_shape (--input-shape N,C,H,W)")
    dims = tuple(1 if v is None else v for v in dims)
    _set_dims(data, dims)
    return data.name, weights


class _Graph:
    """Shapes of every value, the constants (weights) and who consumes what."""

    def __init__(self, model, data_name: str, weight_inputs: dict):
        inferred = _folded_and_inferred(model)
        g = inferred.graph
        self.nodes = list(g.node)
        self.data_name = data_name
        self.shapes = {v.name: _dims(v.type) for v in list(g.input) + list(g.value_info) + list(g.output)}
        self.params: dict[str, tuple] = {}       # float weights: name -> shape
        self.consts: dict[str, tuple[str, tuple]] = {}   # value -> (the weight it is, its shape here)
        original = {i.name for i in model.graph.initializer}
        for i in g.initializer:
            self._const(i.name, tuple(i.dims), i.data_type if i.name in original else None)
        for name, (dims, dtype) in weight_inputs.items():
            self._const(name, tuple(dims), dtype)
        self.values = {i.name: _small_ints(i) for i in g.initializer if i.data_type in (6, 7)}
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for v in n.input:
                self.consumers.setdefault(v, []).append(n)
            self._constant_node(n)

    def _const(self, name, dims, dtype) -> None:
        self.shapes[name] = dims
        self.consts[name] = (name, dims)
        if dtype is not None and dtype in FLOAT_TYPES:
            self.params[name] = dims

    def _constant_node(self, n) -> None:
        if n.op_type == "Constant" and n.output:
            t = _attrs(n).get("value")
            if t is not None and hasattr(t, "dims"):
                self.consts[n.output[0]] = (n.output[0], tuple(t.dims))
                if t.data_type in (6, 7):
                    self.values[n.output[0]] = _small_ints(t)
        elif n.op_type in PASS_THROUGH and n.input and n.input[0] in self.consts:
            src = self.consts[n.input[0]][0]
            self.consts[n.output[0]] = (src, self.shapes.get(n.output[0]) or self.consts[n.input[0]][1])

    def zero_pad_before(self, name):
        """(input, ((top, bottom), (left, right))) when ``name`` is a zero Pad of H and W only that feeds one node."""
        n = self.producer.get(name)
        if n is None or n.op_type != "Pad" or len(self.consumers.get(name, [])) != 1 or len(n.input) < 2:
            return None
        a = _attrs(n)
        pads = self.values.get(n.input[1])
        value = self.values.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if a.get("mode", "constant") != "constant" or pads is None or len(pads) != 8 or (value and any(value)) \
                or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0 or (len(n.input) > 3 and n.input[3]):
            return None
        return n.input[0], ((pads[2], pads[6]), (pads[3], pads[7]))

    def shape(self, name) -> tuple | None:
        s = self.shapes.get(name)
        return None if s is None or None in s else tuple(int(v) for v in s)

    def const(self, name) -> tuple[str, tuple] | None:
        return self.consts.get(name)


def _small_ints(t) -> list | None:
    """The values of a small integer tensor (a shape or pads vector), None for large or external ones."""
    if math.prod(t.dims) > 64 or t.data_location == 1:
        return None
    try:
        return [int(v) for v in _onnx().numpy_helper.to_array(t).reshape(-1)]
    except Exception:                             # an unreadable constant just is not folded
        return None


def _conv_pads(a: dict, x_hw, k, s, d) -> tuple:
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [tf_same_pads(x_hw[i], k[i], s[i], d[i]) for i in range(2)]
        return tuple(p if auto == "SAME_UPPER" else p[::-1] for p in pairs)
    if auto == "VALID":
        return ((0, 0), (0, 0))
    p = list(a.get("pads", [0, 0, 0, 0]))
    return ((p[0], p[2]), (p[1], p[3]))


class _Importer:
    def __init__(self, graph: _Graph):
        self.g = graph
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.calls: dict[str, int] = {}
        self.first_use: dict[str, Layer] = {}     # weight -> the layer of its first use
        self.in_layers: set[str] = set()          # weights held by counted layers
        self.absorbed: set[int] = set()           # ids of Add nodes folded into a MatMul as its bias
        self.uncounted: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.warned: set[str] = set()

    def base_name(self, node, weight: str | None, bias: str | None) -> str:
        if weight and weight.endswith(".weight"):
            return weight[: -len(".weight")]
        if bias and bias.endswith(".bias"):
            return bias[: -len(".bias")]
        if weight in self.g.params and not re.fullmatch(r"val_[0-9]+", weight):
            return weight                                  # a parameter used functionally (F.conv2d(x, self.w))
        return node.name or f"{node.op_type}_{len(self.layers)}"

    def named(self, layer: Layer, node, weight: str | None, bias: str | None) -> Layer:
        """``layer`` renamed: a weight's first use by its name, each later use ``name#k`` sharing it."""
        first = self.first_use.get(weight)
        if first is not None:
            k = self.calls[first.name]
            self.calls[first.name] = k + 1
            shared = replace(layer, name=f"{first.name}#{k}", shares=first.name)
            if _weight_shape(shared) == _weight_shape(first) and shared.name not in self.names:
                self.names.add(shared.name)
                return shared
        base = name = self.base_name(node, weight, bias)
        i = 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        self.calls[name] = 1
        out = replace(layer, name=name)
        self.first_use.setdefault(weight, out)
        return out

    def warn(self, node, why: str) -> None:
        self.uncounted.setdefault(node.op_type, []).append(node.name)
        if node.op_type not in self.warned:
            self.warned.add(node.op_type)
            self.notes.append(f"{node.op_type} node {shown(node.name)} {why}: its compute is not counted")

    def run(self) -> None:
        handlers = {"Conv": self.conv, "ConvTranspose": self.conv_transpose, "Gemm": self.gemm, "MatMul": self.matmul}
        for node in self.g.nodes:
            if node.op_type in handlers and node.domain in ("", "ai.onnx"):
                why = handlers[node.op_type](node)
                if why:
                    self.warn(node, why)
            elif id(node) in self.absorbed:
                continue
            elif node.op_type == "Constant":
                continue
            elif node.op_type in NO_MACS and node.domain in ("", "ai.onnx"):
                self.uncounted.setdefault(node.op_type, []).append(node.name)
            else:
                self.warn(node, "is not an operator structconv knows")

    def _inputs(self, node, n: int) -> list[str | None]:
        ins = list(node.input) + [""] * n
        return [v or None for v in ins[:n]]

    def _bias(self, b_name) -> str | None:
        """The bias parameter behind ``b_name`` (a computed zero bias, as F.conv2d without one exports, is none)."""
        c = self.g.const(b_name) if b_name else None
        return c[0] if c is not None and c[0] in self.g.params else None

    def _add(self, layer: Layer, node, weight: str, bias: str | None) -> None:
        self.layers.append(self.named(layer, node, weight, bias))
        self.in_layers.update(w for w in (weight, bias) if w)

    def conv(self, node) -> str | None:
        x_name, w_name, b_name = self._inputs(node, 3)
        x, w = self.g.shape(x_name), self.g.const(w_name)
        if w is None:
            return "has a weight that is not a constant"
        if x is None or len(x) != 4 or len(w[1]) != 4:
            return "is not a 2-D convolution with known shapes"
        a = _attrs(node)
        k = tuple(a.get("kernel_shape", w[1][2:]))
        s, d, grp = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1))), int(a.get("group", 1))
        if x[1] != w[1][1] * grp:
            raise ValueError(f"Conv node {shown(node.name)}: input has {x[1]} channels, its weight {w[1]} with "
                             f"group {grp} needs {w[1][1] * grp} (is the input shape right?)")
        bias = self._bias(b_name)
        pads = _conv_pads(a, x[2:], k, s, d)
        before = self.g.zero_pad_before(x_name)         # torch's F.pad + conv: one padded conv, as tracing has it
        if before is not None and self.g.shape(before[0]) is not None:
            x = self.g.shape(before[0])
            pads = tuple((p[0] + q[0], p[1] + q[1]) for p, q in zip(pads, before[1]))
        layer = conv_layer("conv", x[1], w[1][0], k, x[2:], pads, stride=s, dilation=d, groups=grp,
                           bias=bias is not None)
        self._add(layer, node, w[0], bias)
        return None

    def conv_transpose(self, node) -> str | None:
        x_name, w_name, b_name = self._inputs(node, 3)
        x, w = self.g.shape(x_name), self.g.const(w_name)
        if w is None:
            return "has a weight that is not a constant"
        if x is None or len(x) != 4 or len(w[1]) != 4:
            return "is not a 2-D transposed convolution with known shapes"
        a = _attrs(node)
        grp, d = int(a.get("group", 1)), tuple(a.get("dilations", (1, 1)))
        k = tuple(a.get("kernel_shape", w[1][2:]))
        bias = self._bias(b_name)
        self._add(transposed_layer("convt", x[1], w[1][1] * grp, k, x[2:], d, grp, bias is not None), node, w[0], bias)
        return None

    def gemm(self, node) -> str | None:
        a_name, b_name, c_name = self._inputs(node, 3)
        a, b = self.g.shape(a_name), self.g.const(b_name)
        if b is None or len(b[1]) != 2:
            return "multiplies two activations (B is not a constant matrix)"
        attrs = _attrs(node)
        m, k = b[1] if attrs.get("transB", 0) else b[1][::-1]
        if a is not None and (a[0] if attrs.get("transA", 0) else a[-1]) != k:
            raise ValueError(f"Gemm node {shown(node.name)}: input {a} does not fit weight {b[1]}")
        bias = self._bias(c_name)
        self._add(Layer.linear("linear", k, m, bias=bias is not None), node, b[0], bias)
        return None

    def matmul(self, node) -> str | None:
        a_name, b_name = self._inputs(node, 2)
        a, b = self.g.shape(a_name), self.g.const(b_name)
        if b is None or self.g.const(a_name) is not None:
            return "multiplies two activations (no constant weight on the right)"
        if len(b[1]) != 2 or a is None or len(a) < 2:
            return "has a batched weight or unknown shapes"
        k, m = b[1]
        if a[-1] != k:
            raise ValueError(f"MatMul node {shown(node.name)}: input {a} does not fit weight {b[1]}")
        bias = self._bias_add(node, m)
        self._add(linear_layer("linear", k, m, a, bias is not None), node, b[0], bias)
        return None

    def _bias_add(self, node, m: int) -> str | None:
        """The constant (M,) vector an Add right after the MatMul adds (its bias), if any."""
        users = self.g.consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            return None
        other = [v for v in users[0].input if v != node.output[0]]
        c = self.g.const(other[0]) if len(other) == 1 else None
        if c is None or tuple(c[1]) != (m,) or c[0] not in self.g.params:
            return None
        self.absorbed.add(id(users[0]))
        return c[0]


def _weight_shape(layer: Layer) -> tuple:
    """What two uses of one weight must agree on to be one layer's calls (core checks the same)."""
    return (layer.op, layer.in_channels, layer.out_channels, layer.kernel, layer.groups, layer.bias)


def _bn_stats(graph: _Graph) -> set[str]:
    """BatchNormalization's running mean and variance: buffers, not parameters."""
    out = set()
    for n in graph.nodes:
        if n.op_type == "BatchNormalization":
            out.update(graph.consts[v][0] for v in list(n.input)[3:5] if v in graph.consts)
    return out


def load_onnx(path, input_shape=None, name: str | None = None) -> Network:
    """The core Network of the ONNX file at ``path`` (see the module doc for what is counted how).

    ``input_shape`` (N, C, H, W) fixes the input's dimensions (needed when they are symbolic; a
    symbolic batch dimension alone is taken as 1).
    """
    model = _read(path)
    data_name, weight_inputs = _fix_inputs(model, input_shape, path)
    graph = _Graph(model, data_name, weight_inputs)
    imp = _Importer(graph)
    imp.run()
    if not imp.layers:
        raise ValueError(f"model file {shown(str(path))} has no Conv, ConvTranspose, Gemm or MatMul with a constant weight")
    for msg in imp.notes:
        warnings.warn(f"{Path(path).name}: {msg}", UserWarning, stacklevel=2)
    stats = _bn_stats(graph)
    extra = sum(math.prod(s) for w, s in graph.params.items() if w not in imp.in_layers and w not in stats)
    dims = graph.shape(data_name)
    info = ImportInfo(str(path), "onnx", {k: tuple(v) for k, v in imp.uncounted.items()}, tuple(imp.notes))
    return Network(name or Path(path).stem, tuple(dims[1:]), tuple(imp.layers), int(extra), spec=info)
