"""Sparse-kernel designs as torch modules: outputs against a slow reference of separate convs,
params and MACs against core's count, layer-wise distillation, and plans mixing designs and
structures through train / decompose / ONNX."""
from __future__ import annotations

import copy
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from structconv.core import DWPW, GCPWG, PWDWPW, PWGDWPWG, Layer, admissible_designs, count_network, count_ops
from structconv.nn import (
    ArrayDataset,
    DataBundle,
    DesignConv,
    Moments,
    decompose,
    distill_design,
    effective_kernel,
    evaluate,
    export_onnx,
    network_from_module,
    output_error,
    structure_,
    train,
)
from structconv.nn.trace import layer_from_module

KINDS = (DWPW, GCPWG, PWDWPW, PWGDWPWG)




# -- a slow reference: one plain conv per group, the shuffle as an explicit index list --------------
def _grouped_conv_slow(x, conv: nn.Conv2d):
    """conv(x) as ``groups`` separate ungrouped convs on channel slices, concatenated."""
    g = conv.groups
    ci, co = conv.in_channels // g, conv.out_channels // g
    outs = []
    for k in range(g):
        bias = conv.bias[k * co:(k + 1) * co] if conv.bias is not None else None
        outs.append(F.conv2d(x[:, k * ci:(k + 1) * ci], conv.weight[k * co:(k + 1) * co], bias,
                             conv.stride, conv.padding, conv.dilation))
    return torch.cat(outs, 1)


def _shuffle_slow(x, groups: int):
    """Output channel a*groups + b is input channel b*(K/groups) + a (ShuffleNet), by a Python loop."""
    K = x.shape[1]
    order = [0] * K
    for b in range(groups):
        for a in range(K // groups):
            order[a * groups + b] = b * (K // groups) + a
    return x[:, order]


def _reference(module: DesignConv, x):
    for m in module.stages:
        x = _grouped_conv_slow(x, m) if isinstance(m, nn.Conv2d) else _shuffle_slow(x, m.groups)
    return x


def _random_layer(rng: random.Random, name="x") -> Layer:
    C = rng.choice([4, 6, 8, 12, 16])
    F_ = rng.choice([4, 8, 12, 16, 24])
    k = rng.choice([3, 5])
    s = rng.choice([1, 2])
    size = rng.choice([7, 8, 11])
    return Layer.conv2d(name, C, F_, k, (size, size), stride=s, padding=k // 2,
                        dilation=rng.choice([1, 1, 2]), bias=rng.random() < 0.5)


def _choices(layer: Layer, rng: random.Random):
    """Each kind once, with explicit group numbers / bottleneck drawn among the valid ones when possible."""
    every = admissible_designs(layer, efficient_only=False)
    for kind in KINDS:
        options = [c for c in every if c.kind == kind.kind] or [kind()]
        yield rng.choice(options)


def _module_with_random_weights(choice, layer, seed):
    torch.manual_seed(seed)
    m = DesignConv(choice, layer).double()
    for p in m.parameters():
        nn.init.normal_(p, 0, 0.5)
    return m


CASES = [(layer, choice) for i in range(6) for rng in [random.Random(100 + i)]
         for layer in [_random_layer(rng, f"l{i}")] for choice in _choices(layer, rng)]


@pytest.mark.parametrize("layer, choice", CASES, ids=[f"{l.name}-{c.label}" for l, c in CASES])
def test_design_module_equals_separate_convs_and_core_counts(layer, choice):
    m = _module_with_random_weights(choice, layer, 0)
    x = torch.randn(2, layer.in_channels, *layer.input_size, dtype=torch.float64)
    with torch.no_grad():
        got, want = m(x), _reference(m, x)
    assert got.shape == (2, layer.out_channels, *layer.output_size)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    # params and MACs, counted from the modules that ran, equal core's count of the choice
    macs = []
    hooks = [c.register_forward_hook(lambda mod, a, out: macs.append(
        out[0].numel() * mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3])) for c in m.convs]
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    want_count = count_ops(layer, choice)
    assert sum(p.numel() for p in m.parameters()) == want_count.params
    assert sum(macs) == want_count.mults


def test_the_shuffle_is_really_there():
    """gc_pwg with M, N > 1: without the shuffle the output differs (the reference is not vacuous)."""
    layer = Layer.conv2d("x", 8, 8, 3, (6, 6), padding=1)
    m = _module_with_random_weights(GCPWG(4, 2), layer, 1)
    x = torch.randn(1, 8, 6, 6, dtype=torch.float64)
    no_shuffle = nn.Sequential(m.stages[0], m.stages[2])
    with torch.no_grad():
        assert (m(x) - no_shuffle(x)).abs().max() > 1e-3


# -- distillation ------------------------------------------------------------------------------------
def _dense_equal_to(design: DesignConv, conv_like: nn.Conv2d) -> nn.Conv2d:
    W, b = effective_kernel(design)
    dense = copy.deepcopy(conv_like).double()
    with torch.no_grad():
        dense.weight.copy_(W)
        if dense.bias is not None:
            dense.bias.copy_(b)
    return dense


@pytest.mark.parametrize("choice", [DWPW(), GCPWG(4, 2), PWDWPW(4), PWGDWPWG(2, 2, 4)], ids=lambda c: c.label)
def test_distillation_recovers_a_dense_layer_that_is_a_design(choice):
    conv = nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=True)
    layer = layer_from_module("x", conv, (9, 9))
    truth = _module_with_random_weights(choice, layer, 2)
    dense = _dense_equal_to(truth, conv)
    x = torch.randn(3, 8, 9, 9, dtype=torch.float64)
    assert output_error(truth, dense, x) < 1e-12                 # the effective kernel is exact
    acc = Moments()
    acc.add(dense,
            torch.randn(32, 8, 9, 9, dtype=torch.float64) * torch.linspace(0.2, 3, 8)[:, None, None] + 0.7)
    fitted = distill_design(dense, choice, layer, acc.result())
    assert fitted.fit_error < 1e-6
    assert output_error(fitted, dense, x) < 1e-6                 # on inputs it never saw
    assert count_ops(layer, choice).params == sum(p.numel() for p in fitted.parameters())


def test_a_random_dense_layer_is_not_a_design_and_calibration_fits_its_own_data_best():
    torch.manual_seed(3)
    conv = nn.Conv2d(8, 8, 3, padding=1).double()
    layer = layer_from_module("x", conv, (8, 8))
    data = torch.relu(torch.randn(64, 8, 8, 8, dtype=torch.float64) + torch.linspace(-1, 1, 8)[:, None, None])
    acc = Moments()
    acc.add(conv, data)
    on_data = distill_design(conv, DWPW(), layer, acc.result())
    white = distill_design(conv, DWPW(), layer)                  # data-free: Frobenius-nearest kernel
    assert on_data.fit_error > 0.1 and white.fit_error > 0.1
    # the fit error is the output error on the calibration data, and no fit does better there
    assert output_error(on_data, conv, data) == pytest.approx(on_data.fit_error, rel=1e-6)
    assert output_error(on_data, conv, data) < output_error(white, conv, data)


# -- whole models: structure_, decompose, train, ONNX -------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.c3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.c4 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.c5 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        for c in (self.c1, self.c2, self.c3, self.c4, self.c5):
            x = torch.relu(c(x))
        return self.fc(x.mean((2, 3)))


MIXED = {"c1": {"c": 3, "n": 2}, "c2": {"design": "dw_pw"}, "c3": {"design": "gc_pwg"},
         "c4": {"design": "pw_dw_pw"}, "c5": {"design": "pwg_dw_pwg"}, "fc": {"c": 8}}


@pytest.fixture(scope="module")
def bundle():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 3, 8, 8, generator=g)
    y = (x[:, 0].mean((1, 2)) > 0).long() + 2 * (x[:, 1].mean((1, 2)) > 0).long()
    return DataBundle("toy", ArrayDataset(x[:64], y[:64]), ArrayDataset(x[64:], y[64:]), 4, (3, 8, 8))


def test_decompose_fits_designs_and_counts_equal_core(bundle):
    torch.manual_seed(0)
    model = Net()
    dec, report = decompose(model, MIXED, calibration=bundle, calibration_size=32)
    for name in ("c2", "c3", "c4", "c5"):
        row = report[name]
        assert row.status == "decomposed" and isinstance(dec.get_submodule(name), DesignConv)
        assert row.fit_error is not None and 0 < row.fit_error < 1 and row.params_after < row.params_before
    assert report.max_fit_error == max(report[n].fit_error for n in ("c2", "c3", "c4", "c5"))
    assert report["c1"].fit_error is None and report["c1"].residual is not None
    net = network_from_module(model, torch.zeros(1, 3, 8, 8))
    assert sum(p.numel() for p in dec.parameters()) == count_network(net, MIXED).structured.params
    # a design module is its own deployable form: decompose again keeps it
    again, rep2 = decompose(dec, {k: v for k, v in MIXED.items() if "design" in v})
    assert all(r.status == "identity" for r in rep2.layers)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(again(x), dec(x))


def test_train_mixed_plan_sr_on_structures_only_then_decompose_and_onnx(bundle, tmp_path):
    torch.manual_seed(0)
    model = Net()
    dense_c2 = copy.deepcopy(model.c2)
    r = train(model, bundle, MIXED, lam=1.0, epochs=2, lr=0.05, batch_size=16, quiet=True, device="cpu",
              calibration_size=32, out_dir=tmp_path / "run")
    assert set(r.distillation) == {"c2", "c3", "c4", "c5"} and all(0 < v < 1 for v in r.distillation.values())
    assert isinstance(model.c2, DesignConv) and isinstance(model.c1, nn.Conv2d)
    assert set(r.residuals) == {"c1", "fc"}                      # SR terms: the structured layers only
    # the design layers trained: their weights moved away from the fit they started from
    start = distill_design(dense_c2, DWPW(), model.c2.layer)
    assert not torch.allclose(start.stages[0].weight, model.c2.stages[0].weight)
    # decomposed accuracy equals the projected model's, evaluated independently
    projected = structure_(copy.deepcopy(model), MIXED)
    assert r.acc_after == evaluate(projected, bundle.val)["acc"]
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(r.decomposed_model.eval()(x), projected.eval()(x), atol=1e-5, rtol=1e-5)
    pytest.importorskip("onnxruntime")
    export_onnx(model, x, tmp_path / "m.onnx", plan=MIXED)       # verified against torch inside
    assert (tmp_path / "m.onnx").stat().st_size > 0


def test_scratch_init_and_resume_keep_the_architecture(bundle, tmp_path):
    torch.manual_seed(0)
    model = Net()
    r = train(model, bundle, MIXED, epochs=1, lr=0.05, batch_size=16, quiet=True, device="cpu",
              design_init="scratch", out_dir=tmp_path)
    assert r.distillation == {"c2": None, "c3": None, "c4": None, "c5": None}
    torch.manual_seed(0)
    fresh = Net()                                                # dense again: resumed from the checkpoint
    r2 = train(fresh, bundle, MIXED, epochs=1, lr=0.05, batch_size=16, quiet=True, device="cpu",
               out_dir=tmp_path, resume=True)
    assert isinstance(fresh.c5, DesignConv)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
    assert r2.acc_after == r.acc_after


def test_bad_design_init_is_one_line_and_changes_nothing(bundle):
    model = Net()
    with pytest.raises(ValueError, match=r"init = 'warm' is not one of \['distill', 'scratch'\]"):
        train(model, bundle, MIXED, epochs=1, quiet=True, design_init="warm")
    assert isinstance(model.c2, nn.Conv2d)
