"""Fuzzing the ONNX reader (issue 21): mutated protobufs end as a Network or a one-line ValueError.

Two mutators start from a small valid model that has every kind of node the reader treats specially
(Conv with pads, Gemm, shape arithmetic that folds: Shape, Gather, Concat, Reshape, ConstantOfShape,
Range, Tile, Pad, Constant): bytes flipped, inserted and deleted in its serialized form (and in an
exported SqueezeNet's), and parsed fields changed (input and initializer dims, attributes, node inputs
and op types, opset). Any other exception, an example slower than ``SLOW_S`` or a peak RSS that grows
by ``MAX_GROWTH`` fails.
"""
from __future__ import annotations

import os
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto, ModelProto, TensorProto, helper, numpy_helper

from structconv.core import Network
from structconv.importers import load_onnx

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                database=None)
MAX_MESSAGE = 2000
SLOW_S = 10.0                       # one small model's read, shape inference and folding take well under 1 s
MAX_GROWTH = 512 * 2**10            # KiB of peak RSS the whole fuzz run may add (ru_maxrss is in KiB)
OUTCOMES: dict = {}                 # mutator -> {"valid": n, "refused": n}


def _base_model() -> ModelProto:
    N = helper.make_node
    ints = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [
        N("Conv", ["x", "c.weight", "c.bias"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1], group=1,
          kernel_shape=[3, 3], name="conv"),
        N("Shape", ["c"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0),
        N("Unsqueeze", ["n", "zero1"], ["n1"]), N("Concat", ["n1", "minus1"], ["target"], axis=0),
        N("Reshape", ["c", "target"], ["flat"]),
        N("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], transB=1, name="fc"),
        N("ConstantOfShape", ["cs"], ["zeros"]), N("Range", ["r0", "r1", "r2"], ["rng"]),
        N("Tile", ["rng", "reps"], ["tiled"]), N("Pad", ["rng", "pads"], ["padded"]),
        N("Constant", [], ["k"], value=numpy_helper.from_array(np.array([2, 3], np.int64), "kv")),
        N("Expand", ["k", "eshape"], ["expanded"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((2, 2, 3, 3), np.float32), "c.weight"),
             numpy_helper.from_array(np.zeros(2, np.float32), "c.bias"),
             numpy_helper.from_array(np.zeros((3, 2 * 3 * 3), np.float32), "fc.weight"),
             numpy_helper.from_array(np.zeros(3, np.float32), "fc.bias"),
             ints("zero", 0), ints("zero1", [0]), ints("minus1", [-1]), ints("cs", [2, 3]), ints("r0", 0),
             ints("r1", 5), ints("r2", 1), ints("reps", [2]), ints("pads", [1, 1]), ints("eshape", [2, 2])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "fuzz", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


BASE = _base_model()
BASE_BYTES = BASE.SerializeToString()
PEER_BYTES = (Path(__file__).parents[1] / "data" / "peer_models" / "squeezenet1_0.onnx").read_bytes()
ODD_INTS = st.sampled_from([0, 1, -1, 2, 3, 7, 4096, 4097, 65536, 65537, 2**31, 2**40, 2**62, -2**63,
                            2**63 - 1]) | st.integers(-5, 300)
OPS = st.sampled_from(["Conv", "ConvTranspose", "Gemm", "MatMul", "Identity", "Range", "ConstantOfShape",
                       "Tile", "Expand", "Reshape", "Concat", "Gather", "Pad", "Loop", "If", "Resize",
                       "OneHot", "Where", "NonZero", "Unique", "Bogus", "Shape", "Cast"])


# -- mutators -------------------------------------------------------------------------------------
@st.composite
def byte_mutations(draw, base: bytes = BASE_BYTES) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=6))
        else:
            del data[i:i + draw(st.integers(1, 6))]
    return bytes(data)


def _dims(draw, dims_field) -> None:
    dims = draw(st.lists(ODD_INTS, max_size=5))
    del dims_field[:]
    dims_field.extend(dims)


def _attribute(draw, model) -> None:
    nodes = [n for n in model.graph.node if n.attribute]
    node = draw(st.sampled_from(nodes))
    a = draw(st.sampled_from(list(node.attribute)))
    kind = draw(st.sampled_from(["ints", "int", "string", "float", "drop"]))
    new = None
    if kind == "ints":
        new = helper.make_attribute(a.name, draw(st.lists(ODD_INTS, max_size=5)),
                                    attr_type=AttributeProto.INTS)
    elif kind == "int":
        new = helper.make_attribute(a.name, draw(ODD_INTS))
    elif kind == "string":
        new = helper.make_attribute(a.name, draw(st.sampled_from(["SAME_UPPER", "VALID", "", "BOGUS"])))
    elif kind == "float":
        new = helper.make_attribute(a.name, draw(st.floats(allow_nan=True, allow_infinity=True)))
    node.attribute.remove(a)
    if new is not None:
        node.attribute.append(new)


def _initializer_values(draw, model) -> None:
    ints = [t for t in model.graph.initializer if t.data_type == TensorProto.INT64]
    t = draw(st.sampled_from(ints))
    values = draw(st.lists(ODD_INTS | st.integers(-2**63, 2**63 - 1), min_size=0, max_size=4))
    t.CopyFrom(numpy_helper.from_array(np.array(values, np.int64).reshape(-1 if values else 0), t.name))


def _node_wiring(draw, model) -> None:
    node = draw(st.sampled_from(list(model.graph.node)))
    names = [v for n in model.graph.node for v in n.output] + [t.name for t in model.graph.initializer] + [
        "x", "", "missing"]
    if draw(st.booleans()) and node.input:
        node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(names))
    else:
        node.op_type = draw(OPS)


@st.composite
def field_mutations(draw) -> bytes:
    model = ModelProto()
    model.CopyFrom(BASE)
    g = model.graph
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["input", "initializer dims", "initializer values", "attribute", "wiring",
                                     "opset", "drop node", "value_info"]))
        if what == "input":
            shape = g.input[0].type.tensor_type.shape
            shape.dim[draw(st.integers(0, 3))].dim_value = draw(ODD_INTS.filter(lambda v: v >= -2**63))
        elif what == "initializer dims":
            _dims(draw, draw(st.sampled_from(list(g.initializer))).dims)
        elif what == "initializer values":
            _initializer_values(draw, model)
        elif what == "attribute":
            _attribute(draw, model)
        elif what == "wiring":
            _node_wiring(draw, model)
        elif what == "opset":
            model.opset_import[0].version = draw(st.sampled_from([1, 7, 11, 13, 17, 18, 21, 99, -1, 2**40]))
        elif what == "drop node" and len(g.node) > 1:
            del g.node[draw(st.integers(0, len(g.node) - 1))]
        elif what == "value_info":
            value = draw(st.sampled_from(["c", "flat", "s", "target", "zeros", "rng"]))
            g.value_info.append(helper.make_tensor_value_info(value, TensorProto.FLOAT,
                                                              draw(st.lists(ODD_INTS, max_size=5))))
    return model.SerializeToString()


# -- the check ------------------------------------------------------------------------------------
def _clean(tmp_path, data: bytes, mutator: str) -> None:
    """``load_onnx`` of ``data`` returns a Network or raises a one-line ValueError, quickly."""
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    outcome = OUTCOMES.setdefault(mutator, {"valid": 0, "refused": 0})
    start = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)       # uncounted nodes are warned about, fine
            net = load_onnx(str(path))
    except ValueError as e:
        msg = str(e)
        assert msg.strip() and "\n" not in msg.strip() and len(msg) <= MAX_MESSAGE, repr(msg[:300])
        outcome["refused"] += 1
    else:
        assert isinstance(net, Network) and net.layers
        outcome["valid"] += 1
    assert time.monotonic() - start < SLOW_S


@pytest.fixture(scope="module")
def peak_rss():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < MAX_GROWTH, f"peak RSS grew by {grown // 1024} MiB while fuzzing the ONNX reader"


def test_the_base_model_reads(tmp_path):
    _clean(tmp_path, BASE_BYTES, "base")
    assert OUTCOMES["base"]["valid"] == 1


@FUZZ
@given(data=byte_mutations())
def test_mutated_bytes(tmp_path, peak_rss, data):
    _clean(tmp_path, data, "bytes")


@settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 5))
@given(data=byte_mutations(PEER_BYTES))
def test_mutated_bytes_of_an_exported_network(tmp_path, peak_rss, data):
    _clean(tmp_path, data, "peer bytes")


@FUZZ
@given(data=field_mutations())
def test_mutated_fields(tmp_path, peak_rss, data):
    _clean(tmp_path, data, "fields")


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path, peak_rss, data):
    _clean(tmp_path, data, "random")


def test_the_mutators_reach_both_outcomes():
    """Each structured mutator makes files the reader accepts and files it refuses (run after the above)."""
    if "fields" not in OUTCOMES or "bytes" not in OUTCOMES:
        pytest.skip(f"run with the fuzz tests above ({OUTCOMES})")
    for mutator in ("bytes", "fields"):
        assert all(OUTCOMES[mutator].values()), OUTCOMES

