"""Structural Regularization: equals core's numpy residual; errors on bad plans and weights."""
import pytest
import torch
from torch import nn

from structconv.core import Plan, structural_residual
from structconv.nn import StructuralRegularizer, compose, structural_regularization, structural_residuals


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, (3, 5), padding=(1, 2), groups=4)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pw(self.dw(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


PLAN = Plan({"conv1": {"c": 2, "n": 2}, "conv2": {"c": 3, "n": [2, 3]}, "dw": {"c": 1, "n": 2},
             "pw": {"c": 9, "n": 1}, "fc": {"c": 20}}, name="test")


def core_sum(model, plan):
    total = 0.0
    for name, ch in plan.choices.items():
        W = model.get_submodule(name).weight.detach().double().numpy()
        total += structural_residual(W, ch.c, ch.n)
    return total


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sr_equals_core_structural_residual(dtype):
    torch.manual_seed(0)
    model = Net().to(dtype)
    got = structural_regularization(model, PLAN).detach()
    assert got.dtype == dtype and got.dim() == 0
    assert float(got) == pytest.approx(core_sum(model, PLAN), abs=1e-6)
    per = structural_residuals(model, PLAN)
    assert set(per) == set(PLAN.choices)
    for name, ch in PLAN.choices.items():
        W = model.get_submodule(name).weight.detach().double().numpy()
        assert per[name] == pytest.approx(structural_residual(W, ch.c, ch.n), abs=1e-6)


def test_sr_is_zero_for_structured_weights_and_positive_otherwise():
    torch.manual_seed(0)
    model = Net().double()
    assert float(structural_regularization(model, PLAN).detach()) > 0.5
    with torch.no_grad():
        for name, ch in PLAN.choices.items():
            m = model.get_submodule(name)
            W = m.weight if m.weight.dim() == 4 else m.weight[:, :, None, None]
            alpha = torch.randn(W.shape[0], ch.c, ch.nh, ch.nw, dtype=torch.float64)
            m.weight.copy_(compose(alpha, W.shape[1], W.shape[2], W.shape[3]).reshape(m.weight.shape))
    assert float(structural_regularization(model, PLAN).detach()) < 1e-12


def test_gradient_descent_on_sr_drives_weights_to_structure():
    torch.manual_seed(0)
    model = Net()
    reg = StructuralRegularizer(model, PLAN)
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    start = float(reg().detach())
    for _ in range(40):
        opt.zero_grad()
        reg().backward()
        opt.step()
    assert float(reg().detach()) < 0.1 * start
    assert model.bn1.weight.grad is None or float(model.bn1.weight.grad.abs().sum()) == 0.0


def test_regularizer_follows_the_model_it_is_called_with():
    import copy
    model = Net()
    reg = StructuralRegularizer(model, PLAN)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.conv1.weight.mul_(0).add_(1.0)            # all-ones: exactly structured for any (c, n)
    assert float(reg(other).detach()) < float(reg(model).detach())
    assert reg.layer_names == tuple(PLAN.choices)


def test_dense_designs_and_identity_structures_contribute_nothing():
    model = Net()
    plan = Plan({"conv1": "dense", "pw": {"c": 16, "n": 1}})
    reg = StructuralRegularizer(model, plan)
    assert reg.terms == ()
    assert float(reg()) == 0.0


def test_plan_dict_forms_are_accepted():
    model = Net()
    a = float(structural_regularization(model, PLAN).detach())
    assert float(structural_regularization(model, PLAN.to_dict()).detach()) == pytest.approx(a)
    plan = {k: v.to_dict() for k, v in PLAN.choices.items()}
    assert float(structural_regularization(model, plan).detach()) == pytest.approx(a)


def test_bad_plans_and_weights_raise_value_errors():
    model = Net()
    with pytest.raises(ValueError, match="'conv9'"):
        structural_regularization(model, {"conv9": {"c": 1, "n": 1}})
    with pytest.raises(ValueError, match="c = 4"):
        structural_regularization(model, {"conv1": {"c": 4, "n": 2}})      # conv1 has C = 3
    with pytest.raises(ValueError, match="n = 3"):
        structural_regularization(model, {"pw": {"c": 2, "n": 3}})         # 1x1 kernel
    with pytest.raises(ValueError, match="c = 2"):
        structural_regularization(model, {"dw": {"c": 2, "n": 2}})         # depthwise: c = 1
    with pytest.raises(ValueError, match=r"'bn1'.*Conv2d/Linear"):               # a BatchNorm2d
        structural_regularization(model, {"bn1": {"c": 1, "n": 1}})
    reg = StructuralRegularizer(model, PLAN)
    with torch.no_grad():
        model.conv2.weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="'conv2'.*NaN or inf"):
        reg()
    with pytest.raises(ValueError, match="'conv2'.*NaN or inf"):
        structural_regularization(model, PLAN)


def test_wrapped_models_resolve_to_the_inner_module():
    model = Net()
    reg = StructuralRegularizer(nn.DataParallel(model), PLAN)
    assert float(reg(nn.DataParallel(model)).detach()) == pytest.approx(float(reg(model).detach()))


def test_a_layer_named_layers_is_not_mistaken_for_a_serialized_plan():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Conv2d(4, 4, 3)

        def forward(self, x):
            return self.layers(x)

    m = M()
    got = float(structural_regularization(m, {"layers": {"c": 2, "n": 2}}).detach())
    assert got == pytest.approx(structural_residual(m.layers.weight.detach().numpy(), 2, 2), abs=1e-6)
