"""ONNX export of decomposed models, run in onnxruntime."""
import onnxruntime as ort
import onnxscript  # noqa: F401
import pytest
import torch
from torch import nn

from structconv.nn import decompose, export_onnx


def small_model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.ReLU(),
                      nn.Conv2d(8, 16, (3, 5), stride=2, padding=(1, 2)), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(16, 10))
    with torch.no_grad():
        m[1].running_mean.normal_()
    return m.eval()


PLAN = {"0": {"c": 2, "n": 2}, "3": {"c": 2, "n": 2}, "5": {"c": 5, "n": [2, 3]}, "8": {"c": 9}}


@pytest.mark.parametrize("methods", [("auto",), ("avgpool", "separable", "cumsum", "conv")])
def test_decomposed_model_runs_in_onnxruntime_like_torch(tmp_path, methods):
    from structconv.nn import SumPool1d, SumPool3d
    dec, _ = decompose(small_model(), PLAN)
    pools = [m for m in dec.modules() if isinstance(m, (SumPool3d, SumPool1d))]
    assert len(pools) == 4
    for i, p in enumerate(pools):                     # every implementation inside one exported graph
        p.method = methods[i % len(methods)]
    x = torch.randn(2, 3, 16, 16)
    path = export_onnx(dec, x, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for batch in (1, 2, 5):                                           # dynamic batch dimension
        xb = torch.randn(batch, 3, 16, 16)
        got = torch.from_numpy(sess.run(None, {name: xb.numpy()})[0])
        with torch.no_grad():
            want = dec(xb)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]           # no temp files left


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    import structconv.nn.deploy.export as ex

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    target = tmp_path / "bad.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):                    # torch's exporter error wraps the forward's
        export_onnx(Broken(), torch.randn(1, 3), target)
    monkeypatch.setattr(ex, "check_onnx", lambda path, model, x: 0.5)        # runtime disagrees
    with pytest.raises(ValueError, match="differs from torch"):
        export_onnx(nn.Linear(3, 2), torch.randn(1, 3), target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["bad.onnx"]


def test_check_onnx_measures_the_difference(tmp_path):
    from structconv.nn import check_onnx
    lin = nn.Linear(3, 2)
    path = export_onnx(lin, torch.randn(1, 3), tmp_path / "l.onnx")
    assert check_onnx(path, lin, torch.randn(4, 3)) < 1e-6
    with torch.no_grad():
        lin.bias.add_(1.0)
    assert check_onnx(path, lin, torch.randn(4, 3)) == pytest.approx(1.0, abs=1e-5)


def test_rejects_non_tensor_inputs(tmp_path):
    with pytest.raises(ValueError, match="tensor"):
        export_onnx(small_model(), [1, 2], tmp_path / "x.onnx")
