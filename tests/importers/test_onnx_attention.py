"""ONNX import of attention and token-major Linears (issue 19): hand-built graphs with hand-formula counts,
and torch models exported by both exporters (dynamo and TorchScript) that must import to the layer names and
counts the tracer gives the same model, so one plan serves the .py reference and its ONNX file."""
import warnings

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper, save

from structconv.core import Plan, Structure, count_network, count_ops
from structconv.importers import load_onnx
from structconv.nn import network_from_module
from tests.support.attention_models import SdpaAttention, TinySwin, TinyViT, randomized


def _save(tmp_path, nodes, x_shape, weights: dict, ints: dict = (), name="m.onnx"):
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in weights.items()]
    inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in dict(ints).items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / name
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def test_two_dimensional_matmul_and_gemm_count_every_token(tmp_path):
    """(1, 5, 8) reshaped to (5, 8): both products run on 5 tokens (vit_b_16's 197 were counted as 1)."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["t"]),
             helper.make_node("Transpose", ["fc.weight"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["t", "wt"], ["a"]),
             helper.make_node("Gemm", ["t", "out.weight", "out.bias"], ["y"], transB=1)]
    net = load_onnx(_save(tmp_path, nodes, [1, 5, 8], {"fc.weight": [4, 8], "out.weight": [3, 8],
                                                       "out.bias": [3]}, {"shape": [-1, 8]}))
    assert {l.name: count_ops(l).mults for l in net} == {"fc": 5 * 8 * 4, "out": 5 * 8 * 3}


def test_a_batch_of_images_is_not_counted(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["t"]),
             helper.make_node("MatMul", ["t", "fc.weight"], ["y"])]
    counts = [count_ops(load_onnx(_save(tmp_path, nodes, [n, 5, 8], {"fc.weight": [8, 4]}, {"shape": [-1, 8]},
                                        name=f"b{n}.onnx"))["fc"]).mults for n in (1, 3)]
    assert counts == [5 * 8 * 4, 5 * 8 * 4]


def _scoped(node, scopes):
    node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=repr(scopes))
    return node


def test_layer_names_come_from_the_module_scope_the_exporter_recorded(tmp_path):
    nodes = [_scoped(helper.make_node("MatMul", ["x", "val_3"], ["q"], name="node_MatMul_3"),
                     ["", "blk", "blk.qkv", "linear"]),                               # dynamo metadata
             helper.make_node("MatMul", ["q", "kt"], ["s"], name="/blk/blk.attn/MatMul"),   # TorchScript name
             helper.make_node("Softmax", ["s"], ["p"]),
             _scoped(helper.make_node("MatMul", ["p", "q"], ["y"], name="node_MatMul_9"),
                     ["", "blk", "blk.attn", "matmul_1"])]
    nodes.insert(1, helper.make_node("Transpose", ["q"], ["kt"], perm=[0, 2, 1]))
    net = load_onnx(_save(tmp_path, nodes, [1, 6, 8], {"val_3": [8, 8]}))
    assert net.layer_names == ("blk.qkv", "blk.attn.matmul0", "blk.attn.matmul1")
    assert [(l.op, count_ops(l).mults, count_ops(l).params) for l in net] == [
        ("conv2d", 6 * 8 * 8, 64), ("matmul", 6 * 6 * 8, 0), ("matmul", 6 * 6 * 8, 0)]


def test_scalars_the_exporter_made_are_not_parameters(tmp_path):
    nodes = [helper.make_node("Mul", ["x", "lifted_tensor_0"], ["a"]),
             helper.make_node("Mul", ["a", "val_7"], ["b"]),
             helper.make_node("Mul", ["b", "scale"], ["c"]),                # a real scalar parameter
             helper.make_node("MatMul", ["c", "fc.weight"], ["y"])]
    net = load_onnx(_save(tmp_path, nodes, [1, 8], {"lifted_tensor_0": [], "val_7": [], "scale": [],
                                                    "fc.weight": [8, 2]}))
    assert net.extra_params == 1


MODELS = {"vit": (TinyViT, (1, 3, 16, 16)), "swin": (TinySwin, (1, 3, 8, 8)),
          "sdpa": (SdpaAttention, (1, 6, 16)),
          "vit-no-bias": (lambda: TinyViT(depth=1, attn_bias=False), (1, 3, 16, 16))}


def _export(model, x, path, dynamo: bool) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=dynamo, verbose=False)
    return str(path)


def _rows(net):
    return [(l.name, l.op, count_ops(l).mults, count_ops(l).params, l.shares) for l in net]


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("which", sorted(MODELS))
def test_exported_models_import_to_the_tracers_names_and_counts(tmp_path, which, dynamo):
    pytest.importorskip("onnxscript") if dynamo else None
    cls, shape = MODELS[which]
    model, x = randomized(cls()), torch.randn(shape)
    ref = network_from_module(model, x)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = load_onnx(_export(model, x, tmp_path / f"{which}.onnx", dynamo))
    assert not [str(w.message) for w in seen if "not counted" in str(w.message)]
    assert _rows(net) == _rows(ref)
    assert count_network(net).original == count_network(ref).original
    # one plan written for the .py reference applies unchanged to the ONNX file
    plan = Plan({l.name: Structure(max(1, l.group_in_channels // 2)) for l in ref if l.op != "matmul"})
    assert count_network(net, plan).structured == count_network(ref, plan).structured


def test_constants_the_dynamo_exporter_lifts_are_not_parameters(tmp_path):
    """torch.tensor(...) in forward: the dynamo exporter lifts it and its optimizer folds it into scalars
    named after nodes ('clone', 'sum_1'); its graph signature says which inputs were parameters."""
    pytest.importorskip("onnxscript")

    class Lifted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.scale = torch.nn.Linear(8, 4), torch.nn.Parameter(torch.tensor(0.5))

        def forward(self, x):
            return self.fc(x * torch.tensor(2.0) + torch.tensor([1.0, 2.0]).sum()) * self.scale

    model, x = Lifted().eval(), torch.randn(1, 5, 8)
    net = load_onnx(_export(model, x, tmp_path / "lifted.onnx", dynamo=True))
    assert count_network(net).original.params == sum(p.numel() for p in model.parameters()) == 8 * 4 + 4 + 1


@pytest.mark.parametrize("meta", ["__import__('os').system('false')", "['', 'a'",
                                  "['', '" + "x" * 5000 + "', 'op']"])
def test_scope_metadata_that_is_not_an_exporters_is_ignored(tmp_path, meta):
    node = helper.make_node("MatMul", ["x", "val_3"], ["y"], name="mm")
    node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=meta)
    assert load_onnx(_save(tmp_path, [node], [1, 6, 8], {"val_3": [8, 8]})).layer_names == ("mm",)
