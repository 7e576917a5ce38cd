"""Classification zoo vs peer numbers.

tests/data/reference_counts.json holds torchvision's own model definitions counted by
fvcore (conv + linear MACs) and torchinfo (params), per Conv2d/Linear module and in
total; benchmarks/reference_counts.py produced it (never from structconv code).
The CIFAR ResNets have no torchvision peer: they are checked against an independent
closed form and the published totals (He et al. 2016: 0.27M / 0.85M params).
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from structconv.core import Network, count_network
from structconv.core.zoo import get_network, list_networks
from structconv.core.zoo.efficientnet import EfficientNetSpec, efficientnet_b0
from structconv.core.zoo.mobilenet import MobileNetV2Spec, make_divisible
from structconv.core.zoo.resnet import ResNetSpec, resnet18, resnet50
from structconv.core.zoo.resnet_cifar import CifarResNetSpec, resnet20
from structconv.core.zoo.vgg import VGGSpec, vgg16
from tests.support import DATA

REF = json.loads((DATA / "reference_counts.json").read_text())["networks"]
PEER_NETS = sorted(REF)
CLASSIFICATION = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet20", "resnet56",
                  "mobilenet_v2", "efficientnet_b0", "efficientnet_b1", "vgg16")

_NETS: dict[str, Network] = {}


def net(name: str) -> Network:
    if name not in _NETS:
        _NETS[name] = get_network(name)
    return _NETS[name]


def test_reference_covers_every_torchvision_network():
    assert set(PEER_NETS) == {"resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2",
                              "efficientnet_b0", "efficientnet_b1", "vgg16"}
    assert set(CLASSIFICATION) <= set(list_networks())


# -- exact agreement with torchvision + fvcore + torchinfo ----------------------------

@pytest.mark.parametrize("name", PEER_NETS)
def test_layer_names_and_geometry_equal_torchvision(name):
    n, ref = net(name), REF[name]
    assert list(n.input_shape) == ref["input_shape"]
    assert list(n.layer_names) == [r["name"] for r in ref["layers"]]
    for layer, r in zip(n.layers, ref["layers"]):
        assert layer.op == {"Conv2d": "conv2d", "Linear": "linear"}[r["type"]], layer.name
        got = {"in_channels": layer.in_channels, "out_channels": layer.out_channels,
               "kernel": list(layer.kernel), "stride": list(layer.stride), "padding": list(layer.padding),
               "dilation": list(layer.dilation), "groups": layer.groups, "bias": layer.bias,
               "input_size": list(layer.input_size)}
        assert got == {k: r[k] for k in got}, layer.name


@pytest.mark.parametrize("name", PEER_NETS)
def test_per_layer_mults_and_params_equal_peer(name):
    cost, ref = count_network(net(name)), REF[name]
    got = [(row.layer.name, row.original.mults, row.original.params) for row in cost.layers]
    want = [(r["name"], r["mults"], r["params"]) for r in ref["layers"]]
    assert got == want


@pytest.mark.parametrize("name", PEER_NETS)
def test_dense_totals_equal_peer(name):
    o, t = count_network(net(name)).original, REF[name]["totals"]
    assert (o.mults, o.params) == (t["mults"], t["params"])
    # what is outside conv/linear layers is BatchNorm affine parameters only
    assert net(name).extra_params == t["params"] - sum(r["params"] for r in REF[name]["layers"])


@pytest.mark.parametrize("name, mults, params", [
    ("resnet18", 1_814_073_344, 11_689_512),
    ("resnet50", 4_089_184_256, 25_557_032),
    ("mobilenet_v2", 300_774_272, 3_504_872),
])
def test_design_md_totals(name, mults, params):
    o = count_network(net(name)).original
    assert (o.mults, o.params) == (mults, params)


def test_efficientnet_b1_depth_and_se_layers():
    spec = net("efficientnet_b1").spec
    assert [spec.repeats(row[5]) for row in spec.stages] == [2, 3, 3, 4, 4, 5, 2]
    assert net("efficientnet_b1").input_shape == (3, 240, 240)
    se = [l for l in net("efficientnet_b0") if l.name.endswith((".fc1", ".fc2"))]
    assert len(se) == 2 * 16
    assert all(l.bias and l.input_size == (1, 1) and l.kernel == (1, 1) for l in se)
    assert net("efficientnet_b0")["features.1.0.block.1.fc1"].out_channels == 8      # max(1, 32 // 4)


# -- CIFAR ResNets (option A) ----------------------------------------------------------

def cifar_closed_form(n: int, classes: int = 10) -> tuple[int, int]:
    """ResNet-(6n+2), widths 16/32/64 at 32/16/8: (mults, params) written out by hand."""
    mults = params = 0
    mults += 3 * 16 * 9 * 32 * 32
    params += 3 * 16 * 9 + 2 * 16
    for cin, c, hw in ((16, 16, 32), (16, 32, 16), (32, 64, 8)):
        first, rest = cin * c * 9, c * c * 9              # stage's first conv, every other conv
        mults += (first + (2 * n - 1) * rest) * hw * hw
        params += first + (2 * n - 1) * rest + 2 * n * 2 * c
    mults += 64 * classes
    params += 64 * classes + classes
    return mults, params


@pytest.mark.parametrize("name, n, mults, params", [
    ("resnet20", 3, 40_551_040, 269_722),
    ("resnet56", 9, 125_485_696, 853_018),
])
def test_cifar_resnet_totals(name, n, mults, params):
    o = count_network(net(name)).original
    assert (o.mults, o.params) == (mults, params) == cifar_closed_form(n)
    assert round(o.params / 1e6, 2) == {"resnet20": 0.27, "resnet56": 0.85}[name]     # He et al. table 6
    assert len(net(name)) == 6 * n + 1 + 1 and net(name).spec.depth == 6 * n + 2


def test_cifar_resnet_has_no_shortcut_convs():
    n = net("resnet20")
    assert all(l.kernel == (3, 3) or l.op == "linear" for l in n)
    assert {l.name: l.input_size for l in n if l.stride == (2, 2)} == {
        "layer2.0.conv1": (32, 32), "layer3.0.conv1": (16, 16)}
    assert n["layer3.2.conv2"].output_size == (8, 8) and n["fc"].in_channels == 64
    assert n.input_shape == (3, 32, 32)


# -- builder arguments and specs ---------------------------------------------------------

def test_num_classes_changes_only_the_classifier():
    base, ten = count_network(resnet18()).original, count_network(resnet18(num_classes=10)).original
    assert base.params - ten.params == 513 * 990
    assert base.mults - ten.mults == 512 * 990
    assert vgg16(num_classes=7)["classifier.6"].out_channels == 7
    assert get_network("mobilenet_v2", num_classes=5)["classifier.1"].out_channels == 5
    assert resnet20(num_classes=100)["fc"].out_channels == 100


def test_input_size_scales_conv_mults():
    small, big = count_network(resnet50()), count_network(resnet50(input_size=448))
    for a, b in zip(small.layers, big.layers):
        factor = 1 if a.layer.op == "linear" else 4
        assert b.original.mults == factor * a.original.mults, a.layer.name
    assert resnet18(input_size=224) == resnet18(input_size=(224, 224)) == resnet18()
    assert efficientnet_b0(input_size=(240, 240))["features.0.0"].input_size == (240, 240)
    assert vgg16(input_size=(64, 96))["classifier.0"].in_channels == 512 * 7 * 7


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_spec_is_frozen_and_rebuilds_the_same_network(name):
    n = net(name)
    assert dataclasses.is_dataclass(n.spec) and n.spec.num_classes in (10, 1000)
    assert tuple(n.spec.input_size) == n.input_shape[1:]
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.spec.num_classes = 3
    module = __import__(f"structconv.core.zoo.{_module_of(name)}", fromlist=["x"])
    builder = {ResNetSpec: "build_resnet", CifarResNetSpec: "build_cifar_resnet",
               MobileNetV2Spec: "build_mobilenet_v2", EfficientNetSpec: "build_efficientnet",
               VGGSpec: "build_vgg"}[type(n.spec)]
    assert getattr(module, builder)(n.spec) == n


def _module_of(name):
    from structconv.core.zoo import _REGISTRY
    return _REGISTRY[name][0]


def test_make_divisible_matches_torchvision_rule():
    assert [make_divisible(v) for v in (32, 16 * 0.75, 24 * 1.4, 1280 * 1.0, 3.9)] == [32, 16, 32, 1280, 8]


@pytest.mark.parametrize("build, match", [
    (lambda: ResNetSpec("r", "wide", (2, 2, 2, 2)), "block = 'wide'"),
    (lambda: ResNetSpec("r", "basic", (2, 2, 2)), "layers"),
    (lambda: resnet18(num_classes=0), "num_classes = 0"),
    (lambda: resnet18(input_size=(224,)), "input_size"),
    (lambda: resnet18(input_size=0), "input_size"),
    (lambda: vgg16(input_size=16), "too small"),
    (lambda: CifarResNetSpec("c", 0), "blocks_per_stage = 0"),
    (lambda: CifarResNetSpec("c", 3, widths=(16, 8)), "widths"),
    (lambda: MobileNetV2Spec(setting=((6, 24, 2, 3),)), "s in"),
    (lambda: EfficientNetSpec("e", stages=((6, 4, 1, 32, 16, 1),)), "odd kernel"),
    (lambda: VGGSpec("v", cfg=("M", "M")), "no conv"),
])
def test_bad_specs_name_the_field(build, match):
    with pytest.raises(ValueError, match=match):
        build()
