"""Plotly figures: built from the analysis DataFrames, with the traces and data they promise."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly  # noqa: F401  (a declared dependency: a broken install must fail, not skip)
import pytest

from structconv.analysis import figures as F
from structconv.analysis import study as S
from structconv.analysis import tables as T
from structconv.core import count_network, get_network, get_preset
from structconv.sim import load_accelerator, simulate


@pytest.fixture(scope="module")
def layers():
    net = get_network("resnet20")
    plan = get_preset("uniform-n2", net)
    return T.layer_frame(count_network(net, plan), simulate(net), simulate(net, plan))


def _y(trace):
    return np.asarray(trace.y, dtype=float)


def test_layer_cycles_stacks_to_the_totals(layers):
    fig = F.fig_layer_cycles(T.cycles_long_frame(layers))
    assert [t.name for t in fig.data] == ["MAC array", "sum-pool unit", "stall"]
    n = len(layers)
    total = sum(_y(t) for t in fig.data)
    assert np.array_equal(total[:n], layers["orig_cycles_total"].to_numpy())
    assert np.array_equal(total[n:], layers["cycles_total"].to_numpy())
    assert fig.layout.barmode == "stack"
    assert list(fig.data[0].x[1][:1]) == ["orig"] and fig.data[0].x[1][-1] == "struct"


def test_energy_figures(layers):
    net = get_network("resnet20")
    so, sp = simulate(net), simulate(net, get_preset("uniform-n2", net))
    fig = F.fig_energy(T.energy_frame({"original": so, "plan": sp}))
    assert [t.name for t in fig.data] == ["mac", "add", "sram", "dram", "leakage"]
    assert sum(_y(t)[1] for t in fig.data) == pytest.approx(sp.energy_pj.total / 1e6)
    fl = F.fig_layer_energy(layers)
    assert sum(len(t.x) for t in fl.data) == 6 * len(layers)


def test_roofline(layers):
    hw = load_accelerator()
    fig = F.fig_roofline(T.roofline_frame(layers, hw))
    roof, orig, struct = fig.data
    assert max(_y(roof)) == pytest.approx(hw.num_pes * hw.clock_hz)
    assert len(orig.x) == len(struct.x) == len(layers)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert len(F.fig_roofline(pd.DataFrame()).data) == 0


def test_pareto_and_history(tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.create_study(directions=["minimize", "minimize", "minimize"],
                             sampler=optuna.samplers.RandomSampler(seed=1))
    st.set_user_attr("structconv_config", {"objectives": ["proxy", "cycles_total", "energy_pj"]})
    st.enqueue_trial({"a": 3}, user_attrs={"seed": "preset:uniform-n2"})

    def obj(t):
        a = t.suggest_int("a", 0, 20)
        t.set_constraint("cycles_total", a / 20 - 0.8)
        return a, 30 - a, (a - 10) ** 2
    st.optimize(obj, n_trials=25)
    tr = S.trials_frame(st)
    front = S.front_frame(tr)
    fig = F.fig_pareto(tr, front, highlight={3: "chosen"}, budgets={"cycles_total": (24.0, "budget")})
    names = {t.name for t in fig.data}
    assert {"feasible trial", "Pareto front (all objectives)", "preset:uniform-n2", "chosen plan"} <= names
    assert fig.layout.xaxis.title.text == "cycles_total" and fig.layout.xaxis2.title.text == "energy_pj"
    shown = [t for t in fig.data if t.name.startswith("Pareto") and t.xaxis == "x"][0]
    assert sorted(np.asarray(shown.x, float)) == sorted(front["cycles_total"].astype(float))
    h = F.fig_history(S.history_frame(tr))
    assert len(h.data) == 6


def test_training_and_accuracy_figures():
    curves = pd.DataFrame({"run": ["a"] * 4 + ["b"] * 4, "epoch": [0, 1, 2, 3] * 2, "phase": [1, 2, 2, 2] * 2,
                           "task_loss": np.linspace(1, 0.1, 8), "sr_loss": np.linspace(5, 0.5, 8),
                           "train_acc": np.linspace(50, 99, 8), "val_acc": np.linspace(40, 95, 8)})
    fig = F.fig_training_curves(curves)
    assert len(fig.data) == 8 and fig.layout.yaxis.type == "log"
    acc = pd.DataFrame({"run": ["x", "y"], "lam": [0.1, 1.0], "acc_before": [90.0, 88.0],
                        "acc_after": [85.0, 87.9]})
    fa = F.fig_accuracy(acc)
    assert list(fa.data[0].x) == ["lambda=0.1", "lambda=1"]
    assert list(_y(fa.data[1])) == [85.0, 87.9]


def test_figures_serialise_compactly(layers):
    """Numeric arrays travel as typed arrays: a 20-layer cycles figure is a few KB."""
    fig = F.fig_layer_cycles(T.cycles_long_frame(layers))
    js = fig.to_json()
    assert len(js) < 30_000
    json.loads(js)
