"""HRNetV2 for semantic segmentation (HRNet/HRNet-Semantic-Segmentation, lib/models/seg_hrnet.py).

Layer names are the module names of ``seg_hrnet.HighResolutionNet``:

    conv1, conv2                                   stem: two 3x3 stride-2 convs, 3 -> 64 -> 64
    layer1.{b}.conv{1,2,3}, layer1.0.downsample.0  stage 1 (STAGE1 block, 64 input channels)
    transition{t}.{i}.0                            3x3 stride-1 conv of a kept branch whose width changes
    transition{t}.{i}.{j}.0                        3x3 stride-2 conv j of a new branch's chain
    stage{s}.{m}.branches.{b}.{k}.conv{1,2[,3]}    block k of branch b in HighResolutionModule m
    stage{s}.{m}.branches.{b}.0.downsample.0       (only when a branch's width changes: never in HRNetV2)
    stage{s}.{m}.fuse_layers.{i}.{j}.0             j > i: 1x1 conv on branch j, then bilinear upsampling
    stage{s}.{m}.fuse_layers.{i}.{j}.{k}.0         j < i: the k-th 3x3 stride-2 conv of the chain j -> i
    last_layer.0, last_layer.3                     head on the concatenation of all branches (upsampled
                                                   to branch 0): 1x1 sum(C) -> sum(C) with bias + BN,
                                                   then FINAL_CONV_KERNEL x FINAL_CONV_KERNEL -> classes
                                                   with bias

Every conv has padding k // 2. Bilinear upsampling, the concatenation and the residual sums are
not convs and are not counted (DESIGN.md: mults are conv + linear MACs). BatchNorm affine
parameters (2 per channel) go to ``extra_params``; ``last_layer.0`` and ``last_layer.3`` carry a
bias (nn.Conv2d's default), every other conv has none.

HRNetV2-W18-Small-v1 at 1024x2048 (seed 002, Table 1: 33.6e9 mults, 33.4e9 adds, 1.5M params):
33,390,854,144 mults (-0.62 %), 33,249,460,224 adds (-0.45 %), 1,540,819 params (1.54M,
printed 1.5M). The HRNet model zoo quotes 31.1 GFLOPs and 1.5M params for the same model.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..layer import Network
from ._builder import NetBuilder
from ._builder import input_hw as _hw

BLOCKS = {"BASIC": 1, "BOTTLENECK": 4}          # block -> expansion


@dataclass(frozen=True)
class HRNetStage:
    """One STAGE block of an HRNet config (NUM_MODULES, BLOCK, NUM_BLOCKS, NUM_CHANNELS)."""

    num_modules: int
    block: str
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "num_blocks", tuple(self.num_blocks))
        object.__setattr__(self, "num_channels", tuple(self.num_channels))
        where = "HRNetStage"
        if self.block not in BLOCKS:
            raise ValueError(f"block = {self.block!r} must be one of {sorted(BLOCKS)} (in {where})")
        if self.num_modules < 1:
            raise ValueError(f"num_modules = {self.num_modules} must be >= 1 (in {where})")
        if not self.num_blocks or len(self.num_blocks) != len(self.num_channels):
            raise ValueError(f"num_blocks = {self.num_blocks} and num_channels = {self.num_channels} must be "
                             f"non-empty, one entry per branch (in {where})")
        if min(self.num_blocks) < 1 or min(self.num_channels) < 1:
            raise ValueError(f"num_blocks = {self.num_blocks} and num_channels = {self.num_channels} must be "
                             f">= 1 (in {where})")

    @property
    def num_branches(self) -> int:
        return len(self.num_blocks)

    @property
    def out_channels(self) -> tuple[int, ...]:
        return tuple(c * BLOCKS[self.block] for c in self.num_channels)


# experiments/cityscapes/seg_hrnet_w18_small_v1_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml
W18_SMALL_V1_STAGES = (
    HRNetStage(1, "BOTTLENECK", (1,), (32,)),
    HRNetStage(1, "BASIC", (2, 2), (16, 32)),
    HRNetStage(1, "BASIC", (2, 2, 2), (16, 32, 64)),
    HRNetStage(1, "BASIC", (2, 2, 2, 2), (16, 32, 64, 128)),
)


@dataclass(frozen=True)
class HRNetSpec:
    """Everything that defines a seg_hrnet HighResolutionNet (the MODEL.EXTRA block + dataset)."""

    name: str = "hrnet_w18_small_v1"
    stages: tuple[HRNetStage, ...] = W18_SMALL_V1_STAGES
    final_conv_kernel: int = 1
    stem_channels: int = 64
    num_classes: int = 19
    input_size: tuple[int, int] = (1024, 2048)

    def __post_init__(self):
        where = f"HRNetSpec {self.name!r}"
        object.__setattr__(self, "stages", tuple(self.stages))
        if len(self.stages) != 4:
            raise ValueError(f"stages must hold 4 HRNetStage entries (STAGE1..STAGE4), "
                             f"got {len(self.stages)} (in {where})")
        for s, st in enumerate(self.stages, start=1):
            if not isinstance(st, HRNetStage):
                raise ValueError(f"stages[{s - 1}] must be an HRNetStage, "
                                 f"got {type(st).__name__} (in {where})")
            if st.num_branches != s:
                raise ValueError(f"STAGE{s} must have {s} branch(es), "
                                 f"got num_blocks = {st.num_blocks} (in {where})")
        if self.stages[0].num_modules != 1:
            raise ValueError(f"STAGE1 is one layer of blocks: "
                             f"num_modules = {self.stages[0].num_modules} must be 1 (in {where})")
        if self.final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel = {self.final_conv_kernel} must be 1 or 3 (in {where})")
        if self.stem_channels < 1:
            raise ValueError(f"stem_channels = {self.stem_channels} must be >= 1 (in {where})")
        if self.num_classes < 1:
            raise ValueError(f"num_classes = {self.num_classes} must be >= 1 (in {where})")
        object.__setattr__(self, "input_size", _hw(self.input_size, where))

    @property
    def head_channels(self) -> int:
        """Channels of the concatenated branches (last_layer's width): 240 for W18-Small-v1."""
        return sum(self.stages[-1].out_channels)

    def modules(self) -> Iterator[tuple[int, int, HRNetStage]]:
        """(stage number 2..4, module index, stage) for every HighResolutionModule."""
        for s, st in enumerate(self.stages[1:], start=2):
            for m in range(st.num_modules):
                yield s, m, st


def _half(size):
    """Output size of a 3x3 stride-2 padding-1 conv."""
    return ((size[0] - 1) // 2 + 1, (size[1] - 1) // 2 + 1)


def _block(b: NetBuilder, prefix, kind, cin, planes, size, stride=1):
    """One BasicBlock / Bottleneck as seg_hrnet.py defines it; returns (out_channels, out_size)."""
    exp = BLOCKS[kind]
    if kind == "BASIC":
        l1 = b.conv(f"{prefix}.conv1", cin, planes, 3, size, stride=stride)
        b.conv(f"{prefix}.conv2", planes, planes, 3, l1.output_size)
        out = l1.output_size
    else:
        b.conv(f"{prefix}.conv1", cin, planes, 1, size)
        l2 = b.conv(f"{prefix}.conv2", planes, planes, 3, size, stride=stride)
        b.conv(f"{prefix}.conv3", planes, planes * exp, 1, l2.output_size)
        out = l2.output_size
    if stride != 1 or cin != planes * exp:
        b.conv(f"{prefix}.downsample.0", cin, planes * exp, 1, size, stride=stride)
    return planes * exp, out


def _transition(b: NetBuilder, prefix, pre, pre_sizes, cur):
    """``_make_transition_layer``; returns the sizes of the new branch list."""
    sizes = []
    for i, c in enumerate(cur):
        if i < len(pre):
            if c != pre[i]:
                b.conv(f"{prefix}.{i}.0", pre[i], c, 3, pre_sizes[i])
            sizes.append(pre_sizes[i])
        else:
            size = pre_sizes[-1]
            for j in range(i + 1 - len(pre)):
                cin = pre[-1]
                cout = c if j == i - len(pre) else cin
                size = b.conv(f"{prefix}.{i}.{j}.0", cin, cout, 3, size, stride=2).output_size
            sizes.append(size)
    return sizes


def _hr_module(b: NetBuilder, prefix, st: HRNetStage, chans, sizes):
    """``HighResolutionModule`` (multi_scale_output=True, as seg_hrnet builds every module)."""
    chans = list(chans)
    for br in range(st.num_branches):
        for k in range(st.num_blocks[br]):
            chans[br], _ = _block(b, f"{prefix}.branches.{br}.{k}", st.block, chans[br],
                                  st.num_channels[br], sizes[br])
    nb = st.num_branches
    if nb > 1:
        for i in range(nb):
            for j in range(nb):
                if j > i:                      # 1x1 on the coarse branch, then bilinear upsampling
                    b.conv(f"{prefix}.fuse_layers.{i}.{j}.0", chans[j], chans[i], 1, sizes[j])
                elif j < i:                    # chain of i - j strided 3x3 convs
                    size = sizes[j]
                    for k in range(i - j):
                        cout = chans[i] if k == i - j - 1 else chans[j]
                        size = b.conv(f"{prefix}.fuse_layers.{i}.{j}.{k}.0", chans[j], cout, 3, size,
                                      stride=2).output_size
    return chans


def build_hrnet(spec: HRNetSpec) -> Network:
    """The Network of an HRNetV2 segmentation model."""
    H, W = spec.input_size
    b = NetBuilder(spec.name, (3, H, W))
    c1 = b.conv("conv1", 3, spec.stem_channels, 3, (H, W), stride=2)
    c2 = b.conv("conv2", spec.stem_channels, spec.stem_channels, 3, c1.output_size, stride=2)
    size, cin = c2.output_size, spec.stem_channels

    s1 = spec.stages[0]
    for k in range(s1.num_blocks[0]):
        cin, size = _block(b, f"layer1.{k}", s1.block, cin, s1.num_channels[0], size)
    pre, pre_sizes = [cin], [size]

    for s, st in enumerate(spec.stages[1:], start=2):
        sizes = _transition(b, f"transition{s - 1}", pre, pre_sizes, list(st.out_channels))
        chans = list(st.out_channels)
        for m in range(st.num_modules):
            chans = _hr_module(b, f"stage{s}.{m}", st, chans, sizes)
        pre, pre_sizes = chans, sizes

    last = sum(pre)
    k = spec.final_conv_kernel
    b.conv("last_layer.0", last, last, 1, pre_sizes[0], bias=True)
    b.conv("last_layer.3", last, spec.num_classes, k, pre_sizes[0], padding=k // 2, bias=True, bn=False)
    return b.build(spec)


def hrnet_w18_small_v1(input_size=(1024, 2048), num_classes: int = 19) -> Network:
    """HRNetV2-W18-Small-v1 for Cityscapes (19 classes) at the full 1024x2048 resolution."""
    return build_hrnet(HRNetSpec("hrnet_w18_small_v1", W18_SMALL_V1_STAGES, 1, 64, num_classes, input_size))
