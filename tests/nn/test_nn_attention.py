"""Attention and token-major Linears through the tracer (issue 19), against hand formulas.

fvcore is not installed in this environment, so no fvcore numbers are pinned here: every expected count is
the hand formula written next to it (fvcore's own conventions for the ops it sees are the same: a Linear is
positions x in x out MACs, a matmul is prod(batch dims) x M x K x N; it does not see inside
nn.MultiheadAttention's fused kernel, where the formula is torch's multi_head_attention_forward).
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from structconv.core import Plan, Structure, count_network, count_ops, get_preset
from structconv.nn import network_from_module
from structconv.search.space import layer_choices
from structconv.search.space_config import Rule
from tests.support.attention_models import SdpaAttention, TinySwin, TinyViT, randomized


def _mults(net) -> dict:
    return {l.name: count_ops(l).mults for l in net}


def test_multihead_attention_counts_projections_and_per_head_products():
    T, E, H, P = 16, 32, 4, 4                       # 16x16 image, 4x4 patches -> 16 tokens of width 32
    model = randomized(TinyViT(dim=E, heads=H, patch=P, depth=2))
    net = network_from_module(model, torch.randn(1, 3, 16, 16))
    got = _mults(net)
    for b in ("blocks.0", "blocks.1"):
        assert got[f"{b}.attn.in_proj"] == T * E * 3 * E           # packed q, k, v projection
        assert got[f"{b}.attn.matmul0"] == H * T * T * (E // H)     # q . k^T per head
        assert got[f"{b}.attn.matmul1"] == H * T * T * (E // H)     # attn . v per head
        assert got[f"{b}.attn.out_proj"] == T * E * E
        assert got[f"{b}.mlp.fc1"] == got[f"{b}.mlp.fc2"] == T * E * 2 * E
    assert got["patch"] == E * 3 * P * P * T and got["head"] == E * 10
    total = count_network(net).original
    assert total.params == sum(p.numel() for p in model.parameters())
    assert total.mults == sum(got.values())


@pytest.mark.parametrize("batch_first", [True, False])
def test_cross_attention_with_own_key_and_value_widths(batch_first):
    E, H, Tq, Tk, kdim, vdim = 16, 2, 5, 7, 8, 12

    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first)

        def forward(self, q):                       # the model's input is (N, Tq, E): N is the image batch
            k, v = torch.ones(q.shape[0], Tk, kdim), torch.ones(q.shape[0], Tk, vdim)
            if not batch_first:                      # the module takes (T, N, E)
                q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
            return self.attn(q, k, v)[0]

    net = network_from_module(Cross(), torch.randn(1, Tq, E))
    assert _mults(net) == {"attn.q_proj": Tq * E * E, "attn.k_proj": Tk * kdim * E,
                           "attn.v_proj": Tk * vdim * E, "attn.matmul0": H * Tq * Tk * (E // H),
                           "attn.matmul1": H * Tq * Tk * (E // H),
                           "attn.out_proj": Tq * E * E}


def test_window_attention_counts_every_window_and_the_batch_is_not_counted():
    """Swin folds its windows into the first dimension: every window counts, the image batch does not."""
    model = randomized(TinySwin(dim=16, heads=2, window=2, patch=2))
    one = network_from_module(model, torch.randn(1, 3, 8, 8))
    two = network_from_module(model, torch.randn(2, 3, 8, 8))
    windows, tokens, C, H = 4, 4, 16, 2             # an 8x8 image, 2x2 patches -> 4x4 map -> four 2x2 windows
    assert _mults(one) == _mults(two) == {
        "patch": C * 3 * 4 * 16, "attn.qkv": windows * tokens * C * 3 * C,
        "attn.matmul0": windows * H * tokens * tokens * (C // H),
        "attn.matmul1": windows * H * tokens * tokens * (C // H),
        "attn.proj": windows * tokens * C * C, "head": windows * C * 5}


def test_scaled_dot_product_attention_is_two_products_per_head():
    T, E, H = 6, 16, 4
    net = network_from_module(randomized(SdpaAttention(E, H)), torch.randn(1, T, E))
    assert _mults(net) == {"qkv": T * E * 3 * E, "matmul0": H * T * T * (E // H),
                           "matmul1": H * T * T * (E // H), "out": T * E * E}
    assert [l.op for l in net] == ["conv2d", "matmul", "matmul", "conv2d"]


def test_a_linear_on_tokens_folded_into_the_first_dimension_counts_every_token():
    """A 2-D (tokens, features) Linear input: all tokens count (vit_b_16 in ONNX counted 1 of 197)."""
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.w = nn.Parameter(torch.randn(8, 3))

        def forward(self, x):                       # (1, 5, 8) -> (5, 8)
            t = x.reshape(-1, 8)
            return self.fc(t), t @ self.w, F.linear(t, self.fc.weight)

    net = network_from_module(Flat(), torch.randn(1, 5, 8))
    assert net.layer_names == ("fc", "w", "fc#1")     # x @ w on a parameter is a Linear, named by it
    assert _mults(net) == {"fc": 5 * 8 * 4, "w": 5 * 8 * 3, "fc#1": 5 * 8 * 4}


def test_attention_products_take_only_dense():
    net = network_from_module(randomized(SdpaAttention()), torch.randn(1, 6, 16))
    product = net["matmul0"]
    assert Structure(1).fits(product) is not None and "only 'dense'" in Structure(1).fits(product)
    with pytest.raises(ValueError, match="only 'dense'"):
        Plan({"matmul0": Structure(2)}).validate(net)
    assert layer_choices(product, Rule()) == (layer_choices(product, Rule())[0],)
    assert layer_choices(net["qkv"], Rule())[1:]                 # the projections may be structured
    assert "matmul0" not in get_preset("uniform-n2", net).choices


def test_structured_transformer_linears_decompose_exactly_and_train():
    """The seed paper's FC structure (a 1-D sum-pool over input features, then a c-input Linear) on Linears
    that run on (batch, tokens, features): exact in float64, and the regularizer trains them toward it."""
    from structconv.nn import decompose, structural_regularization, structure_

    torch.manual_seed(0)
    model = randomized(TinySwin(dim=16, heads=2, window=2, patch=2)).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    plan = Plan({"attn.qkv": Structure(5), "attn.proj": Structure(9), "head": Structure(4)})
    net = network_from_module(model, x)
    assert count_network(net, plan).structured.mults < count_network(net).original.mults
    reg = float(structural_regularization(model, plan).detach())
    assert reg > 0.1                                       # dense weights are far from structured
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):                                           # the regularizer's gradient reaches them
        opt.zero_grad()
        loss = structural_regularization(model, plan)
        loss.backward()
        opt.step()
    assert float(structural_regularization(model, plan).detach()) < reg
    structure_(model, plan)                                      # weights = A alpha: exactly structured
    with torch.no_grad():
        want = model(x)
    dec, report = decompose(model, plan)
    assert set(report.decomposed) == {"attn.qkv", "attn.proj", "head"}
    with torch.no_grad():
        got = dec(x)
    assert torch.allclose(got, want, rtol=0, atol=1e-10), float((got - want).abs().max())


@pytest.mark.parametrize("name", ["blocks.0.attn.in_proj", "blocks.0.attn.out_proj"])
def test_multihead_attention_projections_are_refused_for_training_and_decomposition(name):
    """nn.MultiheadAttention reads in_proj_weight and out_proj.weight itself: a replaced out_proj would break
    it (AttributeError deep in torch), so both are refused up front, naming the layer."""
    from structconv.nn import decompose, structural_regularization, structure_

    plan = Plan({name: Structure(8)})
    for run in (lambda m: decompose(m, plan), lambda m: structure_(m, plan),
                lambda m: structural_regularization(m, plan)):
        with pytest.raises(ValueError, match=f"layer '{name}' belongs to an nn.MultiheadAttention"):
            run(TinyViT(depth=1))
    net = network_from_module(TinyViT(depth=1), torch.randn(1, 3, 16, 16))
    assert count_network(net, plan).structured.mults < count_network(net).original.mults   # counted
