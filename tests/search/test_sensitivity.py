"""Measured per-layer sensitivity: exact zeros where nothing changes, a plan is the sum of its layers,
every entry is the loss with only that layer replaced, the disk cache returns the same table without a
forward pass, and the proxies read the validation split only."""
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

import structconv.nn as nn
from structconv.core import Structure
from structconv.core.zoo import get_network
from structconv.search import build_space, compute_proxies, space_config_from_dict
from structconv.search.proxies import sensitivity
from structconv.search.proxies.approx import SAME, method

NAMES = ["sensitivity_loss", "sensitivity_acc"]


@pytest.fixture(scope="module")
def tiny():
    net = get_network("resnet20", input_size=(8, 8))
    cfg = space_config_from_dict({"c_fractions": [1, 0.5, 0.25], "max_designs": 2,
                                  "exclude": ["layer2.*", "layer3.*"]})
    sp = build_space(net, cfg)
    torch.manual_seed(0)
    model = nn.build_module(net).eval()
    x, y = torch.randn(48, 3, 8, 8), torch.randint(0, 10, (48,))
    return sp, model, (x, y)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STRUCTCONV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _suite(tiny, **kw):
    sp, model, data = tiny
    return compute_proxies(sp, model=model, weights=model.state_dict(), data=data, proxies=NAMES,
                           quiet=True, **kw)


def test_unchanged_layers_are_exactly_zero_and_plans_are_sums(tiny):
    sp, _, _ = tiny
    s = _suite(tiny)
    t = s.tables["sensitivity_loss"]
    for li, ls in enumerate(sp.searched):
        for j, c in enumerate(ls.choices):
            if method(ls.layer, c) == SAME:
                assert t.values[li, j] == 0.0 and s.tables["sensitivity_acc"].values[li, j] == 0.0
    assert t.score([0] * len(sp.searched)) == 0.0
    rng = np.random.default_rng(0)
    idx = [int(rng.integers(len(ls))) for ls in sp.searched]
    assert t.score(idx) == pytest.approx(sum(t.values[li, i] for li, i in enumerate(idx)), abs=0)
    assert np.nanmax(t.values) > 0                                  # a harsh choice costs loss


def test_an_entry_is_the_loss_with_only_that_layer_replaced(tiny):
    sp, _, _ = tiny
    s = _suite(tiny)
    ev = s.evaluator
    li = next(i for i, ls in enumerate(sp.searched) if any(isinstance(c, Structure) for c in ls.choices))
    ls = sp.searched[li]
    j = next(j for j, c in enumerate(ls.choices) if isinstance(c, Structure) and method(ls.layer, c) != SAME)
    from structconv.search.proxies.terms import LayerWork, ProxyRun

    W = LayerWork(ProxyRun(sp, ev), ls).approx(j)
    dense = ev.loss_with({}, recalibrate=False)
    want = ev.loss_with({ls.name: W}, recalibrate=False) - dense
    assert s.tables["sensitivity_loss"].values[li, j] == pytest.approx(want, rel=1e-5, abs=1e-7)


def test_cache_hit_is_identical_and_runs_no_forward_pass(tiny, cache, monkeypatch):
    first = _suite(tiny).tables["sensitivity_loss"].values
    assert len(list(cache.rglob("*.npz"))) == 1

    def no_forward(*a, **k):
        raise AssertionError("a forward pass on a cache hit")

    monkeypatch.setattr(sensitivity, "measure_table", no_forward)
    again = _suite(tiny).tables["sensitivity_loss"].values
    assert np.array_equal(first, again, equal_nan=True)


def test_another_data_subset_is_another_table(tiny, cache):
    sp, model, (x, y) = tiny
    _suite(tiny)
    compute_proxies(sp, model=model, weights=model.state_dict(), data=(x[:24], y[:24]), proxies=NAMES,
                    quiet=True)
    assert len(list(cache.rglob("*.npz"))) == 2


class Poisoned(Dataset):
    def __len__(self):
        raise AssertionError("the test split was read")

    def __getitem__(self, i):
        raise AssertionError("the test split was read")


def test_proxies_read_the_validation_split_never_the_test_split(tiny):
    sp, model, (x, y) = tiny
    train = nn.ArrayDataset(torch.randn(200, 3, 8, 8), torch.arange(200) % 10)
    b = nn.split_validation(nn.DataBundle("toy", train, Poisoned(), 10, (3, 8, 8)), size=40)
    s = compute_proxies(sp, model=model, weights=model.state_dict(), data=b, calib_size=40, quiet=True,
                        proxies=NAMES + ["fisher", "residual", "projection_loss", "snip"])
    assert {"sensitivity_loss", "fisher", "projection_loss"} <= set(s.tables)
    assert torch.equal(s.evaluator.x.sort(0).values, b.val.images.sort(0).values)   # the validation split
