"""Per-layer Choices: keep the layer dense, structure it with (c, n), or replace
it by one of the sparse-kernel designs (see ``designs``)."""
from __future__ import annotations

from dataclasses import dataclass

from ._check import int_field, pair_field
from .layer import Layer


class Choice:
    """What to do with one layer. Subclasses are frozen dataclasses."""

    kind: str = "choice"

    def validate(self, layer: Layer) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_dict(self):  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def label(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class Dense(Choice):
    """Leave the layer as it is."""

    kind = "dense"

    def validate(self, layer: Layer) -> None:
        return None

    def to_dict(self):
        return "dense"

    @property
    def label(self) -> str:
        return "dense"


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
        where = f"layer {layer.name!r}"
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

    def to_dict(self):
        return {"c": self.c, "n": self.nh if self.nh == self.nw else [self.nh, self.nw]}

    @property
    def label(self) -> str:
        n = self.nh if self.nh == self.nw else f"{self.nh}x{self.nw}"
        return f"c={self.c},n={n}"


def choice_from_dict(value, where: str | None = None) -> Choice:
    """Parse the serialized form written by ``Choice.to_dict``."""
    from .designs import DESIGNS  # designs import this module

    sfx = f" (in {where})" if where else ""
    if value is None or value == "dense" or isinstance(value, Dense):
        return Dense()
    if isinstance(value, Choice):
        return value
    if isinstance(value, str):
        if value in DESIGNS:
            return DESIGNS[value]()
        raise ValueError(f"choice = {value!r} is not 'dense', a design name {sorted(DESIGNS)} or a mapping{sfx}")
    if not isinstance(value, dict):
        raise ValueError(f"choice must be 'dense' or a mapping, got {value!r}{sfx}")
    if "design" in value:
        name = value["design"]
        if name not in DESIGNS:
            raise ValueError(f"design = {name!r} is not one of {sorted(DESIGNS)}{sfx}")
        args = {k: v for k, v in value.items() if k != "design"}
        try:
            return DESIGNS[name](**args)
        except TypeError as e:
            raise ValueError(f"bad fields for design {name!r}: {e}{sfx}") from None
    unknown = set(value) - {"c", "n"}
    if unknown or "c" not in value:
        raise ValueError(f"a structure choice needs fields c and n (got {sorted(value)}){sfx}")
    n = value.get("n", 1)
    return Structure(value["c"], tuple(n) if isinstance(n, list) else n)
