"""Building blocks of the zoo modules, after torchvision's (nothing here imports torchvision)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class ConvBNAct(nn.Sequential):
    """torchvision's Conv2dNormActivation: .0 bias-free conv ('same' padding), .1 BN, .2 activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 activation=nn.ReLU):
        layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


class ShortcutA(nn.Module):
    """He et al.'s option-A shortcut: subsample by ``stride``, zero-pad channels half on each side."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"out_channels = {out_channels} must be >= in_channels = {in_channels}")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_channels - self.in_channels
        if extra:
            x = F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth in 'row' mode: drop whole samples while training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
        noise.bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation: pool to 1x1, fc1 (1x1 conv, bias), SiLU, fc2, sigmoid, scale."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


def init_weights(module: nn.Module, linear: str) -> None:
    """torchvision's initialisations: conv kaiming-normal (fan_out), BN 1/0; ``linear`` picks the FC one."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear == "normal":
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
            elif linear == "uniform":
                r = 1.0 / m.out_features ** 0.5
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)
            # "default": keep PyTorch's own Linear init (torchvision's ResNet does)
