"""VGG-16 as torchvision defines it (``torchvision/models/vgg.py``, configuration "D", no BN).

Layer names are torchvision's module names:

    features.{k}                 3x3 convs with bias, padding 1, each followed by ReLU (and BN
                                 with ``batch_norm``), 2x2 stride-2 max pools between the groups:
                                 features.0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28 without BN
    classifier.0, .3, .6         linears 512*7*7 -> 4096 -> 4096 -> num_classes, with bias

An adaptive average pool to 7x7 sits between features and classifier, so the first
linear always has 25,088 inputs whatever the input size. ``VGGSpec`` is shared with
``structconv.nn.zoo``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..layer import Network
from ._builder import NetBuilder
from ._builder import input_hw as _hw

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@dataclass(frozen=True)
class VGGSpec:
    name: str
    cfg: tuple = VGG16_CFG             # conv widths, "M" for a 2x2 stride-2 max pool
    batch_norm: bool = False
    num_classes: int = 1000
    input_size: tuple[int, int] = (224, 224)
    hidden: int = 4096
    pool_size: tuple[int, int] = (7, 7)
    dropout: float = 0.5

    def __post_init__(self):
        where = f"VGGSpec {self.name!r}"
        object.__setattr__(self, "cfg", tuple(self.cfg))
        if not any(v != "M" for v in self.cfg):
            raise ValueError(f"cfg = {self.cfg} has no conv (in {where})")
        for v in self.cfg:
            if v != "M" and not (isinstance(v, int) and v >= 1):
                raise ValueError(f"cfg entry {v!r} must be 'M' or an int >= 1 (in {where})")
        if self.num_classes < 1 or self.hidden < 1:
            raise ValueError(f"num_classes = {self.num_classes} and hidden = {self.hidden} must be >= 1 "
                             f"(in {where})")
        object.__setattr__(self, "input_size", _hw(self.input_size, where))
        object.__setattr__(self, "pool_size", _hw(self.pool_size, where))

    @property
    def feature_channels(self) -> int:
        return [v for v in self.cfg if v != "M"][-1]

    def features(self) -> Iterator[tuple[int, object]]:
        """(index in ``features``, width or 'M') for each conv and pool."""
        k = 0
        for v in self.cfg:
            yield k, v
            k += 1 if v == "M" else (3 if self.batch_norm else 2)

    @property
    def classifier_in(self) -> int:
        return self.feature_channels * self.pool_size[0] * self.pool_size[1]


def build_vgg(spec: VGGSpec) -> Network:
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    size, cin = (H, W), 3
    for k, v in spec.features():
        if v == "M":
            size = (size[0] // 2, size[1] // 2)
            if min(size) < 1:
                raise ValueError(f"input_size = {spec.input_size} is too small for {spec.name}: the max "
                                 f"pool at features.{k} would output {size}")
        else:
            size = b.conv(f"features.{k}", cin, v, 3, size, padding=1, bias=True,
                          bn=spec.batch_norm).output_size
            cin = v
    b.linear("classifier.0", spec.classifier_in, spec.hidden)
    b.linear("classifier.3", spec.hidden, spec.hidden)
    b.linear("classifier.6", spec.hidden, spec.num_classes)
    return b.build(spec)


def vgg16(input_size=(224, 224), num_classes: int = 1000) -> Network:
    return build_vgg(VGGSpec("vgg16", num_classes=num_classes, input_size=input_size))
