"""PSPNet with a dilated ResNet backbone (hszhao/semseg, model/pspnet.py and model/resnet.py).

Layer names are the module names of semseg's ``PSPNet``:

    layer0.0, layer0.3, layer0.6     deep stem: 3x3 convs 3 -> 64 (stride 2), 64 -> 64, 64 -> 128
                                     (then a 3x3 stride-2 max pool, not a conv)
    layer{1..4}.{b}.conv{1,2,3}      Bottleneck blocks (stride on conv2, as semseg/torchvision)
    layer{1..4}.0.downsample.0       1x1 projection shortcut
    ppm.features.{i}.1               pyramid pooling: 1x1 2048 -> 2048/len(bins) on the bin x bin map
    cls.0, cls.4                     head: 3x3 (2048 + 2048) -> 512 + BN, 1x1 512 -> classes with bias
    aux.0, aux.4                     auxiliary head on layer3 (training only): 3x3 1024 -> 256 + BN,
                                     1x1 256 -> classes with bias

Output stride 8 (zoom factor 8): layer3 and layer4 run at stride 1 with dilation 2 and 4 on every
conv2 (padding = dilation) and stride-1 downsample convs, as ``PSPNet.__init__`` rewrites them.
Adaptive average pooling, bilinear upsampling, the max pool and dropout are not convs.
BatchNorm affine parameters go to ``extra_params``.

The aux head exists only in training (semseg builds it ``if self.training``). Seed 002's Table 2
(PSPNet101 on Cityscapes: 2096e9 mults, 2094e9 adds, 68.1M params) counts it in the params but
not in the mults: at 1024x2048 the inference graph (``aux=False``) has 2,093,463,109,632 mults
(-0.12 %) and 2,091,437,235,200 adds (-0.12 %), while with the aux head the mults would be
2,170,931,904,512 (+3.6 %); the params are 68,072,166 with the aux head (-0.04 %) and 65,707,475
without (-3.5 %). The table is for the full 1024x2048 image: a 713x713 crop (semseg's training and
sliding-window size) has 517e9 mults (inference graph), semseg's own 1025x2049 input (its forward
asserts H - 1 and W - 1 divisible by 8) 2117e9 (+1.0 %).
``pspnet101()`` includes the aux head (``aux=True``) so the params match the table and plans can
structure the aux convs; count ``pspnet101(aux=False)`` for inference mults and adds.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..layer import Network
from ._builder import NetBuilder
from ._builder import input_hw as _hw

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4


def _maxpool_out(size):
    """nn.MaxPool2d(kernel_size=3, stride=2, padding=1)."""
    return tuple((s + 2 - 3) // 2 + 1 for s in size)


@dataclass(frozen=True)
class PSPNetSpec:
    """Everything that defines a semseg PSPNet (deep-stem dilated ResNet, zoom factor 8)."""

    name: str = "pspnet101"
    layers: tuple[int, ...] = DEPTHS[101]
    bins: tuple[int, ...] = (1, 2, 3, 6)
    aux: bool = True
    num_classes: int = 19
    input_size: tuple[int, int] = (1024, 2048)

    def __post_init__(self):
        where = f"PSPNetSpec {self.name!r}"
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "bins", tuple(self.bins))
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"layers = {self.layers} must be 4 block counts >= 1 (in {where})")
        if not self.bins or min(self.bins) < 1:
            raise ValueError(f"bins = {self.bins} must be non-empty and >= 1 (in {where})")
        if (WIDTHS[-1] * EXPANSION) % len(self.bins):
            raise ValueError(f"bins = {self.bins}: 2048 must be divisible by len(bins) = {len(self.bins)} "
                             f"(in {where})")
        if self.num_classes < 1:
            raise ValueError(f"num_classes = {self.num_classes} must be >= 1 (in {where})")
        object.__setattr__(self, "aux", bool(self.aux))
        object.__setattr__(self, "input_size", _hw(self.input_size, where))


def build_pspnet(spec: PSPNetSpec) -> Network:
    """The Network of a semseg PSPNet."""
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    l0 = b.conv("layer0.0", 3, 64, 3, (H, W), stride=2)
    l1 = b.conv("layer0.3", 64, 64, 3, l0.output_size)
    l2 = b.conv("layer0.6", 64, 128, 3, l1.output_size)
    size = _maxpool_out(l2.output_size)

    inplanes, layer3 = 128, None
    # stride of the original ResNet stage, dilation after PSPNet's rewrite (which sets stride 1)
    for li, (planes, nblocks, stride, dil) in enumerate(zip(WIDTHS, spec.layers, (1, 2, 1, 1), (1, 1, 2, 4)),
                                                        start=1):
        for k in range(nblocks):
            p = f"layer{li}.{k}"
            s = stride if k == 0 else 1
            c1 = b.conv(f"{p}.conv1", inplanes, planes, 1, size)
            c2 = b.conv(f"{p}.conv2", planes, planes, 3, c1.output_size, stride=s, dilation=dil)
            b.conv(f"{p}.conv3", planes, planes * EXPANSION, 1, c2.output_size)
            if k == 0 and (s != 1 or inplanes != planes * EXPANSION):
                b.conv(f"{p}.downsample.0", inplanes, planes * EXPANSION, 1, size, stride=s)
            inplanes, size = planes * EXPANSION, c2.output_size
        if li == 3:
            layer3 = (inplanes, size)

    fea = inplanes                                # 2048
    red = fea // len(spec.bins)
    for i, bin_ in enumerate(spec.bins):          # AdaptiveAvgPool2d(bin), then the 1x1 conv
        b.conv(f"ppm.features.{i}.1", fea, red, 1, (bin_, bin_))
    b.conv("cls.0", fea + red * len(spec.bins), 512, 3, size)
    b.conv("cls.4", 512, spec.num_classes, 1, size, bias=True, bn=False)
    if spec.aux:
        b.conv("aux.0", layer3[0], 256, 3, layer3[1])
        b.conv("aux.4", 256, spec.num_classes, 1, layer3[1], bias=True, bn=False)
    return b.build(spec)


def pspnet101(input_size=(1024, 2048), num_classes: int = 19, aux: bool = True) -> Network:
    """PSPNet-101 for Cityscapes at 1024x2048; ``aux=False`` drops the training-only aux head."""
    return build_pspnet(PSPNetSpec("pspnet101", DEPTHS[101], (1, 2, 3, 6), aux, num_classes, input_size))
