"""The Choice protocol: what to do with one layer, and the registry of choice kinds.

Every kind answers the same questions, so no consumer branches on the type:

    fits(layer)          None, or a one-line reason why it does not fit
    validate(layer)      raises ValueError with that reason
    parts(layer)         the plain Parts the hardware runs (a layer, with or without a sum-pool)
    count(layer)         OpCount under the paper's convention (the sum over its parts)
    label, to_dict()     how it is shown and saved; ``choice_from_dict`` reads it back
    options(layer, rule) the candidates the search offers for a layer (classmethod)

A new kind is one module: a frozen dataclass subclass decorated with
``@register_choice``. Its torch module comes from ``structconv.nn``'s registry,
so core stays torch-free.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields

from .checks import int_field, pair_field, shown
from .layer import PLANNABLE_OPS, Layer
from .ops import ZERO, OpCount, dense_ops, structured_ops

_KINDS: dict[str, type[Choice]] = {}


def register_choice(cls: type[Choice]) -> type[Choice]:
    """Class decorator: make ``cls.kind`` readable by ``choice_from_dict`` and searchable."""
    if not isinstance(getattr(cls, "kind", None), str) or cls.kind in ("", "choice"):
        raise ValueError(f"a registered choice needs a class attribute kind, got {cls.__name__}")
    _KINDS[cls.kind] = cls
    return cls


def choice_kinds() -> dict[str, type[Choice]]:
    """kind -> class of every registered choice (dense, structure, the designs, plug-ins)."""
    return dict(_KINDS)


@dataclass(frozen=True)
class Part:
    """One job for the hardware: a plain layer, optionally behind a sum-pool (``structure``)."""

    layer: Layer
    structure: Structure | None = None

    def count(self) -> OpCount:
        s = self.structure
        if s is None:
            return dense_ops(self.layer)
        return structured_ops(self.layer, s.c, s.n, s.window(self.layer))


class Choice:
    """Base of every kind; subclasses are frozen dataclasses with a class attribute ``kind``."""

    kind: str = "choice"

    def validate(self, layer: Layer) -> None:
        """Raise ValueError (one line, naming the layer) when this choice does not fit ``layer``."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a Layer, got {type(layer).__name__}")
        if layer.op not in PLANNABLE_OPS and self.kind != "dense":
            raise ValueError(f"op = {shown(layer.op)} is not one of {list(PLANNABLE_OPS)}: only 'dense' "
                             f"applies to it (in layer {shown(layer.name)})")

    def fits(self, layer: Layer) -> str | None:
        try:
            self.validate(layer)
        except ValueError as e:
            return str(e)
        return None

    def parts(self, layer: Layer) -> tuple[Part, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def count(self, layer: Layer) -> OpCount:
        self.validate(layer)
        return sum((p.count() for p in self.parts(layer)), ZERO)

    def to_dict(self):
        """Saved form: ``{"kind": kind, field: value, ...}`` (fields left None are omitted)."""
        return {"kind": self.kind, **self._fields()}

    @classmethod
    def from_dict(cls, d: dict, where: str | None = None) -> Choice:
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} for {cls.kind!r}; "
                             f"allowed: {', '.join(allowed) or 'none'}{_sfx(where)}")
        with _located(where):
            return cls(**d)

    @property
    def label(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self._fields().items())
        return self.kind + (f"({args})" if args else "")

    @classmethod
    def options(cls, layer: Layer, rule) -> tuple[Choice, ...]:
        """Candidates the search space offers for ``layer`` under a search ``rule`` (none by default)."""
        return ()

    def _fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _sfx(where: str | None) -> str:
    return f" (in {where})" if where else ""


@contextmanager
def _located(where: str | None):
    """Add where a bad field came from (e.g. the plan layer) to a field error that lacks it."""
    try:
        yield
    except ValueError as e:
        msg = str(e)
        if where and where not in msg:
            msg = msg[:-1] + f", {where})" if msg.endswith(")") and "(in " in msg else msg + _sfx(where)
        raise ValueError(msg) from None


@register_choice
@dataclass(frozen=True)
class Dense(Choice):
    """Leave the layer as it is."""

    kind = "dense"

    def parts(self, layer: Layer) -> tuple[Part, ...]:
        return (Part(layer),)

    def to_dict(self):
        return "dense"

    @property
    def label(self) -> str:
        return "dense"


@register_choice
@dataclass(frozen=True)
class Structure(Choice):
    """Structured with parameters (c, n): c*nh*nw all-ones blocks per output channel.

    ``n`` may be an int (square) or a pair (nh, nw); it is stored as a pair.
    """

    c: int
    n: tuple[int, int] | int = 1

    kind = "structure"

    def __post_init__(self):
        object.__setattr__(self, "c", int_field("c", self.c, 1))
        object.__setattr__(self, "n", pair_field("n", self.n, 1))

    @property
    def nh(self) -> int:
        return self.n[0]

    @property
    def nw(self) -> int:
        return self.n[1]

    def validate(self, layer: Layer) -> None:
        super().validate(layer)
        where = f"layer {shown(layer.name)}"
        if layer.op not in PLANNABLE_OPS:
            raise ValueError(f"op = {shown(layer.op)} is not one of {list(PLANNABLE_OPS)}: "
                             f"a structure applies to convolutions and linear layers (in {where})")
        int_field("c", self.c, 1, layer.group_in_channels, where)
        kh, kw = layer.kernel
        int_field("n", self.nh, 1, kh, where)
        int_field("n", self.nw, 1, kw, where)

    def window(self, layer: Layer) -> tuple[int, int, int]:
        """Sum-pool window (kc, a, b) = (C/groups - c + 1, kh - nh + 1, kw - nw + 1)."""
        return (layer.group_in_channels - self.c + 1, layer.kernel[0] - self.nh + 1,
                layer.kernel[1] - self.nw + 1)

    def is_identity(self, layer: Layer) -> bool:
        """True when the structure is the dense layer itself (window 1x1x1)."""
        return self.window(layer) == (1, 1, 1)

    def parts(self, layer: Layer) -> tuple[Part, ...]:
        self.validate(layer)
        return (Part(layer),) if self.is_identity(layer) else (Part(layer, self),)

    def to_dict(self):
        return {"c": self.c, "n": self.nh if self.nh == self.nw else [self.nh, self.nw]}

    @classmethod
    def from_dict(cls, d: dict, where: str | None = None) -> Structure:
        unknown = sorted(set(d) - {"c", "n", "kind"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} in a structure choice; allowed: c, n{_sfx(where)}")
        if "c" not in d:
            raise ValueError(f"a structure choice needs field c (an integer >= 1){_sfx(where)}")
        n = d.get("n", 1)
        with _located(where):
            return cls(d["c"], tuple(n) if isinstance(n, list) else n)

    @property
    def label(self) -> str:
        n = self.nh if self.nh == self.nw else f"{self.nh}x{self.nw}"
        return f"c={self.c},n={n}"

    @classmethod
    def options(cls, layer: Layer, rule) -> tuple[Structure, ...]:
        """c over the rule's grid (``rule.c_values(C)``) x n over ``rule.n_values(k)``, identity left out."""
        if getattr(rule, "dense_only", False) or layer.op not in PLANNABLE_OPS:
            return ()
        kh, kw = layer.kernel
        out = []
        for c in rule.c_values(layer.group_in_channels):
            for n in rule.n_values(max(kh, kw)):
                s = cls(c, (min(n, kh), min(n, kw)))
                if not s.is_identity(layer) and s not in out:
                    out.append(s)
        return tuple(out)


def choice_from_dict(value, where: str | None = None) -> Choice:
    """Parse a saved choice: 'dense', a kind name, ``{c, n}``, ``{design: kind, ...}`` or
    ``{kind: ..., ...}``."""
    if value is None or value == "dense":
        return Dense()
    if isinstance(value, Choice):
        return value
    if isinstance(value, str):
        if value in _KINDS and value != "structure":
            return _KINDS[value].from_dict({}, where)
        raise ValueError(f"choice = {value!r} is not 'dense', a kind name {_kind_names()} "
                         f"or a mapping{_sfx(where)}")
    if not isinstance(value, dict):
        raise ValueError(f"choice must be 'dense', a kind name or a mapping, got {value!r}{_sfx(where)}")
    key = "design" if "design" in value else "kind" if "kind" in value else None
    if key is None:
        return Structure.from_dict(value, where)
    name = value[key]
    if not isinstance(name, str) or name not in _KINDS:
        raise ValueError(f"{key} = {shown(name)} is not one of {_kind_names()}{_sfx(where)}")
    return _KINDS[name].from_dict({k: v for k, v in value.items() if k != key}, where)


def _kind_names() -> list[str]:
    return sorted(k for k in _KINDS if k not in ("dense", "structure"))
