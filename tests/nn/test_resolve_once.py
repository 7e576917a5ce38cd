"""One `structconv train` and one `structconv decompose` resolve their plan once and trace their network once.

Every import site of ``core.resolve_plan`` and of the tracers (``trace_module``, which
``network_from_module`` and ``network_from_ref`` run, and ``module_network``) gets a counting
wrapper, so a second resolution or trace anywhere in structconv is seen.
"""
from __future__ import annotations

import sys

import pytest
import torch

import structconv.core.resolve
import structconv.nn.trace
from structconv.cli import main

COUNTED = {"resolve_plan": structconv.core.resolve.resolve_plan,
           "trace_module": structconv.nn.trace.trace_module,
           "module_network": structconv.nn.trace.module_network}


@pytest.fixture
def calls(monkeypatch):
    """{name: number of calls} of the counted functions, wherever structconv imported them."""
    counts = dict.fromkeys(COUNTED, 0)

    def counting(name, real):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        return wrapper

    wrappers = {id(real): counting(name, real) for name, real in COUNTED.items()}
    sites = 0
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith("structconv") or mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            if id(value) in wrappers and value in COUNTED.values():
                monkeypatch.setattr(mod, attr, wrappers[id(value)])
                sites += 1
    assert sites >= len(COUNTED)
    return counts


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _train(out, capsys) -> None:
    rc = main(["train", "small_cnn", "--preset", "uniform-n2", "--epochs", "1", "--input-size", "8",
               "--batch-size", "256", "--out", str(out), "--json"])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()


def test_train_resolves_its_plan_once_and_traces_once(tmp_path, capsys, calls):
    _train(tmp_path / "run", capsys)
    assert calls == {"resolve_plan": 1, "trace_module": 1, "module_network": 0}


def test_decompose_resolves_its_plan_once_and_traces_once(tmp_path, capsys, calls):
    _train(tmp_path / "run", capsys)
    calls.update(dict.fromkeys(calls, 0))
    rc = main(["decompose", str(tmp_path / "run" / "final.pt"), "--out", str(tmp_path / "dec.pt")])
    assert rc == 0, capsys.readouterr().err
    assert calls == {"resolve_plan": 1, "trace_module": 1, "module_network": 0}


def test_the_counters_see_a_second_resolution(tmp_path, calls):
    """The wrappers count what the library does when a plan is given as a reference, not a Plan."""
    from structconv.nn import SmallCNN, plan_entries

    plan_entries(SmallCNN(1, 10), "uniform-n2")
    plan_entries(SmallCNN(1, 10), "uniform-n2")
    assert calls["resolve_plan"] == 2 and calls["module_network"] == 2
