"""The package layering: core is light, imports point down, and packages meet only at their __init__.

A module of package X may import package Y (Y != X) only as ``structconv.Y`` (its
``__init__``) or as a sub*package* of Y (a directory with an ``__init__``, e.g.
``structconv.core.zoo``), never a module inside Y and never a ``_private`` name of Y.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "structconv"
PACKAGES = ("core", "sim", "rtl", "search", "nn", "importers", "analysis", "cli")
# who may import whom (imports point down; cli is the thin shell over all). importers reads torch
# references through nn, on first use only; the others reach importers through core's resolver.
ALLOWED = {"core": set(), "sim": {"core"}, "rtl": {"core", "sim"}, "nn": {"core"},
           "search": {"core", "sim", "nn"}, "importers": {"core", "nn"},
           "analysis": {"core", "sim", "search", "nn"},
           "cli": {"core", "sim", "rtl", "search", "nn", "importers", "analysis"}}
HEAVY = ("torch", "optuna", "plotly")
LIGHT = ("core", "importers")          # packages that import none of HEAVY (importers reaches torch via nn)


def _imports(path: Path):
    """(absolute module, imported names, line) of every import in ``path``, relative ones resolved."""
    pkg_parts = ["structconv", *path.relative_to(ROOT).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = pkg_parts[:len(pkg_parts) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            yield mod, tuple(a.name for a in node.names), node.lineno


def _modules():
    return sorted(p for p in ROOT.rglob("*.py"))


def _package_of(path: Path) -> str | None:
    first = path.relative_to(ROOT).parts[0]
    return first if first in PACKAGES else None


def _is_package(module: str) -> bool:
    return (ROOT.parent / module.replace(".", "/") / "__init__.py").is_file()


def _violations():
    out = []
    for path in _modules():
        own = _package_of(path)
        for mod, names, line in _imports(path):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            parts = mod.split(".")
            if own in LIGHT and parts[0] in HEAVY:
                out.append(f"{where}: {own} imports {mod}")
            if parts[0] != "structconv" or len(parts) < 2 or parts[1] not in PACKAGES or parts[1] == own:
                continue
            target = parts[1]
            if own is not None and target not in ALLOWED[own]:
                out.append(f"{where}: {own} imports {target} (imports point down)")
            if any(p.startswith("_") for p in parts[2:]) or any(n.startswith("_") for n in names):
                out.append(f"{where}: imports a private name of {target}: {mod} {names}")
            elif len(parts) > 2 and not _is_package(mod):
                out.append(f"{where}: imports module {mod}; import through structconv.{target}")
            elif len(parts) == 2 and any((ROOT / target / f"{n}.py").is_file() for n in names):
                out.append(f"{where}: imports a module of {target} ({names}); import its names instead")
    return out


def test_packages_meet_only_at_their_public_surface():
    assert _violations() == []


def test_core_needs_no_heavy_dependency(tmp_path):
    """Importing core (and counting a network) loads no torch, optuna or plotly."""
    import subprocess
    import sys

    code = ("import sys, structconv.core as c; c.count_network('resnet18', 'uniform-n2'); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("where, bad, why", [
    ("search", "from structconv.nn.train import train", "imports module"),
    ("search", "from ..nn import _kron", "private"),
    ("search", "from structconv.core._field import trace", "private"),
    ("search", "from structconv.nn import train", "imports a module of nn"),
    ("importers", "import torch", "importers imports torch"),
    ("nn", "from ..importers import ONNX", "nn imports importers"),
    ("core", "from ..importers import ONNX", "core imports importers"),
])
def test_the_checker_catches_violations(tmp_path, monkeypatch, where, bad, why):
    """The rule is live: a planted violation in a module of ``where`` is reported."""
    fake_root = tmp_path / "structconv"
    for pkg in PACKAGES:
        (fake_root / pkg).mkdir(parents=True)
        (fake_root / pkg / "__init__.py").write_text("")
    (fake_root / "nn" / "train.py").write_text("")
    (fake_root / where / "mod.py").write_text(bad + "\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake_root)
    found = _violations()
    assert len(found) == 1 and why in found[0], found
