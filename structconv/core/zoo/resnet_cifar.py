"""CIFAR ResNets of He et al. 2016 (section 4.2): ResNet-(6n+2) with option-A shortcuts.

    conv1                          3x3, 3 -> 16, stride 1
    layer{1,2,3}.{b}.conv{1,2}     n BasicBlocks per stage at 16 / 32 / 64 channels on
                                   32x32 / 16x16 / 8x8; the first conv of stages 2 and 3 has stride 2
    fc                             linear 64 -> num_classes, with bias

Option A: where a block changes shape, the shortcut is parameter-free (subsample by
2 in space, zero-pad the new channels, half on each side); there is no projection
conv. All convs are bias-free and followed by BatchNorm (affine parameters go to
``extra_params``). torchvision has no CIFAR ResNets, so names follow its ImageNet
ResNet ('conv1', 'layerS.B.convK', 'fc'). ResNet-20: 269,722 params, 40,551,040 mults.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..layer import Network
from ._builder import NetBuilder
from ._builder import input_hw as _hw


@dataclass(frozen=True)
class CifarBlock:
    prefix: str
    in_channels: int
    out_channels: int
    stride: int

    @property
    def pads_shortcut(self) -> bool:
        """True where the option-A shortcut subsamples and zero-pads (shape changes)."""
        return self.stride != 1 or self.in_channels != self.out_channels


@dataclass(frozen=True)
class CifarResNetSpec:
    """ResNet-(6n+2) for 32x32 inputs: ``blocks_per_stage`` = n."""

    name: str
    blocks_per_stage: int
    widths: tuple[int, ...] = (16, 32, 64)
    num_classes: int = 10
    input_size: tuple[int, int] = (32, 32)

    def __post_init__(self):
        where = f"CifarResNetSpec {self.name!r}"
        if self.blocks_per_stage < 1:
            raise ValueError(f"blocks_per_stage = {self.blocks_per_stage} must be >= 1 (in {where})")
        object.__setattr__(self, "widths", tuple(self.widths))
        if not self.widths or any(w < 1 for w in self.widths):
            raise ValueError(f"widths = {self.widths} must be non-empty and >= 1 (in {where})")
        prev = self.widths[0]
        for w in self.widths[1:]:
            if w < prev or (w - prev) % 2:
                raise ValueError(f"widths = {self.widths}: an option-A shortcut pads (out - in) / 2 zero "
                                 f"channels on each side, so widths must not shrink and each step must "
                                 f"be even (in {where})")
            prev = w
        if self.num_classes < 1:
            raise ValueError(f"num_classes = {self.num_classes} must be >= 1 (in {where})")
        object.__setattr__(self, "input_size", _hw(self.input_size, where))

    @property
    def depth(self) -> int:
        return 2 * len(self.widths) * self.blocks_per_stage + 2

    @property
    def stem_channels(self) -> int:
        return self.widths[0]

    def blocks(self) -> Iterator[CifarBlock]:
        inplanes = self.widths[0]
        for s, planes in enumerate(self.widths):
            for i in range(self.blocks_per_stage):
                stride = 2 if (s > 0 and i == 0) else 1
                yield CifarBlock(f"layer{s + 1}.{i}", inplanes, planes, stride)
                inplanes = planes


def build_cifar_resnet(spec: CifarResNetSpec) -> Network:
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    size = b.conv("conv1", 3, spec.stem_channels, 3, (H, W)).output_size
    for blk in spec.blocks():
        c1 = b.conv(f"{blk.prefix}.conv1", blk.in_channels, blk.out_channels, 3, size, stride=blk.stride)
        size = b.conv(f"{blk.prefix}.conv2", blk.out_channels, blk.out_channels, 3,
                      c1.output_size).output_size
    b.linear("fc", spec.widths[-1], spec.num_classes)
    return b.build(spec)


def resnet20(input_size=(32, 32), num_classes: int = 10) -> Network:
    return build_cifar_resnet(CifarResNetSpec("resnet20", 3, num_classes=num_classes, input_size=input_size))


def resnet56(input_size=(32, 32), num_classes: int = 10) -> Network:
    return build_cifar_resnet(CifarResNetSpec("resnet56", 9, num_classes=num_classes, input_size=input_size))
