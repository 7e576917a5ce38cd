"""ONNX export of decomposed models, run in onnxruntime."""
import re

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
    monkeypatch.setattr(ex, "check_onnx", lambda path, model, x, relative=False: 0.5)  # runtime disagrees
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


def test_check_is_relative_to_the_output_scale(tmp_path, monkeypatch):
    import structconv.nn.deploy.export as ex
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with torch.no_grad():
        model[2].weight.mul_(1e4)                        # logits ~1e4: float32 round-off ~1e-3 absolute
    x = torch.randn(3, 3)
    export_onnx(model, x, tmp_path / "big.onnx")         # a right export passes at any scale
    real = ex.check_onnx

    def perturbed(path, m, xx, relative=False):          # a wrong export: off by 1 % of the scale
        with torch.no_grad():
            scale = m(xx).abs().max()
        shifted = nn.Sequential(m, _Shift(0.01 * scale))
        return real(path, shifted, xx, relative=relative)

    monkeypatch.setattr(ex, "check_onnx", perturbed)
    with pytest.raises(ValueError) as info:
        export_onnx(model, x, tmp_path / "wrong.onnx")
    msg = str(info.value)
    rel = float(re.search(r"by ([0-9.e-]+) of the output's max \|value\|", msg).group(1))
    assert "\n" not in msg and rel == pytest.approx(0.01, rel=0.05) and "tolerance 0.0001" in msg
    assert not (tmp_path / "wrong.onnx").exists()


class _Shift(nn.Module):
    def __init__(self, by):
        super().__init__()
        self.by = float(by)

    def forward(self, x):
        return x + self.by


def test_rejects_non_tensor_inputs(tmp_path):
    with pytest.raises(ValueError, match="tensor"):
        export_onnx(small_model(), [1, 2], tmp_path / "x.onnx")


def _op_counts(path) -> dict:
    import collections

    import onnx
    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize("method", ["auto", "avgpool", "separable", "cumsum", "conv"])
def test_sum_pools_export_as_ops_runtimes_optimise(tmp_path, method):
    """Channel windows (narrow and wide, grouped) and spatial windows (padded, dilated): whatever the
    method, the graph holds no ScatterND or Transpose, one all-ones Conv per spatial window, and
    onnxruntime reproduces torch."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(24, 32, 1), nn.ReLU(), nn.Conv2d(32, 32, 1, groups=2), nn.ReLU(),
                          nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=2, dilation=2), nn.Flatten(), nn.Linear(1024, 10))
    model.eval()
    plan = {"0": {"c": 3}, "2": {"c": 14}, "4": {"c": 16, "n": 2}, "6": {"c": 8, "n": 1}, "8": {"c": 40}}
    dec, _ = decompose(model, plan, method=method)
    path = export_onnx(dec, torch.randn(2, 24, 8, 8), tmp_path / "m.onnx")     # checked in onnxruntime
    ops = _op_counts(path)
    assert ops["ScatterND"] == 0 and ops["Transpose"] == 0, ops
    assert ops["CumSum"] == 4                  # the wide channel windows: kc 22, 17, 9 and the linear's 985
    assert ops["Conv"] == 4 + 2                # four small convs, two spatial all-ones convs
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 24, 8, 8)
    got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    with torch.no_grad():
        torch.testing.assert_close(got, dec(x), atol=1e-4, rtol=1e-4)
