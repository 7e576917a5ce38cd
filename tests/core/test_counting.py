"""count_ops against a literal, instrumented run of the decomposed layer."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from structconv import Dense, Layer, Plan, Structure, count_ops
from structconv.core import Network, compose, count_network
from tests.support.core_reference import decomposed_conv_counted, dense_conv, dense_conv_counted


@st.composite
def structured_layer(draw):
    g = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 3))
    og = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = draw(st.integers(dil[0] * (kh - 1) + 1, 7))
    W = draw(st.integers(dil[1] * (kw - 1) + 1, 7))
    layer = Layer.conv2d("l", g * cg, g * og, (kh, kw), (H, W), stride=stride, padding=pad,
                         dilation=dil, groups=g, bias=draw(st.booleans()))
    s = Structure(draw(st.integers(1, cg)), (draw(st.integers(1, kh)), draw(st.integers(1, kw))))
    return layer, s, draw(st.integers(0, 2**31))


@given(structured_layer())
def test_count_ops_equals_instrumented_decomposition(case):
    layer, s, seed = case
    rng = np.random.default_rng(seed)
    alpha = rng.normal(size=(layer.out_channels, s.c, s.nh, s.nw))
    bias = rng.normal(size=layer.out_channels) if layer.bias else None
    x = rng.normal(size=(layer.in_channels, *layer.input_size))
    out, sp_adds, adds, mults = decomposed_conv_counted(x, alpha, bias, layer, s)
    # the decomposed layer really computes the structured convolution
    W = compose(alpha, layer.group_in_channels, layer.kernel)
    np.testing.assert_allclose(out, dense_conv(x, W, bias, layer), atol=1e-9)
    got = count_ops(layer, s)
    assert (got.sumpool_adds, got.adds, got.mults) == (sp_adds, adds, mults)
    assert got.params == layer.out_channels * (s.c * s.nh * s.nw + layer.bias)


def linear_layer():
    """A linear layer is a 1x1 conv on a 1x1 input: the same instrumented run counts it."""
    return st.builds(lambda i, o, b, seed: (Layer.linear("fc", i, o, bias=b), None, seed),
                     st.integers(1, 8), st.integers(1, 8), st.booleans(), st.integers(0, 2**31))


@given(st.one_of(structured_layer(), linear_layer()))
def test_dense_count_equals_instrumented_direct_convolution(case):
    layer, _, seed = case
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(layer.out_channels, layer.group_in_channels, *layer.kernel))
    bias = rng.normal(size=layer.out_channels) if layer.bias else None
    x = rng.normal(size=(layer.in_channels, *layer.input_size))
    out, adds, mults = dense_conv_counted(x, W, bias, layer)
    np.testing.assert_allclose(out, dense_conv(x, W, bias, layer), atol=1e-9)   # it is the convolution
    got = count_ops(layer, Dense())
    assert (got.mults, got.adds, got.sumpool_adds) == (mults, adds, 0)
    assert got.params == W.size + (bias.size if bias is not None else 0)


@given(structured_layer())
def test_full_structure_equals_dense(case):
    layer, _, _ = case
    full = Structure(layer.group_in_channels, layer.kernel)
    assert count_ops(layer, full) == count_ops(layer)


def test_linear_formula():
    fc = Layer.linear("fc", 512, 1000, bias=False)
    s = count_ops(fc, Structure(128, 1))
    assert s.sumpool_adds == 128 * (512 - 128)
    assert s.mults == 1000 * 128
    assert s.adds == 1000 * 127 + 128 * (512 - 128)


def test_depthwise_structures_spatially_only():
    dw = Layer.conv2d("dw", 32, 32, 3, (16, 16), padding=1, groups=32)
    s = count_ops(dw, Structure(1, 2))
    assert s.sumpool_adds == 32 * 17 * 17 * 3
    assert s.mults == 32 * 16 * 16 * 4
    with pytest.raises(ValueError, match=r"c = 2 is out of range \[1, 1\]"):
        count_ops(dw, Structure(2, 2))


def test_network_totals_and_plan_validation():
    net = Network("toy", (3, 8, 8), (
        Layer.conv2d("a", 3, 8, 3, (8, 8), padding=1),
        Layer.conv2d("b", 8, 8, 3, (8, 8), padding=1),
        Layer.linear("fc", 8, 10)), extra_params=32)
    cost = count_network(net, Plan({"b": {"c": 4, "n": 2}}, name="p"))
    assert cost.original.params == 3 * 8 * 9 + 8 * 8 * 9 + 8 * 10 + 10 + 32
    assert cost.structured.params == 3 * 8 * 9 + 8 * 4 * 4 + 8 * 10 + 10 + 32
    d = cost.to_dict()
    assert d["plan"] == "p" and [r["name"] for r in d["layers"]] == ["a", "b", "fc"]
    assert d["layers"][1]["choice"] == "c=4,n=2"
    with pytest.raises(ValueError, match="names layer 'zz'"):
        count_network(net, Plan({"zz": {"c": 1, "n": 1}}))
