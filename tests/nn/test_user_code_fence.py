"""The fence around a model reference (issue 21, deliverable 5; structconv/nn/user_code.py).

A ``file.py:fn`` reference is code the user chose to run, so it runs, but while it is imported, built,
traced, trained or decomposed: what it prints, with ``print()``, ``os.write(1, ...)`` or C's ``printf``,
goes to stderr so ``--json`` stays one JSON document; ``sys.exit`` and a ``KeyboardInterrupt`` it raises
become one line naming the reference (exit 2); and what it does to ``sys.path`` is undone.
"""
from __future__ import annotations

import json
import sys

import pytest

from structconv.cli import main
from tests.support.bounded_run import structconv

MODEL = '''
import ctypes
import os
import sys

from torch import nn

print("NOISE import print")
os.write(1, b"NOISE import fd write\\n")
sys.path.insert(0, "/nonexistent/structconv-fence-test")
sys.path.append("junk-from-the-model")


class Noisy(nn.Sequential):
    def forward(self, x):
        print("NOISE forward print")
        os.write(1, b"NOISE forward fd write\\n")
        return super().forward(x)


class Exits(nn.Sequential):
    def forward(self, x):
        sys.exit("bye from forward")


def build():
    print("NOISE build print")
    ctypes.CDLL(None).printf(b"NOISE c printf\\n")        # stdio-buffered: flushed while fd 1 is stderr
    sys.path[:] = ["/nowhere"]
    return Noisy(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))


def digits():
    return Noisy(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                 nn.Linear(8, 10))


def exits():
    sys.exit(3)


def exits_quietly():
    sys.exit()


def interrupts():
    raise KeyboardInterrupt


def exits_in_forward():
    return Exits(nn.Conv2d(3, 8, 3))
'''
SHAPE = ["--input-shape", "1,3,8,8"]


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "noisy.py"
    p.write_text(MODEL, encoding="utf-8")
    return p


def test_json_stays_valid_in_a_real_process(model_file, tmp_path):
    """fd 1 of a real process (a pipe: C's stdio buffers it until exit) carries the JSON document only."""
    ran = structconv("cost", f"{model_file}:build", *SHAPE, "--json", cwd=tmp_path, timeout=120)
    assert ran.rc == 0, ran.err[-2000:]
    doc = json.loads(ran.out)
    assert "NOISE" not in ran.out and doc
    for noise in ("import print", "import fd write", "build print", "c printf", "forward print",
                  "forward fd write"):
        assert f"NOISE {noise}" in ran.err, noise


@pytest.mark.parametrize("command", [["cost"], ["simulate"], ["cost", "--preset", "uniform-n2"]])
def test_json_stays_valid_in_process(model_file, capfd, command):
    before = list(sys.path)
    rc = main([command[0], f"{model_file}:build", *command[1:], *SHAPE, "--json"])
    out, err = capfd.readouterr()
    assert rc == 0, err[-2000:]
    json.loads(out)
    assert "NOISE" not in out and "NOISE forward fd write" in err
    assert sys.path == before                         # the model's inserts, appends and rebinding undone


@pytest.mark.parametrize("fn, needle", [
    ("exits", r"model 'noisy\.py:exits' called sys\.exit\(3\) while it was loaded$"),
    ("exits_quietly", r"model 'noisy\.py:exits_quietly' called sys\.exit\(\) while it was loaded$"),
    ("interrupts", r"model 'noisy\.py:interrupts' raised KeyboardInterrupt while it was loaded$"),
    ("exits_in_forward", r"model 'noisy\.py:exits_in_forward' called sys\.exit\('bye from forward'\) "
                         r"while it was traced$"),
])
def test_exits_and_interrupts_are_one_line_naming_the_reference(model_file, capfd, monkeypatch, fn, needle):
    """Each is the one line of a failed command (the model's own prints aside), exit 2, nothing on stdout."""
    import re

    monkeypatch.chdir(model_file.parent)
    before = list(sys.path)
    rc = main(["cost", f"noisy.py:{fn}", *SHAPE, "--json"])
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if not line.startswith("NOISE")]
    assert rc == 2 and out == "", (rc, out)
    assert len(lines) == 1 and re.search(needle, lines[0]), err
    assert sys.path == before


def test_training_and_decomposing_a_reference_keep_json_valid(model_file, tmp_path, capfd):
    """The forward pass runs on every batch of `train` and in `decompose`'s checks: fenced there too."""
    rc = main(["train", f"{model_file}:digits", "--epochs", "1", "--batch-size", "512", "--threads", "1",
               "--input-size", "8", "--no-augment", "--quiet", "--json", "--out", str(tmp_path / "run")])
    out, err = capfd.readouterr()
    assert rc == 0, err[-2000:]
    json.loads(out)
    assert "NOISE" not in out and "NOISE forward print" in err
    rc = main(["decompose", str(tmp_path / "run" / "checkpoint.pt"), "--model", f"{model_file}:digits",
               "--preset", "uniform-n2", "--input-shape", "1,3,8,8", "--json",
               "--out", str(tmp_path / "d.pt"), "--onnx", str(tmp_path / "d.onnx")])
    out, err = capfd.readouterr()
    assert rc == 0, err[-2000:]
    json.loads(out)
    assert "NOISE" not in out and "NOISE forward print" in err
