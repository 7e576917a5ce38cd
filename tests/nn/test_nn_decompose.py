"""Decomposition into SumPool + small conv: exact for structured weights, projected otherwise."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from structconv.core import Plan, project, structural_residual
from structconv.nn import (
    DecomposedConv2d,
    DecomposedLinear,
    SumPool3d,
    compose,
    decompose,
    decompose_conv,
    decompose_linear,
    load_decomposed,
    save_decomposed,
)
from structconv.nn.layers.sumpool import METHODS


@st.composite
def conv_case(draw):
    groups = draw(st.integers(1, 3))
    Cg = draw(st.integers(1, 4))
    cout_g = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    c = draw(st.integers(1, Cg))
    n = (draw(st.integers(1, kh)), draw(st.integers(1, kw)))
    bias = draw(st.booleans())
    H = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 16))
    W = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 16))
    method = draw(st.sampled_from(METHODS))
    seed = draw(st.integers(0, 2**31))
    return groups, Cg, cout_g, (kh, kw), stride, dilation, padding, c, n, bias, (H, W), method, seed


@given(conv_case())
def test_structured_conv_decomposes_exactly(case):
    groups, Cg, cout_g, k, stride, dilation, padding, c, n, bias, (H, W), method, seed = case
    torch.manual_seed(seed)
    conv = nn.Conv2d(groups * Cg, groups * cout_g, k, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, bias=bias).double()
    with torch.no_grad():                                      # W = A alpha exactly
        conv.weight.copy_(compose(torch.randn(groups * cout_g, c, *n, dtype=torch.float64), Cg, *k))
    x = torch.randn(2, groups * Cg, H, W, dtype=torch.float64)
    dec = decompose_conv(conv, c, n, method=method)
    assert isinstance(dec, DecomposedConv2d)
    assert dec.conv.weight.shape == (groups * cout_g, c, *n)
    assert dec.conv.padding == (0, 0) and dec.conv.stride == stride and dec.conv.dilation == dilation
    assert dec.sumpool.window == (Cg - c + 1, k[0] - n[0] + 1, k[1] - n[1] + 1)
    y, want = dec(x), conv(x)
    assert y.shape == want.shape
    torch.testing.assert_close(y, want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("padding,dilation,k",
                         [("same", 1, (3, 3)), ("same", (2, 1), (2, 4)), ("valid", 2, (3, 2))])
@pytest.mark.filterwarnings("ignore:Using padding=.same.")
def test_string_paddings(padding, dilation, k):
    conv = nn.Conv2d(4, 6, k, padding=padding, dilation=dilation, groups=2).double()
    with torch.no_grad():
        conv.weight.copy_(compose(torch.randn(6, 1, 1, 2, dtype=torch.float64), 2, *k))
    x = torch.randn(1, 4, 9, 10, dtype=torch.float64)
    torch.testing.assert_close(decompose_conv(conv, 1, (1, 2))(x), conv(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes(mode):
    conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double()
    with torch.no_grad():
        conv.weight.copy_(compose(torch.randn(4, 2, 2, 2, dtype=torch.float64), 3, 3, 3))
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    torch.testing.assert_close(decompose_conv(conv, 2, 2)(x), conv(x), atol=1e-10, rtol=0)


def test_unstructured_weight_decomposes_to_its_projection():
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 4, 3, padding=1, stride=2).double()
    x = torch.randn(2, 5, 8, 8, dtype=torch.float64)
    dec = decompose_conv(conv, 3, 2)
    proj = nn.Conv2d(5, 4, 3, padding=1, stride=2).double()
    with torch.no_grad():
        proj.weight.copy_(torch.tensor(project(conv.weight.detach().numpy(), 3, 2)))
        proj.bias.copy_(conv.bias)
    torch.testing.assert_close(dec(x), proj(x), atol=1e-10, rtol=0)
    assert not torch.allclose(dec(x), conv(x), atol=1e-3)


@given(st.integers(1, 20), st.integers(1, 5), st.integers(0, 2**31), st.booleans())
def test_linear_decomposes_exactly(C, M, seed, bias):
    torch.manual_seed(seed)
    c = int(torch.randint(1, C + 1, ()).item())
    lin = nn.Linear(C, M, bias=bias).double()
    with torch.no_grad():
        lin.weight.copy_(compose(torch.randn(M, c, 1, 1, dtype=torch.float64), C, 1, 1)[:, :, 0, 0])
    dec = decompose_linear(lin, c)
    assert isinstance(dec, DecomposedLinear) and dec.linear.in_features == c
    x = torch.randn(3, 2, C, dtype=torch.float64)
    torch.testing.assert_close(dec(x), lin(x), atol=1e-10, rtol=0)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.ModuleDict({"dw": nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8),
                                    "pw": nn.Conv2d(8, 12, 1), "down": nn.Conv2d(12, 12, (3, 5), stride=2,
                                                                              padding=(1, 2), groups=3)})
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = self.stem(x)
        x = self.block["down"](torch.relu(self.block["pw"](self.block["dw"](x))))
        return self.fc(x.mean((2, 3)))


PLAN = {"stem.0": {"c": 2, "n": 2}, "block.dw": {"c": 1, "n": 2}, "block.pw": {"c": 5, "n": 1},
        "block.down": {"c": 3, "n": [2, 3]}, "fc": {"c": 7}}


def structured_small(plan=PLAN):
    from structconv.nn import structure_, unstructure_
    torch.manual_seed(0)
    m = Small().double().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.normal_()
                mod.running_var.uniform_(0.5, 2)
    return unstructure_(structure_(m, plan))                 # projects every planned weight


def test_decompose_model_is_exact_and_reports_residuals():
    model = structured_small()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    dec, report = decompose(model, PLAN)
    assert dec is not model and isinstance(model.block["dw"], nn.Conv2d)        # original untouched
    torch.testing.assert_close(dec(x), model(x), atol=1e-10, rtol=0)
    assert set(report.decomposed) == set(PLAN) and report.max_residual < 1e-12
    assert isinstance(dec.get_submodule("block.down"), DecomposedConv2d)
    assert isinstance(dec.fc, DecomposedLinear)
    d = report.to_dict()
    assert d["decomposed"] == 5 and {r["name"] for r in d["layers"]} == set(PLAN)
    assert report["block.pw"].params_after == 12 * 5 + 12
    assert "| block.pw |" in report.to_markdown()


def test_residual_in_report_is_core_structural_residual():
    torch.manual_seed(1)
    model = Small().double()
    _, report = decompose(model, PLAN)
    for name, ch in PLAN.items():
        W = model.get_submodule(name).weight.detach().numpy()
        n = ch.get("n", 1)
        want = structural_residual(W, ch["c"], tuple(n) if isinstance(n, list) else n)
        assert report[name].residual == pytest.approx(want, abs=1e-10)


def test_inplace_and_identity_structures():
    model = structured_small()
    x = torch.randn(1, 3, 10, 10, dtype=torch.float64)
    want = model(x)
    same, report = decompose(model, {"block.pw": {"c": 8, "n": 1}, "stem.0": {"c": 2, "n": 2}}, inplace=True)
    assert same is model and report["block.pw"].status == "identity"
    assert isinstance(model.block["pw"], nn.Conv2d) and isinstance(model.stem[0], DecomposedConv2d)
    torch.testing.assert_close(model(x), want, atol=1e-10, rtol=0)
    # a structure the weights do not have: projected, residual reported, outputs change
    other, report = decompose(structured_small(), {"stem.0": {"c": 1, "n": 2}})
    assert report["stem.0"].residual > 1e-3
    assert not torch.allclose(other(x), want, atol=1e-6)


def test_sparse_designs_are_fitted_and_deployed_as_their_modules():
    from structconv.core import count_ops
    from structconv.nn import network_from_module

    model = structured_small()
    plan = Plan({"block.pw": {"c": 5, "n": 1}, "stem.0": {"design": "dw_pw"}})
    dec, report = decompose(model, plan, strict=True)
    assert report["stem.0"].status == "decomposed" and report["stem.0"].fit_error is not None
    assert report.skipped == ()
    assert not isinstance(dec.stem[0], nn.Conv2d)                   # the DW+PW module sequence
    assert isinstance(dec.block["pw"], DecomposedConv2d)
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    assert dec(x).shape == model(x).shape
    layer = network_from_module(model, x)["stem.0"]
    want = count_ops(layer, plan.choice_for("stem.0")).params
    assert sum(p.numel() for p in dec.stem[0].parameters()) == want


def test_bad_input_raises_before_anything_changes():
    model = structured_small()
    with pytest.raises(ValueError, match="'block.nope'"):
        decompose(model, {"block.nope": {"c": 1, "n": 1}})
    with pytest.raises(ValueError, match="c = 9"):
        decompose(model, {"block.dw": {"c": 9, "n": 1}})
    with pytest.raises(ValueError, match="n = 2"):
        decompose(model, {"fc": {"c": 3, "n": 2}})
    with torch.no_grad():
        model.block["pw"].weight[0, 0, 0, 0] = float("nan")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="'block.pw'.*NaN"):
        decompose(model, PLAN, inplace=True)
    assert isinstance(model.stem[0], nn.Conv2d)                       # nothing half-replaced
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) or torch.isnan(v).any()
    with pytest.raises(ValueError, match="nn.Conv2d"):
        decompose_conv(nn.Linear(3, 3), 1, 1)


def test_decomposed_model_has_exactly_the_params_core_counts():
    from structconv.core import count_network
    from structconv.nn import network_from_module

    model = structured_small()
    dec, _ = decompose(model, PLAN)
    net = network_from_module(model, torch.zeros(1, 3, 12, 12, dtype=torch.float64))
    cost = count_network(net, Plan(PLAN))
    assert sum(p.numel() for p in dec.parameters()) == cost.structured.params
    assert cost.structured.params < cost.original.params == sum(p.numel() for p in model.parameters())
    assert not any(isinstance(m, SumPool3d) and list(m.parameters()) for m in dec.modules())


def test_save_and_load_decomposed_round_trip(tmp_path):
    model = structured_small()
    dec, _ = decompose(model, PLAN)
    with pytest.raises(ValueError, match="not a zoo network"):     # no network to resolve a mapping against
        save_decomposed(dec, tmp_path / "m.pt", "small", PLAN)
    path = save_decomposed(dec, tmp_path / "sub" / "m.pt", "small", Plan(PLAN), meta={"acc": 1.0})
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    loaded = load_decomposed(path, build=lambda name: Small().double())
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(loaded.eval()(x), dec(x), atol=1e-12, rtol=0)
    (tmp_path / "bad.pt").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is corrupt or not a torch checkpoint"):
        load_decomposed(tmp_path / "bad.pt", build=lambda name: Small())
