"""How large a folded node's output would be, known from its inputs' values before it is evaluated.

Constant folding exists for shape arithmetic (a Reshape target, a Pad's pads: a few elements), so it
evaluates a node only when it is one of the ops below and its largest output has at most ``FOLD_MAX``
elements; any other node is left in the graph unevaluated, as a model would have it (a 600-byte
``ConstantOfShape`` or ``Range`` can ask for gigabytes, which counting never needs). All folded values
of one file together may not exceed ``TOTAL_LIMIT``.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import shown

#: the largest value the folder keeps: a shape, a pads vector or a small index table
FOLD_MAX = 4096
#: every folded value of one file together (each <= FOLD_MAX): 1024 of the largest, 32 MiB at 8 bytes;
#: the shape arithmetic of the largest exported networks folds a few thousand elements
TOTAL_LIMIT = 1 << 22
#: bytes per element in the messages: the widest numeric type folded (strings are never folded)
ITEM_BYTES = 8
TOO_MANY = 1 << 63                   # an output size beyond counting (an infinite Range)

ELEMENTWISE = frozenset("""
Abs Add And BitShift Cast CastLike Ceil Clip Div Equal Floor Greater GreaterOrEqual Identity IsInf IsNaN Less
LessOrEqual Max Mean Min Mod Mul Neg Not Or Pow Reciprocal Relu Round Sign Sqrt Sub Sum Where Xor
""".split())
#: ops whose every output has at most as many elements as their largest input
NOT_LARGER = frozenset("""
ArgMax ArgMin Compress CumSum Flatten GatherElements ReduceL1 ReduceL2 ReduceMax ReduceMean ReduceMin
ReduceProd ReduceSum ReduceSumSquare Reshape ScatterElements ScatterND Slice Split Squeeze TopK Transpose
Trilu Unique Unsqueeze
""".split())


def _ints(v) -> list[int] | None:
    """A 1-D integer vector's values (a shape, repeats, pads), None when it is not one."""
    if v is None or v.ndim > 1 or v.dtype.kind not in "iu":
        return None
    return [int(x) for x in v.reshape(-1)]


def _broadcast(vals) -> int | None:
    try:
        return math.prod(np.broadcast_shapes(*(v.shape for v in vals if v is not None)))
    except ValueError:                       # shapes that do not broadcast: the evaluator would fail too
        return None


def _constant_of_shape(vals, _a) -> int | None:
    shape = _ints(vals[0])
    return None if shape is None or min(shape, default=0) < 0 else math.prod(shape)


def _range(vals, _a) -> int | None:
    if len(vals) != 3 or any(v is None or v.size != 1 for v in vals):
        return None
    start, limit, delta = (v.reshape(-1)[0].item() for v in vals)
    if delta == 0 or not all(math.isfinite(x) for x in (start, limit, delta)):
        return None
    if all(isinstance(x, int) for x in (start, limit, delta)):
        return max(0, -((start - limit) // delta))           # ceil((limit - start) / delta), exactly
    n = (limit - start) / delta
    return max(0, math.ceil(n)) if math.isfinite(n) else TOO_MANY


def _tile(vals, _a) -> int | None:
    reps = _ints(vals[1]) if len(vals) > 1 else None
    if reps is None or len(reps) != vals[0].ndim or min(reps, default=0) < 0:
        return None
    return math.prod(s * r for s, r in zip(vals[0].shape, reps))


def _expand(vals, _a) -> int | None:
    shape = _ints(vals[1]) if len(vals) > 1 else None
    if shape is None or min(shape, default=0) < 0:
        return None
    try:
        return math.prod(np.broadcast_shapes(vals[0].shape, tuple(shape)))
    except ValueError:
        return None


def _concat(vals, _a) -> int:
    return sum(v.size for v in vals if v is not None)


def _gather(vals, a) -> int | None:
    data, idx = vals[0], vals[1] if len(vals) > 1 else None
    axis = int(a.get("axis", 0))
    if idx is None or not -data.ndim <= axis < data.ndim:
        return None
    rest = data.shape[: axis % data.ndim] + data.shape[axis % data.ndim + 1:]
    return math.prod(rest) * idx.size


def _gather_nd(vals, a) -> int | None:
    data, idx = vals[0], vals[1] if len(vals) > 1 else None
    b = int(a.get("batch_dims", 0))
    if idx is None or idx.ndim < 1 or not 0 <= b + idx.shape[-1] <= data.ndim:
        return None
    return math.prod(idx.shape[:-1]) * math.prod(data.shape[b + idx.shape[-1]:])


def _pad(vals, a) -> int | None:
    pads = _ints(vals[1]) if len(vals) > 1 and vals[1] is not None else list(a.get("pads", []))
    shape = list(vals[0].shape)
    axes = _ints(vals[3]) if len(vals) > 3 and vals[3] is not None else list(range(len(shape)))
    if pads is None or axes is None or len(pads) != 2 * len(axes) \
            or any(not -len(shape) <= x < len(shape) for x in axes):
        return None
    for i, axis in enumerate(axes):
        shape[axis] = max(0, shape[axis] + pads[i] + pads[i + len(axes)])
    return math.prod(shape)


RULES = {"ConstantOfShape": _constant_of_shape, "Range": _range, "Tile": _tile, "Expand": _expand,
         "Concat": _concat, "Gather": _gather, "GatherND": _gather_nd, "Pad": _pad,
         "Shape": lambda vals, a: vals[0].ndim, "Size": lambda vals, a: 1,
         "NonZero": lambda vals, a: vals[0].ndim * vals[0].size,
         "EyeLike": lambda vals, a: vals[0].size}


def output_elements(op: str, vals: list, a: dict) -> int | None:
    """Elements of the largest output of ``op`` on input values ``vals`` (None for an absent optional
    input) with attributes ``a``; None when ``op`` is not folded or its output cannot be told."""
    present = [v for v in vals if v is not None]
    if not present:
        return None
    if op in ELEMENTWISE:
        return _broadcast(present)
    if op in NOT_LARGER:
        return max(v.size for v in present)
    rule = RULES.get(op)
    if rule is None or vals[0] is None:
        return None
    try:
        return rule(vals, a)
    except (TypeError, ValueError, OverflowError, IndexError):  # attributes of the wrong type: not folded
        return None


def node_label(node) -> str:
    """``Conv node 'name'`` (an unnamed node by its first output)."""
    if node.name:
        return f"{node.op_type} node {shown(node.name)}"
    first = next((o for o in node.output if o), "")
    return f"unnamed {node.op_type} node (output {shown(first)})"


class Budget:
    """Elements folded so far in one file, against ``TOTAL_LIMIT``."""

    def __init__(self):
        self.used = 0

    def admit(self, node, n: int | None) -> bool:
        """Whether to evaluate ``node``, whose largest output has ``n`` elements (None: unknown); a node
        that is not small shape arithmetic is left in the graph. ValueError, before anything is
        evaluated, when the file's total is spent."""
        if n is None or n > FOLD_MAX:
            return False
        if self.used + n > TOTAL_LIMIT:
            raise ValueError(f"ONNX {node_label(node)}: constant folding would exceed {TOTAL_LIMIT} elements "
                             f"({_bytes(TOTAL_LIMIT)}) for the whole file: too much shape arithmetic to fold")
        self.used += n
        return True


def _bytes(n: int) -> str:
    """``n`` elements as bytes at ``ITEM_BYTES`` each, in the largest unit below 1024 of it."""
    size, unit = float(n * ITEM_BYTES), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if size < 1024 or unit == "EiB":
            break
        size /= 1024
    return f"{size:.3g} {unit}"
