"""A checkpoint or decomposed file that records a Python model reference never runs it by itself.

The reference runs only when the user names it again (`--model REF`, ``model=REF``); otherwise the
command line gives one line and exit 2, the API a ValueError, and nothing of the reference runs:
not ``os.abort``, ``sys.exit`` or ``input``, and not a file that writes a marker when imported.
"""
from __future__ import annotations

import builtins
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from structconv.cli import main
from structconv.core import Plan
from structconv.nn import (
    decompose,
    decompose_checkpoint,
    load_decomposed,
    resolve_trained,
    save_checkpoint,
    save_decomposed,
)

PAYLOAD = '''
import pathlib
from torch import nn

pathlib.Path(__file__).with_name("marker").write_text("ran")


def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
'''
PLAN = {"2": {"c": 4, "n": 2}}
META = {"input_shape": [3, 8, 8], "num_classes": 10}
BUILTIN_REFS = ("os:abort", "sys:exit", "builtins:input")


def _module() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


@pytest.fixture
def ran(monkeypatch, tmp_path):
    """Where the payload would run (tmp_path, the working directory) and a log of every call of
    os.abort / sys.exit / input (each patched to record and raise instead)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "payload.py").write_text(PAYLOAD)
    log = []

    def recorder(name):
        def call(*args, **kwargs):
            log.append(name)
            raise RuntimeError(f"{name} ran")
        return call

    monkeypatch.setattr(os, "abort", recorder("os:abort"))
    monkeypatch.setattr(sys, "exit", recorder("sys:exit"))
    monkeypatch.setattr(builtins, "input", recorder("builtins:input"))
    return log


def _checkpoint(path, ref: str):
    return save_checkpoint(path, ref, _module().state_dict(), 0, plan=Plan(PLAN), meta=META)


def _refused(err: str, ref: str) -> bool:
    lines = err.strip().splitlines()
    return (len(lines) == 1 and lines[0].startswith("structconv: error: checkpoint")
            and f"records model reference '{ref}'" in lines[0] and f"--model '{ref}'" in lines[0])


@pytest.mark.parametrize("ref", [*BUILTIN_REFS, "payload.py:build"])
def test_the_command_line_refuses_a_recorded_reference(ref, ran, tmp_path, capsys):
    ck = _checkpoint(tmp_path / "ck.pt", ref)
    rc = main(["decompose", str(ck), "--out", str(tmp_path / "d.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and _refused(err, ref), err
    assert ran == [] and not (tmp_path / "marker").exists() and not (tmp_path / "d.pt").exists()


@pytest.mark.parametrize("ref", [*BUILTIN_REFS, "payload.py:build"])
def test_the_api_refuses_a_recorded_reference(ref, ran, tmp_path):
    ck = _checkpoint(tmp_path / "ck.pt", ref)
    with pytest.raises(ValueError, match=f"records model reference '{ref}'.*to confirm"):
        resolve_trained(ck)
    with pytest.raises(ValueError, match=f"records model reference '{ref}'"):
        decompose_checkpoint(ck, tmp_path / "d.pt")
    with pytest.raises(ValueError, match=f"does not match the checkpoint's model '{ref}'"):
        resolve_trained(ck, model="resnet20")
    assert ran == [] and not (tmp_path / "marker").exists()


def test_a_decomposed_file_does_not_run_its_reference(ran, tmp_path):
    dec, _ = decompose(_module(), Plan(PLAN))
    path = save_decomposed(dec, tmp_path / "d.pt", "payload.py:build", Plan(PLAN), meta=META)
    with pytest.raises(ValueError, match="decomposed model .* records model reference 'payload.py:build'"):
        load_decomposed(path)
    with pytest.raises(ValueError, match="does not match"):
        load_decomposed(path, model="other.py:build")
    assert ran == [] and not (tmp_path / "marker").exists()
    again = load_decomposed(path, model="payload.py:build").eval()      # named again: it runs
    assert (tmp_path / "marker").read_text() == "ran"
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(again(x), dec.eval()(x))


def test_naming_the_reference_runs_it(ran, tmp_path, capsys):
    ck = _checkpoint(tmp_path / "ck.pt", "payload.py:build")
    rc = main(["decompose", str(ck), "--model", "payload.py:build", "--out", str(tmp_path / "d.pt")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "marker").read_text() == "ran" and (tmp_path / "d.pt").is_file()
    (tmp_path / "marker").unlink()
    trained = resolve_trained(ck, model="payload.py:build")              # the API's confirmation
    assert (tmp_path / "marker").exists() and trained.name == "payload.py:build"
    assert [n for n, _ in trained.module.named_modules() if n] == ["0", "1", "2", "3", "4"]


def test_a_real_os_abort_is_not_run(tmp_path):
    """In a fresh process, unpatched: a run of os.abort would end it by SIGABRT, not exit status 2."""
    ck = _checkpoint(tmp_path / "ck.pt", "os:abort")
    proc = subprocess.run([sys.executable, "-m", "structconv", "decompose", str(ck), "--out",
                           str(tmp_path / "d.pt")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and _refused(proc.stderr, "os:abort"), (proc.returncode, proc.stderr)
