"""structconv.analysis data functions: DataFrames from core/sim/search/nn results, no plotly."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from structconv.analysis import export_frame
from structconv.analysis import study as S
from structconv.analysis import tables as T
from structconv.analysis import training as TR
from structconv.core import count_network, get_network, get_preset, pareto_mask
from structconv.sim import load_accelerator, simulate


@pytest.fixture(scope="module")
def r18():
    net = get_network("resnet18")
    plan = get_preset("uniform-n2", net)
    return net, plan, count_network(net, plan), simulate(net, None), simulate(net, plan)


def test_data_modules_do_not_import_plotly():
    code = ("import sys; import structconv.analysis, structconv.analysis.tables, structconv.analysis.study, "
            "structconv.analysis.training, structconv.analysis.export; print('plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cost_frame_matches_core(r18):
    net, plan, cost, _, _ = r18
    df = T.cost_frame(cost)
    assert list(df["layer"]) == list(net.layer_names)
    assert df["mults"].sum() == cost.structured.mults
    assert df["orig_mults"].sum() == cost.original.mults
    assert df["sumpool_adds"].sum() == cost.structured.sumpool_adds
    # per-layer params exclude BatchNorm (extra_params); totals include them
    assert df["params"].sum() + net.extra_params == cost.structured.params
    assert set(df.loc[df["choice"] != "dense", "layer"]) == set(plan.choices)


def test_sim_frame_and_totals_follow_the_json_contract(r18):
    net, _, _, _, sp = r18
    df = T.sim_frame(sp)
    d = sp.to_dict()
    assert list(df["layer"]) == [l["name"] for l in d["layers"]]
    for col in T.SIM_COLUMNS:
        assert list(df[col]) == [l[col] for l in d["layers"]]
    assert np.allclose(df["energy_pj"], [l["energy_pj"]["total"] for l in d["layers"]])
    assert "energy_total_pj" not in df                       # one name for the total: energy_pj
    t = T.sim_totals(sp)
    assert t["cycles_total"] == d["totals"]["cycles_total"] == sp.cycles_total
    assert t["energy_pj"] == d["totals"]["energy_pj"]["total"]
    assert T.sim_totals(d) == t                              # the dict form works the same


def test_layer_frame_cycle_breakdown_adds_up(r18):
    _, _, cost, so, sp = r18
    df = T.layer_frame(cost, so, sp)
    for p in ("orig_", ""):
        total = df[f"{p}mac_array_cycles"] + df[f"{p}spu_exposed_cycles"] + df[f"{p}cycles_stall"]
        assert (total == df[f"{p}cycles_total"]).all()
        assert (df[f"{p}spu_exposed_cycles"] >= 0).all()
    assert (df["orig_spu_cycles"] == 0).all()               # dense layers never use the sum-pool unit
    assert (df.loc[df["sumpool_adds"] > 0, "spu_cycles"] > 0).all()
    assert np.allclose(df["speedup"], df["orig_cycles_total"] / df["cycles_total"])
    long = T.cycles_long_frame(df)
    assert len(long) == 2 * 3 * len(df)
    assert long.groupby("variant")["cycles"].sum()["structured"] == sp.cycles_total
    assert long.groupby("variant")["cycles"].sum()["original"] == so.cycles_total


def test_layer_frame_rejects_a_simulation_of_another_network(r18):
    _, _, cost, _, _ = r18
    other = simulate(get_network("resnet20"))
    with pytest.raises(ValueError, match="different layers"):
        T.layer_frame(cost, other, other)


def test_summary_numbers(r18):
    net, plan, cost, so, sp = r18
    s = T.summary(cost, so, sp, {"acc_before": 90.0, "acc_after": 89.5})
    assert s["speedup"] == so.cycles_total / sp.cycles_total
    assert s["energy_saving"] == 1 - sp.energy_pj.total / so.energy_pj.total
    assert s["params_saving"] == 1 - cost.structured.params / cost.original.params
    assert s["accuracy_change"] == pytest.approx(-0.5)
    assert s["layers_changed"] == len(plan)
    assert "accuracy_change" not in T.summary(cost, so, sp)


def test_roofline_points_lie_under_the_roof(r18):
    _, _, cost, so, sp = r18
    hw = load_accelerator()
    roof = T.roofline_frame(T.layer_frame(cost, so, sp), hw)
    peak, bw = T.roofline_limits(hw)
    assert peak == hw.mac_array.rows * hw.mac_array.cols * hw.clock_hz
    assert bw == hw.memory.dram_bytes_per_cycle * hw.clock_hz
    assert len(roof) == 2 * len(cost.layers)
    att = roof["attained_macs_per_s"].to_numpy()
    assert (att <= peak).all()
    orig = roof[roof["variant"] == "original"]
    assert np.allclose(orig["attained_macs_per_s"], so.to_frame()["macs"] / so.to_frame()["latency_s"])
    # the memory roof holds exactly: the sim carries all of a layer's DRAM traffic (the
    # sum-pool input of a fused layer included) over one link, so no layer ends before its
    # bytes could cross it -- checked in integers, and on the roofline up to float rounding
    layers = T.layer_frame(cost, so, sp)
    for p in ("orig_", ""):
        assert (layers[f"{p}cycles_total"] * hw.memory.dram_bytes_per_cycle >= layers[f"{p}dram_bytes"]).all()
    roofline = np.minimum(peak, bw * roof["intensity_macs_per_byte"].to_numpy())
    assert (att <= roofline * (1 + 1e-12)).all()
    assert set(roof["bound"]) <= {"compute", "memory"}


def test_plan_comparison_frame(r18):
    net, plan, cost, so, sp = r18
    df = T.plan_comparison_frame(net, {"uniform-n2": plan}, "edge-int8")
    assert list(df["plan"]) == ["dense", "uniform-n2"]
    assert df.loc[0, "cycles_total"] == so.cycles_total and df.loc[1, "cycles_total"] == sp.cycles_total
    assert df.loc[1, "speedup"] == so.cycles_total / sp.cycles_total
    assert df.loc[1, "params"] == cost.structured.params
    assert "cycles_total" not in T.plan_comparison_frame(net, [plan])      # no hw: counts only


def test_energy_frame(r18):
    _, _, _, so, sp = r18
    df = T.energy_frame({"original": so, "plan": sp})
    assert df.groupby("variant")["energy_pj"].sum()["plan"] == pytest.approx(sp.energy_pj.total)


def test_paper_and_preset_frames():
    p = T.paper_frame()
    assert set(p["table"]) == {"Table 1", "Table 2"}
    assert (p["rel_mults"].abs() < 0.05).all()
    pt = T.preset_totals_frame(hw="edge-int8")
    assert list(pt["plan"]) == ["struct-mv2-a", "struct-mv2-b", "struct-effnet"]
    row = pt.set_index("plan").loc["struct-mv2-a"]
    assert row["rel_mults"] == pytest.approx(row["mults"] / row["orig_mults"] - 1)
    assert row["paper_latency_ratio"] == pytest.approx(0.078 / 0.088)
    assert np.isnan(pt.set_index("plan").loc["struct-mv2-b", "paper_latency_ratio"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_roundtrip(tmp_path, r18, suffix):
    if suffix == ".parquet":
        import pyarrow  # noqa: F401
    _, _, cost, so, sp = r18
    df = T.layer_frame(cost, so, sp)
    p = export_frame(df, tmp_path / f"sub/layers{suffix}")
    back = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    assert list(back.columns) == list(df.columns)
    assert (back["cycles_total"].to_numpy() == df["cycles_total"].to_numpy()).all()
    assert [f.name for f in p.parent.iterdir()] == [p.name]           # no temp file left behind
    with pytest.raises(ValueError, match="suffix"):
        export_frame(df, tmp_path / "x.xlsx")


# -- studies ------------------------------------------------------------------------------
def _make_study(path, model="resnet20", n=12, name="s1"):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.create_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))),
                             directions=["minimize", "minimize"],
                             sampler=optuna.samplers.RandomSampler(seed=0))
    if model:
        st.set_user_attr("structconv_config", {"model": model, "objectives": ["proxy", "cycles_total"],
                                               "budgets": {"cycles_total": 0.8}})
    if n:
        st.enqueue_trial({"a": 0}, user_attrs={"seed": "preset:uniform-n2"})

    def obj(t):
        a = t.suggest_int("a", 0, 9)
        t.set_constraint("cycles_total", (10 - a) / 10 - 0.8)
        t.set_user_attr("breakdown", {"cycles_total": 100 - a, "ratios": {"cycles_total": (10 - a) / 10}})
        return a / 9, 100 - a * (a % 3 + 1)
    if n:
        st.optimize(obj, n_trials=n)
    return st


def test_parse_study_spec(tmp_path):
    f = tmp_path / "study.journal"
    f.write_text("")
    assert S.parse_study_spec(str(f)) == (str(f), None)
    assert S.parse_study_spec(f"{f}/name") == (str(f), "name")
    assert S.parse_study_spec(f"{f}#name") == (str(f), "name")
    db = tmp_path / "s.db"
    db.write_text("")
    assert S.parse_study_spec(f"sqlite:///{db}/abc") == (f"sqlite:///{db}", "abc")
    assert S.parse_study_spec(f"sqlite:///{db}") == (f"sqlite:///{db}", None)
    assert S.parse_study_spec("postgresql://u@host:5432/db/study") == ("postgresql://u@host:5432/db", "study")
    with pytest.raises(ValueError, match="no storage file"):
        S.parse_study_spec(str(tmp_path / "missing.journal/x"))


def test_trials_and_front_frames(tmp_path):
    st = _make_study(tmp_path / "study.journal")
    loaded = S.load_study(str(tmp_path / "study.journal"))          # the only study: no name needed
    assert S.study_model(loaded) == "resnet20"
    tr = S.trials_frame(loaded, params=True)
    assert tr.attrs["metrics"] == ["proxy", "cycles_total"]
    assert len(tr) == 12 and "param_a" in tr
    assert tr.loc[0, "origin"] == "preset:uniform-n2"
    assert "attr_breakdown.ratios.cycles_total" in tr
    feas = [all(c <= 0 for c in t.constraints.values()) for t in st.trials]
    assert list(tr["feasible"]) == feas
    front = S.front_frame(tr)
    ok = tr[tr["feasible"]]
    pts = ok[["proxy", "cycles_total"]].to_numpy()
    for _, r in ok.iterrows():                                        # brute-force dominance check
        p = (r["proxy"], r["cycles_total"])
        dominated = any((q <= p).all() and (q < p).any() for q in pts)
        assert (r["number"] in set(front["number"])) == (not dominated)
    hist = S.history_frame(tr)
    best = hist["best_proxy"].dropna()
    assert (np.diff(best.to_numpy()) <= 0).all()


def test_sqlite_storage(tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    st = optuna.create_study(study_name="q", storage=url)
    st.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=5)
    for spec in (f"{tmp_path / 'studies.db'}/q", f"{url}/q", url):
        loaded = S.load_study(*S.parse_study_spec(spec))
        tr = S.trials_frame(loaded)
        assert len(tr) == 5 and tr.attrs["metrics"] == ["value_0"] and tr["feasible"].all()
        assert len(S.front_frame(tr)) == 1


def test_study_errors(tmp_path):
    _make_study(tmp_path / "two.journal", name="a")
    _make_study(tmp_path / "two.journal", name="b", n=0)
    with pytest.raises(ValueError, match="holds 2 studies"):
        S.load_study(str(tmp_path / "two.journal"))
    with pytest.raises(ValueError, match="is not in storage"):
        S.load_study(str(tmp_path / "two.journal"), "zzz")
    empty = S.trials_frame(S.load_study(str(tmp_path / "two.journal"), "b"))
    assert empty.empty and S.front_frame(empty).empty
    with pytest.raises(ValueError, match="does not exist"):
        S.load_study(str(tmp_path / "none.journal"))
    bad = tmp_path / "bad.journal"
    bad.write_text("this is not a journal\n")
    with pytest.raises(ValueError):
        S.load_study(str(bad))


def test_pareto_mask_directions():
    """The study's front uses core's one Pareto filter, with the study's directions."""
    assert S.pareto_mask is pareto_mask
    vals = [(1, 5), (2, 2), (3, 3), (5, 1), (1, 5)]
    assert list(pareto_mask(vals, ["minimize", "minimize"])) == [True, True, False, True, True]
    assert list(pareto_mask(vals, ["maximize", "maximize"])) == [True, False, True, True, True]


# -- training runs -----------------------------------------------------------------------------
def _write_run(d, lam=0.1, epochs=3, summary=True, garbage=False):
    d.mkdir(parents=True)
    lines = [json.dumps({"epoch": e, "phase": 2, "lam": lam, "lr": 0.1, "loss": 2.0 / (e + 1),
                         "task_loss": 1.0 / (e + 1),
                         "sr_loss": 1.0 / (e + 1), "train_acc": 50 + 10 * e, "val_acc": 45 + 10 * e})
             for e in range(epochs)]
    if garbage:
        lines.append('{"epoch": 9, "los')                   # a run killed mid-write
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if summary:
        (d / "summary.json").write_text(json.dumps({"model": "resnet20", "config": {"lam": lam},
                                                    "plan": {"name": "p", "layers": {}},
                                                    "epochs_trained": epochs,
                                                    "acc_before": 80.0 + lam, "acc_after": 79.0 + lam}))


def test_training_frames(tmp_path):
    _write_run(tmp_path / "sweep/lam1", lam=1.0)
    _write_run(tmp_path / "sweep/lam0.1", lam=0.1, garbage=True)
    _write_run(tmp_path / "sweep/unfinished", lam=0.01, summary=False)
    runs = TR.find_runs(tmp_path / "sweep")
    assert [r.name for r in runs] == ["lam0.1", "lam1", "unfinished"]
    m = TR.read_metrics(tmp_path / "sweep/lam0.1")
    assert list(m["epoch"]) == [0, 1, 2] and m.attrs["skipped_lines"] == 1
    c = TR.curves_frame(runs)
    assert len(c) == 9 and set(c["run"]) == {"lam0.1", "lam1", "unfinished"}
    acc = TR.accuracy_frame(runs)
    assert list(acc["lam"]) == [0.1, 1.0]
    assert acc.loc[0, "gap"] == pytest.approx(1.0)
    assert acc.attrs["missing"] == [str(tmp_path / "sweep/unfinished")]


def test_training_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no metrics.jsonl"):
        TR.read_metrics(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        TR.read_metrics(tmp_path / "nope")
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank/metrics.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no epoch records"):
        TR.read_metrics(tmp_path / "blank")
    with pytest.raises(ValueError, match="no finished run"):
        TR.accuracy_frame([tmp_path / "empty"])


def test_report_tables_escape_bidi_and_cut_long_names():
    import pandas as pd

    from structconv.analysis.render import table_html, table_md

    df = pd.DataFrame({"name": ["conv\u202e1", "a" * 300]})
    out = table_html(df) + table_md(df)
    # Markdown escapes the backslash of the shown escape: both read conv\u202e1
    assert "\u202e" not in out and "conv\\u202e1" in table_html(df) and "conv\\\\u202e1" in table_md(df)
    assert "a" * 120 not in out and ("a" * 119 + "…") in out
