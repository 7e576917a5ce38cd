"""The ONNX nodes that carry multiply-accumulates, as core Layers: Conv, ConvTranspose, Gemm and MatMul
with a constant weight, MatMul of two activations (importers/onnx.py's module doc says how each is counted,
_onnx_names.py how each is named)."""
from __future__ import annotations

from dataclasses import replace

from ..core import (
    Layer,
    conv_layer,
    linear_layer,
    matmul_layer,
    shown,
    tf_same_pads,
    transposed_layer,
)
from . import _onnx_fold as fold
from ._onnx_attrs import ConvAttrs, conv_attrs, gemm_transposes
from ._onnx_graph import Graph
from ._onnx_names import attention_roles, product_name, weighted_name

#: ops with no multiply-accumulates in the counting convention (listed, not counted, not warned about)
NO_MACS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization BitShift Cast
CastLike Ceil Celu Clip Compress Concat ConcatFromSequence Constant ConstantOfShape Cos Cosh CumSum
DepthToSpace DequantizeLinear Div Dropout DynamicQuantizeLinear Elu Equal Erf Exp Expand EyeLike Flatten
Floor Gather GatherElements GatherND Gelu GlobalAveragePool GlobalLpPool GlobalMaxPool Greater
GreaterOrEqual GridSample GroupNormalization HardSigmoid HardSwish Hardmax Identity InstanceNormalization
IsInf IsNaN LRN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax LpNormalization LpPool MaxPool
MaxRoiPool MaxUnpool Max Mean Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or PRelu Pad Pow
QuantizeLinear Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RoiAlign Round
ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign
SpaceToDepth Split SplitToSequence Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
Unique Unsqueeze Upsample Where Xor RMSNormalization SkipLayerNormalization Swish
""".split())


def _conv_pads(a: ConvAttrs, x_hw) -> tuple:
    if a.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [tf_same_pads(x_hw[i], a.kernel[i], a.strides[i], a.dilations[i]) for i in range(2)]
        return tuple(p if a.auto_pad == "SAME_UPPER" else p[::-1] for p in pairs)
    if a.auto_pad == "VALID":
        return ((0, 0), (0, 0))
    p = a.pads
    return ((p[0], p[2]), (p[1], p[3]))


class NodeCounter:
    def __init__(self, graph: Graph, batch: int = 1):
        self.g = graph
        self.batch = batch                        # images in the input: not counted positions
        self.products: dict[str, int] = {}        # module scope -> activation products named in it
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.calls: dict[str, int] = {}
        self.first_use: dict[str, Layer] = {}     # weight -> the layer of its first use
        self.in_layers: set[str] = set()          # weights held by counted layers
        self.absorbed: set[int] = set()           # ids of Add nodes folded into a MatMul as its bias
        self.uncounted: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.warned: set[str] = set()
        self.roles: dict[int, str] = {}           # id(node) -> its projection role in an attention call

    def base_name(self, node, weight: str | None, bias: str | None) -> str:
        if weight is None:
            name = product_name(node, self.products)
        else:
            name = weighted_name(node, weight, bias, self.g.params, self.roles)
        return name or node.name or f"{node.op_type}_{len(self.layers)}"

    def named(self, layer: Layer, node, weight: str | None, bias: str | None) -> Layer:
        """``layer`` renamed: a weight's first use by its name, each later use ``name#k`` sharing it."""
        first = self.first_use.get(weight) if weight is not None else None
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
        handlers = {"Conv": self.conv, "ConvTranspose": self.conv_transpose, "Gemm": self.gemm,
                    "MatMul": self.matmul}
        self.roles = attention_roles([(self._product_kind(n), n) for n in self.g.nodes
                                      if n.op_type in ("MatMul", "Gemm") and n.domain in ("", "ai.onnx")])
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

    def _product_kind(self, node) -> str:
        """'w': a MatMul/Gemm by a constant weight; 'p': a product of two activations."""
        a_name, b_name = self._inputs(node, 2)
        return "w" if self.g.const(b_name) is not None or self.g.const(a_name) is not None else "p"

    def _inputs(self, node, n: int) -> list[str | None]:
        ins = list(node.input) + [""] * n
        return [v or None for v in ins[:n]]

    def _bias(self, b_name) -> str | None:
        """The bias parameter behind ``b_name`` (a computed zero bias, as F.conv2d without one exports, is
        none)."""
        c = self.g.const(b_name) if b_name else None
        return c[0] if c is not None and c[0] in self.g.params else None

    def _add(self, layer: Layer, node, weight: str | None, bias: str | None) -> None:
        self.layers.append(self.named(layer, node, weight, bias))
        self.in_layers.update(w for w in (weight, bias) if w)

    def conv(self, node) -> str | None:
        x_name, w_name, b_name = self._inputs(node, 3)
        x, w = self.g.shape(x_name), self.g.const(w_name)
        if w is None:
            return "has a weight that is not a constant"
        if x is None or len(x) != 4 or len(w[1]) != 4:
            return "is not a 2-D convolution with known shapes"
        a = conv_attrs(node, fold.attrs(node), x, w[1])
        bias = self._bias(b_name)
        pads = _conv_pads(a, x[2:])
        before = self.g.zero_pad_before(x_name)     # torch's F.pad + conv: one padded conv, as tracing has it
        if before is not None and self.g.shape(before[0]) is not None:
            x = self.g.shape(before[0])
            pads = tuple((p[0] + q[0], p[1] + q[1]) for p, q in zip(pads, before[1]))
        layer = conv_layer("conv", x[1], w[1][0], a.kernel, x[2:], pads, stride=a.strides,
                           dilation=a.dilations, groups=a.group, bias=bias is not None)
        self._add(layer, node, w[0], bias)
        return None

    def conv_transpose(self, node) -> str | None:
        x_name, w_name, b_name = self._inputs(node, 3)
        x, w = self.g.shape(x_name), self.g.const(w_name)
        if w is None:
            return "has a weight that is not a constant"
        if x is None or len(x) != 4 or len(w[1]) != 4:
            return "is not a 2-D transposed convolution with known shapes"
        a = conv_attrs(node, fold.attrs(node), x, w[1], transposed=True)
        bias = self._bias(b_name)
        layer = transposed_layer("convt", x[1], w[1][1] * a.group, a.kernel, x[2:], a.dilations, a.group,
                                 bias is not None)
        self._add(layer, node, w[0], bias)
        return None

    def gemm(self, node) -> str | None:
        a_name, b_name, c_name = self._inputs(node, 3)
        a, b = self.g.shape(a_name), self.g.const(b_name)
        if b is None or len(b[1]) != 2:
            return "multiplies two activations (B is not a constant matrix)"
        trans_a, trans_b = gemm_transposes(node, fold.attrs(node))
        m, k = b[1] if trans_b else b[1][::-1]
        if a is not None and (len(a) != 2 or (a[0] if trans_a else a[-1]) != k):     # Gemm's A is 2-D
            raise ValueError(f"Gemm node {shown(node.name)}: input {a} does not fit weight {b[1]}")
        bias = self._bias(c_name)
        rows = (a[1] if trans_a else a[0]) if a is not None else self.batch     # tokens folded into rows
        self._add(linear_layer("linear", k, m, (rows, k), bias is not None, self.batch), node, b[0], bias)
        return None

    def matmul(self, node) -> str | None:
        a_name, b_name = self._inputs(node, 2)
        a, b = self.g.shape(a_name), self.g.const(b_name)
        if self.g.const(a_name) is not None:
            return "has a constant on the left"
        if b is None:
            return self.product(node, a, self.g.shape(b_name))
        if len(b[1]) != 2 or a is None or len(a) < 2:
            return "has a batched weight or unknown shapes"
        k, m = b[1]
        if a[-1] != k:
            raise ValueError(f"MatMul node {shown(node.name)}: input {a} does not fit weight {b[1]}")
        bias = self._bias_add(node, m)
        self._add(linear_layer("linear", k, m, a, bias is not None, self.batch), node, b[0], bias)
        return None

    def product(self, node, a, b) -> str | None:
        """A MatMul of two activations (attention's q.k^T, attn.v): a matmul layer, one GEMM per head."""
        if a is None or b is None:
            return "multiplies two activations of unknown shapes"
        try:
            layer = matmul_layer("matmul", a, b, self.batch)
        except ValueError:
            raise ValueError(f"MatMul node {shown(node.name)}: inputs {a} and {b} do not fit") from None
        self._add(layer, node, None, None)
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
