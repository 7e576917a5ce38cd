"""network_from_module: hooks turn a torch module into a core Network that counts like torchinfo."""
import pytest
import torch
from torch import nn

from structconv.core import Plan, count_network, count_ops
from structconv.nn import decompose, layer_from_module, network_from_module, structural_regularization


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.layer1(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Odd(nn.Module):
    """Rectangular, dilated, grouped, depthwise, biased convs, LayerNorm and an embedding-like param."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 12, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), bias=True)
        self.dw = nn.Conv2d(12, 12, 3, padding=1, groups=12)
        self.g = nn.Conv2d(12, 6, 1, groups=3)
        self.norm = nn.LayerNorm(6)
        self.scale = nn.Parameter(torch.ones(7))
        self.head = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 3, bias=False))

    def forward(self, x):
        x = self.g(self.dw(self.a(x))).mean((2, 3))
        return self.head(self.norm(x))


def torchinfo_per_layer(module, x):
    import torchinfo
    names = {id(m): n for n, m in module.named_modules()}
    s = torchinfo.summary(module, input_data=x, verbose=0)
    return {names[id(li.module)]: (li.macs, li.num_params) for li in s.summary_list
            if isinstance(li.module, (nn.Conv2d, nn.Linear))}, s.total_params


@pytest.mark.parametrize("factory,shape", [(TinyResNet, (1, 3, 16, 16)), (Odd, (1, 4, 11, 13))])
def test_counts_agree_with_torchinfo_per_layer(factory, shape):
    torch.manual_seed(0)
    module = factory()
    x = torch.randn(shape)
    net = network_from_module(module, x)
    per_layer, total_params = torchinfo_per_layer(module, x)
    assert set(net.layer_names) == set(per_layer)
    for layer in net:
        c = count_ops(layer)
        ho, wo = layer.output_size
        bias_macs = layer.out_channels * ho * wo if layer.bias else 0   # torchinfo adds bias into MACs
        assert (c.mults + bias_macs, c.params) == per_layer[layer.name], layer.name
    assert count_network(net).original.params == total_params == sum(p.numel() for p in module.parameters())


def test_layers_carry_names_sizes_and_attributes():
    net = network_from_module(TinyResNet(), torch.randn(2, 3, 16, 16), name="tiny")
    assert net.name == "tiny" and net.input_shape == (3, 16, 16)
    assert net.layer_names[:3] == ("conv1", "layer1.0.conv1", "layer1.0.conv2")
    down = net["layer1.1.down.0"]
    assert (down.kernel, down.stride, down.input_size, down.output_size) == ((1, 1), (2, 2), (16, 16), (8, 8))
    assert net["layer1.1.conv2"].input_size == (8, 8)
    assert net["fc"].op == "linear" and net["fc"].bias
    assert net.extra_params == 2 * (16 + 16 + 16 + 32 + 32 + 32)              # BatchNorm affine params
    odd = network_from_module(Odd(), torch.randn(1, 4, 11, 13))
    a = odd["a"]
    assert (a.kernel, a.stride, a.padding, a.dilation, a.bias) == ((3, 5), (2, 1), (1, 2), (1, 2), True)
    assert odd["dw"].kind == "depthwise" and odd["g"].groups == 3
    assert odd.extra_params == 12 + 7                                          # LayerNorm + scale


def test_a_plan_written_for_the_network_applies_to_the_module():
    module = TinyResNet().double().eval()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    net = network_from_module(module, x)
    plan = Plan({l.name: {"c": l.group_in_channels, "n": 2} for l in net if l.kernel == (3, 3)})
    plan.validate(net)
    assert count_network(net, plan).structured.mults < count_network(net).original.mults
    assert float(structural_regularization(module, plan).detach()) > 0
    dec, report = decompose(module, plan)
    assert len(report.decomposed) == len(plan)


def test_repeated_calls_and_unsupported_modules():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 3, 3, padding=1)
            self.c1d = nn.Conv1d(3, 3, 1)

        def forward(self, x):
            return self.c(self.c(x))

    with pytest.warns(UserWarning, match="c1d"):
        net = network_from_module(Twice(), torch.randn(1, 3, 5, 5))
    assert net.layer_names == ("c", "c#1")
    assert net.extra_params == 3 * 3 + 3


def test_bad_inputs():
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        network_from_module(nn.Sequential(nn.ReLU()), torch.randn(1, 3))
    with pytest.raises(ValueError, match="nn.Module"):
        network_from_module(lambda x: x, torch.randn(1))
    with pytest.raises(ValueError, match="BatchNorm2d"):
        layer_from_module("bn", nn.BatchNorm2d(3))


def test_module_state_is_restored():
    m = TinyResNet().train()
    network_from_module(m, torch.randn(1, 3, 8, 8))
    assert m.training
    assert not m.conv1._forward_pre_hooks


@pytest.mark.parametrize("name", ["resnet20", "mobilenet_v2"])
def test_zoo_modules_trace_to_the_core_zoo_networks(name):
    import structconv.nn.zoo as zoo
    from structconv.core.zoo import get_network
    net = get_network(name)
    module = zoo.build_module(name)
    traced = network_from_module(module, torch.randn((1,) + tuple(net.input_shape)))
    assert traced.layers == net.layers
    assert count_network(traced).original == count_network(net).original


# -- issue 11: counts right on real-world architectures (expected values by hand formula) ------------------
import copy  # noqa: E402
import warnings  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from structconv.nn import decompose_conv, fold_repeated_calls, structure_, with_forward_padding  # noqa: E402
from tests.support.torch_helpers import Conv2dSame  # noqa: E402 - timm's, written out


@pytest.mark.parametrize("shape,positions", [((1, 5, 6, 8), 30), ((2, 9, 8), 9), ((3, 8), 1)])
def test_a_linear_on_an_nd_tensor_counts_every_position(shape, positions):
    net = network_from_module(nn.Linear(8, 4), torch.randn(shape))
    assert count_ops(net.layers[0]).mults == positions * 8 * 4
    assert count_network(net).original.params == 8 * 4 + 4


def test_padding_in_forward_is_counted():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.same = Conv2dSame(3, 6, 3, stride=2)          # 15 -> ceil(15 / 2) = 8, pads (1, 1)
            self.even = nn.Conv2d(6, 6, 4, padding="same")     # pads (1, 2): 8 -> 8
            self.after_pad = nn.Conv2d(6, 2, 3)                # F.pad (0, 1, 2, 0) before it: 8 -> (8, 7)

        def forward(self, x):
            return self.after_pad(F.pad(self.even(self.same(x)), (0, 1, 2, 0)))

    net = network_from_module(M(), torch.randn(1, 3, 15, 15))
    assert [l.output_size for l in net] == [(8, 8), (8, 8), (8, 7)]
    assert [count_ops(l).mults for l in net] == [6 * 3 * 9 * 64, 6 * 6 * 16 * 64, 2 * 6 * 9 * 56]


def test_transposed_and_functional_convs_and_products_are_counted_and_einsum_warned_once():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
            self.w = nn.Parameter(torch.randn(5, 6, 3, 3))
            self.v = nn.Parameter(torch.randn(7, 5))

        def forward(self, x):
            x = F.conv2d(self.up(x), self.w, padding=1)       # up: 5x5 -> 11x11
            x = x.mean((2, 3))
            x = F.linear(x, self.v)
            x = x @ torch.ones(7, 2)                            # two activations: a matmul layer (issue 19)
            return torch.einsum("ij,jk->ik", x, torch.ones(2, 2)) @ torch.ones(2, 2)   # einsum: warned, once

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = network_from_module(M(), torch.randn(1, 4, 5, 5))
    assert net.layer_names == ("up", "w", "v", "matmul0", "matmul1")
    assert [count_ops(l).mults for l in net] == [4 * (6 // 2) * 9 * 25, 5 * 6 * 9 * 121, 5 * 7, 7 * 2, 2 * 2]
    assert [str(w.message).count("torch.einsum") for w in seen] == [1]


def test_a_module_called_twice_counts_its_params_once_and_a_plan_on_either_call_applies():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.body(self.body(x))

    module = Twice().double()
    net = network_from_module(module, torch.randn(1, 4, 6, 6, dtype=torch.float64))
    assert net.layers[1].shares == "body"
    total = count_network(net).original
    assert (total.mults, total.params) == (2 * 4 * 4 * 9 * 36, 4 * 4 * 9 + 4)
    plan = fold_repeated_calls(Plan({"body#1": {"c": 4, "n": 2}}))
    assert dict(plan.choices) == {"body": Plan({"body": {"c": 4, "n": 2}}).choices["body"]}
    assert float(structural_regularization(module, plan).detach()) > 0
    with pytest.raises(ValueError, match="one choice"):
        fold_repeated_calls(Plan({"body": {"c": 4, "n": 2}, "body#1": {"c": 2, "n": 2}}))


@pytest.mark.parametrize("stride,size", [(2, 15), (2, 14), (1, 9)])
def test_a_conv_padding_in_forward_keeps_it_when_decomposed(stride, size):
    torch.manual_seed(0)
    conv = Conv2dSame(4, 6, 3, stride=stride).double().eval()
    projected = structure_(nn.Sequential(copy.deepcopy(conv)), {"0": {"c": 4, "n": 2}})
    dec = with_forward_padding(conv, decompose_conv(conv, 4, 2), "conv").double().eval()
    x = torch.randn(2, 4, size, size, dtype=torch.float64)
    with torch.no_grad():
        want, got = projected(x), dec(x)
    assert got.shape == want.shape == conv(x).shape
    assert torch.allclose(got, want, atol=1e-10, rtol=0)


def test_decompose_of_a_model_with_forward_padding_equals_the_projected_model():
    torch.manual_seed(0)
    model = nn.Sequential(Conv2dSame(3, 6, 3, stride=2), nn.ReLU(), Conv2dSame(6, 6, 3)).double().eval()
    plan = {"0": {"c": 3, "n": 2}, "2": {"c": 6, "n": 2}}
    x = torch.randn(1, 3, 15, 15, dtype=torch.float64)
    dec, _ = decompose(model, plan)
    with torch.no_grad():
        want, got = structure_(copy.deepcopy(model), plan)(x), dec(x)
    assert got.shape == want.shape == (1, 6, 8, 8)
    assert torch.allclose(got, want, atol=1e-10, rtol=0)
