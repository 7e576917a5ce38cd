"""Hostile ONNX files (issue 21): tiny files that asked for gigabytes, attributes that lied about the weight.

Each case is a file under 10 kB given to `structconv cost FILE --json` in a child process whose time and
peak RSS are measured: it either counts the network (exit 0, valid JSON: the file is a network, however
odd its constant arithmetic) or refuses it (exit 2, one stderr line naming what is wrong, no traceback),
within 30 s and 1 GB. Before: ConstantOfShape 20000x20000 took 1.8 GB, Range(0, 3e8) 4.8 GB and 41 s,
Expand to 30000x30000 13.8 GB; a declared 1-D value of length 2^40 reaching a Gather ran the machine out
of memory in ONNX's data propagation; kernel_shape [5, 5] on a 3x3 weight was counted as 5x5.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from structconv.importers import _onnx_fold, _onnx_sizes, load_onnx
from tests.support.bounded_run import MAX_INPUT_BYTES, assert_bounded, structconv

N = helper.make_node
X = [1, 3, 8, 8]


def _ints(name, v):
    return numpy_helper.from_array(np.array(v, np.int64), name)


def _floats(name, v):
    return numpy_helper.from_array(np.array(v, np.float32), name)


def _model(nodes, inits=(), x=X, inputs=(), w=(4, 3, 3, 3), conv=None, value_info=()) -> bytes:
    """A Conv on input ``x`` (the layer every case counts) and ``nodes`` beside it."""
    conv = conv or N("Conv", ["x", "w"], ["y"], name="conv")
    graph = helper.make_graph([conv, *nodes], "hostile",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x)), *inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.zeros(w, np.float32), "w"), *inits],
                              value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def _const(name, v):
    return N("Constant", [], [name], value=numpy_helper.from_array(np.array(v), name + "_value"))


def _pass_chain(links: int, failing: int) -> bytes:
    """Shape -> Cast -> Ceil -> Cast -> Reshape links (one inference pass each) and nodes that never fold."""
    nodes = []
    for i in range(links):
        nodes += [N("Shape", [f"v{i}"], [f"s{i}"]), N("Cast", [f"s{i}"], [f"f{i}"], to=1),
                  N("Ceil", [f"f{i}"], [f"c{i}"]), N("Cast", [f"c{i}"], [f"t{i}"], to=7),
                  N("Reshape", [f"v{i}", f"t{i}"], [f"v{i + 1}"])]
    nodes += [N("Reshape", ["t", "bad"], [f"bad{i}"]) for i in range(failing)]
    return _model([N("Identity", ["x"], ["v0"]), *nodes], [_ints("t", [1, 2, 3]), _ints("bad", [7])])


def _nested_if(depth: int) -> bytes:
    """An If whose then-branch holds an If ... ``depth`` deep, written as raw protobuf (onnx's own
    writer refuses what its reader would)."""
    def varint(n):
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def field(num, payload):
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    def if_node(graph):
        attr = field(1, b"then_branch") + varint(20 << 3) + varint(5) + field(6, graph)
        return field(1, b"c") + field(2, b"o") + field(4, b"If") + field(5, attr)

    g = field(2, b"leaf")
    for _ in range(depth):
        g = field(1, if_node(g)) + field(2, b"b")
    return _model([]) + field(7, field(1, if_node(g)))       # a graph field merged in: one more node


def _loop() -> bytes:
    body = helper.make_graph([N("Identity", ["c_in"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, [])])
    return _model([N("Loop", ["trips", "go"], [], body=body)],
                  [_ints("trips", 10**15), numpy_helper.from_array(np.array(True), "go")])


def _long_vector_gather() -> bytes:
    """A weight input declared as a 1-D tensor of 2^40 elements, gathered from: ONNX's data propagation
    built a vector that long."""
    return _model([N("Gather", ["s", "zero"], ["n"], axis=0)], [_ints("zero", 0)],
                  inputs=[helper.make_tensor_value_info("s", TensorProto.INT64, [1 << 40])])


def _flatten_gather() -> bytes:
    """The input declared at 65536 x 65536 (allowed), flattened, gathered from."""
    return _model([N("Reshape", ["x", "m1"], ["flat"]), N("Gather", ["flat", "zero"], ["n"], axis=0)],
                  [_ints("m1", [-1]), _ints("zero", 0)], x=[1, 3, 65536, 65536])


def _string_tiles() -> bytes:
    """A 4 kB string tiled 4096 times by each of 20 nodes: folded, 320 MB of initializers per pass."""
    text = numpy_helper.from_array(np.array(["x" * 4000], dtype=object), "text")
    return _model([N("Tile", ["text", "reps"], [f"t{i}"]) for i in range(20)], [text, _ints("reps", [4096])])


def _conv(**attrs):
    return N("Conv", ["x", "w"], ["y"], name="conv", **attrs)


def _one(op: str, inputs: dict, **attrs) -> bytes:
    """A model with one ``op`` node on int64 initializers ``inputs`` {name: value}, beside the Conv."""
    return _model([N(op, list(inputs), ["r"], **attrs)], [_ints(k, v) for k, v in inputs.items()])


def _where() -> bytes:
    cond = numpy_helper.from_array(np.ones((64, 1, 1), bool), "c")
    return _model([N("Where", ["c", "a", "b"], ["r"])], [cond, _ints("a", np.ones((1, 64, 1))),
                                                        _ints("b", np.ones((1, 1, 64)))])


RESOURCE_CASES = [
    ("constant-of-shape 20000x20000", lambda: _one("ConstantOfShape", {"s": [20000, 20000]})),
    ("range 0..3e8", lambda: _one("Range", {"a": 0, "b": 300_000_000, "d": 1})),
    ("float range 0..1e30", lambda: _model([_const("a", 0.0), _const("b", 1e30), _const("d", 1.0),
                                            N("Range", ["a", "b", "d"], ["r"])])),
    ("tile 64 x 1e8", lambda: _one("Tile", {"t": range(64), "reps": [10**8]})),
    ("expand to 30000x30000", lambda: _one("Expand", {"t": [[1]], "shape": [30000, 30000]})),
    ("pad by 1e9", lambda: _one("Pad", {"t": [1], "pads": [0, 10**9]})),
    ("where broadcast to 2^18", _where),
    ("one-hot of depth 1e9", lambda: _one("OneHot", {"i": range(8), "depth": 10**9, "v": [0, 1]})),
    ("1-D weight of 2^40 gathered", _long_vector_gather),
    ("65536x65536 input flattened and gathered", _flatten_gather),
    ("300 nodes that never fold", lambda: _model([N("Reshape", ["t", "bad"], [f"f{i}"]) for i in range(300)],
                                                 [_ints("t", [1, 2, 3]), _ints("bad", [7])])),
    ("50 inference passes and 60 failing nodes", lambda: _pass_chain(60, 60)),
    ("loop of 1e15 trips", _loop),
    ("4 kB string tiled", _string_tiles),
]
REFUSED_CASES = [
    ("if nested 200 deep", lambda: _nested_if(200), r"is not a readable ONNX model"),
    ("input declared 1e9 x 1e9", lambda: _model([], x=[1, 3, 10**9, 10**9]),
     r"the shape of input 'x' = \(1, 3, 1000000000, 1000000000\) must be 2 to 5 integers in \[1, 65536\]"),
    ("initializer with a negative dim", lambda: _negative_dims(), r"initializer 'neg' has dims \[-4, 3\]"),
    ("kernel_shape 5x5 on a 3x3 weight", lambda: _model([], conv=_conv(kernel_shape=[5, 5])),
     r"Conv node 'conv': kernel_shape = \[5, 5\] does not match its weight's kernel \[3, 3\]"),
    ("group 0", lambda: _model([], conv=_conv(group=0)),
     r"Conv node 'conv': group = 0 must be an integer >= 1"),
    ("group 3 of 4 output channels", lambda: _model([], conv=_conv(group=3), w=(4, 1, 3, 3), x=[1, 3, 8, 8]),
     r"Conv node 'conv': group = 3 does not divide its weight's 4 output channels"),
    ("auto_pad BOGUS", lambda: _model([], conv=_conv(auto_pad="BOGUS")), r"auto_pad = 'BOGUS' is not one of"),
    ("pads 1e12", lambda: _model([], conv=_conv(pads=[10**12, 0, 0, 0])),
     r"pads = \[1000000000000, 0, 0, 0\] must be 4 integers in \[0, 65536\]"),
    ("strides 0", lambda: _model([], conv=_conv(strides=[0, 0])),
     r"strides must only contain positive values"),
    ("conv-transpose input channels", lambda: _model(
        [], conv=N("ConvTranspose", ["x", "w"], ["y"], name="up"), w=(6, 2, 3, 3)),
     r"ConvTranspose node 'up': input has 3 channels, its weight \(6, 2, 3, 3\) has 6 input channels"),
    ("conv-transpose kernel_shape", lambda: _model(
        [], conv=N("ConvTranspose", ["x", "w"], ["y"], name="up", kernel_shape=[5, 5]), w=(3, 2, 3, 3)),
     r"ConvTranspose node 'up': kernel_shape = \[5, 5\] does not match"),
    ("gemm transB 2", lambda: _gemm(transB=2), r"Gemm node 'fc': transB = 2 must be 0 or 1"),
    # issue 21's last round, all refused already
    ("dilations 1e9", lambda: _model([], conv=_conv(dilations=[10**9, 10**9])),
     r"Conv node 'conv': dilations = \[1000000000, 1000000000\] must be 2 integers in \[1, 65536\]"),
    ("weight of 0 output channels", lambda: _model([], w=(0, 3, 3, 3)),
     r"out_channels = 0 is out of range \[1, inf\] \(in layer 'conv'\)"),
    ("kernel larger than the input", lambda: _model([], x=[1, 3, 2, 2]),
     r"output size = \(0, 0\) must be >= 1; input_size \(2, 2\), kernel \(3, 3\)"),
    ("only a 1-D conv", lambda: _model([], x=[1, 3, 8], w=(4, 3, 3)),    # was: did not say why
     r"has no Conv, .* that structconv counts \(Conv node 'conv' is not a 2-D convolution"),
    ("custom-domain op", lambda: _model([N("Evil", ["x"], ["z"], domain="com.evil")]),
     r"No opset import for domain com\.evil optype Evil"),
]


def _negative_dims() -> bytes:
    t = _ints("neg", [1, 2, 3])
    del t.dims[:]
    t.dims.extend([-4, 3])
    return _model([], [t])


def _gemm(**attrs) -> bytes:
    graph = helper.make_graph([N("Gemm", ["x", "fc.w"], ["y"], name="fc", **attrs)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [_floats("fc.w", np.zeros((4, 8)))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def _write(tmp_path, data: bytes):
    assert len(data) < MAX_INPUT_BYTES, f"the case is {len(data)} bytes, not a tiny file"
    path = tmp_path / "hostile.onnx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("build", [c[1] for c in RESOURCE_CASES], ids=[c[0] for c in RESOURCE_CASES])
def test_tiny_files_count_within_bounds(tmp_path, build):
    r = structconv("cost", _write(tmp_path, build()), "--json")
    assert r.rc == 0, r.err
    assert "Traceback" not in r.err
    assert json.loads(r.out)["original"]["mults"] > 0
    assert_bounded(r)


@pytest.mark.parametrize("build,message", [c[1:] for c in REFUSED_CASES], ids=[c[0] for c in REFUSED_CASES])
def test_hostile_files_are_refused_in_one_line(tmp_path, build, message):
    r = structconv("cost", _write(tmp_path, build()), "--json")
    assert (r.rc, r.out) == (2, ""), r.err
    assert len(r.err_lines) == 1 and "Traceback" not in r.err, r.err
    assert re.search(message, r.err_lines[0]), r.err_lines[0]
    assert_bounded(r)
    assert [p.name for p in tmp_path.iterdir()] == ["hostile.onnx"]           # nothing left beside it


def test_a_file_larger_than_protobuf_allows_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as f:                      # sparse: no disk used, nothing to read if it were
        f.truncate(3 << 30)
    r = structconv("cost", path, "--json")
    assert r.rc == 2 and len(r.err_lines) == 1, r.err
    assert "is 3221225472 bytes; an ONNX file holds at most 2147483647" in r.err_lines[0]
    assert_bounded(r)


# -- folding: sizes known before evaluating ------------------------------------------------------
@pytest.mark.parametrize("op,vals,attrs,n", [
    ("ConstantOfShape", [[20000, 20000]], {}, 400_000_000),
    ("Range", [0, 300_000_000, 1], {}, 300_000_000),
    ("Range", [10, 0, -3], {}, 4),
    ("Range", [0.0, 1.0, 0.25], {}, 4),
    ("Tile", [[[1, 2]], [3, 5]], {}, 30),
    ("Expand", [[[1]], [30000, 30000]], {}, 900_000_000),
    ("Concat", [[1, 2], [3]], {"axis": 0}, 3),
    ("Gather", [np.zeros((64, 64)), np.zeros((64, 64))], {"axis": 0}, 64**3),
    ("Pad", [[1], [0, 10**9]], {}, 10**9 + 1),
    ("Where", [np.ones((64, 1, 1)), np.ones((1, 64, 1)), np.ones((1, 1, 64))], {}, 64**3),
    ("Reshape", [np.zeros((4, 4)), [16]], {}, 16),
    ("Resize", [np.zeros((1, 1, 2, 2)), None, [1, 1, 1e4, 1e4]], {}, None),       # never folded
    ("OneHot", [[1, 2], 10**9, [0, 1]], {}, None),
    ("Loop", [10**15, True], {}, None),
])
def test_output_elements_are_known_from_the_inputs(op, vals, attrs, n):
    arrays = [None if v is None else np.asarray(v) for v in vals]
    assert _onnx_sizes.output_elements(op, arrays, attrs) == n


def test_nothing_large_is_evaluated(tmp_path, monkeypatch):
    """The reference evaluator runs only nodes whose outputs are at most FOLD_MAX elements."""
    from onnx.reference import ReferenceEvaluator
    ran = []
    real_run = ReferenceEvaluator.run

    def run(self, names, feeds, *a, **k):
        outs = real_run(self, names, feeds, *a, **k)
        ran.append((self.proto_.graph.node[0].op_type, max(np.asarray(o).size for o in outs)))
        return outs

    monkeypatch.setattr(ReferenceEvaluator, "run", run)
    for _, build in RESOURCE_CASES[:8]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)          # uncounted nodes
            load_onnx(str(_write(tmp_path, build())))
    assert all(size <= _onnx_sizes.FOLD_MAX for _, size in ran), ran


def test_the_folding_budget_of_a_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(_onnx_sizes, "TOTAL_LIMIT", 3 * 4096)
    nodes = [N("Tile", ["one", "reps"], [f"t{i}"], name=f"tile{i}") for i in range(4)]
    path = _write(tmp_path, _model(nodes, [_ints("one", [1]), _ints("reps", [4096])]))
    with pytest.raises(ValueError, match=r"^ONNX Tile node 'tile3': constant folding would exceed 12288 "
                                         r"elements \(96 KiB\) for the whole file"):
        _onnx_fold.folded_and_inferred(_loaded(path))


def _loaded(path):
    return onnx.load(str(path))

