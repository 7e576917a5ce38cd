"""MobileNetV2 as torchvision defines it (``torchvision/models/mobilenetv2.py``).

Layer names are torchvision's module names:

    features.0.0                 3x3 stride-2 stem conv, 3 -> 32 (Conv2dNormActivation: .0 conv, .1 BN)
    features.{k}.conv.0.0        inverted residual, expand ratio t > 1: 1x1 expansion to t*C_in
    features.{k}.conv.1.0        ... 3x3 depthwise (stride s on the first block of a stage)
    features.{k}.conv.2          ... 1x1 linear projection (followed by BN, no activation)
    features.1.conv.0.0 / .conv.1   t = 1 (block 1): depthwise, then projection
    features.18.0                1x1 conv 320 -> 1280
    classifier.1                 linear 1280 -> num_classes, with bias (classifier.0 is dropout)

Convs are bias-free and followed by BatchNorm; BatchNorm affine parameters go to
``extra_params``. ``MobileNetV2Spec`` is shared with ``structconv.nn.zoo``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..layer import Network
from ._builder import NetBuilder
from ._builder import input_hw as _hw

# t (expand ratio), c (output channels), n (repeats), s (stride of the first repeat)
MOBILENET_V2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's ``_make_divisible``: round to a multiple of ``divisor``, never below 90% of v."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class InvertedResidualBlock:
    index: int            # position in ``features``
    in_channels: int
    hidden_channels: int
    out_channels: int
    stride: int
    expand_ratio: float

    @property
    def prefix(self) -> str:
        return f"features.{self.index}"

    @property
    def has_expansion(self) -> bool:
        return self.expand_ratio != 1

    @property
    def use_residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


@dataclass(frozen=True)
class MobileNetV2Spec:
    name: str = "mobilenet_v2"
    width_mult: float = 1.0
    setting: tuple[tuple[float, int, int, int], ...] = MOBILENET_V2_SETTING
    stem_channels: int = 32
    last_channels: int = 1280
    round_nearest: int = 8
    num_classes: int = 1000
    input_size: tuple[int, int] = (224, 224)
    dropout: float = 0.2

    def __post_init__(self):
        where = f"MobileNetV2Spec {self.name!r}"
        if not self.width_mult > 0:
            raise ValueError(f"width_mult = {self.width_mult} must be > 0 (in {where})")
        object.__setattr__(self, "setting", tuple(tuple(row) for row in self.setting))
        if not self.setting or any(len(row) != 4 for row in self.setting):
            raise ValueError(f"setting must be non-empty rows of (t, c, n, s), "
                             f"got {self.setting} (in {where})")
        for t, c, n, s in self.setting:
            if t < 1 or c < 1 or n < 1 or s not in (1, 2):
                raise ValueError(f"setting row (t, c, n, s) = {(t, c, n, s)} needs t >= 1, c >= 1, n >= 1 "
                                 f"and s in (1, 2) (in {where})")
        if self.num_classes < 1:
            raise ValueError(f"num_classes = {self.num_classes} must be >= 1 (in {where})")
        object.__setattr__(self, "input_size", _hw(self.input_size, where))

    @property
    def stem_out(self) -> int:
        return make_divisible(self.stem_channels * self.width_mult, self.round_nearest)

    @property
    def last_out(self) -> int:
        return make_divisible(self.last_channels * max(1.0, self.width_mult), self.round_nearest)

    @property
    def last_index(self) -> int:
        """Index in ``features`` of the final 1x1 conv."""
        return 1 + sum(row[2] for row in self.setting)

    def blocks(self) -> Iterator[InvertedResidualBlock]:
        inp = self.stem_out
        k = 1
        for t, c, n, s in self.setting:
            out = make_divisible(c * self.width_mult, self.round_nearest)
            for i in range(n):
                yield InvertedResidualBlock(k, inp, int(round(inp * t)), out, s if i == 0 else 1, t)
                inp = out
                k += 1

    @property
    def block_out(self) -> int:
        """Channels out of the last inverted residual."""
        return make_divisible(self.setting[-1][1] * self.width_mult, self.round_nearest)


def build_mobilenet_v2(spec: MobileNetV2Spec) -> Network:
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    size = b.conv("features.0.0", 3, spec.stem_out, 3, (H, W), stride=2).output_size
    for blk in spec.blocks():
        p, hid = blk.prefix, blk.hidden_channels
        j = 0
        if blk.has_expansion:
            size = b.conv(f"{p}.conv.0.0", blk.in_channels, hid, 1, size).output_size
            j = 1
        size = b.conv(f"{p}.conv.{j}.0", hid, hid, 3, size, stride=blk.stride, groups=hid).output_size
        size = b.conv(f"{p}.conv.{j + 1}", hid, blk.out_channels, 1, size).output_size
    b.conv(f"features.{spec.last_index}.0", spec.block_out, spec.last_out, 1, size)
    b.linear("classifier.1", spec.last_out, spec.num_classes)
    return b.build(spec)


def mobilenet_v2(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return build_mobilenet_v2(MobileNetV2Spec(num_classes=num_classes, input_size=input_size))
