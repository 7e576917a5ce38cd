"""An ONNX graph's values as the importer reads them: shapes (inferred, shape arithmetic folded), the
constants that are weights (also seen through Transpose/Identity/Cast), who produces and consumes what."""
from __future__ import annotations

import math

from . import _onnx_fold as fold

#: a weight seen through these is still the weight
PASS_THROUGH = ("Transpose", "Identity", "Cast", "CastLike")


class Graph:
    """Shapes of every value, the constants (weights) and who consumes what."""

    def __init__(self, model, data_name: str, weight_inputs: dict):
        inferred = fold.folded_and_inferred(model)
        g = inferred.graph
        self.nodes = list(g.node)
        self.data_name = data_name
        self.shapes = {v.name: fold.dims(v.type) for v in list(g.input) + list(g.value_info) + list(g.output)}
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
        if dtype is not None and dtype in fold.FLOAT_TYPES:
            self.params[name] = dims

    def _constant_node(self, n) -> None:
        if n.op_type == "Constant" and n.output:
            t = fold.attrs(n).get("value")
            if t is not None and hasattr(t, "dims"):
                self.consts[n.output[0]] = (n.output[0], tuple(t.dims))
                if t.data_type in (6, 7):
                    self.values[n.output[0]] = _small_ints(t)
        elif n.op_type in PASS_THROUGH and n.input and n.input[0] in self.consts:
            src = self.consts[n.input[0]][0]
            self.consts[n.output[0]] = (src, self.shapes.get(n.output[0]) or self.consts[n.input[0]][1])

    def zero_pad_before(self, name):
        """(input, ((top, bottom), (left, right))) when ``name`` is a zero Pad of H and W only that feeds
        one node."""
        n = self.producer.get(name)
        if n is None or n.op_type != "Pad" or len(self.consumers.get(name, [])) != 1 or len(n.input) < 2:
            return None
        a = fold.attrs(n)
        pads = self.values.get(n.input[1])
        value = self.values.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if a.get("mode", "constant") != "constant" or pads is None or len(pads) != 8 \
                or (value and any(value)) or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0 \
                or (len(n.input) > 3 and n.input[3]):
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
        return [int(v) for v in fold.onnx_module().numpy_helper.to_array(t).reshape(-1)]
    except Exception:                             # an unreadable constant just is not folded
        return None
