"""Accuracy proxies: sanity on a tiny network (exact where the math is exact)."""
import math

import numpy as np
import pytest
import torch

from structconv.core import Dense, Structure, admissible_designs, project
from structconv.core.zoo import get_network
from structconv.search import build_space, compute_proxies, list_proxies, load_weights, space_config_from_dict
from structconv.search.proxies.approx import LayerApprox

PROXIES = ["params", "mults", "kept_dof", "field_ratio", "synflow", "grad_norm", "snip", "naswot", "residual",
           "projection_loss"]


@pytest.fixture(scope="module")
def tiny():
    from structconv.nn import build_module

    net = get_network("resnet20", input_size=(8, 8))
    cfg = space_config_from_dict({"c_fractions": [1, 0.5, 0.25], "max_designs": 2,
                                  "exclude": ["layer2.*", "layer3.1.*", "layer3.2.*"]})
    sp = build_space(net, cfg)
    torch.manual_seed(0)
    model = build_module(net).eval()
    x = torch.randn(32, 3, 8, 8)
    y = torch.randint(0, 10, (32,))
    return net, sp, model, (x, y)


def test_weight_free_suite_says_so(tiny):
    net, sp, model, data = tiny
    s = compute_proxies(sp, model=model, data=data, proxies=PROXIES)
    assert s.weights is None
    assert set(s.tables) == {"params", "mults", "kept_dof", "field_ratio", "synflow", "grad_norm", "snip",
                             "naswot"}
    assert any("no weights given" in n for n in s.notes)
    assert s.default_objective == "kept_dof"
    for t in s.tables.values():
        assert np.isfinite(t.values[~np.isnan(t.values)]).all()


def test_weight_proxies_zero_for_dense_and_monotone_sanity(tiny, tmp_path):
    net, sp, model, data = tiny
    path = tmp_path / "w.pt"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, path)
    s = compute_proxies(sp, model=model, weights=path, data=data, proxies=PROXIES, anchors=2)
    dense = [0] * len(sp.searched)
    assert s.tables["residual"].score(dense) == 0.0
    assert s.tables["projection_loss"].score(dense) == pytest.approx(s.evaluator.dense_loss)
    assert s.tables["kept_dof"].score(dense) == 0.0 and s.tables["field_ratio"].score(dense) == 1.0
    assert s.projected_loss(dense) == pytest.approx(s.evaluator.dense_loss)
    # the most aggressive plan keeps fewer params and has a larger residual than dense
    last = [len(ls) - 1 for ls in sp.searched]
    assert s.tables["params"].score(last) < s.tables["params"].score(dense)
    assert s.tables["residual"].score(last) > 0
    # residual table = ||W - P W|| / ||W|| exactly for structures
    li = 0
    ls = sp.searched[li]
    W = s.evaluator.weight(ls.name)
    for j, ch in enumerate(ls.choices):
        if isinstance(ch, Structure):
            want = np.linalg.norm(W - project(W, ch.c, ch.n)) / np.linalg.norm(W)
            assert s.tables["residual"].values[li, j] == pytest.approx(want, rel=1e-9)
    # projection_loss is exact at its anchors: one-layer projected loss - dense loss
    row = s.tables["projection_loss"].values[li]
    ap = LayerApprox(ls.layer, W)
    measured = [s.evaluator.loss_with({ls.name: ap.approx(ch)}) - s.evaluator.dense_loss for ch in ls.choices]
    assert any(abs(row[j] - measured[j]) < 1e-9 for j in range(1, len(ls)))
    assert row[0] == 0.0


def test_synflow_term_is_exact_for_one_layer(tiny):
    net, sp, model, data = tiny
    s = compute_proxies(sp, model=model, data=data, proxies=["synflow"])
    ev = s.evaluator
    logR, _ = ev.synflow()
    li = 1
    ls = sp.searched[li]
    j = len(ls) - 1
    Wh = LayerApprox(ls.layer, ev.weight(ls.name)).approx(ls.choices[j])
    mod = ev.modules[ls.name]
    saved = mod.weight.detach().clone()
    with torch.no_grad():
        mod.weight.copy_(torch.as_tensor(Wh.reshape(mod.weight.shape)))
    try:
        logR1, _ = ev.synflow()
    finally:
        with torch.no_grad():
            mod.weight.copy_(saved)
    idx = [0] * len(sp.searched)
    idx[li] = j
    # SynFlow is linear in |W_l| when nothing else changes (BN at init: identity statistics)
    assert s.tables["synflow"].score(idx) - logR == pytest.approx(logR1 - logR, rel=1e-6, abs=1e-9)


def test_layer_approx_for_designs(tiny):
    net, sp, model, data = tiny
    ls = sp["layer1.0.conv1"]
    W = np.random.default_rng(0).standard_normal((ls.layer.out_channels, ls.layer.in_channels, 3, 3))
    ap = LayerApprox(ls.layer, W)
    dw = next(c for c in admissible_designs(ls.layer) if c.kind == "dw_pw")
    Wh = ap.approx(dw)
    for i in range(W.shape[1]):                          # DW x PW: rank 1 per input channel
        assert np.linalg.matrix_rank(Wh[:, i].reshape(W.shape[0], -1), tol=1e-8) == 1
    assert np.linalg.norm(W - Wh) < np.linalg.norm(W)
    assert np.allclose(ap.approx(Dense()), W)
    G = np.random.default_rng(1).standard_normal(W.shape)
    PG = ap.project_grad(dw, G)
    assert np.allclose(ap.project_grad(dw, PG), PG)      # a projection
    s = Structure(8, 2)
    assert np.allclose(ap.project_grad(s, G), project(G, 8, 2))


def test_bad_weights_files(tiny, tmp_path):
    net, sp, model, data = tiny
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt or not a torch checkpoint"):
        load_weights(model, bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_weights(model, tmp_path / "none.pt")
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="does not fit the model"):
        load_weights(model, wrong)
    with pytest.raises(ValueError, match=r"proxies \['bogus'\] are unknown"):
        compute_proxies(sp, proxies=["bogus"])


def test_cost_only_suite_needs_no_torch_model():
    net = get_network("hrnet_w18_small_v1")
    sp = build_space(net, space_config_from_dict({"designs": False, "c_fractions": [1, 0.5]}))
    s = compute_proxies(sp)
    assert {"params", "mults", "kept_dof", "field_ratio"} <= set(s.tables)
    assert any("no torch model" in n for n in s.notes) or "synflow" in s.tables
    assert math.isfinite(s.tables["kept_dof"].score([1] * len(sp.searched)))


def test_every_proxy_carries_its_metadata():
    reg = list_proxies()
    assert list(reg)[:len(PROXIES)] == ["params", "mults", "kept_dof", "field_ratio", "grad_norm", "snip",
                                        "synflow", "naswot", "residual", "projection_loss"]
    assert set(PROXIES) | {"projected_loss"} <= set(reg)
    for name, p in reg.items():
        assert p.name == name and p.description and "\n" not in p.description
        assert p.direction in ("maximize", "minimize")
    measured = ["fisher", "sensitivity_loss", "sensitivity_acc"]              # issue 18, asked for by name
    assert [n for n, p in reg.items() if p.needs_weights] == ["residual", "projection_loss", "projected_loss",
                                                              *measured]
    assert [n for n, p in reg.items() if not p.higher_is_better] == ["residual", "projection_loss",
                                                                       "projected_loss", *measured]
    assert [n for n, p in reg.items() if p.opt_in] == measured
    assert reg["projected_loss"].per_trial and not reg["params"].per_trial


def test_a_registered_proxy_runs_with_no_edit_to_the_suite(monkeypatch):
    import structconv.search.proxies.registry as registry
    from structconv.search import Proxy

    monkeypatch.setattr(registry, "_PROXIES", dict(registry._PROXIES))
    registry.register_proxy(Proxy("choices_left", "choices after this one in the layer's menu",
                                  row=lambda run, work: [len(work.choices) - 1 - j
                                                         for j in range(len(work.choices))],
                                  base=lambda run: 1.0))
    sp = build_space(get_network("resnet20", input_size=(8, 8)), space_config_from_dict({"designs": False}))
    s = compute_proxies(sp, proxies=["params", "choices_left"])
    t = s.tables["choices_left"]
    assert t.to_dict()["description"] == "choices after this one in the layer's menu"
    assert t.score([0] * len(sp.searched)) == 1.0 + sum(len(ls) - 1 for ls in sp.searched)


def test_a_plug_in_kind_gets_the_documented_low_rank_fallback(tiny, monkeypatch):
    """A kind defined here only (a rank-R factorisation): no projection, so P(W) is the parameter-matched
    low-rank fit; every proxy stays finite and the suite says an estimate was used."""
    from dataclasses import dataclass

    import structconv.core.choice as kinds
    from structconv.core import Choice, Layer, Part, count_ops

    @dataclass(frozen=True)
    class Factor(Choice):
        rank: int
        kind = "test_search_factor"

        def parts(self, layer):
            u = Layer.conv2d(layer.name + ".u", layer.in_channels, self.rank, layer.kernel, layer.input_size,
                             layer.stride, layer.padding, layer.dilation)
            return (Part(u), Part(Layer.conv2d(layer.name + ".v", self.rank, layer.out_channels, 1,
                                               u.output_size, bias=layer.bias)))

        @classmethod
        def options(cls, layer, rule):
            ok = (layer.op == "conv2d" and layer.groups == 1 and layer.kernel != (1, 1)
                  and layer.out_channels > 4)
            return (cls(layer.out_channels // 4),) if ok else ()

    monkeypatch.setitem(kinds._KINDS, Factor.kind, Factor)
    net, _, model, data = tiny
    cfg = space_config_from_dict({"designs": False, "c_fractions": [1, 0.5],
                                  "exclude": ["layer2.*", "layer3.1.*", "layer3.2.*"]})
    sp = build_space(net, cfg)
    offered = [(li, ls.choices.index(Factor(ls.layer.out_channels // 4))) for li, ls in enumerate(sp.searched)
               if Factor(ls.layer.out_channels // 4) in ls.choices]
    assert offered, "the plug-in kind is in the search space"
    li, j = offered[0]
    ls = sp.searched[li]
    W = np.random.default_rng(0).standard_normal((ls.layer.out_channels, ls.layer.in_channels, 3, 3))
    ap = LayerApprox(ls.layer, W)
    F, C = W.shape[:2]
    rank = round(count_ops(ls.layer, ls.choices[j]).params / (F + C * 9))
    assert np.linalg.matrix_rank(ap.approx(ls.choices[j]).reshape(F, -1), tol=1e-8) == rank
    s = compute_proxies(sp, model=model, data=data, proxies=PROXIES)
    for t in s.tables.values():
        assert np.isfinite(t.values[~np.isnan(t.values)]).all()
    assert s.tables["field_ratio"].values[li, j] == 1.0            # one output still sees k x k x C
    assert any("parameter-matched low-rank fit" in n for n in s.notes)
