"""One `structconv search` run resolves its network once and each preset plan once.

The resolvers are wrapped wherever a structconv module holds them (module attributes that are
the function itself, so ``from ..core import resolve_plan`` bindings count too). For one run of
``structconv search resnet20`` (weight-free proxies, a few trials, baselines, its own journal):

* ``core.resolve_network`` resolves one reference, ``'resnet20'`` (the simulator passes the Network
  it is handed through it again: that returns it as is), and the zoo builds the network once
  (``core.get_network``);
* ``core.presets_for`` is called once (the presets are made once);
* ``core.resolve_plan`` is called exactly once for each preset that applies to resnet20 and for
  nothing else: the seeds, the space and the baselines all read the presets resolved then.
"""
import json
import sys
from collections import Counter

import pytest

import structconv.cli.search  # its modules and the search's are bound before wrapping
import structconv.core as core
import structconv.search  # noqa: F401
from structconv.cli import main

WRAPPED = ("resolve_network", "get_network", "presets_for", "resolve_plan")


@pytest.fixture
def calls(monkeypatch):
    """[(resolver name, args, result)] of every call during the test."""
    log = []

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            out = fn(*args, **kwargs)
            log.append((name, args, out))
            return out
        return wrapper

    wrappers = [(getattr(core, name), counted(name, getattr(core, name))) for name in WRAPPED]
    for module in [m for name, m in sys.modules.items() if name.startswith("structconv")]:
        for attr, value in list(vars(module).items()):
            for fn, wrapper in wrappers:
                if value is fn:
                    monkeypatch.setattr(module, attr, wrapper)
    return log


def test_one_search_run_resolves_the_network_once_and_each_preset_once(calls, tmp_path, capsys):
    presets = set(core.presets_for(core.get_network("resnet20")))
    calls.clear()
    rc = main(["search", "resnet20", "--trials", "8", "--population", "4", "--proxies", "kept_dof,params",
               "--max-cycles-ratio", "0.8", "--baselines", "--no-progress", "--json", "--out",
               str(tmp_path / "s")])
    assert rc == 0, capsys.readouterr().err
    by = {name: [c for c in calls if c[0] == name] for name in WRAPPED}
    assert [c[1] for c in by["resolve_network"] if not isinstance(c[1][0], core.Network)] == [("resnet20",)]
    network = by["resolve_network"][0][2]
    assert all(c[1][0] is network for c in by["resolve_network"][1:])
    assert len(by["get_network"]) == 1
    assert len(by["presets_for"]) == 1
    assert presets and (Counter(c[2].name for c in by["resolve_plan"])
                        == Counter({name: 1 for name in presets}))


def test_exact_mode_computes_only_the_proxy_it_optimises(tmp_path, capsys):
    """--mode exact optimises one proxy: the suite holds only it (kept_dof, the weight-free default), and
    the front is the one a run with every proxy computed gives."""
    argv = ["search", "resnet20", "--mode", "exact", "--objectives", "proxy,cycles_total",
            "--max-cycles-ratio", "0.8", "--no-progress", "--json"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    lean = json.loads(capsys.readouterr().out)
    assert list(lean["proxies"]["proxies"]) == ["kept_dof"]
    assert main([*argv, "--proxies", "params,kept_dof,snip,synflow", "--proxy", "kept_dof", "--out",
                 str(tmp_path / "b")]) == 0
    full = json.loads(capsys.readouterr().out)
    assert list(full["proxies"]["proxies"]) == ["params", "kept_dof", "snip", "synflow"]
    assert [m["plan"] for m in lean["front"]] == [m["plan"] for m in full["front"]]
