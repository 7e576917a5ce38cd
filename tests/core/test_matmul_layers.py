"""Activation products (op ``matmul``) and token-major Linears in core (issue 19): hand formulas, and a
literal numpy run of the product that counts its multiplies."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from structconv.core import (
    Dense,
    Layer,
    Network,
    Plan,
    Structure,
    count_network,
    count_ops,
    linear_layer,
    matmul_layer,
)


@given(st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(1, 5), st.integers(1, 5),
       st.integers(1, 5), st.sampled_from([1, 2]))
def test_a_product_counts_the_multiplies_a_literal_run_does(lead, M, K, N, batch):
    a_shape, b_shape = (batch, *lead, M, K), (batch, *lead, K, N)
    a, b = np.ones(a_shape), np.ones(b_shape)
    mults = 0
    for idx in np.ndindex(*a_shape[:-2]):           # one GEMM per batch index, M*N dot products of length K
        for i in range(M):
            for j in range(N):
                mults += len(a[idx][i] * b[idx][:, j])
    layer = matmul_layer("p", a_shape, b_shape, batch)
    got = count_ops(layer)
    assert got.mults == mults // batch                 # per image
    assert (got.adds, got.params) == (got.mults - got.mults // K, 0)


def test_broadcast_and_one_dimensional_operands():
    assert count_ops(matmul_layer("p", (1, 4, 5, 6), (6, 7))).mults == 4 * 5 * 6 * 7
    assert count_ops(matmul_layer("p", (6,), (2, 6, 3))).mults == 2 * 6 * 3
    assert count_ops(matmul_layer("p", (10, 3), (3, 4), batch=2)).mults == 5 * 3 * 4      # batch in the rows
    with pytest.raises(ValueError, match="does not fit"):
        matmul_layer("p", (2, 3), (4, 5))
    with pytest.raises(ValueError, match="do not broadcast"):
        matmul_layer("p", (2, 3, 4), (3, 4, 5))


@pytest.mark.parametrize("shape,batch,positions", [((1, 197, 8), 1, 197), ((197, 8), 1, 197),
                                                   ((64, 49, 8), 1, 64 * 49), ((128, 49, 8), 2, 64 * 49),
                                                   ((2, 8), 2, 1), ((3, 8), 2, 3)])
def test_a_linear_counts_every_position_but_the_image_batch(shape, batch, positions):
    assert count_ops(linear_layer("fc", 8, 4, shape, True, batch)).mults == positions * 8 * 4


def test_a_product_layer_round_trips_and_takes_only_dense():
    layer = Layer.matmul("attn.matmul0", 12, 197, 64, 197)
    assert (layer.kind, layer.groups, layer.input_size) == ("matmul", 12, (1, 197))
    assert Layer.from_dict(layer.to_dict()) == layer
    net = Network("n", (3, 8, 8), (Layer.linear("fc", 8, 8), layer))
    assert Network.from_dict(net.to_dict()) == net
    assert count_network(net, Plan({"attn.matmul0": Dense()})).structured.mults == 8 * 8 + 12 * 197 * 197 * 64
    with pytest.raises(ValueError, match="only 'dense' applies"):
        Structure(8).validate(layer)
    with pytest.raises(ValueError, match="no bias"):
        Layer("p", "matmul", 4, 4, bias=True)
