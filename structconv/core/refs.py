"""What model importers share: the Python-reference grammar, the ``input_shape`` option, and the record
of where an imported Network came from (``Network.spec``)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .checks import shown

_ASCII_INT = re.compile(r"[0-9]{1,20}")    # int() also takes '²', '1_000' and other scripts' digits
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ImportInfo:
    """Where an imported Network came from (``Network.spec``): what was not counted and why."""

    source: str
    format: str                                  # 'onnx' | 'python'
    uncounted_ops: dict = field(default_factory=dict)   # op type -> node/module names (no MACs counted)
    notes: tuple = ()                            # the warnings the import gave

    def to_dict(self) -> dict:
        return {"source": self.source, "format": self.format,
                "uncounted_ops": {k: list(v) for k, v in self.uncounted_ops.items()},
                "notes": list(self.notes)}


def is_module_ref(ref) -> bool:
    """``X.py:function`` or ``dotted.module:function`` (a Python function that builds a torch module)."""
    if not isinstance(ref, str) or ":" not in ref:
        return False
    target, _, fn = ref.rpartition(":")
    if not fn.isidentifier():
        return False
    return target.lower().endswith(".py") or bool(_DOTTED.match(target))


def same_model(a: str, b: str) -> bool:
    """Whether network names ``a`` and ``b`` name one model: equal, one Python reference however its file
    is spelled (a search names ``dir/m.py:build``'s network 'm:build', training the reference), or a
    reference and the bare name of its module ('m': the network of m.onnx, the same model exported)."""
    (sa, fa), (sb, fb) = _model_key(a), _model_key(b)
    return a == b or (sa == sb and (fa == fb or fa is None or fb is None))


def _model_key(name: str) -> tuple[str, str | None]:
    """(the module's stem, the function) of a Python reference; (name, None) of any other name."""
    if not is_module_ref(name):
        return name, None
    target, _, fn = name.rpartition(":")
    return (Path(target).stem if target.lower().endswith(".py") else target.rsplit(".", 1)[-1]), fn


def check_input_shape(input_shape, what: str = "input_shape") -> tuple[int, ...]:
    """A shape of 2 to 5 positive ints, such as (1, 3, 224, 224)."""
    try:
        if isinstance(input_shape, str):
            input_shape = tuple(_dim(v) for v in input_shape.replace("x", ",").split(",") if v.strip())
        shape = tuple(_dim(v) for v in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"{what} = {shown(input_shape)} is not N,C,H,W (positive integers)") from None
    if not 2 <= len(shape) <= 5 or min(shape) < 1 or max(shape) > 1 << 16 or \
            any(isinstance(v, bool) or v != int(v) for v in input_shape):
        raise ValueError(f"{what} = {shown(input_shape)} must be 2 to 5 integers in [1, 65536], "
                         "such as 1,3,224,224")
    return shape


def _dim(v) -> int:
    """One dimension as an int; text only in ASCII digits (int() also reads '²', '1_000', '١٢')."""
    if isinstance(v, str) and not _ASCII_INT.fullmatch(v.strip()):
        raise ValueError(v)
    return int(v)
