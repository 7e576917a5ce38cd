"""Distilled design layers are fitted once per (layer, design, weights and calibration digest)."""
import torch
from torch import nn

from structconv.core import DWPW
from structconv.nn import distill_design
from structconv.nn.layers import distill
from structconv.nn.trace import layer_from_module


def test_a_second_distillation_of_the_same_layer_is_a_cache_hit_with_identical_weights(monkeypatch):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 6, 3, padding=1).double()
    layer = layer_from_module("x", conv, (8, 8))
    distill._FITS.clear()
    calls = []
    real = distill.fit
    monkeypatch.setattr(distill, "fit", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = distill_design(conv, DWPW(), layer)
    again = distill_design(conv, DWPW(), layer)
    assert len(calls) == 1 and again.fit_error == first.fit_error
    for p, q in zip(first.parameters(), again.parameters()):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr()      # equal, yet not shared
    with torch.no_grad():
        conv.weight.add_(0.1)                                       # other weights: a new fit
    distill_design(conv, DWPW(), layer)
    assert len(calls) == 2
