"""Shape arithmetic in ONNX graphs evaluated into constants before shape inference.

torch exports timm's Conv2dSame pads (math.ceil on the input size) and a channel shuffle's
Reshape target as Shape -> Gather -> Ceil -> ... -> Pad/Reshape chains that ONNX shape inference,
even with data propagation, does not evaluate, leaving every later shape unknown. Inference and
folding alternate until nothing changes. Only nodes whose inputs are static shapes, integer
initializers or Constant nodes are folded, never a weight, and only when their output is small
(_onnx_sizes.py).

Inference runs without ONNX's data propagation: the folder evaluates every op it would (the input's
dims are made concrete first), and data propagation builds a vector as long as any 1-D value that
reaches a Gather, Slice, Concat or arithmetic node: a 200-byte file declaring one of length 2^40
made it allocate until the machine ran out of memory.
"""
from __future__ import annotations

import math

from ..core import shown
from . import _onnx_sizes as sizes

FLOAT_TYPES = (1, 10, 11, 16)           # FLOAT, FLOAT16, DOUBLE, BFLOAT16
STRING = 8


def onnx_module():
    import onnx  # a runtime dependency, loaded only for .onnx references
    return onnx


def dims(type_proto) -> tuple | None:
    t = type_proto.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


def attrs(node) -> dict:
    """{name: value} of ``node``'s attributes (strings decoded); ValueError for one of no known type."""
    onnx = onnx_module()
    out = {}
    for a in node.attribute:
        try:
            v = onnx.helper.get_attribute_value(a)
        except Exception:                          # onnx's own error for an attribute type it does not know
            raise ValueError(f"ONNX {sizes.node_label(node)}: attribute {shown(a.name)} has no readable "
                             f"value (type {a.type})") from None
        out[a.name] = v.decode(errors="replace") if isinstance(v, bytes) else v
    return out


COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "LSTM", "GRU", "RNN")


def _infer(model):
    onnx = onnx_module()
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=False)
    except Exception as e:                         # onnx's InferenceError: the input shape does not fit
        raise ValueError(f"ONNX shape inference failed: {str(e).strip().splitlines()[-1][:300]}") from None


def folded_and_inferred(model):
    """A copy of ``model`` with its shape arithmetic folded into initializers, shapes inferred."""
    onnx = onnx_module()
    m = onnx.ModelProto()
    m.CopyFrom(model)
    folder = _Folder({i.name for i in m.graph.initializer if i.data_type in FLOAT_TYPES}, m.opset_import)
    for _ in range(50):
        inferred = _infer(m)
        if not folder.fold_pass(m.graph, inferred.graph):
            return inferred
    return _infer(m)


def _foldable_tensor(t) -> bool:
    """A tensor small enough to read as a value (a shape, pads), not a string, stored in the file."""
    return t.data_type != STRING and t.data_location != 1 and min(t.dims, default=0) >= 0 \
        and math.prod(t.dims) <= sizes.FOLD_MAX


def _value(t):
    """The value of a small tensor proto, None when it is unreadable (its data does not fit its dims)."""
    from onnx import numpy_helper
    try:
        return numpy_helper.to_array(t)
    except Exception:                               # protobuf, numpy and onnx errors alike: not folded
        return None


class _Folder:
    """One file's folding: which values are weights (never folded), the opsets, the element budget, and
    the nodes whose evaluation failed (not tried again: their inputs do not change)."""

    def __init__(self, floats: set, opsets):
        self.floats = floats
        self.opsets = opsets
        self.budget = sizes.Budget()
        self.failed: set[tuple] = set()

    def known_values(self, g) -> dict:
        known = {}
        for t in g.initializer:
            if t.name not in self.floats and _foldable_tensor(t):
                v = _value(t)
                if v is not None:
                    known[t.name] = v
        return known

    def fold_pass(self, g, inferred_g) -> bool:
        """Fold every node of ``g`` whose inputs are known; whether any was."""
        import numpy as np
        from onnx import numpy_helper

        shapes = {v.name: dims(v.type) for v in list(inferred_g.input) + list(inferred_g.value_info)}
        known = self.known_values(g)
        keep, changed = [], False
        for node in g.node:
            outs = self.folded(node, shapes, known)
            if outs is None or any(np.asarray(v).size > sizes.FOLD_MAX or np.asarray(v).dtype.kind in "OSU"
                                   for v in outs):
                keep.append(node)
                continue
            changed = True
            for o, v in zip(node.output, outs):
                known[o] = np.asarray(v)
                g.initializer.append(numpy_helper.from_array(np.asarray(v), o))
        del g.node[:]
        g.node.extend(keep)
        return changed

    def folded(self, node, shapes: dict, known: dict) -> list | None:
        """The output values of ``node`` when it folds, else None."""
        import numpy as np
        shape = shapes.get(node.input[0]) if node.input else None
        if node.op_type == "Shape" and not node.attribute and shape and None not in shape:
            return [np.array(shape, dtype=np.int64)]
        if node.op_type not in COMPUTE and node.domain in ("", "ai.onnx") and node.input \
                and all(i in known for i in node.input if i) and tuple(node.output) not in self.failed:
            return self.evaluated(node, known)
        if node.op_type == "Constant" and node.output:
            return _constant(node)
        return None

    def evaluated(self, node, known: dict) -> list | None:
        """``node`` run by onnx's reference evaluator, once its output size is known to be small."""
        import numpy as np
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        feeds = {i: known[i] for i in node.input if i}
        n = sizes.output_elements(node.op_type, [known[i] if i else None for i in node.input], attrs(node))
        if not self.budget.admit(node, n):
            return None
        ins = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
               for i, v in feeds.items()]
        outs_info = [helper.make_tensor_value_info(o, 0, None) for o in node.output]
        sub = helper.make_graph([node], "fold", ins, outs_info)
        try:
            with np.errstate(all="ignore"):             # an integer division by zero is the file's, not ours
                return ReferenceEvaluator(helper.make_model(sub, opset_imports=self.opsets)).run(None, feeds)
        except Exception:                           # an op the reference cannot run: left as it is
            self.failed.add(tuple(node.output))
            return None


def _constant(node) -> list | None:
    """A small numeric Constant node's value (a float one only up to 64 elements: a weight is not folded)."""
    t = attrs(node).get("value")
    if t is None or not hasattr(t, "dims") or not _foldable_tensor(t):
        return None
    v = _value(t)
    if v is None or v.dtype.kind == "f" and v.size > 64:
        return None
    return [v]
