"""Hostile files and flags on the command line (issue 21): each case runs `python -m structconv` in a
subprocess and asserts exit 2, exactly one stderr line naming the file, field or flag (no traceback),
no file added or left behind, and bounded CPU time and peak memory (the child's own rusage). The
accepted counterparts (--force, a byte-order mark) exit 0.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from structconv.core import Plan
from tests.support.bounded_run import Bounded, structconv
from tests.support.scalesim_inputs import TOPO_HEADER

CPU_SECONDS = 30.0          # the bound; the imports (numba, torch) take 3-8 s of it
PEAK_BYTES = 1 << 30        # the bound for any input under 10 kB
WALL_TIMEOUT = 120

DEEP_YAML = "name: p\nlayers: " + "[" * 50_000 + "]" * 50_000 + "\n"
DEEP_JSON = '{"name": "p", "layers": ' + "[" * 50_000 + "]" * 50_000 + "}"
HW = ("name: mine\nmac_array: {{rows: 16, cols: 16, dataflow: os}}\n"
      "sum_pool: {{adder_lanes: {lanes}, scheme: separable, line_buffer_bytes: {lb}}}\n")
FOREIGN = Plan({"layer1.0.conv1": {"c": 32, "n": 1}}, name="p50", model="resnet50").to_dict()
TOPO = TOPO_HEADER + "conv1, 34, 34, 3, 3, 3, 16, 1,\n"
CFG_BOM = ("\ufeff[architecture_presets]\nArrayHeight = 32\nArrayWidth = 32\nIfmapSramSzkB = 64\n"
           "FilterSramSzkB = 64\nOfmapSramSzkB = 64\nDataflow = ws\n")


def _yaml(d) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False)


@dataclass(frozen=True)
class C:
    id: str
    argv: list
    needle: str                                 # regex the one stderr line must match
    files: dict = field(default_factory=dict)   # name -> text, written to {in}
    rc: int = 2


CASES = [
    C("plan-yaml-50000-deep", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"plan file '.*/p\.yaml' is not valid YAML: nesting deeper than 64 levels \(line 2\)",
      {"p.yaml": DEEP_YAML}),
    C("plan-json-50000-deep", ["cost", "resnet18", "--plan", "{in}/p.json"],
      r"plan file '.*/p\.json' is not valid JSON: nesting deeper than 64 levels", {"p.json": DEEP_JSON}),
    C("hw-yaml-50000-deep", ["simulate", "resnet18", "--hw", "{in}/hw.yaml"],
      r"'.*/hw\.yaml' is not valid YAML: nesting deeper than 64 levels", {"hw.yaml": DEEP_YAML}),
    C("hw-json-50000-deep", ["simulate", "resnet18", "--hw", "{in}/hw.json"],
      r"'.*/hw\.json' is not valid JSON: nesting deeper than 64 levels", {"hw.json": DEEP_JSON}),
    C("space-50000-deep", ["search", "resnet20", "--space", "{in}/s.yaml", "--out", "o"],
      r"'.*/s\.yaml' is not valid YAML: nesting deeper", {"s.yaml": DEEP_YAML}),
    C("plan-repeated-key", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"plan file '.*/p\.yaml' is not valid YAML: key 'layer1\.0\.conv1' appears twice in one mapping "
      r"\(lines 3 and 4\)",
      {"p.yaml": "name: p\nlayers:\n  layer1.0.conv1: {c: 32}\n  layer1.0.conv1: dense\n"}),
    C("plan-json-repeated-key", ["cost", "resnet18", "--plan", "{in}/p.json"],
      r"key 'layers' appears twice in one object \(lines 1 and 2\)",
      {"p.json": '{"layers": {"layer1.0.conv1": {"c": 32}},\n "layers": {}}'}),
    C("hw-repeated-key", ["simulate", "resnet18", "--hw", "{in}/hw.yaml"],
      r"'.*/hw\.yaml' is not valid YAML: key 'mac_array' appears twice in one mapping \(lines 2 and 4\)",
      {"hw.yaml": HW.format(lanes=16, lb=32768) + "mac_array: {rows: 8, cols: 8}\n"}),
    C("plan-for-another-model", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"plan file '.*/p\.yaml' is for model 'resnet50', not 'resnet18': pass --force",
      {"p.yaml": _yaml(FOREIGN)}),
    C("plan-for-another-model-simulate", ["simulate", "resnet18", "--plan", "{in}/p.yaml"],
      r"is for model 'resnet50', not 'resnet18'", {"p.yaml": _yaml(FOREIGN)}),
    C("plan-for-another-model-report", ["report", "resnet18", "--plan", "{in}/p.yaml", "-o", "r.html"],
      r"is for model 'resnet50', not 'resnet18'", {"p.yaml": _yaml(FOREIGN)}),
    C("plan-for-another-model-train", ["train", "small_cnn", "--plan", "{in}/p.yaml", "--out", "t"],
      r"is for model 'resnet50', not 'small_cnn': pass --force",
      {"p.yaml": _yaml(dict(FOREIGN, layers={"conv2": {"c": 8}}))}),
    C("plan-for-another-model-score", ["score", "resnet18", "--plans", "{in}/p.yaml"],
      r"plan file '.*/p\.yaml' is for model 'resnet50', not 'resnet18'", {"p.yaml": _yaml(FOREIGN)}),
    C("plan-forced-still-fits-the-layers", ["cost", "resnet18", "--plan", "{in}/p.yaml", "--force"],
      r"plan 'p50' names layer 'layer4\.2\.conv2', which network 'resnet18' does not have",
      {"p.yaml": _yaml(dict(FOREIGN, layers={"layer4.2.conv2": {"c": 8}}))}),
    C("plan-forced-still-fits-the-layers-train", ["train", "small_cnn", "--plan", "{in}/p.yaml", "--force",
                                                  "--out", "t"],
      r"plan 'p50' names layer 'layer4\.2\.conv2', which network 'small_cnn' does not have",
      {"p.yaml": _yaml(dict(FOREIGN, layers={"layer4.2.conv2": {"c": 8}}))}),
    C("rtl-lanes-2**40", ["rtl", "sumpool", "--hw", "{in}/hw.yaml", "-o", "spu.v"],
      r"sum_pool\.adder_lanes = 1099511627776 is out of range \[1, 1024\] \(in accelerator 'mine'",
      {"hw.yaml": HW.format(lanes=2**40, lb=32768)}),
    C("rtl-line-buffer-1TB", ["rtl", "sumpool", "--hw", "{in}/hw.yaml", "-o", "spu.v"],
      r"sum_pool\.line_buffer_bytes = 1099511627776 is out of range \[0, 16777216\]",
      {"hw.yaml": HW.format(lanes=16, lb=2**40)}),
    C("input-shape-superscript", ["cost", "{in}/m.py:f", "--input-shape", "1,3,²,8"],
      r"--input-shape = '1,3,²,8' must be 2 to 5 integers in \[1, 65536\], such as 1,3,224,224",
      {"m.py": "def f():\n    raise SystemExit('not run')\n"}),
    C("input-shape-underscore", ["cost", "{in}/m.py:f", "--input-shape", "1,3,1_0,8"],
      r"--input-shape = '1,3,1_0,8' must be", {"m.py": "def f():\n    raise SystemExit('not run')\n"}),
    C("input-shape-arabic-digit", ["cost", "{in}/m.py:f", "--input-shape", "\u0661,3,8,8"],
      r"--input-shape = '\u0661,3,8,8' must be", {"m.py": "def f():\n    raise SystemExit('not run')\n"}),
    # accepted: --force applies the foreign plan; a byte-order mark is dropped
    C("plan-for-another-model-forced", ["cost", "resnet18", "--plan", "{in}/p.yaml", "--force"], "",
      {"p.yaml": _yaml(FOREIGN)}, rc=0),
    C("plan-for-another-model-score-forced", ["score", "resnet18", "--plans", "{in}/p.yaml", "--force"], "",
      {"p.yaml": _yaml(FOREIGN)}, rc=0),
    C("plan-with-bom", ["cost", "resnet50", "--plan", "{in}/p.yaml"], "",
      {"p.yaml": "\ufeff" + _yaml(FOREIGN)}, rc=0),
    C("scalesim-cfg-with-bom", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config",
                                "{in}/c.cfg"], "", {"c.cfg": CFG_BOM, "t.csv": "\ufeff" + TOPO}, rc=0),
]


def run_structconv(argv, work: Path) -> Bounded:
    """``python -m structconv ARGV`` in ``work``, measured (exit code, stderr, CPU time, own peak RSS)."""
    return structconv(*argv, cwd=work, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=WALL_TIMEOUT)


def _listing(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1)
            for p in sorted(root.rglob("*"))}


def _check_refusal(ran: Bounded, needle: str) -> None:
    assert "Traceback" not in ran.err, ran.err[-2000:]
    assert ran.rc == 2, ran.err[-2000:]
    lines = ran.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("structconv: error: "), ran.err[-2000:]
    assert re.search(needle, lines[0]), lines[0]
    assert ran.cpu_s < CPU_SECONDS and ran.peak_bytes < PEAK_BYTES, ran


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_cli(case: C, tmp_path):
    inp, work, io = tmp_path / "in", tmp_path / "work", tmp_path / "io"
    for d in (inp, work, io):
        d.mkdir()
    for name, text in case.files.items():
        (inp / name).write_text(text, encoding="utf-8")
    argv = [a.replace("{in}", str(inp)) for a in case.argv]
    before = _listing(inp), _listing(work)
    ran = run_structconv(argv, work)
    if case.rc == 0:
        assert ran.rc == 0 and "Traceback" not in ran.err, ran.err[-2000:]
        return
    _check_refusal(ran, case.needle)
    assert (_listing(inp), _listing(work)) == before, "the failed command added, removed or changed files"


def test_a_huge_onnx_conv_is_searched_or_refused_at_once(tmp_path):
    """A 104-byte ONNX file declaring 2**40 output channels: `search` used to count divisors to 2**40."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [2**40, 3, 3, 3])
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x, w],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "h.onnx"))
    (tmp_path / "work").mkdir(), (tmp_path / "io").mkdir()
    argv = ["search", str(tmp_path / "h.onnx"), "--trials", "3", "--out", "o"]
    ran = run_structconv(argv, tmp_path / "work")
    _check_refusal(ran, r"layer 'w': macs = .* is out of range .* 64-bit counters")
    assert not (tmp_path / "work" / "o").exists()


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs filled but for one 4 kB block: the output directory has room when the command
    checks it, the 4.7 kB Verilog does not fit (needs root and mount; skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.ftruncate(fd, os.fstat(fd).st_size - 4096)
            os.close(fd)
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_is_one_line_and_leaves_nothing(full_disk, tmp_path):
    """The disk fills during the write: the atomic writer's line (a disk full before the command starts
    is the -o check's, tests/cli/test_hostile_env.py)."""
    (tmp_path / "io").mkdir()
    before = _listing(full_disk)
    ran = run_structconv(["rtl", "sumpool", "-o", str(full_disk / "spu.v")], full_disk)
    _check_refusal(ran, rf"^structconv: error: no space left on '{re.escape(str(full_disk))}/spu\.v'$")
    assert _listing(full_disk) == before
