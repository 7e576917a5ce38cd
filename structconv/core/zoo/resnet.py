"""ImageNet ResNets as torchvision defines them (``torchvision/models/resnet.py``, v1.5).

Layer names are torchvision's module names:

    conv1                          7x7 stride-2 stem, 3 -> 64 (then a 3x3 stride-2 max pool)
    layer{1..4}.{b}.conv{1,2}      BasicBlock: two 3x3 convs, stride on conv1
    layer{1..4}.{b}.conv{1,2,3}    Bottleneck: 1x1, 3x3 (stride here: v1.5), 1x1 (x4 channels)
    layer{1..4}.0.downsample.0     1x1 projection (stride = the block's), followed by BatchNorm
    fc                             linear 512*expansion -> num_classes, with bias

Every conv is bias-free and followed by BatchNorm; BatchNorm affine parameters
(2*C each) go to ``extra_params``. ``ResNetSpec`` is shared with ``structconv.nn.zoo``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..layer import Network, conv_out
from ._builder import NetBuilder
from ._builder import input_hw as _hw

BLOCKS = {"basic": 1, "bottleneck": 4}     # block kind -> channel expansion of its output


@dataclass(frozen=True)
class ResNetBlock:
    """One residual block: ``prefix`` is its module path, e.g. 'layer2.0'."""

    prefix: str
    in_channels: int
    planes: int          # width of the 3x3 conv(s)
    out_channels: int    # planes * expansion
    stride: int
    downsample: bool     # 1x1 projection + BN on the shortcut


@dataclass(frozen=True)
class ResNetSpec:
    """Everything that defines a torchvision ResNet (groups 1, width 64, no dilation)."""

    name: str
    block: str                                   # 'basic' or 'bottleneck'
    layers: tuple[int, ...]                      # blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem_channels: int = 64
    num_classes: int = 1000
    input_size: tuple[int, int] = (224, 224)

    def __post_init__(self):
        where = f"ResNetSpec {self.name!r}"
        if self.block not in BLOCKS:
            raise ValueError(f"block = {self.block!r} must be one of {sorted(BLOCKS)} (in {where})")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "widths", tuple(self.widths))
        if len(self.layers) != len(self.widths) or not self.layers:
            raise ValueError(f"layers = {self.layers} and widths = {self.widths} must be non-empty and "
                             f"of equal length (in {where})")
        if any(n < 1 for n in self.layers) or any(w < 1 for w in self.widths):
            raise ValueError(f"layers = {self.layers} and widths = {self.widths} must be >= 1 (in {where})")
        if self.num_classes < 1:
            raise ValueError(f"num_classes = {self.num_classes} must be >= 1 (in {where})")
        object.__setattr__(self, "input_size", _hw(self.input_size, where))

    @property
    def expansion(self) -> int:
        return BLOCKS[self.block]

    @property
    def feature_channels(self) -> int:
        """Channels into ``fc``."""
        return self.widths[-1] * self.expansion

    def blocks(self) -> Iterator[ResNetBlock]:
        """The residual blocks in order, as torchvision's ``ResNet._make_layer`` creates them."""
        inplanes = self.stem_channels
        for s, (n, planes) in enumerate(zip(self.layers, self.widths)):
            out = planes * self.expansion
            for i in range(n):
                stride = 2 if (s > 0 and i == 0) else 1
                yield ResNetBlock(f"layer{s + 1}.{i}", inplanes, planes, out, stride,
                                  downsample=(i == 0 and (stride != 1 or inplanes != out)))
                inplanes = out


def build_resnet(spec: ResNetSpec) -> Network:
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    stem = b.conv("conv1", 3, spec.stem_channels, 7, (H, W), stride=2, padding=3)
    size = tuple(conv_out(s, 3, 2, 1, 1) for s in stem.output_size)          # max pool 3x3 s2 p1
    for blk in spec.blocks():
        p = blk.prefix
        if spec.block == "basic":
            c1 = b.conv(f"{p}.conv1", blk.in_channels, blk.planes, 3, size, stride=blk.stride)
            out = b.conv(f"{p}.conv2", blk.planes, blk.planes, 3, c1.output_size)
        else:
            c1 = b.conv(f"{p}.conv1", blk.in_channels, blk.planes, 1, size)
            c2 = b.conv(f"{p}.conv2", blk.planes, blk.planes, 3, c1.output_size, stride=blk.stride)
            out = b.conv(f"{p}.conv3", blk.planes, blk.out_channels, 1, c2.output_size)
        if blk.downsample:
            b.conv(f"{p}.downsample.0", blk.in_channels, blk.out_channels, 1, size, stride=blk.stride)
        size = out.output_size
    b.linear("fc", spec.feature_channels, spec.num_classes)
    return b.build(spec)


def _resnet(name, block, layers, input_size, num_classes) -> Network:
    return build_resnet(ResNetSpec(name, block, layers, num_classes=num_classes, input_size=input_size))


def resnet18(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return _resnet("resnet18", "basic", (2, 2, 2, 2), input_size, num_classes)


def resnet34(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return _resnet("resnet34", "basic", (3, 4, 6, 3), input_size, num_classes)


def resnet50(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return _resnet("resnet50", "bottleneck", (3, 4, 6, 3), input_size, num_classes)


def resnet101(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return _resnet("resnet101", "bottleneck", (3, 4, 23, 3), input_size, num_classes)
