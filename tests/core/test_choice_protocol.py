"""A new kind of choice, defined in this file only, runs through count -> simulate -> search space
-> torch module with no edit to structconv: the Choice protocol and the registries are the seams.

The kind is a rank-R factorisation of a k x k conv C -> F: a k x k conv C -> R (keeping the
stride, padding and dilation), then a 1x1 conv R -> F (carrying the bias).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from structconv.core import (
    Choice,
    Dense,
    Layer,
    Network,
    Part,
    Plan,
    choice_from_dict,
    choice_kinds,
    count_network,
    count_ops,
)


@dataclass(frozen=True)
class LowRank(Choice):
    rank: int

    kind = "test_low_rank"

    def validate(self, layer: Layer) -> None:
        super().validate(layer)
        if layer.op != "conv2d" or layer.groups != 1:
            raise ValueError(f"test_low_rank needs an ungrouped conv (in layer {layer.name!r})")
        if not 1 <= self.rank < min(layer.in_channels, layer.out_channels):
            raise ValueError(f"rank = {self.rank} is out of range [1, "
                             f"{min(layer.in_channels, layer.out_channels) - 1}] (in layer {layer.name!r})")

    def layers(self, layer: Layer) -> tuple[Layer, Layer]:
        first = Layer.conv2d(layer.name + ".u", layer.in_channels, self.rank, layer.kernel, layer.input_size,
                             layer.stride, layer.padding, layer.dilation)
        return first, Layer.conv2d(layer.name + ".v", self.rank, layer.out_channels, 1, first.output_size,
                                   bias=layer.bias)

    def parts(self, layer: Layer) -> tuple[Part, ...]:
        self.validate(layer)
        return tuple(Part(p) for p in self.layers(layer))

    @classmethod
    def options(cls, layer: Layer, rule) -> tuple[LowRank, ...]:
        if layer.op != "conv2d" or layer.groups != 1 or layer.kernel == (1, 1):
            return ()
        return tuple(cls(r) for r in {max(1, layer.out_channels // 4)}
                     if r < min(layer.in_channels, layer.out_channels))


@pytest.fixture
def low_rank(monkeypatch):
    """Register the kind for one test only (the registry is a module-level dict)."""
    import structconv.core.choice as registry

    monkeypatch.setitem(registry._KINDS, LowRank.kind, LowRank)
    yield LowRank


def _net():
    return Network("tiny", (3, 16, 16), (
        Layer.conv2d("conv1", 3, 16, 3, (16, 16), padding=1),
        Layer.conv2d("conv2", 16, 32, 3, (16, 16), stride=2, padding=1, bias=True),
        Layer.conv2d("conv3", 32, 32, 3, (8, 8), padding=2, dilation=2),
        Layer.linear("fc", 32, 10),
    ))


def _hand_count(C, F, R, k, ho, wo, bias):
    """Two plain convs by the counting convention, written out: (mults, params)."""
    mults = R * C * k * k * ho * wo + F * R * ho * wo
    return mults, R * C * k * k + F * R + (F if bias else 0)


def test_registered_kind_reads_back_and_counts(low_rank):
    assert choice_kinds()[LowRank.kind] is LowRank
    choice = choice_from_dict({"kind": "test_low_rank", "rank": 8})
    assert choice == LowRank(8) and choice_from_dict(choice.to_dict()) == choice
    net = _net()
    op = count_ops(net["conv2"], choice)
    assert (op.mults, op.params) == _hand_count(16, 32, 8, 3, 8, 8, bias=True)
    assert op.sumpool_adds == 0
    assert LowRank(16).fits(net["conv2"]) == "rank = 16 is out of range [1, 15] (in layer 'conv2')"
    plan = Plan({"conv2": {"kind": "test_low_rank", "rank": 8}, "conv3": LowRank(4)})
    total = count_network(net, plan).structured
    dense = count_network(net).original
    saved = (32 * 16 * 9 * 64 - _hand_count(16, 32, 8, 3, 8, 8, True)[0]
             + 32 * 32 * 9 * 64 - _hand_count(32, 32, 4, 3, 8, 8, False)[0])
    assert dense.mults - total.mults == saved


def test_registered_kind_simulates_as_its_parts(low_rank):
    from structconv.sim import simulate

    net = _net()
    plan = Plan({"conv2": LowRank(8)})
    res = simulate(net, plan, hw="edge-int8")
    expanded = Network("expanded", net.input_shape, LowRank(8).layers(net["conv2"]))
    parts = simulate(expanded, None, hw="edge-int8")
    assert res["conv2"].cycles_compute == parts.cycles_compute
    assert res["conv2"].macs == sum(r.macs for r in parts.layers)
    assert res["conv2"].macs == count_ops(net["conv2"], LowRank(8)).mults
    assert res["conv1"].cycles_total == simulate(net, None, hw="edge-int8")["conv1"].cycles_total


def test_registered_kind_is_in_the_search_space(low_rank):
    from structconv.search import build_space

    space = build_space(_net())
    offered = {ls.name: [c for c in ls.choices if isinstance(c, LowRank)] for ls in space.layers}
    assert offered == {"conv1": [], "conv2": [LowRank(8)], "conv3": [LowRank(8)], "fc": []}
    # ordered by cost like every other choice: a cheaper choice never precedes a dearer one
    for ls in space.layers:
        mults = [count_ops(ls.layer, c).mults for c in ls.choices[1:]]
        assert mults == sorted(mults, reverse=True)
    assert space.layers[0].choices[0] == Dense()


def test_registered_kind_becomes_a_torch_module(low_rank):
    """One registration in nn gives the kind its trainable and deployable torch form."""
    import torch
    from torch import nn

    from structconv.nn import (
        decompose,
        network_from_module,
        register_torch_choice,
        structure_,
        unregister_torch_choice,
    )

    def factorised(module, choice, layer):
        u = nn.Conv2d(layer.in_channels, choice.rank, layer.kernel, layer.stride, layer.padding,
                      layer.dilation, bias=False)
        return nn.Sequential(u, nn.Conv2d(choice.rank, layer.out_channels, 1, bias=module.bias is not None))

    register_torch_choice(LowRank.kind, trainable=factorised)
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(16, 32, 3, stride=2, padding=1))
        x = torch.randn(2, 3, 16, 16)
        net = network_from_module(model, x)
        layer = net["2"]
        plan = Plan({"2": LowRank(8)})
        structure_(model, plan)
        params = sum(p.numel() for p in model[2].parameters())
        assert params == count_ops(layer, LowRank(8)).params
        assert model(x).shape == (2, 32, 8, 8)
        deployed, _ = decompose(model, plan)
        assert deployed(x).shape == (2, 32, 8, 8)
    finally:
        unregister_torch_choice(LowRank.kind)
