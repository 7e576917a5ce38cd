"""The torch-form registry: a kind defined in this file only gets its trainable and deployable
modules through one registration call, and every nn entry point dispatches through it."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from structconv.core import Choice, Part, Plan, register_choice
from structconv.nn import (
    DecomposedConv2d,
    decompose,
    export_onnx,
    register_torch_choice,
    structural_regularization,
    structure_,
    torch_form,
    torch_forms,
    unregister_torch_choice,
)


@register_choice
@dataclass(frozen=True)
class Scaled(Choice):
    """A test kind: the plain layer, its output scaled by ``k`` (deployed with the scale folded in)."""

    k: int = 2

    kind = "nn_test_scaled"

    def parts(self, layer):
        self.validate(layer)
        return (Part(layer),)


class ScaledTrainable(nn.Module):
    def __init__(self, inner: nn.Module, k: int):
        super().__init__()
        self.inner, self.k = inner, k

    def forward(self, x):
        return self.inner(x) * self.k


def folded(module: ScaledTrainable) -> nn.Module:
    """The deployable form: one conv whose weight and bias carry the scale."""
    conv = nn.Conv2d(module.inner.in_channels, module.inner.out_channels, module.inner.kernel_size,
                     padding=module.inner.padding, dtype=module.inner.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(module.inner.weight * module.k)
        conv.bias.copy_(module.inner.bias * module.k)
    return conv


@pytest.fixture
def scaled_kind():
    form = register_torch_choice("nn_test_scaled",
                                 trainable=lambda m, choice, layer: ScaledTrainable(m, choice.k),
                                 deployable=lambda m, choice, layer, method: folded(m))
    yield form
    unregister_torch_choice("nn_test_scaled")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def _net():
    torch.manual_seed(0)
    return Net().double()


PLAN = Plan({"a": {"kind": "nn_test_scaled", "k": 3}, "b": {"c": 2, "n": 2}})


def test_a_kind_registered_in_the_test_is_trained_and_deployed_through_the_registry(scaled_kind):
    assert torch_forms()["nn_test_scaled"] is scaled_kind and torch_form(Scaled(3), "a") is scaled_kind
    model = _net()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    want_a = model.a(x) * 3
    structure_(model, PLAN)
    assert isinstance(model.a, ScaledTrainable) and model.a.k == 3          # the trainable form, swapped in
    torch.testing.assert_close(model.a(x), want_a)
    want = model(x)
    dec, report = decompose(model, PLAN)
    assert type(dec.a) is nn.Conv2d and isinstance(dec.b, DecomposedConv2d)
    assert report["a"].status == "decomposed" and report["a"].choice == "nn_test_scaled(k=3)"
    assert report["a"].residual is None and report["b"].residual is not None
    torch.testing.assert_close(dec(x), want, atol=1e-10, rtol=0)
    # only kinds that put a structure on the layer's weight regularize
    assert float(structural_regularization(model, PLAN).detach()) == pytest.approx(
        float(structural_regularization(model, Plan({"b": {"c": 2, "n": 2}})).detach()))


def test_the_onnx_path_exports_the_deployable_form(scaled_kind, tmp_path):
    pytest.importorskip("onnxruntime")
    model = structure_(_net(), PLAN)
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    path = export_onnx(model.float(), x.float(), tmp_path / "m.onnx", plan=PLAN)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.float().numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), model(x.float()).detach(), atol=1e-5, rtol=1e-5)


def test_a_kind_without_a_torch_form_is_a_one_line_error_naming_layer_and_kind():
    unregister_torch_choice("nn_test_scaled")
    for call in (lambda: structure_(_net(), PLAN), lambda: decompose(_net(), PLAN),
                 lambda: structural_regularization(_net(), PLAN)):
        with pytest.raises(ValueError, match=r"^layer 'a': choice kind 'nn_test_scaled' has no torch form"):
            call()


def test_registration_rejects_a_nameless_kind():
    with pytest.raises(ValueError, match="kind"):
        register_torch_choice("")
