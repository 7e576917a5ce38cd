"""Deployment for a target (structconv/nn/deploy: fold.py, tactics.py, deployed.py): BatchNorm folded
into the conv before it, the projected dense form, and the per-layer choice of the fastest form."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from structconv.core import get_network, get_preset
from structconv.nn import DecomposedConv2d, build_module, decompose, structure_, unstructure_
from structconv.nn.deploy import DeployTarget, dense_form, deploy_for, fold_batchnorm, tactics


def _random_bn(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so a wrong fold shows."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=m.running_mean.dtype))
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=m.running_var.dtype) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g, dtype=m.weight.dtype) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g, dtype=m.bias.dtype))
    return model


def _zoo(name: str, preset: str):
    torch.manual_seed(0)
    model = build_module(name).double().eval()
    plan = get_preset(preset, get_network(name))
    unstructure_(structure_(model, plan))                   # exactly structured: the decomposition is exact
    return _random_bn(model), plan


@pytest.mark.parametrize("name, preset, bns", [("resnet18", "uniform-n2", 20),
                                               ("mobilenet_v2", "struct-mv2-b", 52)])
def test_folding_batchnorm_keeps_the_eval_outputs(name, preset, bns):
    model, plan = _zoo(name, preset)
    dec, _ = decompose(model, plan)
    folded, names = fold_batchnorm(dec)
    assert len(names) == bns                                    # every BN follows a conv there
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in dec.modules())          # the input is left as it was
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        want, got = model(x), folded(x)
    torch.testing.assert_close(got, want, atol=1e-9 * float(want.abs().max()), rtol=1e-9)


def test_a_conv_whose_output_is_also_read_elsewhere_keeps_its_batchnorm():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            z = self.conv2(self.bn(y) + y)                      # conv's output feeds the BN and the add
            return self.bn2(z)

    model = _random_bn(Branchy().double().eval())
    folded, names = fold_batchnorm(model)
    assert names == ("bn2",) and isinstance(folded.bn, nn.BatchNorm2d)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-12, rtol=1e-12)
    model.bn2.train()                                           # a training-mode BN is not a fixed affine map
    assert fold_batchnorm(model)[1] == ()


@pytest.mark.parametrize("conv, c, n", [
    (nn.Conv2d(8, 6, 3, padding=1), 4, 2),
    (nn.Conv2d(8, 6, (3, 5), stride=2, padding=(1, 2), dilation=(1, 2), groups=2), 3, (2, 3)),
    (nn.Conv2d(6, 6, 3, padding=1, padding_mode="reflect", bias=False), 6, 1),
])
def test_the_dense_form_computes_what_the_decomposed_layer_does(conv, c, n):
    from structconv.nn import decompose_conv
    dec = decompose_conv(conv.double(), c, n)
    dense = dense_form(dec)
    x = torch.randn(2, conv.in_channels, 11, 12, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(dense(x), dec(x), atol=1e-10, rtol=1e-10)
    assert sum(p.numel() for p in dense.parameters()) == sum(p.numel() for p in conv.parameters())


def test_deploy_keeps_a_layer_dense_where_dense_is_faster(monkeypatch):
    model, plan = _zoo("resnet18", "uniform-n2")
    slow = "layer3.0.conv2"

    def fake_times(dec, shape, target):                        # dense wins for layer3's 256-channel convs
        dense_ms = 1e-3 if shape[0] == 256 else 3e-3
        return {"decomposed:separable": 2e-3, "decomposed:conv": 2.5e-3, "dense": dense_ms}

    monkeypatch.setattr("structconv.nn.deploy.deployed.time_forms", fake_times)
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    dep, report = deploy_for(model, plan, x, DeployTarget())
    assert slow in report.kept_dense and report[slow].status == "dense"
    assert "kept dense on torch" in report[slow].note and "dense 1" in report[slow].note
    assert type(dep.get_submodule(slow)) is nn.Conv2d
    kept = [l for l in report.layers if l.status == "decomposed"]
    assert kept and all(isinstance(dep.get_submodule(l.name), DecomposedConv2d) for l in kept)
    assert all(dep.get_submodule(l.name).sumpool.method == "separable" for l in kept)
    assert len(report.folded_bn) == 20 and report.to_dict()["kept_dense"] == len(report.kept_dense)
    with torch.no_grad():
        want = model(x)
        torch.testing.assert_close(dep(x), want, atol=1e-9 * float(want.abs().max()), rtol=1e-9)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_deploy_measures_each_shape_once_and_keeps_the_outputs(monkeypatch, backend):
    torch.manual_seed(0)
    model = _random_bn(nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                     nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                     nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)).eval())
    plan = {"0": {"c": 2, "n": 2}, "3": {"c": 4, "n": 2}, "6": {"c": 4, "n": 2}}
    unstructure_(structure_(model, plan))                   # exactly structured: the decomposition is exact
    measured = []
    real = tactics._interleaved_medians
    monkeypatch.setattr(tactics, "_interleaved_medians", lambda fns, *a: measured.append(sorted(fns))
                        or real(fns, *a))
    monkeypatch.setattr(tactics, "_TIMINGS", {})
    x = torch.randn(1, 4, 12, 12)
    dep, report = deploy_for(model, plan, x, DeployTarget(backend=backend, rounds=2))
    assert len(measured) == 2                                   # layers "3" and "6" share one shape
    forms = {"dense", "decomposed:avgpool", "decomposed:separable", "decomposed:cumsum", "decomposed:conv"}
    assert set(measured[0]) == (forms if backend == "torch" else {"dense", "decomposed:auto"})
    assert report.folded_bn == ("1", "4", "7") and report.target.startswith(backend)
    assert all("fastest of" in l.note for l in report.layers)
    with torch.no_grad():
        torch.testing.assert_close(dep(x), model(x), atol=1e-5, rtol=1e-5)


def test_a_decomposed_form_must_beat_dense_by_the_margin():
    times = {"decomposed:separable": 0.97e-3, "decomposed:conv": 1.2e-3, "dense": 1e-3}
    assert tactics.pick(times)[0] == "decomposed:separable"
    best, note = tactics.pick(times, margin=0.05)
    assert best == "dense" and "5% faster" in note and "separable 0.97" in note
    assert tactics.pick({**times, "decomposed:separable": 0.9e-3}, margin=0.05)[0] == "decomposed:separable"
    # among decomposed forms, the method 'auto' picks stays unless another beats it by the margin
    fast = {"decomposed:separable": 0.50e-3, "decomposed:avgpool": 0.48e-3, "dense": 1e-3}
    assert tactics.pick(fast, 0.05, "decomposed:separable")[0] == "decomposed:separable"
    assert tactics.pick({**fast, "decomposed:avgpool": 0.4e-3}, 0.05, "decomposed:separable")[0] == \
        "decomposed:avgpool"
