"""structconv.nn.zoo torch modules vs the core zoo Networks (and torchvision's geometry).

Geometry is read with forward hooks on a zero input of batch 1 at the network's input
size, on the ``meta`` device (shapes only, no arithmetic), so all ten networks take
well under a second; real CPU forward passes are run on small inputs only.
"""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from structconv.core import count_network
from structconv.core.zoo import get_network
from structconv.nn.zoo import (
    CLASSIFICATION,
    ShortcutA,
    build_module,
    conv_linear_modules,
    module_from_spec,
    network_to_module,
)
from tests.support import DATA

REF = json.loads((DATA / "reference_counts.json").read_text())["networks"]


def trace(name, device="meta"):
    """(core Network, torch module, {layer name: (input shape, output shape)}, model output)."""
    net = get_network(name)
    with torch.device(device):
        module = build_module(net).eval()
    shapes = {}

    def hook(n):
        def f(mod, inp, out):
            shapes[n] = (tuple(inp[0].shape), tuple(out.shape))
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in conv_linear_modules(module).items()]
    with torch.no_grad():
        out = module(torch.zeros(1, *net.input_shape, device=device))
    for h in handles:
        h.remove()
    return net, module, shapes, out


_TRACES = {}


def traced(name):
    if name not in _TRACES:
        _TRACES[name] = trace(name)
    return _TRACES[name]


def geometry(m: nn.Module) -> dict:
    if isinstance(m, nn.Conv2d):
        return {"op": "conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel": tuple(m.kernel_size), "stride": tuple(m.stride), "padding": tuple(m.padding),
                "dilation": tuple(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    return {"op": "linear", "in_channels": m.in_features, "out_channels": m.out_features,
            "kernel": (1, 1), "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1,
            "bias": m.bias is not None}


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_modules_match_core_layers(name):
    net, module, shapes, out = traced(name)
    mods = conv_linear_modules(module)
    costs = {row.layer.name: row.original for row in count_network(net).layers}
    assert list(mods) == list(net.layer_names)
    assert list(shapes) == list(net.layer_names)          # every layer ran, in core order
    for layer in net:
        m = mods[layer.name]
        want = {k: getattr(layer, k) for k in ("op", "in_channels", "out_channels", "kernel", "stride",
                                               "padding", "dilation", "groups", "bias")}
        assert geometry(m) == want, layer.name
        inp, outp = shapes[layer.name]
        if layer.op == "conv2d":
            assert inp == (1, layer.in_channels, *layer.input_size), layer.name
            assert outp == (1, layer.out_channels, *layer.output_size), layer.name
        else:
            assert layer.input_size == (1, 1) and inp == (1, layer.in_channels), layer.name
            assert outp == (1, layer.out_channels), layer.name
        assert sum(p.numel() for p in m.parameters()) == costs[layer.name].params, layer.name
    assert tuple(out.shape) == (1, net.spec.num_classes)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_parameter_count_equals_core(name):
    net, module, _, _ = traced(name)
    assert sum(p.numel() for p in module.parameters()) == count_network(net).original.params
    bn = sum(p.numel() for m in module.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert bn == net.extra_params


@pytest.mark.parametrize("name", sorted(REF))
def test_modules_match_torchvision_geometry(name):
    """Direct parity with torchvision's modules as recorded by the peer script."""
    _, module, shapes, _ = traced(name)
    mods = conv_linear_modules(module)
    assert list(mods) == [r["name"] for r in REF[name]["layers"]]
    for r in REF[name]["layers"]:
        g = geometry(mods[r["name"]])
        assert [g["in_channels"], g["out_channels"], list(g["kernel"]), list(g["stride"]),
                list(g["padding"]), list(g["dilation"]), g["groups"], g["bias"]] == [
            r["in_channels"], r["out_channels"], r["kernel"], r["stride"], r["padding"], r["dilation"],
            r["groups"], r["bias"]], r["name"]
        assert sum(p.numel() for p in mods[r["name"]].parameters()) == r["params"]
        if r["type"] == "Conv2d":
            assert list(shapes[r["name"]][0][2:]) == r["input_size"], r["name"]


def test_build_module_entry_points():
    with torch.device("meta"):
        by_name = build_module("resnet18")
        by_net = network_to_module(get_network("resnet18"))
        by_spec = module_from_spec(get_network("resnet18").spec)
        ten = build_module(get_network("mobilenet_v2"), num_classes=10)
    assert list(conv_linear_modules(by_name)) == list(conv_linear_modules(by_net)) == list(
        conv_linear_modules(by_spec))
    assert ten.classifier[1].out_features == 10 and ten.spec.num_classes == 10
    with pytest.raises(ValueError, match="no torch module"):
        build_module("pspnet101")
    with pytest.raises(ValueError, match="not a zoo network"):
        build_module("resnet9")
    with pytest.raises(ValueError, match="zoo name, a zoo Network or a spec"):
        build_module(42)
    with pytest.raises(ValueError, match="num_classes = 0"):
        build_module("resnet20", num_classes=0)


def test_shortcut_a_subsamples_and_zero_pads():
    x = torch.arange(2 * 4 * 5 * 5, dtype=torch.float32).reshape(2, 4, 5, 5)
    y = ShortcutA(4, 8, 2)(x)
    assert y.shape == (2, 8, 3, 3)
    assert torch.equal(y[:, 2:6], x[:, :, ::2, ::2])
    assert not y[:, :2].any() and not y[:, 6:].any()
    assert sum(p.numel() for p in ShortcutA(4, 8, 2).parameters()) == 0


def test_meta_trace_equals_a_real_cpu_forward():
    """The meta-device shapes above are what a real forward at full size produces."""
    _, _, meta_shapes, _ = traced("resnet18")
    _, _, cpu_shapes, out = trace("resnet18", device="cpu")
    assert cpu_shapes == meta_shapes and out.shape == (1, 1000) and torch.isfinite(out).all()


def test_small_cpu_forward_passes():
    torch.manual_seed(0)
    m = build_module("resnet20").eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    # EfficientNet in training mode (SE, stochastic depth, BN batch stats) on a small input
    e = build_module("efficientnet_b0", num_classes=5).train()
    y = e(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 5)
    y.sum().backward()
    assert e.features[2][1].block[2].fc1.weight.grad is not None


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_torchinfo_on_our_torch_module_agrees_per_layer_with_core(name):
    """A peer counter (torchinfo) run on our torch module gives core's dense counts, layer by layer."""
    import torchinfo

    from structconv.core import count_network, count_ops
    from structconv.core.zoo import get_network
    from structconv.nn.zoo import build_module

    net = get_network(name)
    module = build_module(name).eval()
    names = {id(m): n for n, m in module.named_modules()}
    with torch.no_grad():
        s = torchinfo.summary(module, input_size=(1, *net.input_shape), verbose=0, device="cpu")
    per_layer = {names[id(li.module)]: (li.macs, li.num_params) for li in s.summary_list
                 if isinstance(li.module, (torch.nn.Conv2d, torch.nn.Linear))}
    assert set(per_layer) == set(net.layer_names)
    for layer in net:
        c = count_ops(layer)
        ho, wo = layer.output_size
        bias_macs = layer.out_channels * ho * wo if layer.bias else 0     # torchinfo counts bias adds as MACs
        assert (c.mults + bias_macs, c.params) == per_layer[layer.name], layer.name
    assert count_network(net).original.params == s.total_params
