"""Python model references (path/to/file.py:function, package.module:function) and ONNX files in the CLI."""
import json
import textwrap

import pytest
import torch

from structconv.cli import main
from structconv.core import count_network, resolve_network
from structconv.nn import load_module_ref, network_from_module

MODEL = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.body = nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = self.body(self.body(torch.relu(self.bn(self.stem(x)))))
            return self.fc(x.mean((2, 3)))

    def build():
        return Net()

    def not_a_module():
        return 42

    def broken():
        raise RuntimeError("no weights here")

    VALUE = 3
''')


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(MODEL)
    return path


def _cost(capsys, *args) -> dict:
    assert main(["cost", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_file_reference_counts_like_tracing_the_module(model_file, capsys):
    out = _cost(capsys, f"{model_file}:build", "--input-shape", "1,3,32,32")
    torch.manual_seed(0)
    ref = network_from_module(load_module_ref(f"{model_file}:build"), torch.zeros(1, 3, 32, 32))
    assert [l["name"] for l in out["layers"]] == ["stem", "body", "body#1", "fc"]
    assert out["original"]["mults"] == 8 * 3 * 9 * 16 * 16 + 2 * 8 * 8 * 9 * 16 * 16 + 8 * 10
    assert out["original"]["params"] == 8 * 27 + 16 + (8 * 72 + 8) + 90 == count_network(ref).original.params


def test_a_package_reference_and_the_default_input_shape(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = resolve_network("mypkg.models:build")
    assert net.input_shape == (3, 224, 224) and net["stem"].output_size == (112, 112)


@pytest.mark.parametrize("ref,args,msg", [
    ("{d}/nope.py:build", [], "does not exist"),
    ("{d}/my_model.py:missing", [], "has no function 'missing'"),
    ("{d}/my_model.py:not_a_module", [], "returned a int, not a torch.nn.Module"),
    ("{d}/my_model.py:broken", [], "RuntimeError: no weights here"),
    ("{d}/my_model.py:VALUE", [], "not a function"),
    ("{d}/my_model.py:build", ["--input-shape", "1,4,32,32"], "at input shape 1,4,32,32: RuntimeError"),
    ("{d}/my_model.py:build", ["--input-shape", "1,a,3"], "--input-shape"),
    ("no_such_pkg.models:build", [], "no module named 'no_such_pkg'"),
    ("resnet20", ["--input-shape", "1,3,32,32"], "not to zoo network"),
    ("{d}/missing.onnx", [], "does not exist"),
])
def test_bad_references_are_one_line_errors(model_file, capsys, ref, args, msg):
    code = main(["cost", ref.format(d=model_file.parent), *args, "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and msg in err, err


def test_every_command_takes_a_reference(model_file, tmp_path, capsys):
    ref = f"{model_file}:build"
    assert main(["simulate", ref, "--input-shape", "1,3,32,32", "--preset", "uniform-n2", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert [l["name"] for l in sim["layers"]] == ["stem", "body", "body#1", "fc"]
    assert main(["search", ref, "--input-shape", "1,3,32,32", "--trials", "8", "--out", str(tmp_path / "s"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"]["complete"] >= 8
    sd = tmp_path / "w.pt"
    torch.save(load_module_ref(ref).state_dict(), sd)
    assert main(["decompose", str(sd), "--model", ref, "--input-shape", "1,3,32,32", "--preset", "uniform-n2",
                 "--out", str(tmp_path / "d.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decomposed"] == 1            # body (its two calls share it)
