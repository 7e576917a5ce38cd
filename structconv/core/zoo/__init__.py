"""The model zoo: reference CNNs as Networks (layer names follow torchvision's)."""
from __future__ import annotations

import importlib

from ..layer import Network
from .efficientnet import EfficientNetSpec, MBConvBlock
from .mobilenet import InvertedResidualBlock, MobileNetV2Spec
from .resnet import ResNetBlock, ResNetSpec
from .resnet_cifar import CifarBlock, CifarResNetSpec
from .vgg import VGGSpec

# the specs are shared with structconv.nn, which builds the same networks as torch modules
__all__ = ["list_networks", "get_network", "EfficientNetSpec", "MBConvBlock", "InvertedResidualBlock",
           "MobileNetV2Spec", "ResNetBlock", "ResNetSpec", "CifarBlock", "CifarResNetSpec", "VGGSpec"]

# name -> (module, builder, one-line description)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "resnet18": ("resnet", "resnet18", "ResNet-18, ImageNet 224x224"),
    "resnet34": ("resnet", "resnet34", "ResNet-34, ImageNet 224x224"),
    "resnet50": ("resnet", "resnet50", "ResNet-50, ImageNet 224x224"),
    "resnet101": ("resnet", "resnet101", "ResNet-101, ImageNet 224x224"),
    "resnet20": ("resnet_cifar", "resnet20", "ResNet-20, CIFAR-10 32x32"),
    "resnet56": ("resnet_cifar", "resnet56", "ResNet-56, CIFAR-10 32x32"),
    "mobilenet_v2": ("mobilenet", "mobilenet_v2", "MobileNetV2 1.0, ImageNet 224x224"),
    "efficientnet_b0": ("efficientnet", "efficientnet_b0", "EfficientNet-B0 with SE, ImageNet 224x224"),
    "efficientnet_b1": ("efficientnet", "efficientnet_b1", "EfficientNet-B1 with SE, ImageNet 240x240"),
    "vgg16": ("vgg", "vgg16", "VGG-16, ImageNet 224x224"),
    "hrnet_w18_small_v1": ("hrnet", "hrnet_w18_small_v1", "HRNetV2-W18-Small-v1, Cityscapes 1024x2048"),
    "pspnet101": ("pspnet", "pspnet101", "PSPNet-101, Cityscapes 1024x2048"),
}


def list_networks() -> dict[str, str]:
    """Name -> description of every zoo network."""
    return {k: v[2] for k, v in _REGISTRY.items()}


def get_network(name: str, **kwargs) -> Network:
    """Build zoo network ``name`` (kwargs go to its builder, e.g. input_size, num_classes)."""
    if name not in _REGISTRY:
        raise ValueError(f"model = {name!r} is not a zoo network; choose one of {sorted(_REGISTRY)}")
    module, fn, _ = _REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), fn)(**kwargs)
