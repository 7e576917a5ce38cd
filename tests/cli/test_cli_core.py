"""The foundation CLI: `zoo`, `cost`, `paper` — contract and one-line errors."""
import json
import subprocess
import sys

import pytest

from structconv.core import count_network, get_network, get_preset, list_networks, preset_kind
from tests.support.cli import run
from tests.support.scalesim_inputs import TOPO_HEADER


def test_cost_json_contract(capsys):
    rc, out, err = run(capsys, "cost", "resnet18", "--preset", "uniform-n2", "--json")
    assert rc == 0 and err == ""
    d = json.loads(out)
    assert set(d) == {"model", "plan", "original", "structured", "layers"}
    assert set(d["original"]) == {"mults", "adds", "params"}
    assert set(d["structured"]) == {"mults", "adds", "sumpool_adds", "params"}
    assert set(d["layers"][0]) == {"name", "choice", "mults", "adds", "sumpool_adds", "params",
                                   "orig_mults", "orig_adds", "orig_params"}
    assert all(isinstance(v, int) for r in d["layers"] for k, v in r.items() if k not in ("name", "choice"))
    # the same numbers the library gives, and the DESIGN.md peer totals for the dense network
    net = get_network("resnet18")
    cost = count_network(net, get_preset("uniform-n2", net))
    assert d["structured"]["mults"] == cost.structured.mults
    assert d["original"] == {"mults": 1_814_073_344, "adds": cost.original.adds, "params": 11_689_512}
    assert sum(r["mults"] for r in d["layers"]) == d["structured"]["mults"]
    assert d["layers"][0]["choice"] == "dense"          # uniform-n2 keeps the first layer dense


def test_cost_table_and_plan_file(capsys, tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("name: mine\nlayers:\n  layer1.0.conv1: {c: 32, n: 2}\n")
    rc, out, _ = run(capsys, "cost", "resnet18", "--plan", str(plan))
    assert rc == 0 and "layer1.0.conv1" in out and "c=32,n=2" in out and "mults" in out


@pytest.mark.parametrize("argv, needle", [
    (["cost", "nosuchnet"], "model = 'nosuchnet'"),
    (["cost", "resnet18", "--preset", "nope"], "nope"),
    (["cost", "resnet18", "--plan", "/nonexistent/p.yaml"], "cannot be read"),
    (["cost"], "model"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("structconv: error:") and needle in err


@pytest.mark.parametrize("text, needle", [
    ("layers: {layer1.0.conv1: {c: 65, n: 2}}", r"c = 65 is out of range [1, 64]"),
    ("layers: {layer1.0.conv1: {c: 8, n: 4}}", r"n = 4 is out of range [1, 3]"),
    ("layers: {no.such.layer: {c: 1, n: 1}}", "no.such.layer"),
    ("layers: [", "not valid YAML"),
])
def test_bad_plan_file(capsys, tmp_path, text, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    rc, _, err = run(capsys, "cost", "resnet18", "--plan", str(f))
    assert rc == 2 and needle in err and err.count("\n") == 1


def test_console_script_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "structconv", "cost", "resnet18", "--preset", "x"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stdout == ""


def test_zoo_lists_networks_and_presets(capsys):
    rc, out, _ = run(capsys, "zoo", "--json")
    d = json.loads(out)
    assert rc == 0 and "resnet50" in d["networks"] and "uniform-n2" in d["presets"]
    assert d["preset_kinds"] == {k: preset_kind(k) for k in d["presets"]}
    assert d["preset_kinds"]["uniform-n2"] == "rule" and d["preset_kinds"]["struct-mv2-a"] == "table"
    rc, out, _ = run(capsys, "zoo")
    line = next(l for l in out.splitlines() if l.startswith("uniform-n2"))
    assert rc == 0 and "rule (from the layer list)" in line
    assert "table (one network)" in next(l for l in out.splitlines() if l.startswith("struct-mv2-a"))


@pytest.mark.parametrize("model", sorted(list_networks()))
def test_a_rule_preset_fits_every_network(capsys, model):
    """--preset uniform-n2 goes through core.resolve_plan for any network, the same plan the library makes."""
    rc, out, err = run(capsys, "cost", model, "--preset", "uniform-n2", "--json", "--totals-only")
    assert rc == 0 and err == "", err
    net = get_network(model)
    want = count_network(net, get_preset("uniform-n2", net)).to_dict()["structured"]
    assert json.loads(out)["structured"] == want


def test_simulate_takes_a_rule_preset_for_a_scalesim_topology(capsys, tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text(TOPO_HEADER + "c1, 18, 18, 3, 3, 8, 16, 1,\nc2, 16, 16, 3, 3, 16, 16, 1,\n")
    rc, out, err = run(capsys, "simulate", "--scalesim-topology", str(topo), "--preset", "uniform-n2",
                       "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["plan"] == "uniform-n2" and [l["name"] for l in d["layers"]] == ["c1", "c2"]


def test_paper_command_within_stated_differences(capsys):
    rc, out, _ = run(capsys, "paper", "--json")
    rows = json.loads(out)["rows"]
    assert rc == 0 and len(rows) == 4
    for r in rows:
        # README "Paper tables" explains each gap; params are printed to 2 digits in the paper
        assert abs(r["rel_mults"]) < 0.01 and abs(r["rel_adds"]) < 0.01, r
        assert abs(r["rel_params"]) < 0.03, r


def test_late_os_error_is_one_line_naming_the_path(capsys, monkeypatch):
    """An OSError no pre-check caught (a disk filling up mid-run) still ends as one line, exit 2."""
    import errno

    from structconv.cli import cost

    def boom(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out/front.yaml")

    monkeypatch.setattr(cost, "run", boom)
    rc, out, err = run(capsys, "cost", "resnet18")
    assert rc == 2 and err == "structconv: error: no space left on '/data/out/front.yaml'\n"


def test_error_message_is_one_escaped_line(capsys, monkeypatch):
    from structconv.cli import cost

    def boom(args):
        raise ValueError("bad \u202ename\x1b[31m\nsecond line")

    monkeypatch.setattr(cost, "run", boom)
    rc, out, err = run(capsys, "cost", "resnet18")
    assert rc == 2 and err.count("\n") == 1 and "\u202e" not in err and "\x1b" not in err
    assert "\\u202e" in err and "second line" not in err


def test_table_cells_are_escaped_and_cut():
    from structconv.cli._table import CELL_LIMIT, render

    table = render(["layer", "n"], [["evil\u202egnp.exe", 1], ["x" * 10_000, 2], ["layer1.0.conv1", 3]])
    assert "\u202e" not in table and "\\u202e" in table
    assert max(len(line) for line in table.splitlines()) < CELL_LIMIT + 20
    assert "layer1.0.conv1" in table                    # ordinary names are shown as they are


def test_stdout_full_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "structconv", "cost", "resnet18"],
                       stdout=open("/dev/full", "w"), stderr=subprocess.PIPE, text=True)
    assert p.returncode == 2 and p.stderr == "structconv: error: cannot write to standard output: " \
                                             "No space left on device\n"
