"""`structconv decompose`: checkpoint -> decomposed model (+ ONNX); bad input is one line, exit 2."""
import pytest
import torch

import structconv.nn.zoo as zoo
from structconv.cli import main
from structconv.core.presets import get_preset
from structconv.core.zoo import get_network
from structconv.nn import load_decomposed, structure_, unstructure_


@pytest.fixture(scope="module")
def structured_resnet20():
    torch.manual_seed(0)
    model = zoo.build_module("resnet20").eval()
    plan = get_preset("uniform-n2", get_network("resnet20"))
    unstructure_(structure_(model, plan))                  # weights exactly structured
    return model, plan


def save_ck(path, model, plan, name="resnet20"):
    from structconv.nn import save_checkpoint
    return save_checkpoint(path, name, model.state_dict(), 0, plan=plan, meta={"lam": 0.1})


def run_cli(args, capsys):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_decompose_checkpoint_end_to_end(tmp_path, capsys, structured_resnet20):
    model, plan = structured_resnet20
    ck = save_ck(tmp_path / "ck.pt", model, plan)
    out = tmp_path / "dec.pt"
    rc, stdout, err = run_cli(["decompose", str(ck), "--out", str(out)], capsys)
    assert rc == 0, err
    assert "18 layers decomposed" in stdout and "layer1.0.conv1" in stdout
    dec = load_decomposed(out).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dec(x), model(x), atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in dec.parameters()) < sum(p.numel() for p in model.parameters())


def test_bare_state_dict_with_preset_json_and_onnx(tmp_path, capsys, structured_resnet20):
    import json

    import onnxruntime  # noqa: F401
    import onnxscript  # noqa: F401
    model, _ = structured_resnet20
    ck = tmp_path / "sd.pt"
    torch.save(model.state_dict(), ck)
    rc, stdout, err = run_cli(["decompose", str(ck), "--model", "resnet20", "--preset", "uniform-n2",
                               "--out", str(tmp_path / "d.pt"), "--onnx", str(tmp_path / "d.onnx"), "--json"],
                              capsys)
    assert rc == 0, err
    d = json.loads(stdout)
    assert d["decomposed"] == 18 and d["max_residual"] < 1e-5 and d["onnx"].endswith("d.onnx")
    assert (tmp_path / "d.onnx").stat().st_size > 0


def one_line_error(rc, err, pattern):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("structconv: error:"), err
    assert pattern in lines[0], lines[0]


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    rc, _, err = run_cli(["decompose", str(bad), "--model", "resnet20", "--preset", "uniform-n2",
                          "--out", str(tmp_path / "o.pt")], capsys)
    one_line_error(rc, err, "corrupt")
    assert not (tmp_path / "o.pt").exists()


def test_plan_that_does_not_match(tmp_path, capsys, structured_resnet20):
    model, plan = structured_resnet20
    ck = save_ck(tmp_path / "ck.pt", model, plan)
    pf = tmp_path / "plan.yaml"
    pf.write_text("name: wrong\nlayers:\n  layer9.0.conv1: {c: 4, n: 2}\n")
    rc, _, err = run_cli(["decompose", str(ck), "--plan", str(pf), "--out", str(tmp_path / "o.pt")], capsys)
    one_line_error(rc, err, "layer9.0.conv1")
    pf.write_text("name: wrong\nlayers:\n  layer1.0.conv1: {c: 99, n: 2}\n")
    rc, _, err = run_cli(["decompose", str(ck), "--plan", str(pf), "--out", str(tmp_path / "o.pt")], capsys)
    one_line_error(rc, err, "c = 99")
    assert not (tmp_path / "o.pt").exists()


def test_weights_of_another_model(tmp_path, capsys, structured_resnet20):
    model, plan = structured_resnet20
    ck = save_ck(tmp_path / "ck.pt", model, plan, name="resnet56")
    rc, _, err = run_cli(["decompose", str(ck), "--out", str(tmp_path / "o.pt")], capsys)
    one_line_error(rc, err, "resnet56")


def test_nan_weights(tmp_path, capsys, structured_resnet20):
    model, plan = structured_resnet20
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["layer2.0.conv2.weight"][0, 0, 0, 0] = float("nan")
    from structconv.nn import save_checkpoint
    ck = save_checkpoint(tmp_path / "ck.pt", "resnet20", sd, 0, plan=plan)
    rc, _, err = run_cli(["decompose", str(ck), "--out", str(tmp_path / "o.pt")], capsys)
    one_line_error(rc, err, "NaN")
    assert not (tmp_path / "o.pt").exists()


def test_missing_plan_and_model(tmp_path, capsys, structured_resnet20):
    model, _ = structured_resnet20
    ck = tmp_path / "sd.pt"
    torch.save(model.state_dict(), ck)
    rc, _, err = run_cli(["decompose", str(ck), "--preset", "uniform-n2", "--out", str(tmp_path / "o.pt")],
                         capsys)
    one_line_error(rc, err, "--model")
    rc, _, err = run_cli(["decompose", str(ck), "--model", "resnet20", "--out", str(tmp_path / "o.pt")],
                         capsys)
    one_line_error(rc, err, "no plan")
    rc, _, err = run_cli(["decompose", str(tmp_path / "nope.pt"), "--model", "resnet20", "--out", "x"],
                         capsys)
    one_line_error(rc, err, "does not exist")


def test_deploy_for_onnxruntime_folds_batchnorm_and_says_what_kept_dense(tmp_path, capsys,
                                                                           structured_resnet20):
    import json

    import onnxruntime as ort
    model, plan = structured_resnet20
    ck = save_ck(tmp_path / "ck.pt", model, plan)
    onnx = tmp_path / "d.onnx"
    rc, stdout, err = run_cli(["decompose", str(ck), "--out", str(tmp_path / "d.pt"), "--onnx", str(onnx),
                               "--deploy-for", "onnxruntime", "--json"], capsys)
    assert rc == 0, err
    d = json.loads(stdout)
    assert d["target"].startswith("onnxruntime") and len(d["folded_bn"]) == 19       # every BN of resnet20
    assert d["decomposed"] + d["kept_dense"] == 18
    assert all("fastest of" in l["note"] for l in d["layers"] if l["status"] in ("decomposed", "dense"))
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    x = torch.randn(2, 3, 32, 32)
    got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), atol=1e-4, rtol=1e-4)


def test_deploy_for_without_onnx_is_one_line(tmp_path, capsys, structured_resnet20):
    model, plan = structured_resnet20
    ck = save_ck(tmp_path / "ck.pt", model, plan)
    rc, stdout, err = run_cli(["decompose", str(ck), "--out", str(tmp_path / "d.pt"),
                               "--deploy-for", "torch"],
                              capsys)
    assert rc == 2 and err.count("\n") == 1 and "--deploy-for = 'torch'" in err and "--onnx" in err
    assert not (tmp_path / "d.pt").exists()


def test_failed_onnx_check_keeps_dec_pt_and_says_so(tmp_path, capsys, structured_resnet20, monkeypatch):
    import onnxscript  # noqa: F401

    import structconv.nn.deploy.export as ex
    model, plan = structured_resnet20
    ck = save_ck(tmp_path / "ck.pt", model, plan)
    monkeypatch.setattr(ex, "check_onnx", lambda path, m, x, relative=False: 0.5)   # runtime disagrees
    rc, _, err = run_cli(["decompose", str(ck), "--out", str(tmp_path / "d.pt"),
                          "--onnx", str(tmp_path / "d.onnx")], capsys)
    one_line_error(rc, err, "d.pt kept; the ONNX export failed: ONNX export of")
    assert "tolerance 0.0001" in err
    dec = load_decomposed(tmp_path / "d.pt").eval()              # the kept file is whole and right
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dec(x), model(x), atol=1e-4, rtol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt", "d.pt"]     # no half-written .onnx
