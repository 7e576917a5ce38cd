"""ResNets as torch modules: torchvision's ImageNet ResNet and He et al.'s CIFAR ResNet (option A)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ...core.zoo import CifarBlock, CifarResNetSpec, ResNetBlock, ResNetSpec
from .blocks import ShortcutA, init_weights


class BasicBlock(nn.Module):
    def __init__(self, blk: ResNetBlock):
        super().__init__()
        self.conv1 = nn.Conv2d(blk.in_channels, blk.planes, 3, blk.stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(blk.planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(blk.planes, blk.planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(blk.planes)
        self.downsample = _downsample(blk)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    def __init__(self, blk: ResNetBlock):
        super().__init__()
        self.conv1 = nn.Conv2d(blk.in_channels, blk.planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(blk.planes)
        self.conv2 = nn.Conv2d(blk.planes, blk.planes, 3, blk.stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(blk.planes)
        self.conv3 = nn.Conv2d(blk.planes, blk.out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(blk.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(blk)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _downsample(blk: ResNetBlock):
    if not blk.downsample:
        return None
    return nn.Sequential(nn.Conv2d(blk.in_channels, blk.out_channels, 1, blk.stride, bias=False),
                         nn.BatchNorm2d(blk.out_channels))


def _stages(blocks, make) -> list[nn.Sequential]:
    """Group blocks whose prefix is 'layerS.B' into one Sequential per stage S."""
    stages: dict[str, list[nn.Module]] = {}
    for blk in blocks:
        stage, index = blk.prefix.split(".")
        stages.setdefault(stage, []).append(make(blk))
        assert int(index) == len(stages[stage]) - 1
    return [nn.Sequential(*mods) for mods in stages.values()]


class ResNet(nn.Module):
    """torchvision.models.ResNet for a ``ResNetSpec``."""

    def __init__(self, spec: ResNetSpec):
        super().__init__()
        self.spec = spec
        self.conv1 = nn.Conv2d(3, spec.stem_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(spec.stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        make = BasicBlock if spec.block == "basic" else Bottleneck
        for s, stage in enumerate(_stages(spec.blocks(), make), start=1):
            setattr(self, f"layer{s}", stage)
        self.num_stages = len(spec.layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(spec.feature_channels, spec.num_classes)
        init_weights(self, "default")

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for s in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{s}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- ResNet (CIFAR, option A) --------------------------------------------------------

class BasicBlockA(nn.Module):
    def __init__(self, blk: CifarBlock):
        super().__init__()
        self.conv1 = nn.Conv2d(blk.in_channels, blk.out_channels, 3, blk.stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(blk.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(blk.out_channels, blk.out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(blk.out_channels)
        self.shortcut = (ShortcutA(blk.in_channels, blk.out_channels, blk.stride) if blk.pads_shortcut
                         else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) of He et al. for 32x32 inputs, option-A shortcuts."""

    def __init__(self, spec: CifarResNetSpec):
        super().__init__()
        self.spec = spec
        self.conv1 = nn.Conv2d(3, spec.stem_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(spec.stem_channels)
        self.relu = nn.ReLU(inplace=True)
        for s, stage in enumerate(_stages(spec.blocks(), BasicBlockA), start=1):
            setattr(self, f"layer{s}", stage)
        self.num_stages = len(spec.widths)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(spec.widths[-1], spec.num_classes)
        init_weights(self, "default")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{s}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))
