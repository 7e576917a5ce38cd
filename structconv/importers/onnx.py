"""ONNX files as model references: ``load_onnx(path)`` -> core Network (the ``onnx`` importer, ``*.onnx``).

Only the graph and the initializers' SHAPES are read (no weight data is needed: an initializer
may also be declared as a graph input with a static shape, as weight-stripped files do; every
graph input after the first is taken as a weight). Shapes come from ``onnx.shape_inference``.

Counted nodes, with the same conventions as nn's ``network_from_module`` (both build their layers with
core/layer_shapes.py), so a torch model exported to ONNX imports to the same counts:
* Conv (2-D): group, dilations, strides, pads, auto_pad SAME_UPPER / SAME_LOWER / VALID;
  asymmetric pads enlarge the layer's input_size (padding 0), so counts and output size are exact;
* ConvTranspose (2-D): a stride-1 conv over the input map, mults = Cin*Cout/g*kh*kw*H_in*W_in (fvcore);
* Gemm with a constant B: a linear layer at each row of A; MatMul with a constant 2-D weight (directly, or
  through Transpose / Identity / Cast of one): every position of a (d0, d1, ..., dk, K) input counted but
  the image batch N (the input's first dimension; tokens or windows folded into d0 count), as a 1x1 conv on
  a (d0*...*d(k-1)/N, dk) map; an Add of a constant (M,) vector right after it is its bias;
* MatMul of two activations (attention): a ``matmul`` layer, one (M, K) x (K, N) GEMM per head and window
  of one image; only ``dense`` applies to it.
Layer names (_onnx_names.py): the module a node ran in, recovered as nn's tracer names it: the weight's
name without ".weight", the bias's without ".bias", else the module scope the exporter recorded (dynamo
metadata, TorchScript node names), else the node's; a weight used by several nodes gives ``name``,
``name#1``...; a product of activations ``<module>.matmul<i>``.
Params: every float initializer (and weight input) once, but scalars an exporter made (not a parameter in
the dynamo exporter's graph signature; without one, named ``lifted_tensor_3``, ``val_75``...);
BatchNormalization's running mean and
variance are buffers, not parameters (torchinfo does not count them). Those not in a counted layer
go to ``extra_params``. Nodes without MACs are listed in ``network.spec.uncounted_ops``;
compute-bearing nodes that cannot be counted give one warning per op type, naming the node.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

from ..core import ImportInfo, Network, check_input_shape, shown
from . import _onnx_fold as fold
from . import _onnx_sizes as sizes
from ._onnx_graph import Graph
from ._onnx_names import exported_parameters, is_made_scalar
from ._onnx_nodes import NodeCounter


def is_onnx_ref(ref) -> bool:
    return isinstance(ref, str) and ref.lower().endswith(".onnx")


#: protobuf's limit on one message: a larger model keeps its weights in external data files
MAX_FILE_BYTES = 2**31 - 1


def _read(path):
    onnx = fold.onnx_module()
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"model file {shown(str(path))} does not exist" if not p.exists()
                         else f"model file {shown(str(path))} is not a file")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:                     # before reading it: protobuf would refuse it anyway
        raise ValueError(f"model file {shown(str(path))} is {size} bytes; an ONNX file holds at most "
                         f"{MAX_FILE_BYTES} (larger models keep their weights in external data files)")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:                        # a truncated or foreign file: protobuf's own errors
        raise ValueError(f"model file {shown(str(path))} is not a readable ONNX model "
                         f"({type(e).__name__})") from e
    _drop_weight_data(model)
    return model


def _drop_weight_data(model) -> None:
    """Drop the data of float initializers too large to be shape arithmetic: only their dims count, and
    folding and inference copy the model several times."""
    for t in model.graph.initializer:
        if t.data_type in fold.FLOAT_TYPES and math.prod(t.dims) > sizes.FOLD_MAX:
            for data in ("raw_data", "float_data", "double_data", "int32_data"):
                t.ClearField(data)


def _set_dims(value_info, dims) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for v in dims:
        shape.dim.add().dim_value = int(v)


def _fix_inputs(model, input_shape, path) -> tuple[str, dict]:
    """The data input's name, the weights declared as inputs {name: shape}; the data input's dims made
    concrete."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if not inputs:
        raise ValueError(f"model file {shown(str(path))}: the graph has no input")
    for t in g.initializer:
        _check_dims(t.dims, f"initializer {shown(t.name)}", path)
    data, weights = inputs[0], {}
    for w in inputs[1:]:
        dims = fold.dims(w.type)
        if dims is None or None in dims:
            raise ValueError(f"model file {shown(str(path))}: graph input {shown(w.name)} (taken as a "
                             "weight) has no static shape")
        _check_dims(dims, f"graph input {shown(w.name)} (taken as a weight)", path)
        weights[w.name] = (dims, w.type.tensor_type.elem_type)
    dims = _data_dims(data, input_shape, path)
    _set_dims(data, dims)
    return data.name, weights


def _check_dims(dims, what: str, path) -> None:
    if any(v < 0 for v in dims):
        raise ValueError(f"model file {shown(str(path))}: {what} has dims {list(dims)}; a dimension is >= 0")


def _data_dims(data, input_shape, path) -> tuple[int, ...]:
    """The data input's dims: ``input_shape``, else the file's (a symbolic batch taken as 1), each checked
    as --input-shape is, so a file cannot declare a larger input than the command line may."""
    dims = fold.dims(data.type) or ()
    if input_shape is not None:
        shape = check_input_shape(input_shape)
        if len(shape) != len(dims):
            shown_shape = ",".join(map(str, shape))
            raise ValueError(f"input_shape = {shown_shape} has {len(shape)} dimensions; the ONNX input "
                             f"{shown(data.name)} has {len(dims)}")
        return shape
    if None in dims[1:] or not dims:
        raise ValueError(f"model file {shown(str(path))}: input {shown(data.name)} has symbolic dimensions "
                         f"{dims}: give input_shape (--input-shape N,C,H,W)")
    dims = tuple(1 if v is None else v for v in dims)
    return check_input_shape(dims, f"model file {shown(str(path))}: the shape of input {shown(data.name)}")


def _not_params(graph: Graph, parameters: set[str] | None) -> set[str]:
    """BatchNormalization's running mean and variance (buffers) and the scalars an exporter made."""
    out = {w for w, s in graph.params.items() if is_made_scalar(w, s, parameters)}
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
    parameters = exported_parameters(model)
    data_name, weight_inputs = _fix_inputs(model, input_shape, path)
    graph = Graph(model, data_name, weight_inputs)
    imp = NodeCounter(graph, graph.shape(data_name)[0])
    imp.run()
    if not imp.layers:
        why = f" ({imp.notes[0]})" if imp.notes else ""     # e.g. its only Conv is 1-D: say so
        raise ValueError(f"model file {shown(str(path))} has no Conv, ConvTranspose, Gemm or MatMul with a "
                         f"constant weight that structconv counts{why}")
    for msg in imp.notes:
        warnings.warn(f"{Path(path).name}: {msg}", UserWarning, stacklevel=2)
    stats = _not_params(graph, parameters)
    extra = sum(math.prod(s) for w, s in graph.params.items() if w not in imp.in_layers and w not in stats)
    dims = graph.shape(data_name)
    info = ImportInfo(str(path), "onnx", {k: tuple(v) for k, v in imp.uncounted.items()}, tuple(imp.notes))
    return Network(name or Path(path).stem, tuple(dims[1:]), tuple(imp.layers), int(extra), spec=info)
