"""Peer matrix (issue 11): torchvision and timm models imported from ONNX, counted like the peers count them.

The PEER numbers are pinned in tests/data/peer_matrix.json by benchmarks/peer_matrix.py, which
runs fvcore (conv + linear MACs, per module) and torchinfo (params, per module) on the original
torchvision/timm definitions in their own venv and exports each model to
tests/data/peer_models/<model>.onnx with its weights stripped (dims kept, data external and not
shipped). These tests need neither torchvision, timm nor a network: they read the ONNX graphs.

* every model: structconv's dense mults equal fvcore's and params equal torchinfo's, in total and
  on every layer (layers are named after the torch module, i.e. fvcore's names), and each conv
  layer's output size equals the peer's;
* the CLI (`structconv cost file.onnx --json`) gives the same totals and layers for two of them;
* uniform-n2: each layer the plan structures, rebuilt as an nn.Conv2d with random
  weights, decomposes (``structconv.nn.decompose``) into a module whose output has the peer's
  shape (every planned layer, computed on the meta device) and, in float64, equals the projected
  layer (``structure_``) to 1e-10 (a subset: per model the cheapest layer of each (kind, kernel,
  stride, choice) class, 2-13 layers; float64 grouped convs cost CPU time per group).
"""
from __future__ import annotations

import json
import math
from functools import cache

import pytest

from tests.support import DATA

MATRIX = json.loads((DATA / "peer_matrix.json").read_text())
MODELS = MATRIX["models"]
REQUIRED = {"convnext_tiny", "regnet", "densenet", "shufflenet", "mobilenet_v3", "resnext", "efficientnet_v2",
            "googlenet", "squeezenet", "ghostnet", "mixnet"}


def onnx_path(model: str) -> str:
    return str(DATA / "peer_models" / f"{model}.onnx")


@cache
def imported(model: str):
    from structconv.core import resolve_network
    return resolve_network(onnx_path(model))


def test_matrix_covers_the_issue_list_and_files_stay_small():
    names = set(MODELS)
    assert len(names) >= 15
    for required in REQUIRED:
        assert any(n.startswith(required) for n in names), required
    same = [n for n in names if n.startswith("tf_")
            and any(r["type"] == "Conv2dSame" for r in MODELS[n]["layers"])]
    assert same, "no timm tf_* model with Conv2dSame"
    sizes = {n: (DATA / "peer_models" / f"{n}.onnx").stat().st_size for n in names}
    assert all(s <= 400_000 for s in sizes.values()), sizes
    assert sum(sizes.values()) <= 20_000_000
    assert {n: MODELS[n]["onnx"]["bytes"] for n in names} == sizes      # the files the script wrote


@pytest.mark.parametrize("model", list(MODELS))
def test_dense_counts_equal_fvcore_and_torchinfo(model):
    from structconv.core import count_network
    peer = MODELS[model]
    cost = count_network(imported(model))
    ours = {r.layer.name: r for r in cost.layers}
    assert [r["name"] for r in peer["layers"]] == list(ours), \
        "layer names/order differ from the torch modules"
    for row in peer["layers"]:
        got = ours[row["name"]].original
        assert (row["name"], got.mults, got.params) == (row["name"], row["mults"], row["params"])
    assert cost.original.mults == peer["totals"]["mults"]
    assert cost.original.params == peer["totals"]["params"]


@pytest.mark.parametrize("model", list(MODELS))
def test_conv_layers_have_the_peer_output_size(model):
    ours = {l.name: l for l in imported(model).layers}
    for row in MODELS[model]["layers"]:
        if row["type"] != "Linear":
            assert (row["name"], list(ours[row["name"]].output_size)) == \
                (row["name"], row["output_shape"][2:])


@pytest.mark.parametrize("model", ["convnext_tiny", "tf_efficientnet_b0"])
def test_cli_cost_json_equals_the_peers(model, capsys):
    from structconv.cli import main
    rc = main(["cost", onnx_path(model), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    doc = json.loads(out)
    peer = MODELS[model]
    assert (doc["original"]["mults"], doc["original"]["params"]) == \
        (peer["totals"]["mults"], peer["totals"]["params"])
    assert [(l["name"], l["orig_mults"], l["orig_params"]) for l in doc["layers"]] == \
        [(r["name"], r["mults"], r["params"]) for r in peer["layers"]]


# -- uniform-n2 decomposition, layer by layer -------------------------------------------------
def planned_cases(model: str) -> list:
    """(layer, choice) for each distinct geometry + choice that uniform-n2 structures."""
    from structconv.core import count_ops, resolve_plan
    net = imported(model)
    plan = resolve_plan("uniform-n2", net)
    cases = {}
    for layer in net.layers:
        choice = plan.choice_for(layer.name)
        if choice.count(layer) == count_ops(layer):      # left dense
            continue
        key = (json.dumps({**layer.to_dict(), "name": ""}, sort_keys=True), choice.label)
        cases.setdefault(key, (layer, choice))
    return list(cases.values())


def value_subset(cases: list) -> list:
    """One case per (kind, kernel, stride, choice) class: the cheapest to run.

    float64 grouped/depthwise convolutions take CPU time per group (up to seconds for a
    672-group layer), so the 1e-10 value check runs on this subset, picking per class the
    layer with the fewest groups, then the fewest mults; shapes are checked on every planned layer.
    """
    best = {}
    for layer, choice in cases:
        key = (layer.kind, layer.kernel, layer.stride, choice.label)
        cost = (layer.groups, count_ops(layer).mults)
        if key not in best or cost < best[key][0]:
            best[key] = (cost, layer, choice)
    return [(layer, choice) for _, layer, choice in best.values()]


def count_ops(layer):
    from structconv.core import count_ops as count
    return count(layer)


def rebuilt(layer, gen, dtype):
    import torch
    from torch import nn
    if layer.op == "linear":
        m = nn.Linear(layer.in_channels, layer.out_channels, bias=layer.bias, dtype=dtype)
    else:
        m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel, stride=layer.stride,
                      padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=layer.bias,
                      dtype=dtype)
    fan_in = m.weight[0].numel()
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=dtype) / math.sqrt(fan_in))
        if m.bias is not None:
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen, dtype=dtype))
    return m


def one_layer_model(module):
    """A model whose only layer is called "layer", so a plan can name it."""
    from torch import nn
    model = nn.Module()
    model.layer = module
    model.forward = module.forward
    return model.eval()


def decomposed_and_projected(layer, choice, gen, device, unprojected=False):
    """The decomposed and the projected layer's outputs on one random input.

    On the "meta" device only shapes are computed (the modules are built in float32 on the
    CPU, then moved); on "cpu" everything runs in float64.
    """
    import copy

    import torch

    from structconv.nn import decompose, structure_
    dtype = torch.float32 if device == "meta" else torch.float64
    model = one_layer_model(rebuilt(layer, gen, dtype))
    plan = {"layer": choice.to_dict()}
    deployed, report = decompose(model, plan, strict=True)
    assert report.decomposed == ("layer",), (layer.name, report)
    size = (1, layer.in_channels) + (() if layer.op == "linear" else tuple(layer.input_size))
    if device == "meta":
        x = torch.empty(size, device="meta")
        return deployed.layer.to("meta")(x), model.layer.to("meta")(x)
    projected = structure_(copy.deepcopy(model), plan).layer
    x = torch.randn(size, generator=gen, dtype=dtype)
    with torch.no_grad():
        return deployed.layer(x), projected(x), model.layer(x) if unprojected else None


@pytest.mark.parametrize("model", list(MODELS))
def test_uniform_n2_decomposition_equals_projection_layer_by_layer(model):
    import torch
    peer = {r["name"]: r for r in MODELS[model]["layers"]}
    assert [l.name for l in imported(model).layers] == list(peer), "the import lost or added layers"
    cases = planned_cases(model)
    assert cases, "uniform-n2 structures no layer"
    gen = torch.Generator().manual_seed(0)
    for layer, choice in cases:                  # every planned geometry: the peer's output shape
        got, want = decomposed_and_projected(layer, choice, gen, "meta")[:2]
        assert (layer.name, list(got.shape)) == (layer.name, list(want.shape)) == \
            (layer.name, peer[layer.name]["output_shape"])
    for i, (layer, choice) in enumerate(value_subset(cases)):    # float64 values to 1e-10
        got, want, unprojected = decomposed_and_projected(layer, choice, gen, "cpu", unprojected=i == 0)
        assert got.dtype == want.dtype == torch.float64
        assert list(got.shape) == list(want.shape) == peer[layer.name]["output_shape"]
        diff = float((got - want).abs().max())
        assert diff <= 1e-10, (layer.name, choice.label, diff)
        if unprojected is not None:   # random weights are far from structured: 1e-10 separates the two
            assert float((unprojected - want).abs().max()) > 1e-3, layer.name
