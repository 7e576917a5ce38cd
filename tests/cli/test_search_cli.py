"""`structconv search`: outputs, files, and one-line errors (exit 2)."""
import json

import pytest
import yaml

from tests.support.cli import run

FAST = ["--proxies", "kept_dof,params", "--no-progress", "--population", "10"]


def test_search_json_and_files(capsys, tmp_path):
    out = tmp_path / "s"
    rc, stdout, err = run(capsys, "search", "resnet20", "--max-cycles-ratio", "0.7", "--trials", "30",
                          "--out", str(out), "--json", *FAST)
    assert rc == 0, err
    d = json.loads(stdout)
    assert d["trials"]["complete"] == 30 and d["budgets"] == {"cycles_total": 0.7}
    assert d["front"] and all(m["ratios"]["cycles_total"] <= 0.7 for m in d["front"])
    assert d["proxy"] == "kept_dof" and d["proxies"]["weight_free"] is True
    front = yaml.safe_load((out / "front.yaml").read_text())
    assert len(front["front"]) == len(d["front"])
    assert all((out / m["plan_file"]).is_file() for m in front["front"])
    assert (out / "best.yaml").is_file() and (out / "study.journal").is_file()


def test_search_table_output_and_baselines(capsys, tmp_path):
    rc, stdout, err = run(capsys, "search", "resnet20", "--max-cycles-ratio", "0.7", "--trials", "20",
                          "--out", str(tmp_path), "--baselines", "--objectives", "proxy", *FAST)
    assert rc == 0, err
    assert "feasible Pareto front" in stdout and "weight-free proxies only" in stdout
    assert "greedy" in stdout and "uniform" in stdout and "random" in stdout
    assert "structconv train resnet20 --plan" in stdout


def test_search_with_weights_rescores_front(capsys, tmp_path):
    import torch

    from structconv.core.zoo import get_network
    from structconv.nn import build_module

    torch.manual_seed(0)
    m = build_module(get_network("resnet20", input_size=(8, 8)))
    w = tmp_path / "w.pt"
    torch.save({"state_dict": m.state_dict(), "meta": {"input_shape": [3, 8, 8], "num_classes": 10}}, w)
    rc, stdout, err = run(capsys, "search", "resnet20", "--max-cycles-ratio", "0.8", "--trials", "15",
                          "--weights", str(w), "--proxies", "residual,projection_loss,params", "--out",
                          str(tmp_path / "o"), "--json", "--no-progress", "--population", "10")
    assert rc == 0, err
    d = json.loads(stdout)
    assert d["proxy"] == "residual" and d["proxies"]["weight_free"] is False
    assert all("projected_loss" in m for m in d["front"])


def test_search_codesign(capsys, tmp_path):
    hs = tmp_path / "hw.yaml"
    hs.write_text("area_budget_mm2: 2.0\nmac_array: {rows: [8, 16], cols: [8, 16], dataflow: [os, ws, is]}\n"
                  "sum_pool: {lanes_per_mac: [0.0625, 0.25, 1.0]}\n")
    rc, stdout, err = run(capsys, "search", "resnet20", "--trials", "25", "--hw-space", str(hs),
                          "--objectives", "proxy,cycles_total,area", "--out", str(tmp_path / "o"), *FAST)
    assert rc == 0, err
    assert "co-design:" in stdout and "adder lanes per MAC" in stdout and "area_mm2" in stdout


@pytest.mark.parametrize("extra, pattern", [
    (["--max-cycles-ratio", "0.01"], r"max_cycles_ratio = 0.01 cannot be met"),
    (["--sampler", "cmaes"], r"sampler = 'cmaes' is not one of"),
    (["--storage", "redis://x"], r"scheme 'redis' is not one of"),
    (["--storage", "what"], r"neither a URL"),
    (["--objectives", "proxy,speed"], r"objectives \['speed'\] are unknown"),
    (["--weights", "/nonexistent.pt"], r"does not exist"),
    (["--trials", "0"], r"--trials = 0 is out of range \[1, 1000000\]"),
    (["--proxy", "snip"], r"proxy = 'snip' is not available"),
    (["--population", "1"], r"--population = 1 is out of range \[2, 100000\]"),
    (["--workers", "0"], r"--workers = 0 is out of range \[1, 256\]"),
    (["--storage", "/dev/zero"], r"study file '/dev/zero' is not a regular file"),
])
def test_search_errors_are_one_line(capsys, tmp_path, extra, pattern):
    rc, out, err = run(capsys, "search", "resnet20", "--trials", "5", "--out", str(tmp_path), *FAST, *extra)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("structconv: error:"), err
    import re
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "study.journal").exists()                   # nothing created for a bad input


def test_bad_search_input_leaves_no_output_dir(capsys, tmp_path):
    for extra in (["--population", "1"], ["--population", "1", "--storage", str(tmp_path / "s.journal")],
                  ["--storage", "/dev/null/x.journal"], ["--storage", "/dev/zero"]):
        rc, out, err = run(capsys, "search", "resnet20", "--trials", "5", "--out", str(tmp_path / "o"), *FAST,
                           *extra)
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "o").exists() and not (tmp_path / "s.journal").exists()
    (tmp_path / "file").write_text("x")
    rc, out, err = run(capsys, "search", "resnet20", "--trials", "5", "--out", str(tmp_path / "file"), *FAST)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_empty_space_and_corrupt_study(capsys, tmp_path):
    sp = tmp_path / "space.yaml"
    sp.write_text("exclude: ['*']\n")
    rc, out, err = run(capsys, "search", "resnet20", "--space", str(sp), "--trials", "5", "--out",
                       str(tmp_path / "a"), *FAST)
    assert rc == 2 and "search space of 'resnet20' is empty" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / "study.journal").write_text("garbage\n{}\n")
    rc, out, err = run(capsys, "search", "resnet20", "--trials", "5", "--out", str(bad), *FAST)
    assert rc == 2 and "is corrupt" in err and len(err.strip().splitlines()) == 1
    rc, out, err = run(capsys, "search", "nosuchnet", "--trials", "5", "--out", str(tmp_path / "c"), *FAST)
    assert rc == 2 and "is not a zoo network" in err
