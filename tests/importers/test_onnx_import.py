"""ONNX import (structconv.importers.load_onnx): hand-built graphs with counts written out by hand formula,
and a torch -> ONNX -> Network round trip that equals tracing the torch model."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper, save
from torch import nn

from structconv.cli import main
from structconv.core import count_network, count_ops, resolve_network
from structconv.importers import load_onnx
from structconv.nn import network_from_module


def _model(tmp_path, nodes, x_shape, weights: dict, ints: dict = (), as_inputs=False, name="m.onnx"):
    """An opset-17 model: input 'x', output 'y', float weights {name: shape} (zeros), int64 constants."""
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in weights.items()]
    inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in dict(ints).items()]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    if as_inputs:                                     # weight-stripped: weights declared as inputs, no data
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in weights.items()]
        inits = inits[len(weights):]
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / name
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def test_conv_group_dilation_strides_pads_and_bias(tmp_path):
    node = helper.make_node("Conv", ["x", "c.weight", "c.bias"], ["y"], group=2, strides=[2, 3],
                            dilations=[2, 1], pads=[1, 2, 1, 2])
    net = load_onnx(_model(tmp_path, [node], [1, 8, 15, 17], {"c.weight": [12, 4, 3, 5], "c.bias": [12]}))
    (l,) = net.layers
    ho, wo = (15 + 2 - 2 * 2 - 1) // 2 + 1, (17 + 4 - 1 * 4 - 1) // 3 + 1          # 7, 6
    assert (l.name, l.output_size, l.groups, l.padding) == ("c", (ho, wo), 2, (1, 2))
    assert count_ops(l).mults == 12 * 4 * 3 * 5 * 7 * 6
    assert count_network(net).original.params == 12 * 4 * 3 * 5 + 12


def test_asymmetric_pads_enlarge_the_input_and_keep_counts_exact(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 1, 2, 0])  # top 0, left 1, bottom 2, right 0
    (l,) = load_onnx(_model(tmp_path, [node], [1, 3, 10, 10], {"w": [8, 3, 3, 3]})).layers
    assert l.output_size == (10 + 0 + 2 - 3 + 1, 10 + 1 + 0 - 3 + 1)               # (10, 9)
    assert (l.input_size, l.padding) == ((12, 11), (0, 0))
    assert count_ops(l).mults == 8 * 3 * 9 * 10 * 9


@pytest.mark.parametrize("auto_pad,out", [("SAME_UPPER", 6), ("SAME_LOWER", 6), ("VALID", (11 - 4) // 2 + 1)])
def test_auto_pad(tmp_path, auto_pad, out):
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], auto_pad=auto_pad)
    (l,) = load_onnx(_model(tmp_path, [node], [1, 3, 11, 11], {"w": [5, 3, 4, 4]})).layers
    assert l.output_size == (out, out)                                               # SAME: ceil(11 / 2)
    assert count_ops(l).mults == 5 * 3 * 16 * out * out


def test_conv_transpose_counts_every_input_pixel_times_the_kernel(tmp_path):
    node = helper.make_node("ConvTranspose", ["x", "up.weight", "up.bias"], ["y"], group=2, strides=[2, 2])
    net = load_onnx(_model(tmp_path, [node], [1, 6, 5, 7], {"up.weight": [6, 2, 3, 3], "up.bias": [4]}))
    (l,) = net.layers
    assert count_ops(l).mults == 6 * (4 // 2) * 3 * 3 * 5 * 7  # Cin * Cout/g * kh * kw * H * W
    assert count_network(net).original.params == 6 * 2 * 9 + 4


@pytest.mark.parametrize("trans_b,shape", [(1, [7, 20]), (0, [20, 7])])
def test_gemm(tmp_path, trans_b, shape):
    node = helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], transB=trans_b)
    net = load_onnx(_model(tmp_path, [node], [1, 20], {"fc.weight": shape, "fc.bias": [7]}))
    (l,) = net.layers
    assert (l.name, l.op, count_ops(l).mults, count_network(net).original.params) == \
        ("fc", "linear", 140, 147)


@pytest.mark.parametrize("x_shape,positions", [([1, 5, 6, 8], 5 * 6), ([1, 9, 8], 9), ([1, 8], 1)])
def test_matmul_with_a_constant_weight_counts_every_position(tmp_path, x_shape, positions):
    nodes = [helper.make_node("Transpose", ["blk.weight"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["z"]),
             helper.make_node("Add", ["z", "blk.bias"], ["y"])]
    net = load_onnx(_model(tmp_path, nodes, x_shape, {"blk.weight": [4, 8], "blk.bias": [4]}))
    (l,) = net.layers
    assert (l.name, l.bias, count_ops(l).mults) == ("blk", True, positions * 8 * 4)
    assert count_network(net).original.params == 36 and net.extra_params == 0


def test_nodes_without_macs_are_listed_and_unknown_compute_is_warned(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"], name="act"),
             helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             helper.make_node("Einsum", ["c", "c"], ["d"], equation="nchw,nchw->nchw", name="mix"),
             helper.make_node("MatMul", ["d", "d"], ["y"], name="attn")]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = load_onnx(_model(tmp_path, nodes, [1, 3, 8, 8], {"w": [3, 3, 3, 3]}))
    msgs = [str(w.message) for w in seen]
    assert net.spec.uncounted_ops["Relu"] == ("act",) and net.spec.uncounted_ops["MaxPool"] == ("pool",)
    assert sum("Einsum node 'mix'" in m for m in msgs) == 1
    assert len(msgs) == 1 and net.layer_names == ("w", "attn")
    # a product of two activations is counted (issue 19): 3 channels of a (4, 4) x (4, 4) GEMM each
    attn = net["attn"]
    assert (attn.op, count_ops(attn).mults, count_ops(attn).params) == ("matmul", 3 * 4 * 4 * 4, 0)


def test_batchnorm_statistics_are_buffers_and_weight_inputs_work(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["a"]),
             helper.make_node("BatchNormalization", ["a", "bn.weight", "bn.bias", "bn.mean", "bn.var"],
                              ["y"])]
    weights = {"conv.weight": [6, 3, 1, 1], "bn.weight": [6], "bn.bias": [6], "bn.mean": [6], "bn.var": [6]}
    full = load_onnx(_model(tmp_path, nodes, [1, 3, 4, 4], weights))
    stripped = load_onnx(_model(tmp_path, nodes, [1, 3, 4, 4], weights, as_inputs=True, name="s.onnx"))
    assert full.extra_params == stripped.extra_params == 2 * 6  # scale and shift, not mean / var
    assert full.layers == stripped.layers and count_network(full).original.params == 18 + 12


def test_input_shapes_symbolic_batch_and_explicit(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"])
    assert load_onnx(_model(tmp_path, [node], ["N", 3, 8, 8], {"w": [2, 3, 3, 3]})).input_shape == (3, 8, 8)
    path = _model(tmp_path, [node], ["N", 3, "H", "W"], {"w": [2, 3, 3, 3]}, name="d.onnx")
    with pytest.raises(ValueError, match="input_shape"):
        load_onnx(path)
    net = resolve_network(path, input_shape=(1, 3, 10, 12))
    assert net.layers[0].output_size == (8, 10)
    with pytest.raises(ValueError, match="channels"):
        load_onnx(path, input_shape=(1, 4, 10, 12))


def test_a_weight_used_twice_is_one_layer_per_call_with_params_once(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "body.weight"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "body.weight"], ["y"], pads=[1, 1, 1, 1])]
    net = load_onnx(_model(tmp_path, nodes, [1, 4, 6, 6], {"body.weight": [4, 4, 3, 3]}))
    assert net.layer_names == ("body", "body#1") and net.layers[1].shares == "body"
    total = count_network(net).original
    assert (total.mults, total.params) == (2 * 4 * 4 * 9 * 36, 4 * 4 * 9)  # compute per call, weights once


def test_a_zero_pad_node_before_a_conv_is_the_conv_padding(tmp_path):
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"]), helper.make_node("Conv", ["p", "w"], ["y"])]
    (l,) = load_onnx(_model(tmp_path, nodes, [1, 3, 8, 8], {"w": [4, 3, 3, 3]},
                            ints={"pads": [0, 0, 1, 1, 0, 0, 1, 1]})).layers
    assert (l.input_size, l.padding, l.output_size) == ((8, 8), (1, 1), (8, 8))


def test_bad_files_are_one_line_errors(tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not onnx at all\xff" * 10)
    for path, msg in [(tmp_path / "missing.onnx", "does not exist"), (junk, "not a readable ONNX model")]:
        with pytest.raises(ValueError, match=msg):
            load_onnx(path)
        assert main(["cost", str(path), "--json"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err


from tests.support.torch_helpers import Conv2dSame  # noqa: E402 - timm's, written out


class Everything(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Conv2dSame(3, 8, 3, stride=2)
        self.bn = nn.BatchNorm2d(8)
        self.b = nn.Conv2d(8, 8, 4, padding="same", groups=2)
        self.ln = nn.LayerNorm(8)
        self.pw = nn.Linear(8, 16)
        self.up = nn.ConvTranspose2d(16, 4, 2, stride=2)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.w = nn.Parameter(torch.randn(6, 4, 3, 3))
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = self.b(self.bn(self.a(x))).permute(0, 2, 3, 1)
        x = self.pw(self.ln(x)).permute(0, 3, 1, 2)
        x = self.body(self.body(self.up(x)))
        x = F.conv2d(x, self.w, padding=1)
        return self.fc(x.mean((2, 3)))


def test_round_trip_torch_onnx_network_equals_tracing(tmp_path):
    model, x = Everything().eval(), torch.randn(1, 3, 15, 15)
    path = tmp_path / "everything.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), dynamo=True, optimize=False, verbose=False).save(str(path))
        traced = network_from_module(model, x)
    imported = load_onnx(path)
    assert imported.layers == traced.layers
    assert count_network(imported).original == count_network(traced).original
    assert count_network(imported).original.params == sum(p.numel() for p in model.parameters())
