"""`structconv demo` end to end with tiny settings: every stage runs, the decomposition is
verified, and the report's summary equals `structconv cost/simulate --json` for the same inputs."""
from __future__ import annotations

import json
import re
import sys

import pytest

from structconv.analysis import run_demo
from structconv.cli import main
from tests.support.cli import cli_json

TINY = dict(trials=30, epochs=1, pretrain_epochs=0, train_samples=128, batch_size=32, quiet_train=True)


def summary_of(path) -> dict:
    html = path.read_text()
    m = re.search(r'<script type="application/json" id="structconv-summary">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))["summary"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines = []
    res = run_demo(out, log=lines.append, **TINY)
    return res, lines


def test_every_stage_runs(demo):
    res, lines = demo
    assert [s.status for s in res.stages] == ["ok"] * 7, [(s.name, s.status) for s in res.stages]
    assert res.ok and res.report.is_file()
    # progress all along: a start and an end line per stage
    for i in range(1, 8):
        assert any(l.startswith(f"[{i}/7]") and l.endswith("...") for l in lines)
        assert any(l.startswith(f"[{i}/7]") and ": ok (" in l for l in lines)
    verify = next(s for s in res.stages if s.name.startswith("decompose"))
    assert verify.detail["params_decomposed"] == verify.detail["params_counted"]
    assert verify.detail["max_rel_logit_diff"] < 1e-3 and verify.detail["decomposed"] > 0
    assert (res.out / "run" / "decomposed.pt").is_file()
    saved = json.loads((res.out / "demo.json").read_text())
    assert [s["status"] for s in saved["stages"]] == ["ok"] * 7


def test_report_summary_equals_cost_and_simulate_json(demo, capsys):
    res, _ = demo
    s = summary_of(res.report)
    plan = str(res.plan_file)
    cost = cli_json(capsys, "cost", res.model, "--plan", plan, "--json")
    dense = cli_json(capsys, "simulate", res.model, "--json")
    planned = cli_json(capsys, "simulate", res.model, "--plan", plan, "--json")
    assert s["model"] == cost["model"] == res.model and s["plan"] == cost["plan"]
    assert s["orig_mults"] == cost["original"]["mults"] and s["mults"] == cost["structured"]["mults"]
    assert s["orig_adds"] == cost["original"]["adds"] and s["adds"] == cost["structured"]["adds"]
    assert s["orig_params"] == cost["original"]["params"] and s["params"] == cost["structured"]["params"]
    assert s["orig_cycles_total"] == dense["totals"]["cycles_total"]
    assert s["cycles_total"] == planned["totals"]["cycles_total"]
    assert s["orig_energy_pj"] == pytest.approx(dense["totals"]["energy_pj"]["total"], rel=1e-12)
    assert s["energy_pj"] == pytest.approx(planned["totals"]["energy_pj"]["total"], rel=1e-12)
    assert s["speedup"] == pytest.approx(dense["totals"]["cycles_total"] / planned["totals"]["cycles_total"])
    assert s["params_saving"] == pytest.approx(1 - cost["structured"]["params"] / cost["original"]["params"])
    run = json.loads((res.out / "run" / "summary.json").read_text())
    assert s["accuracy_change"] == pytest.approx(run["acc_after"] - run["acc_before"])
    # the report shows the search, its baselines and the training run
    html = res.report.read_text()
    for fig in ("pareto", "history", "training_curves", "accuracy"):
        assert f'id="fig-{fig}"' in html
    assert "greedy" in html and "Baselines on the same search problem" in html


def test_a_missing_subpackage_is_skipped_not_fatal(tmp_path, monkeypatch):
    """With structconv.search unimportable the demo falls back to a preset and still reports."""
    monkeypatch.setitem(sys.modules, "structconv.search", None)
    lines = []
    res = run_demo(tmp_path, log=lines.append, **dict(TINY, train_samples=64))
    status = {s.name.split(" ")[0]: s.status for s in res.stages}
    assert status["search"].startswith("skipped: ") and "uniform-n2" in status["search"]
    assert status["report"] == "ok" and res.ok
    assert res.plan.name == "uniform-n2"
    assert summary_of(res.report)["plan"] == "uniform-n2"


def test_cli_rejects_bad_settings(capsys):
    assert main(["demo", "--trials", "0"]) == 2
    assert "trials = 0" in capsys.readouterr().err
