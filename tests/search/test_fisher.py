"""The Fisher-weighted structure error: the Fisher diagonal against a brute-force per-weight reference,
and the proxy's table against its definition."""
import numpy as np
import pytest
import torch
from torch import nn

from structconv.search.proxies.fisher import fisher_diagonal, fisher_error


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)).double()
    x, y = torch.randn(6, 2, 4, 4, dtype=torch.float64), torch.randint(0, 4, (6,))
    return model, {"conv": model[0], "fc": model[3]}, x, y


def _reference(model, modules, x, y, h=1e-6):
    """Per sample and per weight: the loss's central difference, squared, averaged over samples."""
    out = {}
    with torch.no_grad():
        for name, m in modules.items():
            w = m.weight.view(-1)
            F = np.zeros(w.numel())
            for k in range(w.numel()):
                for i in range(len(x)):
                    keep = float(w[k])
                    w[k] = keep + h
                    up = float(nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]))
                    w[k] = keep - h
                    down = float(nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]))
                    w[k] = keep
                    F[k] += ((up - down) / (2 * h)) ** 2 / len(x)
            out[name] = F.reshape(m.weight.shape)
    return out


def test_fisher_diagonal_equals_a_brute_force_per_weight_reference():
    model, modules, x, y = _tiny()
    got = fisher_diagonal(model, modules, x, y)
    want = _reference(model, modules, x, y)
    assert got["conv"].shape == (3, 2, 3, 3) and got["fc"].shape == (4, 12, 1, 1)
    for name in modules:
        assert np.allclose(got[name].reshape(want[name].shape), want[name], rtol=1e-5, atol=1e-10)
    assert all(m.weight.grad is None for m in modules.values())          # nothing left behind


def test_fisher_error_is_zero_without_change_and_weights_the_error_by_fisher():
    F = np.array([[1.0, 0.0], [2.0, 3.0]])
    W = np.ones((2, 2))
    assert fisher_error(F, W, W) == 0.0
    assert fisher_error(F, W, np.zeros((2, 2))) == pytest.approx(0.5 * 6.0)


def test_fisher_proxy_table_is_its_definition_and_additive():
    from structconv.core.zoo import get_network
    from structconv.nn import build_module
    from structconv.search import build_space, compute_proxies, space_config_from_dict
    from structconv.search.proxies.terms import LayerWork, ProxyRun

    net = get_network("resnet20", input_size=(8, 8))
    sp = build_space(net, space_config_from_dict({"c_fractions": [1, 0.5], "max_designs": 1,
                                                  "exclude": ["layer2.*", "layer3.*"]}))
    torch.manual_seed(0)
    model = build_module(net).eval()
    data = (torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,)))
    s = compute_proxies(sp, model=model, weights=model.state_dict(), data=data, proxies=["fisher"])
    t, ev = s.tables["fisher"], s.evaluator
    F = fisher_diagonal(ev.model, ev.modules, ev.x, ev.hard)
    run = ProxyRun(sp, ev)
    for li, ls in enumerate(sp.searched):
        work = LayerWork(run, ls)
        want = [fisher_error(F[ls.name], work.W, work.approx(j)) for j in range(len(ls))]
        assert t.values[li, :len(ls)] == pytest.approx(want, rel=1e-9, abs=1e-15)
        assert t.values[li, 0] == 0.0
    idx = [len(ls) - 1 for ls in sp.searched]
    assert t.score(idx) == pytest.approx(sum(t.values[li, i] for li, i in enumerate(idx)), rel=1e-12)
