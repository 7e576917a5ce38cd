"""Fault suite: SIGKILL `structconv train` and `structconv decompose` mid-write, then run again.

Every output file is complete (loads with weights_only=True / parses) or absent, never
partial; the rerun succeeds and leaves no temporary file behind. Kills are triggered by file
events (a temporary file appearing: a write in progress) and at random moments after one,
so the suite does not depend on how fast a loaded machine is.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from structconv.nn import load_checkpoint, load_decomposed
from tests.support import ROOT

TRAIN = ["train", "small_cnn", "--preset", "uniform-n2", "--epochs", "3", "--input-size", "8", "--batch-size",
         "64", "--threads", "1", "--quiet"]
SEED = int(os.environ.get("STRUCTCONV_FAULT_SEED", "0"))


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run(argv, tmp: Path, kill_when=None, timeout: float = 120.0) -> tuple[int, str, bool]:
    """(exit status, stderr, whether it was killed): SIGKILL as soon as ``kill_when()`` is true."""
    err_path = tmp / f"stderr.{time.monotonic_ns()}"
    with open(err_path, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "structconv", *argv], cwd=ROOT, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=err)
        killed = False
        deadline = time.monotonic() + timeout
        try:
            while p.poll() is None and time.monotonic() < deadline:
                if kill_when is not None and kill_when():
                    p.send_signal(signal.SIGKILL)
                    killed = True
                    break
                time.sleep(0.001)
            rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = err_path.read_text()
    err_path.unlink()
    return rc, text, killed and rc == -signal.SIGKILL


def writing(directory: Path, name: str):
    """True once a temporary file of ``name``'s atomic write exists (the write is under way)."""
    prefix = f".{name}."
    return lambda: directory.is_dir() and any(p.name.startswith(prefix) for p in directory.iterdir())


def after(first, delay: float):
    """True ``delay`` seconds after ``first()`` was first seen true."""
    seen = []

    def check():
        if not seen and first():
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= delay
    return check


def outputs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()
                  if not p.name.startswith(".")) if directory.is_dir() else []


def check_run_dir(d: Path) -> list[int]:
    """Every output of a training run complete or absent; returns the epochs in metrics.jsonl."""
    epochs = []
    if (d / "metrics.jsonl").exists():
        text = (d / "metrics.jsonl").read_text()
        assert text == "" or text.endswith("\n"), "metrics.jsonl ends in a partial line"
        epochs = [json.loads(line)["epoch"] for line in text.splitlines()]
        assert epochs == list(range(len(epochs))), epochs
    for name in ("checkpoint.pt", "final.pt"):
        if (d / name).exists():
            ck = load_checkpoint(d / name)                      # weights_only=True
            assert ck["epoch"] <= 2
    if (d / "summary.json").exists():
        assert json.loads((d / "summary.json").read_text())["model"] == "small_cnn"
        assert (d / "final.pt").exists()
    return epochs


def no_temporaries(d: Path) -> None:
    left = [p.name for p in d.iterdir() if p.name.startswith(".")]
    assert not left, f"temporary files left behind: {left}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A training run killed twice mid-write, then resumed to the end (the decompose test's input)."""
    tmp = tmp_path_factory.mktemp("faults")
    out = tmp / "run"
    rng = random.Random(SEED)
    # 1: killed while the first checkpoint is being written (or just after it started)
    rc, err, killed = run([*TRAIN, "--out", str(out)], tmp, kill_when=writing(out, "checkpoint.pt"))
    assert killed or rc == 0, err
    kills = int(killed)
    check_run_dir(out)
    # 2: resumed, killed at a random moment once a checkpoint exists
    delay = rng.uniform(0.0, 1.5)
    rc, err, killed = run([*TRAIN, "--out", str(out), "--resume"], tmp,
                          kill_when=after(lambda: (out / "checkpoint.pt").exists(), delay))
    assert killed or rc == 0, (delay, err)
    kills += int(killed)
    check_run_dir(out)
    assert kills >= 1, "no run was killed: the suite tested nothing"
    # 3: resumed to the end
    rc, err, _ = run([*TRAIN, "--out", str(out), "--resume"], tmp)
    assert rc == 0, err
    assert check_run_dir(out) == [0, 1, 2]
    assert outputs(out) == ["checkpoint.pt", "final.pt", "metrics.jsonl", "summary.json"]
    no_temporaries(out)
    return out


def test_killed_train_leaves_complete_outputs_and_resumes(trained):
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["plan"]["name"] == "uniform-n2" and summary["final"]["epoch"] == 2


def test_killed_decompose_leaves_the_model_complete_or_absent(trained, tmp_path):
    dest = tmp_path / "out"
    dec = dest / "dec.pt"
    argv = ["decompose", str(trained / "final.pt"), "--out", str(dec)]
    rng = random.Random(SEED + 1)
    for kill_when in (writing(dest, "dec.pt"), after(writing(dest, "dec.pt"), rng.uniform(0.0, 0.01))):
        if dec.exists():
            dec.unlink()
        rc, err, killed = run(argv, tmp_path, kill_when=kill_when)
        assert killed or rc == 0, err
        if dec.exists():
            load_decomposed(dec)                                # complete: loads with weights_only=True
        assert outputs(dest) in ([], ["dec.pt"])
    rc, err, _ = run(argv, tmp_path)
    assert rc == 0, err
    load_decomposed(dec)
    assert outputs(dest) == ["dec.pt"]
    no_temporaries(dest)
