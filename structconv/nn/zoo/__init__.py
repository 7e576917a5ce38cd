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

``SmallCNN`` is a small network of our own for quick experiments (no zoo spec).
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ...core import Network, check_input_shape, int_field, list_networks, resolve_network
from ...core.zoo import CifarResNetSpec, EfficientNetSpec, MobileNetV2Spec, ResNetSpec, VGGSpec
from ..trace import network_from_module
from .blocks import ConvBNAct, ShortcutA, SqueezeExcitation, StochasticDepth
from .mobile import EfficientNet, MobileNetV2
from .resnets import CifarResNet, ResNet
from .small import SmallCNN
from .vgg import VGG

__all__ = ["CLASSIFICATION", "SMALL", "build_module", "small_cnn", "small_cnn_network", "network_to_module",
           "module_from_spec", "conv_linear_modules", "ConvBNAct", "ShortcutA", "StochasticDepth",
           "SqueezeExcitation",
           "ResNet", "CifarResNet", "MobileNetV2", "EfficientNet", "VGG", "SmallCNN"]

#: networks of our own (no core zoo spec); ``build_module`` and ``resolve_network`` know them by name
SMALL = ("small_cnn",)

#: zoo networks that have a torch module here
CLASSIFICATION = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet20", "resnet56",
                  "mobilenet_v2", "efficientnet_b0", "efficientnet_b1", "vgg16")

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
    if type(model) in _MODULES:
        return model
    if not isinstance(model, (str, Network)):
        raise ValueError(f"model must be a zoo name, a zoo Network or a spec, got {type(model).__name__}")
    if isinstance(model, str) and model in list_networks() and model not in CLASSIFICATION:
        raise ValueError(f"model = {model!r} has no torch module in structconv.nn.zoo; choose one of "
                         f"{list(CLASSIFICATION)}")
    network = resolve_network(model)
    if network.spec is None or type(network.spec) not in _MODULES:
        raise ValueError(f"network {network.name!r} was not built from a classification zoo spec "
                         f"(spec = {type(network.spec).__name__}); build_module needs one of "
                         f"{list(CLASSIFICATION)}")
    return network.spec


def build_module(name_or_network, num_classes: int | None = None,
                 in_channels: int | None = None) -> nn.Module:
    """A torch module for a classification zoo network (a name, a Network from the zoo, or a
    spec) or for ``"small_cnn"``.

    ``num_classes`` overrides the spec's; ``in_channels`` applies to small_cnn (zoo networks
    take 3). Module names of its Conv2d/Linear layers equal the core Network's layer names,
    in the same order.
    """
    if isinstance(name_or_network, str) and name_or_network in SMALL:
        return small_cnn(num_classes, in_channels)
    if in_channels not in (None, 3):
        raise ValueError(f"in_channels = {in_channels!r} is out of range [3, 3] for model "
                         f"{getattr(name_or_network, 'name', name_or_network)!r} "
                         "(zoo networks take RGB input)")
    spec = _spec_of(name_or_network)
    if num_classes is not None:
        spec = replace(spec, num_classes=int_field("num_classes", num_classes, 1))
    return module_from_spec(spec)


def small_cnn(num_classes: int | None = None, in_channels: int | None = None) -> SmallCNN:
    """``SmallCNN`` as `structconv train small_cnn` builds it (default: 1 channel, 10 classes)."""
    return SmallCNN(int_field("in_channels", 1 if in_channels is None else in_channels, 1),
                    int_field("num_classes", 10 if num_classes is None else num_classes, 1))


def small_cnn_network(ref: str = "small_cnn", input_size=16, num_classes: int | None = None,
                      in_channels: int | None = None, input_shape=None) -> Network:
    """The core Network of ``small_cnn`` at ``input_size`` (an int or (H, W); default 16, the
    digits size `structconv train small_cnn` uses), traced from the module. ``input_shape``
    (N, C, H, W), as for other traced references, sets both the size and the channels."""
    if input_shape is not None:
        shape = check_input_shape(input_shape)
        if len(shape) != 4:
            raise ValueError(f"input_shape = {shape} must be N,C,H,W for small_cnn")
        in_channels, input_size = shape[1], shape[2:]
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    module = small_cnn(num_classes, in_channels)
    x = torch.zeros((1, module.conv1.in_channels, int_field("input_size", h, 1),
                     int_field("input_size", w, 1)))
    return network_from_module(module, x, name=ref)


def network_to_module(network: Network) -> nn.Module:
    """The torch module for a zoo ``Network`` (uses ``network.spec``)."""
    return build_module(network)


def conv_linear_modules(module: nn.Module) -> dict[str, nn.Module]:
    """Name -> module of every Conv2d and Linear, in registration order (= the core layer order)."""
    return {n: m for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
