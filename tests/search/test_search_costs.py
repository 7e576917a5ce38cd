"""search.costs against its slow twins: the simulator and the counter run on the whole plan.

``CostTables`` sums per-(layer, choice) table entries; here every total is recomputed the
slow way, by turning the index vector into a Plan (``space.plan``) and running
``structconv.sim.simulate`` (cycles, energy) and ``core.count_network`` (mults, adds,
params) on the whole network. ``minimum`` is checked against a brute force over every plan
of a space small enough to enumerate.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import Layer, Network, count_network
from structconv.core.zoo import get_network
from structconv.search import METRICS, build_costs, build_space, space_config_from_dict
from structconv.sim import simulate

HWS = ("edge-int8", "tpu-like")
# the default space (every layer searched) and one with fixed layers (excluded: kept dense,
# they go to ``base``) and fewer choices on some layers than others (NaN-padded tables)
CONFIGS = {
    "default": None,
    "restricted": {"exclude": ["conv1", "layer3.2.*"], "kinds": {"linear": {"dense_only": True}},
                   "layers": {"layer2.*": {"c_fractions": [1, 0.5], "n": [2], "designs": False}}},
}

_CACHE: dict = {}


def _space_and_costs(config: str, hw: str):
    key = (config, hw)
    if key not in _CACHE:
        net = get_network("resnet20")
        cfg = CONFIGS[config]
        sp = build_space(net, space_config_from_dict(cfg) if cfg is not None else None)
        _CACHE[key] = (net, sp, build_costs(sp, hw))
    return _CACHE[key]


def _slow_totals(net, plan, hw) -> dict:
    sim = simulate(net, plan, hw)
    ops = count_network(net, plan).structured
    return {"cycles_total": sim.cycles_total, "energy_pj": sim.energy_pj.total,
            "mults": ops.mults, "adds": ops.adds, "params": ops.params}


def _assert_totals_equal(got: dict, want: dict):
    assert set(got) == set(METRICS) == set(want)
    for m in ("cycles_total", "mults", "adds", "params"):          # integers: exactly
        assert got[m] == want[m], (m, got[m], want[m])
    assert got["energy_pj"] == pytest.approx(want["energy_pj"], rel=1e-12, abs=0)


@st.composite
def indices(draw, config: str):
    _, sp, _ = _space_and_costs(config, HWS[0])
    return [draw(st.integers(0, size - 1)) for size in sp.sizes]


def _index_cases():
    return st.sampled_from(sorted(CONFIGS)).flatmap(
        lambda cfg: st.tuples(st.just(cfg), st.sampled_from(HWS),
                              st.lists(indices(cfg), min_size=1, max_size=4)))


@settings(max_examples=25, deadline=None)
@given(_index_cases())
def test_totals_equal_simulating_and_counting_the_plan(case):
    config, hw, idx_rows = case
    net, sp, costs = _space_and_costs(config, hw)
    batch = costs.totals_batch(np.array(idx_rows))
    for r, idx in enumerate(idx_rows):
        want = _slow_totals(net, sp.plan(idx), hw)
        _assert_totals_equal(costs.totals(idx), want)
        _assert_totals_equal({m: batch[m][r] for m in METRICS}, want)


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("hw", HWS)
def test_dense_and_corner_plans(config, hw):
    net, sp, costs = _space_and_costs(config, hw)
    # index 0 everywhere is the dense network: both dense totals agree with it
    dense = _slow_totals(net, None, hw)
    _assert_totals_equal(costs.totals([0] * len(sp.searched)), dense)
    _assert_totals_equal(costs.dense, dense)
    orig = count_network(net).original
    assert (costs.dense["mults"], costs.dense["adds"], costs.dense["params"]) == \
        (orig.mults, orig.adds, orig.params)
    last = [size - 1 for size in sp.sizes]                   # the most aggressive choice everywhere
    _assert_totals_equal(costs.totals(last), _slow_totals(net, sp.plan(last), hw))
    if config == "restricted":
        assert len(sp.searched) < len(sp.layers) and len(set(sp.sizes)) > 1


# -- minimum: brute force over every plan of a small space --------------------------

def _tiny_net() -> Network:
    return Network("tiny", (4, 6, 6), (
        Layer.conv2d("a", 4, 8, 3, (6, 6), padding=1),
        Layer.conv2d("dw", 8, 8, 3, (6, 6), padding=1, groups=8),
        Layer.conv2d("pw", 8, 8, 1, (6, 6)),
        Layer.conv2d("b", 8, 6, 3, (6, 6), stride=2, padding=1),
        Layer.linear("fc", 6, 5),
    ), extra_params=40)


TINY_CONFIG = {"c_fractions": [1, 0.5, 0.25], "designs": False, "exclude": ["fc"],
               "layers": {"b": {"designs": True, "max_designs": 2}}}


@pytest.mark.parametrize("hw", HWS)
def test_minimum_equals_brute_force_over_every_plan(hw):
    net = _tiny_net()
    sp = build_space(net, space_config_from_dict(TINY_CONFIG))
    costs = build_costs(sp, hw)
    assert len(set(sp.sizes)) > 1                            # tables are NaN-padded
    all_idx = list(itertools.product(*(range(s) for s in sp.sizes)))
    assert 50 < len(all_idx) <= 2000
    slow = [_slow_totals(net, sp.plan(idx), hw) for idx in all_idx]
    batch = costs.totals_batch(np.array(all_idx))
    for m in METRICS:
        want = min(t[m] for t in slow)
        assert costs.minimum(m) == pytest.approx(want, rel=1e-12, abs=0), m
        np.testing.assert_allclose(batch[m], [t[m] for t in slow], rtol=1e-12, atol=0)
