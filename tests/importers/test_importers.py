"""Model importers (issue 17): core's registry is filled from the ``structconv.importers`` entry points,
never by an import's side effect, so a reference resolves the same in any fresh process whatever was
imported first; reading an ONNX file, a SCALE-Sim topology or a zoo name imports no torch; a plugin
adds an importer with one entry point, and a broken or missing one is one clear line."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import structconv.core.resolve as resolve
from structconv.core import Importer, get_network, list_networks, resolve_network

ROOT = Path(__file__).resolve().parents[2]
ONNX_FILE = ROOT / "tests" / "data" / "peer_models" / "squeezenet1_0.onnx"
BUILTIN = {"onnx", "python", "scalesim-topology", "small_cnn"}

MODEL = textwrap.dedent("""
    from torch import nn

    def build():
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(8, 10))
""")
TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides,\nconv1, 18, 18, 3, 3, 3, 16, 1,\nconv2_DP, 16, 16, 3, 3, 16, 1, 1,\n"
            "fc, 1, 1, 1, 1, 64, 10, 1,\n")

# Resolves every reference given in argv and prints one JSON line {ref: what the Network holds}.
DIGEST = """
import json, sys
from structconv.core import resolve_network
out = {}
for ref in sys.argv[1:]:
    net = resolve_network(ref)
    out[ref] = [net.name, list(net.input_shape), repr(net.layers), net.extra_params, type(net.spec).__name__]
print(json.dumps(out, sort_keys=True))
"""


def _run(code: str, *args: str, paths=()) -> subprocess.CompletedProcess:
    """``python -c code args`` in a fresh process, this checkout (then ``paths``) first on its path."""
    path = [str(ROOT), *map(str, paths), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> list[str]:
    """Every built-in kind of reference: each zoo name, small_cnn, an ONNX file, a .py function, a
    SCALE-Sim topology."""
    d = tmp_path_factory.mktemp("refs")
    (d / "my_model.py").write_text(MODEL)
    (d / "topo.csv").write_text(TOPOLOGY)
    return [*list_networks(), "small_cnn", str(ONNX_FILE), f"{d / 'my_model.py'}:build", str(d / "topo.csv")]


def test_the_installed_entry_points_name_every_builtin_importer():
    """The registry is filled from the installed metadata (pip install -e . writes it), not by imports."""
    names = [i.name for i in resolve.installed_importers()]
    assert BUILTIN <= set(names), f"{names}: reinstall structconv (pip install -e .) for its entry points"
    assert len(names) == len(set(names))


@pytest.mark.parametrize("first", ["", "import structconv.nn", "import structconv.search"])
def test_every_builtin_reference_resolves_the_same_whatever_was_imported_first(references, first):
    """In a fresh process, with nothing, nn or search imported first, each reference gives the same Network
    as in a fresh process that imported nothing first, resolved in the opposite order."""
    baseline = _run(DIGEST, *reversed(references))
    assert baseline.returncode == 0, baseline.stderr
    got = _run(first + "\n" + DIGEST, *references)
    assert got.returncode == 0, got.stderr
    want = json.loads(baseline.stdout.splitlines()[-1])
    assert json.loads(got.stdout.splitlines()[-1]) == want
    assert set(want) == set(references)
    assert want[str(ONNX_FILE)][4] == "ImportInfo" and want["small_cnn"][0] == "small_cnn"


NO_TORCH = """
import sys
from structconv.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "loaded": [m for m in ("torch", "onnx") if m in sys.modules]}), file=sys.stderr)
"""


@pytest.mark.parametrize("kind", ["onnx", "topology", "zoo"])
def test_cost_reads_onnx_topologies_and_zoo_names_without_torch(references, kind):
    """`structconv cost model.onnx` (and a .csv topology, a zoo name) runs and leaves torch unimported."""
    ref = {"onnx": str(ONNX_FILE), "topology": references[-1], "zoo": "resnet18"}[kind]
    out = _run("import json\n" + NO_TORCH, "cost", ref, "--json")
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["rc"] == 0 and json.loads(out.stdout)["original"], out.stderr
    assert "torch" not in report["loaded"]
    assert ("onnx" in report["loaded"]) == (kind == "onnx")        # the ONNX reader did run


def test_the_importers_package_imports_neither_torch_nor_onnx():
    out = _run("import sys, structconv.importers; print([m for m in ('torch', 'onnx') if m in sys.modules])")
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


PLUGIN = textwrap.dedent("""
    from structconv.core import Importer, Layer, Network

    def read(ref, width=3):
        return Network(ref, (width, 8, 8), (Layer.conv2d("c", width, 4, 3, (8, 8), padding=1),))

    TINY = Importer("tiny", lambda ref: ref.endswith(".tiny"), lambda: read)
""")


def _plugin(where: Path, entry: str) -> Path:
    """A package installed as an ordinary distribution would be: its module and its dist-info on the path."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "tinyplugin.py").write_text(PLUGIN)
    info = where / "tinyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[structconv.importers]\n{entry}\n")
    return where


LIST_AND_READ = """
import warnings
warnings.simplefilter("always")
from structconv.core import importers, resolve_network
print([i.name for i in importers()])
print(resolve_network(sys.argv[1]).input_shape)
"""


def test_a_plugin_adds_an_importer_with_one_entry_point(tmp_path):
    """One entry point in a third-party distribution; the distribution seen twice on the path counts once."""
    paths = [_plugin(tmp_path / d, "tiny = tinyplugin:TINY") for d in ("a", "b")]
    out = _run("import sys\n" + LIST_AND_READ, "model.tiny", paths=paths)
    assert out.returncode == 0, out.stderr
    names, shape = out.stdout.strip().splitlines()
    names = ast.literal_eval(names)
    assert names.count("tiny") == 1 and BUILTIN <= set(names)
    assert shape == "(3, 8, 8)"


def test_a_broken_plugin_is_one_warning_and_the_rest_still_resolve(tmp_path):
    path = _plugin(tmp_path / "p", "tiny = no_such_module:TINY")
    out = _run("import sys\n" + LIST_AND_READ, "resnet20", paths=[path])
    assert out.returncode == 0, out.stderr
    assert "tiny" not in out.stdout and out.stdout.strip().splitlines()[-1] == "(3, 32, 32)"
    warned = [line for line in out.stderr.splitlines() if "entry point tiny" in line]
    assert len(warned) == 1 and "no_such_module" in warned[0] and "ModuleNotFoundError" in warned[0]


def test_no_installed_importers_is_one_clear_line(monkeypatch):
    """Without structconv's entry points (not installed), a file reference says so; zoo names still work."""
    monkeypatch.setattr(resolve, "installed_importers", lambda: ())
    monkeypatch.setattr(resolve, "_IMPORTERS", [])
    with pytest.raises(ValueError, match=r"no model importers are installed .*pip install -e \.\)$") as e:
        resolve_network("model.onnx")
    assert "\n" not in str(e.value)
    assert resolve_network("resnet20").name == "resnet20"


def test_register_importer_takes_an_importer_and_it_is_tried_first(monkeypatch):
    monkeypatch.setattr(resolve, "_IMPORTERS", [])
    claims_all = Importer("everything", lambda ref: True, lambda: lambda ref: get_network("resnet20"))
    resolve.register_importer(claims_all)
    assert resolve_network(str(ONNX_FILE)).name == "resnet20"          # before the installed onnx importer
    with pytest.raises(TypeError, match="register_importer takes an Importer"):
        resolve.register_importer("onnx")
