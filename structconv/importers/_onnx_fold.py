"""Shape arithmetic in ONNX graphs evaluated into constants before shape inference.

torch exports timm's Conv2dSame pads (math.ceil on the input size) and a channel shuffle's
Reshape target as Shape -> Gather -> Ceil -> ... -> Pad/Reshape chains that ONNX shape inference,
even with data propagation, does not evaluate, leaving every later shape unknown. Inference and
folding alternate until nothing changes. Only nodes whose inputs are static shapes, integer
initializers or Constant nodes are folded, never a weight.
"""
from __future__ import annotations

import math

FLOAT_TYPES = (1, 10, 11, 16)           # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def onnx_module():
    import onnx  # a runtime dependency, loaded only for .onnx references
    return onnx


def dims(type_proto) -> tuple | None:
    t = type_proto.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


def attrs(node) -> dict:
    onnx = onnx_module()
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "LSTM", "GRU", "RNN")


def _infer(model):
    onnx = onnx_module()
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:                         # onnx's InferenceError: the input shape does not fit
        raise ValueError(f"ONNX shape inference failed: {str(e).strip().splitlines()[-1][:300]}") from None


def folded_and_inferred(model):
    """A copy of ``model`` with its shape arithmetic folded into initializers, shapes inferred."""
    onnx = onnx_module()
    m = onnx.ModelProto()
    m.CopyFrom(model)
    floats = {i.name for i in m.graph.initializer if i.data_type in FLOAT_TYPES}
    for _ in range(50):
        inferred = _infer(m)
        if not _fold_pass(m.graph, inferred.graph, floats, m.opset_import):
            return inferred
    return _infer(m)


def _known_values(g, floats: set) -> dict:
    from onnx import numpy_helper
    known = {}
    for t in g.initializer:
        if t.name not in floats and t.data_location != 1 and math.prod(t.dims) <= 4096:
            known[t.name] = numpy_helper.to_array(t)
    return known


def _fold_pass(g, inferred_g, floats: set, opsets) -> bool:
    import numpy as np
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    shapes = {v.name: dims(v.type) for v in list(inferred_g.input) + list(inferred_g.value_info)}
    known = _known_values(g, floats)
    keep, changed = [], False
    for node in g.node:
        outs = None
        if node.op_type == "Shape" and not node.attribute and shapes.get(node.input[0]) \
                and None not in shapes[node.input[0]]:
            outs = [np.array(shapes[node.input[0]], dtype=np.int64)]
        elif node.op_type not in COMPUTE and node.domain in ("", "ai.onnx") and node.input \
                and all(i in known for i in node.input if i):
            feeds = {i: known[i] for i in node.input if i}
            ins = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                   for i, v in feeds.items()]
            outs_info = [helper.make_tensor_value_info(o, 0, None) for o in node.output]
            sub = helper.make_graph([node], "fold", ins, outs_info)
            try:
                outs = ReferenceEvaluator(helper.make_model(sub, opset_imports=opsets)).run(None, feeds)
            except Exception:                       # an op the reference cannot run: left as it is
                outs = None
        elif node.op_type == "Constant" and node.output:
            try:
                outs = [numpy_helper.to_array(attrs(node)["value"])]
            except Exception:
                outs = None
            if outs is not None and (outs[0].size > 4096 or outs[0].dtype.kind == "f" and outs[0].size > 64):
                outs = None
        if outs is None or any(np.asarray(v).size > 4096 for v in outs):
            keep.append(node)
            continue
        changed = True
        for o, v in zip(node.output, outs):
            known[o] = np.asarray(v)
            g.initializer.append(numpy_helper.from_array(np.asarray(v), o))
    del g.node[:]
    g.node.extend(keep)
    return changed
