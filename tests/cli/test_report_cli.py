"""`structconv report`: one self-contained file, summary numbers equal to cost/simulate --json,
and "not available: ..." (never a traceback) for missing or inconsistent inputs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from structconv.cli import main
from structconv.core import get_network, get_preset
from tests.support import ROOT
from tests.support.cli import cli_json

FIGURES = ("layer_cycles", "energy", "layer_energy", "roofline", "pareto", "history", "training_curves",
           "accuracy")


def summary_of(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="structconv-summary">(.*?)</script>', html, re.S)
    assert m, "the report embeds its summary as JSON"
    return json.loads(m.group(1).replace("<\\/", "</"))


def external_resources(html: str) -> list[str]:
    """URLs the document would fetch: src/href/url()/@import pointing off the file."""
    pats = [r'<script[^>]*\ssrc\s*=\s*["\']?([^"\'\s>]+)', r'<link[^>]*\shref\s*=\s*["\']?([^"\'\s>]+)',
            r'<img[^>]*\ssrc\s*=\s*["\']?([^"\'\s>]+)', r'<iframe[^>]*\ssrc\s*=\s*["\']?([^"\'\s>]+)',
            r'@import\s+(?:url\()?["\']?([^"\'\s)]+)', r'url\(\s*["\']?((?:https?:)?//[^"\')\s]+)']
    return [u for p in pats for u in re.findall(p, html, re.I)]


def without_plotlyjs(html: str) -> str:
    i = html.index('<script type="text/javascript" id="plotlyjs">')
    return html[:i] + html[html.index("</script>", i):]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    from structconv.search import search

    out = tmp_path_factory.mktemp("search")
    search("resnet20", "edge-int8", max_cycles_ratio=0.8, trials=24, out=out,
           proxies=["params", "mults", "kept_dof", "field_ratio"], seed=0)
    assert (out / "front.yaml").is_file()
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "lam0.1"
    d.mkdir()
    plan = get_preset("uniform-n2", get_network("resnet20"))
    recs = [{"epoch": e, "phase": 2, "lam": 0.1, "lr": 0.1, "loss": 1.0 / (e + 1), "task_loss": 0.8 / (e + 1),
             "sr_loss": 2.0 / (e + 1), "train_acc": 60.0 + 10 * e, "val_acc": 55.0 + 10 * e}
            for e in range(3)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (d / "summary.json").write_text(json.dumps({"model": "resnet20", "config": {"lam": 0.1},
                                                "plan": plan.to_dict(), "epochs_trained": 3,
                                                "acc_before": 91.5, "acc_after": 91.25}))
    return d


def test_full_report(tmp_path, capsys, search_dir, run_dir):
    out = tmp_path / "r" / "report.html"
    rc = main(["report", "resnet20", "--preset", "uniform-n2", "--search-dir", str(search_dir), "--run",
               str(run_dir), "-o", str(out), "-q", "--export-dir", str(tmp_path / "tables")])
    assert rc == 0
    html = out.read_text()
    # plotly.js embedded exactly once, every figure present
    assert html.count('id="plotlyjs"') == 1 and html.count("Plotly.newPlot") == len(FIGURES)
    for f in FIGURES:
        assert f'id="fig-{f}"' in html
    assert "not available" not in without_plotlyjs(html) and 'class="missing"' not in html
    s = summary_of(html)["summary"]
    cost = cli_json(capsys, "cost", "resnet20", "--preset", "uniform-n2", "--json")
    sim_d = cli_json(capsys, "simulate", "resnet20", "--json")
    sim_p = cli_json(capsys, "simulate", "resnet20", "--preset", "uniform-n2", "--json")
    assert (s["orig_mults"], s["mults"]) == (cost["original"]["mults"], cost["structured"]["mults"])
    assert (s["orig_params"], s["params"]) == (cost["original"]["params"], cost["structured"]["params"])
    assert s["sumpool_adds"] == cost["structured"]["sumpool_adds"]
    assert (s["orig_cycles_total"], s["cycles_total"]) == (sim_d["totals"]["cycles_total"],
                                                         sim_p["totals"]["cycles_total"])
    assert s["energy_pj"] == pytest.approx(sim_p["totals"]["energy_pj"]["total"], rel=1e-12)
    assert s["speedup"] == pytest.approx(sim_d["totals"]["cycles_total"] / sim_p["totals"]["cycles_total"])
    assert s["accuracy_change"] == pytest.approx(-0.25)
    # the visible cards show the same numbers
    assert f"{s['speedup']:.3f}x" in html and "-0.25 pp" in html
    # the paper section
    assert "Table 1" in html and "Struct-PSP-A" in html and "struct-effnet" in html
    # offline: nothing to fetch, and no URL at all outside the embedded library
    assert external_resources(html) == []
    assert "http://" not in without_plotlyjs(html) and "https://" not in without_plotlyjs(html)
    # atomic write: no temp file beside it; tables exported
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    assert {p.name for p in (tmp_path / "tables").iterdir()} >= {"layers.csv", "plans.csv", "roofline.csv",
                                                                 "trials.csv"}


def test_plan_comes_from_the_run_when_none_is_given(tmp_path, run_dir):
    from structconv.analysis import build_report

    rep = build_report("resnet20", runs=[run_dir], paper=False)
    assert rep.summary["plan"] == "uniform-n2" and rep.summary["plan_source"].startswith("training run")


def test_plan_comes_from_the_search_when_none_is_given(search_dir):
    from structconv.analysis import build_report
    from structconv.core import Plan

    rep = build_report("resnet20", search_dir=search_dir, paper=False)
    best = Plan.load(search_dir / "best.yaml")
    assert rep.summary["layers_changed"] == len(best) and "search" in rep.summary["plan_source"]


def _empty_study(path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.create_study(study_name="empty", storage=JournalStorage(JournalFileBackend(str(path))),
                        directions=["minimize", "minimize"])


def test_missing_and_inconsistent_inputs(tmp_path, capsys, search_dir):
    nometrics = tmp_path / "run-without-metrics"
    nometrics.mkdir()
    (nometrics / "notes.txt").write_text("nothing here")
    _empty_study(tmp_path / "empty.journal")
    import shutil

    front_only = tmp_path / "front-only"                 # a search dir whose study file is gone
    shutil.copytree(search_dir, front_only, ignore=shutil.ignore_patterns("study.journal*"))
    cases = [
        (["--search-dir", str(front_only)], "is for 'resnet20', not 'resnet18'"),
        (["--search-dir", str(search_dir)], "searched 'resnet20', not 'resnet18'"),          # another model
        (["--study", f"{search_dir}/study.journal"], "searched 'resnet20', not 'resnet18'"),
        (["--study", str(tmp_path / "empty.journal")], "has no completed trial"),
        (["--study", str(tmp_path / "nothing.journal/x")], "no storage file"),
        (["--search-dir", str(tmp_path / "nosuchdir")], "does not exist"),
        (["--run", str(nometrics)], "holds no training run"),
        (["--run", str(tmp_path / "nosuchrun")], "does not exist"),
    ]
    for i, (extra, msg) in enumerate(cases):
        out = tmp_path / f"r{i}.html"
        capsys.readouterr()
        rc = main(["report", "resnet18", "--preset", "uniform-n2", "--no-paper", "-q", "-o", str(out),
                   *extra])
        err = capsys.readouterr().err
        assert rc == 0, extra
        assert "Traceback" not in err
        assert msg in err, (extra, err)
        html = out.read_text()
        assert "not available: " in html and msg.split("'")[0] in html
        assert summary_of(html)["summary"]["model"] == "resnet18"       # the rest of the report is there
        assert 'id="fig-layer_cycles"' in html


def test_run_dir_with_metrics_but_no_summary(tmp_path, capsys):
    d = tmp_path / "unfinished"
    d.mkdir()
    (d / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "loss": 1.0, "task_loss": 1.0, "sr_loss": 0.1,
                                                 "train_acc": 50.0, "val_acc": 40.0}) + "\n")
    capsys.readouterr()
    assert main(["report", "resnet20", "--no-paper", "-q", "-o", str(tmp_path / "r.html"), "--run",
                 str(d)]) == 0
    err = capsys.readouterr().err
    assert "no finished run" in err
    html = (tmp_path / "r.html").read_text()
    assert 'id="fig-training_curves"' in html and 'id="fig-accuracy"' not in html
    assert summary_of(html)["summary"].get("accuracy_change") is None


def test_markdown_report(tmp_path, capsys, run_dir):
    out = tmp_path / "report.md"
    assert main(["report", "resnet20", "--preset", "uniform-n2", "--run", str(run_dir), "--no-paper", "-q",
                 "-o", str(out), "--format", "md"]) == 0
    md = out.read_text()
    assert md.startswith("# structconv report: resnet20")
    assert "| speedup |" in md and "**Totals: original vs plan**" in md
    pngs = sorted((tmp_path / "report_files").glob("*.png")) if (tmp_path / "report_files").exists() else []
    if pngs:
        assert {p.stem for p in pngs} == {"layer_cycles", "energy", "layer_energy", "roofline",
                                          "training_curves",
                                         "accuracy"}
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
        assert "![roofline](report_files/roofline.png)" in md
    else:
        assert "figures are not included: no static image exporter works here" in md


def test_bad_input_is_one_line_exit_2(tmp_path):
    for argv, msg in ((["report", "nonet"], "is not a zoo network"),
                      (["report", "resnet20", "--hw", "nohw"], "hw = 'nohw'"),
                      (["report", "resnet20", "--preset", "struct-mv2-a"], "struct-mv2-a")):
        p = subprocess.run([sys.executable, "-m", "structconv", *argv, "-o", str(tmp_path / "x.html")],
                           capture_output=True, text=True)
        assert p.returncode == 2, (argv, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and msg in p.stderr, p.stderr
        assert not (tmp_path / "x.html").exists()


KILL_MID_WRITE = """
import os, pathlib, signal, sys
from structconv.cli import main

real = pathlib.Path.write_text
def half_then_sigkill(self, text, *a, **k):       # the report's atomic write: half the bytes, then SIGKILL
    real(self, text[: len(text) // 2], *a, **k)
    os.kill(os.getpid(), signal.SIGKILL)
pathlib.Path.write_text = half_then_sigkill
main(sys.argv[1:])
"""


def test_killed_report_leaves_no_temp_file_after_the_next_run(tmp_path, capsys):
    """SIGKILL mid-write leaves only a hidden temp file (never a truncated report), and the next
    report beside it removes it; a live writer's temp file is left alone."""
    out = tmp_path / "report.html"
    argv = ["report", "resnet20", "--no-paper", "-q", "-o", str(out)]
    p = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, *argv], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == -9, p.stderr
    stale = list(tmp_path.glob(".report.html.*.tmp"))
    assert stale and not out.exists()
    live = tmp_path / f".report.html.{os.getpid()}.live.tmp"           # this process is alive
    live.write_text("another report being written")
    assert main(argv) == 0
    capsys.readouterr()
    assert out.read_text().rstrip().endswith("</html>")
    assert not any(p.exists() for p in stale)
    assert live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, live.name])


def test_killed_markdown_report_figure_folder_is_removed(tmp_path, capsys):
    """The Markdown report's temporary figure folder of a dead writer goes too."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f".r_files.{dead.pid}.abc123"
    orphan.mkdir()
    (orphan / "fig.png").write_bytes(b"half")
    assert main(["report", "resnet20", "--no-paper", "-q", "-o", str(tmp_path / "r.md")]) == 0
    capsys.readouterr()
    assert not orphan.exists() and (tmp_path / "r.md").is_file()


def test_report_reads_an_exact_mode_search_as_the_whole_search(tmp_path, capsys):
    """An exact front has no study file (nothing was sampled): the report shows the front, no missing note."""
    from structconv.cli import main

    assert main(["search", "resnet20", "--mode", "exact", "--objectives", "proxy,cycles_total",
                 "--out", str(tmp_path / "s"), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front["mode"] == "exact" and not list((tmp_path / "s").glob("*.journal"))
    assert main(["report", "resnet20", "--search-dir", str(tmp_path / "s"), "-o",
                 str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "Exact Pareto front (multiple-choice knapsack DP" in html
    assert "no study storage file" not in html


def test_report_shows_the_accuracy_ground_truth(tmp_path):
    """The committed benchmark results become one table of proxies and one figure of accuracy vs cycles."""

    from structconv.analysis import build_report, write_report

    gt = ROOT / "benchmarks" / "results" / "accuracy_cpu.json"
    rep = build_report("resnet20", ground_truth=gt, paper=False)
    sec = next(s for s in rep.sections if s.id == "ground_truth")
    data = json.loads(gt.read_text())
    proxies = sec.tables[0].frame
    assert len(proxies) == len(data["analysis"]["held-out"]["corr"])
    taus = proxies["kendall_tau"].dropna()
    # field_ratio is constant
    assert taus.is_monotonic_decreasing and proxies["kendall_tau"].isna().sum() <= 1
    fig = dict(sec.figures)["accuracy_vs_cycles"]
    assert sum(len(t.x) for t in fig.data) == len(data["rows"])          # every plan plotted once
    write_report(rep, tmp_path / "r.html")
    assert "Accuracy ground truth" in (tmp_path / "r.html").read_text()
    with pytest.raises(ValueError, match=r"accuracy results file .* has no 'rows'"):
        (tmp_path / "bad.json").write_text("{}")
        build_report("resnet20", ground_truth=tmp_path / "bad.json", paper=False)
