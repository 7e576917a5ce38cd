"""PyTorch modules for the classification zoo, built from the same spec objects as
``structconv.core.zoo``.

Every ``nn.Conv2d`` / ``nn.Linear`` is registered under exactly the name of the
matching core ``Layer`` (torchvision's module names: "conv1", "layer2.0.downsample.0",
"features.1.conv.0.0", "features.2.0.block.2.fc1", "classifier.1", ...), in the same
order, so a structconv Plan (layer name -> choice) addresses both. The layouts mirror
torchvision's classes (Conv2dNormActivation = Sequential(conv, BN, act), SE with
fc1/fc2 1x1 convs, stochastic depth in MBConv), but nothing here imports torchvision.

    build_module("resnet18")                   # by zoo name
    build_module(get_network("efficientnet_b0"), num_classes=10)
    network_to_module(net)                     # a zoo Network: uses net.spec
    conv_linear_modules(module)                # {name: Conv2d | Linear} in order
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..core.layer import Network
from ..core.zoo import get_network
from ..core.zoo.efficientnet import EfficientNetSpec, MBConvBlock
from ..core.zoo.mobilenet import InvertedResidualBlock, MobileNetV2Spec
from ..core.zoo.resnet import ResNetBlock, ResNetSpec
from ..core.zoo.resnet_cifar import CifarBlock, CifarResNetSpec
from ..core.zoo.vgg import VGGSpec

__all__ = ["CLASSIFICATION", "build_module", "network_to_module", "module_from_spec",
           "conv_linear_modules", "ShortcutA", "StochasticDepth", "SqueezeExcitation",
           "ResNet", "CifarResNet", "MobileNetV2", "EfficientNet", "VGG"]

#: zoo networks that have a torch module here
CLASSIFICATION = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet20", "resnet56",
                  "mobilenet_v2", "efficientnet_b0", "efficientnet_b1", "vgg16")


# -- building blocks ---------------------------------------------------------------

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


def _init(module: nn.Module, linear: str) -> None:
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


# -- ResNet (ImageNet) -------------------------------------------------------------

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
        _init(self, "default")

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
        _init(self, "default")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{s}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- MobileNetV2 ---------------------------------------------------------------------

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
        self.classifier = nn.Sequential(nn.Dropout(p=spec.dropout), nn.Linear(spec.last_out, spec.num_classes))
        _init(self, "normal")

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
        _init(self, "uniform")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# -- VGG -----------------------------------------------------------------------------

class VGG(nn.Module):
    """torchvision.models.VGG for a ``VGGSpec``."""

    def __init__(self, spec: VGGSpec):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        cin = 3
        for k, v in spec.features():
            assert k == len(layers)
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, v, 3, padding=1))
            if spec.batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(spec.pool_size)
        self.classifier = nn.Sequential(
            nn.Linear(spec.classifier_in, spec.hidden), nn.ReLU(True), nn.Dropout(p=spec.dropout),
            nn.Linear(spec.hidden, spec.hidden), nn.ReLU(True), nn.Dropout(p=spec.dropout),
            nn.Linear(spec.hidden, spec.num_classes))
        _init(self, "normal")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# -- entry points --------------------------------------------------------------------

_MODULES = {ResNetSpec: ResNet, CifarResNetSpec: CifarResNet, MobileNetV2Spec: MobileNetV2,
            EfficientNetSpec: EfficientNet, VGGSpec: VGG}


def module_from_spec(spec) -> nn.Module:
    """The torch module for a zoo spec (ResNetSpec, CifarResNetSpec, MobileNetV2Spec, ...)."""
    cls = _MODULES.get(type(spec))
    if cls is None:
        raise ValueError(f"spec of type {type(spec).__name__} has no torch module; supported: "
                         f"{sorted(c.__name__ for c in _MODULES)}")
    return cls(spec)


def _spec_of(model):
    if isinstance(model, str):
        if model not in CLASSIFICATION:
            get_network(model)          # raises a clear error for an unknown name
            raise ValueError(f"model = {model!r} has no torch module in structconv.nn.zoo; choose one of "
                             f"{list(CLASSIFICATION)}")
        return get_network(model).spec
    if isinstance(model, Network):
        if model.spec is None or type(model.spec) not in _MODULES:
            raise ValueError(f"network {model.name!r} was not built from a classification zoo spec "
                             f"(spec = {type(model.spec).__name__}); build_module needs one of "
                             f"{list(CLASSIFICATION)}")
        return model.spec
    if type(model) in _MODULES:
        return model
    raise ValueError(f"model must be a zoo name, a zoo Network or a spec, got {type(model).__name__}")


def build_module(name_or_network, num_classes: int | None = None) -> nn.Module:
    """A torch module for a classification zoo network: a name, a Network from the zoo, or a spec.

    ``num_classes`` overrides the spec's. Module names of its Conv2d/Linear layers equal
    the core Network's layer names, in the same order.
    """
    spec = _spec_of(name_or_network)
    if num_classes is not None:
        spec = replace(spec, num_classes=num_classes)
    return module_from_spec(spec)


def network_to_module(network: Network) -> nn.Module:
    """The torch module for a zoo ``Network`` (uses ``network.spec``)."""
    return build_module(network)


def conv_linear_modules(module: nn.Module) -> dict[str, nn.Module]:
    """Name -> module of every Conv2d and Linear, in registration order (= the core layer order)."""
    return {n: m for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
