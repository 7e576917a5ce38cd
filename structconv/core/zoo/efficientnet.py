"""EfficientNet-B0/B1 as torchvision defines them (``torchvision/models/efficientnet.py``).

Layer names are torchvision's module names:

    features.0.0                      3x3 stride-2 stem conv, 3 -> 32
    features.{s}.{i}.block.0.0        MBConv 1x1 expansion (only when expand ratio > 1)
    features.{s}.{i}.block.{j}.0      depthwise k x k conv (stride on the first block of a stage)
    features.{s}.{i}.block.{j+1}.fc1  squeeze-excitation: 1x1 conv expanded -> max(1, C_in // 4),
    features.{s}.{i}.block.{j+1}.fc2  and back, both WITH bias, on the 1x1 average-pooled map
    features.{s}.{i}.block.{j+2}.0    1x1 projection (BN, no activation)
    features.8.0                      1x1 conv 320 -> 1280
    classifier.1                      linear 1280 -> num_classes, with bias (classifier.0 is dropout)

(j = 1 with an expansion conv, 0 without, i.e. in stage 1.) The SE convs are
modelled as conv2d layers with input_size (1, 1). All other convs are bias-free and
followed by BatchNorm; BatchNorm affine parameters go to ``extra_params``.
B1 is B0 with depth multiplier 1.1 (stage repeats ceil(n * 1.1) = 2,3,3,4,4,5,2) at 240x240.
``EfficientNetSpec`` is shared with ``structconv.nn.zoo``.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from ..layer import Network
from ._builder import NetBuilder
from ._builder import input_hw as _hw
from .mobilenet import make_divisible

# expand ratio, kernel, stride, input channels, output channels, repeats (before width/depth scaling)
EFFICIENTNET_B_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                         (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                         (6, 3, 1, 192, 320, 1))


@dataclass(frozen=True)
class MBConvBlock:
    stage: int            # index in ``features`` (1-based: features.0 is the stem)
    index: int            # position inside the stage
    in_channels: int
    expanded_channels: int
    out_channels: int
    kernel: int
    stride: int
    squeeze_channels: int
    stochastic_depth_prob: float

    @property
    def prefix(self) -> str:
        return f"features.{self.stage}.{self.index}"

    @property
    def has_expansion(self) -> bool:
        return self.expanded_channels != self.in_channels

    @property
    def use_residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


@dataclass(frozen=True)
class EfficientNetSpec:
    name: str
    width_mult: float = 1.0
    depth_mult: float = 1.0
    stages: tuple[tuple[float, int, int, int, int, int], ...] = EFFICIENTNET_B_STAGES
    num_classes: int = 1000
    input_size: tuple[int, int] = (224, 224)
    dropout: float = 0.2
    stochastic_depth_prob: float = 0.2

    def __post_init__(self):
        where = f"EfficientNetSpec {self.name!r}"
        if not (self.width_mult > 0 and self.depth_mult > 0):
            raise ValueError(f"width_mult = {self.width_mult} and depth_mult = {self.depth_mult} must be "
                             f"> 0 (in {where})")
        object.__setattr__(self, "stages", tuple(tuple(row) for row in self.stages))
        if not self.stages or any(len(row) != 6 for row in self.stages):
            raise ValueError(f"stages must be non-empty rows of (expand, kernel, stride, in, out, repeats), "
                             f"got {self.stages} (in {where})")
        for e, k, s, cin, cout, n in self.stages:
            if e < 1 or k < 1 or k % 2 == 0 or s not in (1, 2) or cin < 1 or cout < 1 or n < 1:
                raise ValueError(f"stage (expand, kernel, stride, in, out, repeats) = "
                                 f"{(e, k, s, cin, cout, n)} needs expand >= 1, odd kernel, "
                                 f"stride in (1, 2), channels and repeats >= 1 (in {where})")
        if self.num_classes < 1:
            raise ValueError(f"num_classes = {self.num_classes} must be >= 1 (in {where})")
        object.__setattr__(self, "input_size", _hw(self.input_size, where))

    def channels(self, c: float) -> int:
        """torchvision's ``MBConvConfig.adjust_channels``."""
        return make_divisible(c * self.width_mult, 8)

    def repeats(self, n: int) -> int:
        """torchvision's ``MBConvConfig.adjust_depth``."""
        return int(math.ceil(n * self.depth_mult))

    @property
    def stem_out(self) -> int:
        return self.channels(self.stages[0][3])

    @property
    def head_in(self) -> int:
        return self.channels(self.stages[-1][4])

    @property
    def head_out(self) -> int:
        return 4 * self.head_in

    @property
    def head_index(self) -> int:
        return len(self.stages) + 1

    def blocks(self) -> Iterator[MBConvBlock]:
        total = sum(self.repeats(row[5]) for row in self.stages)
        block_id = 0
        for s, (e, k, stride, cin, cout, n) in enumerate(self.stages, start=1):
            cin, cout = self.channels(cin), self.channels(cout)
            for i in range(self.repeats(n)):
                inp = cin if i == 0 else cout
                yield MBConvBlock(s, i, inp, make_divisible(inp * e, 8), cout, k, stride if i == 0 else 1,
                                  max(1, inp // 4), self.stochastic_depth_prob * block_id / total)
                block_id += 1


def build_efficientnet(spec: EfficientNetSpec) -> Network:
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    size = b.conv("features.0.0", 3, spec.stem_out, 3, (H, W), stride=2).output_size
    for blk in spec.blocks():
        p, exp = blk.prefix, blk.expanded_channels
        j = 0
        if blk.has_expansion:
            size = b.conv(f"{p}.block.0.0", blk.in_channels, exp, 1, size).output_size
            j = 1
        size = b.conv(f"{p}.block.{j}.0", exp, exp, blk.kernel, size, stride=blk.stride,
                      groups=exp).output_size
        b.conv(f"{p}.block.{j + 1}.fc1", exp, blk.squeeze_channels, 1, (1, 1), bias=True, bn=False)
        b.conv(f"{p}.block.{j + 1}.fc2", blk.squeeze_channels, exp, 1, (1, 1), bias=True, bn=False)
        size = b.conv(f"{p}.block.{j + 2}.0", exp, blk.out_channels, 1, size).output_size
    b.conv(f"features.{spec.head_index}.0", spec.head_in, spec.head_out, 1, size)
    b.linear("classifier.1", spec.head_out, spec.num_classes)
    return b.build(spec)


def efficientnet_b0(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return build_efficientnet(EfficientNetSpec("efficientnet_b0", 1.0, 1.0, num_classes=num_classes,
                                               input_size=input_size))


def efficientnet_b1(input_size=(240, 240), num_classes: int = 1000) -> Network:
    return build_efficientnet(EfficientNetSpec("efficientnet_b1", 1.0, 1.1, num_classes=num_classes,
                                               input_size=input_size))
