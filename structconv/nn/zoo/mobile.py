"""MobileNetV2 and EfficientNet (B-series, MBConv + SE) as torch modules, torchvision's layouts."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...core.zoo import EfficientNetSpec, InvertedResidualBlock, MBConvBlock, MobileNetV2Spec
from .blocks import ConvBNAct, SqueezeExcitation, StochasticDepth, init_weights


class InvertedResidual(nn.Module):
    def __init__(self, blk: InvertedResidualBlock):
        super().__init__()
        hid = blk.hidden_channels
        layers: list[nn.Module] = []
        if blk.has_expansion:
            layers.append(ConvBNAct(blk.in_channels, hid, 1, activation=nn.ReLU6))
        layers += [ConvBNAct(hid, hid, 3, blk.stride, groups=hid, activation=nn.ReLU6),
                   nn.Conv2d(hid, blk.out_channels, 1, 1, 0, bias=False),
                   nn.BatchNorm2d(blk.out_channels)]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = blk.use_residual

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.MobileNetV2 for a ``MobileNetV2Spec``."""

    def __init__(self, spec: MobileNetV2Spec):
        super().__init__()
        self.spec = spec
        features: list[nn.Module] = [ConvBNAct(3, spec.stem_out, 3, 2, activation=nn.ReLU6)]
        features += [InvertedResidual(blk) for blk in spec.blocks()]
        features.append(ConvBNAct(spec.block_out, spec.last_out, 1, activation=nn.ReLU6))
        assert len(features) == spec.last_index + 1
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=spec.dropout),
                                        nn.Linear(spec.last_out, spec.num_classes))
        init_weights(self, "normal")

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


# -- EfficientNet --------------------------------------------------------------------

class MBConv(nn.Module):
    def __init__(self, blk: MBConvBlock):
        super().__init__()
        exp = blk.expanded_channels
        layers: list[nn.Module] = []
        if blk.has_expansion:
            layers.append(ConvBNAct(blk.in_channels, exp, 1, activation=nn.SiLU))
        layers += [ConvBNAct(exp, exp, blk.kernel, blk.stride, groups=exp, activation=nn.SiLU),
                   SqueezeExcitation(exp, blk.squeeze_channels),
                   ConvBNAct(exp, blk.out_channels, 1, activation=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(blk.stochastic_depth_prob)
        self.use_res_connect = blk.use_residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(nn.Module):
    """torchvision.models.EfficientNet (B-series, MBConv + SE) for an ``EfficientNetSpec``."""

    def __init__(self, spec: EfficientNetSpec):
        super().__init__()
        self.spec = spec
        features: list[nn.Module] = [ConvBNAct(3, spec.stem_out, 3, 2, activation=nn.SiLU)]
        stages: dict[int, list[nn.Module]] = {}
        for blk in spec.blocks():
            stages.setdefault(blk.stage, []).append(MBConv(blk))
        features += [nn.Sequential(*stages[s]) for s in sorted(stages)]
        features.append(ConvBNAct(spec.head_in, spec.head_out, 1, activation=nn.SiLU))
        assert len(features) == spec.head_index + 1
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=spec.dropout, inplace=True),
                                        nn.Linear(spec.head_out, spec.num_classes))
        init_weights(self, "uniform")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
