"""Structured layers: weight = A alpha, gradients through A, state dicts, plans on modules."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from structconv.core import Plan, basis_matrix
from structconv.nn import (
    StructuredConv2d,
    StructuredLinear,
    StructuredWeight,
    compose,
    structure_,
    structure_module,
    structured_alpha,
    unstructure_,
)


def dense_A(C, kh, kw, c, nh, nw):
    return torch.tensor(basis_matrix(C, (kh, kw), c, (nh, nw)))


def test_parametrized_weight_is_A_alpha_literally():
    conv = nn.Conv2d(6, 4, (3, 4), groups=2, bias=False).double()
    structure_module(conv, 2, (2, 3))
    alpha = structured_alpha(conv)
    assert alpha.shape == (4, 2, 2, 3)
    A = dense_A(3, 3, 4, 2, 2, 3)
    W = (A @ alpha.detach().reshape(4, -1).T).T.reshape(4, 3, 3, 4)
    torch.testing.assert_close(conv.weight.detach(), W, atol=1e-12, rtol=0)


def test_gradient_wrt_alpha_is_the_chain_rule_through_A():
    torch.manual_seed(0)
    conv = StructuredConv2d(4, 3, 3, c=2, n=2, stride=2, padding=1, dilation=1, bias=True).double()
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    out = conv(x)
    g_out = torch.randn_like(out)
    (out * g_out).sum().backward()
    got = conv.alpha.grad.clone()
    # chain rule by hand: dL/dW from a plain conv with the same weight, then A^T dL/dW
    W = conv.weight.detach().clone().requires_grad_(True)
    (torch.nn.functional.conv2d(x, W, conv.bias.detach(), 2, 1) * g_out).sum().backward()
    A = dense_A(4, 3, 3, 2, 2, 2)
    want = (A.T @ W.grad.reshape(3, -1).T).T.reshape(3, 2, 2, 2)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("groups,c,n,stride,padding,dilation", [
    (1, 2, 2, 1, 1, 1), (2, 1, (1, 2), 2, (0, 1), (2, 1)), (3, 1, 2, 1, 2, 2)])
def test_gradcheck_through_the_parametrization(groups, c, n, stride, padding, dilation):
    torch.manual_seed(1)
    C = 3 * groups if groups > 1 else 3
    conv = StructuredConv2d(C, groups * 2, (3, 3), c=c, n=n, stride=stride, padding=padding,
                            dilation=dilation, groups=groups).double()
    x = torch.randn(1, C, 6, 7, dtype=torch.float64)
    nh, nw = (n, n) if isinstance(n, int) else n

    def f(alpha, xx):
        W = compose(alpha, C // groups, 3, 3)
        return torch.nn.functional.conv2d(xx, W, conv.bias, stride, padding, dilation, groups)

    alpha = conv.alpha.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: f(a, x), (alpha,))
    torch.testing.assert_close(conv(x), f(conv.alpha, x))


def test_structured_linear_and_its_gradient():
    lin = StructuredLinear(10, 4, c=3).double()
    assert lin.alpha.shape == (4, 3)
    A = dense_A(10, 1, 1, 3, 1, 1)
    torch.testing.assert_close(lin.weight.detach(), (A @ lin.alpha.detach().T).T, atol=1e-12, rtol=0)
    x = torch.randn(5, 10, dtype=torch.float64)
    lin(x).pow(2).sum().backward()
    W = lin.weight.detach().clone().requires_grad_(True)
    torch.nn.functional.linear(x, W, lin.bias.detach()).pow(2).sum().backward()
    torch.testing.assert_close(lin.alpha.grad, (A.T @ W.grad.T).T, atol=1e-10, rtol=0)


def test_from_module_projects_the_weight_and_keeps_the_bias():
    conv = nn.Conv2d(5, 4, 3, padding=1, bias=True).double()
    s = StructuredConv2d.from_module(conv, 3, 2)
    from structconv.core import project
    np.testing.assert_allclose(s.weight.detach().numpy(), project(conv.weight.detach().numpy(), 3, 2),
                               atol=1e-12)
    torch.testing.assert_close(s.bias, conv.bias)
    lin = nn.Linear(8, 2).double()
    sl = StructuredLinear.from_module(lin, 5)
    assert sl.alpha.shape == (2, 5)


def test_structure_and_unstructure_a_users_model_keep_its_modules():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    first = model[0]
    plan = Plan({"0": {"c": 2, "n": 2}, "2": {"c": 8, "n": 2}, "4": {"c": 100}})
    structure_(model, plan)
    assert model[0] is first and parametrize.is_parametrized(model[0], "weight")
    assert "0.parametrizations.weight.original" in model.state_dict()
    assert model[4].parametrizations.weight.original.shape == (10, 100)
    x = torch.randn(2, 3, 4, 4)
    y = model(x)
    W = model[2].weight.detach().clone()
    unstructure_(model)
    assert not parametrize.is_parametrized(model[2])
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
    torch.testing.assert_close(model[2].weight.detach(), W)
    torch.testing.assert_close(model(x), y)


def test_state_dict_round_trips_through_a_fresh_structured_module():
    a = StructuredConv2d(4, 4, 3, c=2, n=2, padding=1)
    b = StructuredConv2d(4, 4, 3, c=2, n=2, padding=1)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.weight, a.weight)


def test_bad_structures_raise():
    with pytest.raises(ValueError, match="c = 5"):
        StructuredConv2d(4, 4, 3, c=5, n=2)
    with pytest.raises(ValueError, match="n = 4"):
        StructuredConv2d(4, 4, 3, c=2, n=4)
    with pytest.raises(ValueError, match="already parametrized"):
        structure_module(StructuredConv2d(4, 4, 3, c=2, n=2), 2, 2)
    with pytest.raises(ValueError, match="NaN"):
        conv = nn.Conv2d(3, 3, 3)
        with torch.no_grad():
            conv.weight[0, 0, 0, 0] = float("nan")
        structure_module(conv, 2, 2)
    with pytest.raises(ValueError, match="does not have"):
        structure_(nn.Sequential(nn.Conv2d(3, 3, 3)), {"1": {"c": 1, "n": 1}})
    with pytest.raises(RuntimeError, match="weight_shape"):
        StructuredWeight(2, 2)(torch.zeros(1, 2, 2, 2))


def test_every_plan_entry_point_takes_a_preset_name():
    from structconv.core import count_network, get_network, get_preset
    from structconv.nn import (
        build_module,
        decompose,
        network_from_module,
        plan_entries,
        structural_regularization,
    )

    torch.manual_seed(0)
    model = build_module("resnet20").eval()
    want = get_preset("uniform-n2", get_network("resnet20"))
    assert [(e.name, e.choice) for e in plan_entries(model, "uniform-n2")] == list(want.choices.items())
    sr = float(structural_regularization(model, "uniform-n2").detach())
    assert sr == pytest.approx(float(structural_regularization(model, want).detach()), rel=1e-12)
    dec, report = decompose(model, "uniform-n2")
    assert report.plan == "uniform-n2" and len(report.decomposed) == len(want.choices)
    x = torch.zeros(1, 3, 32, 32)
    assert sum(p.numel() for p in dec.parameters()) == count_network(
        network_from_module(model, x), want).structured.params
    structure_(model, "uniform-n2")
    assert all(parametrize.is_parametrized(model.get_submodule(name), "weight") for name in want.choices)
