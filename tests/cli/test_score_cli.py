"""`structconv score`: every registered proxy per plan, default first, on a zoo model (with and without
weights), a Python reference, an ONNX file and the accuracy benchmark's network; one-line bad plans."""
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from structconv.core import Plan, Structure, resolve_network
from structconv.nn import build_module, is_split
from structconv.search import list_proxies
from tests.support.cli import cli_json, run

ROOT = Path(__file__).resolve().parents[2]
MODEL = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.body = nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(self.body(torch.relu(self.stem(x))).mean((2, 3)))

    def build():
        torch.manual_seed(0)
        return Net()
''')


def _plans(tmp_path, layers, model):
    paths = []
    for i, (c, n) in enumerate([(8, (3, 3)), (2, (1, 1))]):
        p = tmp_path / f"p{i}.yaml"
        Plan({name: Structure(c, n) for name in layers}, name=f"plan{i}", model=model).save(p)
        paths.append(str(p))
    return paths


def _check(d, plans, weighted: bool):
    assert [r["plan"] for r in d["plans"]] == ["plan0", "plan1"] and len(plans) == 2
    reg = list_proxies()
    for r in d["plans"]:
        assert list(r["proxies"])[0] == d["default_proxy"]
        assert all(reg[n].needs_weights <= weighted for n in r["proxies"])
    return {n: [r["proxies"][n] for r in d["plans"]] for n in d["plans"][0]["proxies"]}


def test_zoo_model_with_and_without_weights(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STRUCTCONV_CACHE", str(tmp_path / "cache"))
    net = resolve_network("resnet20", input_size=(8, 8))
    plans = _plans(tmp_path, ["layer1.0.conv1", "layer1.0.conv2"], "resnet20")
    free = _check(cli_json(capsys, "score", "resnet20", "--plans", *plans, "--json"), plans, False)
    assert free["params"][0] > free["params"][1] and "residual" not in free
    torch.manual_seed(0)
    w = tmp_path / "w.pt"
    torch.save({"state_dict": build_module(net).state_dict(), "meta": {"input_shape": [3, 8, 8]}}, w)
    d = cli_json(capsys, "score", "resnet20", "--weights", str(w), "--plans", *plans, "--json")
    full = _check(d, plans, True)
    assert d["default_proxy"] == "residual"
    assert {"fisher", "sensitivity_loss", "sensitivity_acc", "projected_loss"} <= set(full)
    assert full["residual"][0] < full["residual"][1]                     # c=8 on 16 channels keeps more


def test_python_reference_and_onnx_file(capsys, tmp_path):
    ref = tmp_path / "m.py"
    ref.write_text(MODEL)
    plans = _plans(tmp_path, ["body"], "m")
    d = cli_json(capsys, "score", f"{ref}:build", "--input-shape", "1,3,8,8", "--plans", *plans, "--json")
    assert {"snip", "synflow"} <= set(_check(d, plans, False))            # the torch model was found
    from structconv.nn import load_module_ref

    onnx = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(load_module_ref(f"{ref}:build").eval(), (torch.randn(1, 3, 8, 8),), dynamo=True,
                          optimize=False, verbose=False).save(str(onnx))
    d = cli_json(capsys, "score", str(onnx), "--plans", *plans, "--json")
    onnx_names = set(_check(d, plans, False))
    assert {"params", "mults"} <= onnx_names and "residual" not in onnx_names


def test_the_accuracy_benchmarks_network_is_a_model_reference(capsys, tmp_path):
    ref = f"{ROOT / 'benchmarks' / 'accuracy' / 'reference.py'}:build"
    plans = _plans(tmp_path, ["layer1.0.conv1"], "resnet20")      # the benchmark's plans name its network
    d = cli_json(capsys, "score", ref, "--input-shape", "1,3,14,14", "--plans", *plans, "--force", "--json")
    assert _check(d, plans, False)["params"][0] > 0


@pytest.mark.parametrize("text, pattern", [
    ("layers: {nope: {c: 2, n: [1, 1]}}", "nope"),
    ("layers: {layer1.0.conv1: {c: 0, n: [1, 1]}}", "c = 0"),
    (": : :", "plan"),
])
def test_bad_plans_are_one_line_exit_2(capsys, tmp_path, text, pattern):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    rc, _, err = run(capsys, "score", "resnet20", "--plans", str(bad))
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("structconv: error:") and pattern in err, err


class _Poisoned(torch.utils.data.Dataset):
    """A test split that fails the run if anything reads it."""

    def __len__(self):
        return 100

    def __getitem__(self, i):
        raise AssertionError("the test split was read")


@pytest.fixture
def poisoned_test_split(monkeypatch, tmp_path):
    """Every dataset the search and score commands load has a test split that raises when read; the
    proxies' calibration data is recorded."""
    import dataclasses

    import structconv.search.api as api
    import structconv.search.proxies.suite as suite

    real_load, real_batch, read = api.load_calibration, suite.calibration_batch, []
    monkeypatch.setattr(api, "load_calibration",
                        lambda *a, **k: dataclasses.replace(real_load(*a, **k), val=_Poisoned()))
    monkeypatch.setattr(suite, "calibration_batch", lambda net, data, *a: read.append(data) or
                        real_batch(net, data, *a))
    monkeypatch.setenv("STRUCTCONV_CACHE", str(tmp_path / "cache"))
    return read


def test_search_and_score_calibrate_on_validation_never_on_test(capsys, tmp_path, poisoned_test_split):
    net = resolve_network("resnet20", input_size=(8, 8))
    torch.manual_seed(0)
    w = tmp_path / "w.pt"
    torch.save({"state_dict": build_module(net).state_dict(), "meta": {"input_shape": [3, 8, 8]}}, w)
    plans = _plans(tmp_path, ["layer1.0.conv1", "layer1.0.conv2"], "resnet20")
    d = cli_json(capsys, "score", "resnet20", "--weights", str(w), "--data", "digits", "--calib-size", "32",
                 "--plans", *plans, "--json")
    assert {"fisher", "sensitivity_loss", "snip"} <= set(d["plans"][0]["proxies"])
    d = cli_json(capsys, "search", "resnet20", "--weights", str(w), "--data", "digits", "--proxies",
                 "fisher,snip", "--trials", "4", "--population", "4", "--no-progress",
                 "--json", "--out", str(tmp_path / "s"))
    assert d["front"]
    read = poisoned_test_split
    assert len(read) == 2 and all(is_split(b) and b.test is None for b in read)   # validation, no test
