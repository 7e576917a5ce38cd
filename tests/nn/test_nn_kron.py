"""The torch Kronecker projector equals core's numpy one and the dense pseudo-inverse."""
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import structure as S
from structconv.nn.layers import _kron
from tests.support.core_reference import dense_pinv_project, kernel_case


@st.composite
def wide_channel_case(draw):
    """C in [17, 40] with min(c, C - c + 1) > 8: compose's channel axis takes expand_axis's
    prefix-sum branch (the shifted-copy branch covers min(k, L) <= 8)."""
    co = draw(st.integers(1, 2))
    C = draw(st.integers(17, 40))
    c = draw(st.integers(9, C - 8))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    nh, nw = draw(st.integers(1, kh)), draw(st.integers(1, kw))
    W = np.random.default_rng(draw(st.integers(0, 2**31))).normal(size=(co, C, kh, kw))
    return W, c, nh, nw


@st.composite
def large_kernel_case(draw):
    """kh*kw > 64 taps (sides up to 9) and (nh, nw) != (kh, kw): project's per-axis spatial
    branch instead of the small (kh*kw)^2 projector matrix."""
    co = draw(st.integers(1, 2))
    C = draw(st.integers(1, 3))
    kh, kw = draw(st.sampled_from([(8, 9), (9, 8), (9, 9)]))
    c = draw(st.integers(1, C))
    nh, nw = draw(st.integers(1, kh)), draw(st.integers(1, kw))
    if (nh, nw) == (kh, kw):
        nh -= 1
    W = np.random.default_rng(draw(st.integers(0, 2**31))).normal(size=(co, C, kh, kw))
    return W, c, nh, nw


ALL_CASES = st.one_of(kernel_case(max_C=12), wide_channel_case(), large_kernel_case())


@given(ALL_CASES)
def test_project_and_alphas_equal_dense_pinv(case):
    W, c, nh, nw = case
    P_ref, alpha_ref = dense_pinv_project(W, c, nh, nw)
    Wt = torch.tensor(W)
    np.testing.assert_allclose(_kron.project(Wt, c, nh, nw).numpy(), P_ref, atol=1e-10)
    np.testing.assert_allclose(_kron.alphas(Wt, c, nh, nw).numpy(), alpha_ref, atol=1e-10)


@given(ALL_CASES)
def test_compose_and_residual_equal_core(case):
    W, c, nh, nw = case
    co, C, kh, kw = W.shape
    alpha = np.random.default_rng(3).normal(size=(co, c, nh, nw))
    A = S.basis_matrix(C, (kh, kw), c, (nh, nw))
    Ws = (A @ alpha.reshape(co, -1).T).T.reshape(co, C, kh, kw)           # literally A alpha
    np.testing.assert_allclose(_kron.compose(torch.tensor(alpha), C, kh, kw).numpy(), Ws, atol=1e-12)
    np.testing.assert_allclose(S.compose(alpha, C, (kh, kw)), Ws, atol=1e-12)
    np.testing.assert_allclose(_kron.project(torch.tensor(W), c, nh, nw).numpy(), S.project(W, c, (nh, nw)),
                               atol=1e-10)
    got = float(_kron.structural_residual(torch.tensor(W), c, nh, nw))
    assert got == pytest.approx(S.structural_residual(W, c, (nh, nw)), abs=1e-10)


@settings(max_examples=5)
@given(wide_channel_case(), large_kernel_case())
def test_the_widened_cases_reach_both_branches(wide, large):
    """The two strategies above really run expand_axis's prefix sums and project's per-axis
    spatial path (spied on)."""
    W, c, _, _ = wide
    with mock.patch.object(_kron.torch, "cumsum", wraps=torch.cumsum) as cumsum:
        _kron.compose(torch.ones(1, c, 1, 1, dtype=torch.float64), W.shape[1], 1, 1)
    assert cumsum.call_count == 1
    W, c, nh, nw = large
    with mock.patch.object(_kron, "project_axis", wraps=_kron.project_axis) as pa, \
            mock.patch.object(_kron, "spatial_projector", wraps=_kron.spatial_projector) as sp:
        _kron.project(torch.tensor(W), c, nh, nw)
    assert [call.args[1] for call in pa.call_args_list] == [1, 2, 3] and sp.call_count == 0


def test_zero_weight_has_zero_residual_and_finite_gradient():
    W = torch.zeros(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    r = _kron.structural_residual(W, 2, 2, 2)
    r.backward()
    assert float(r.detach()) == 0.0 and torch.isfinite(W.grad).all()


def test_exactly_structured_weight_has_finite_gradient():
    alpha = torch.randn(2, 2, 2, 2, dtype=torch.float64)
    W = _kron.compose(alpha, 3, 3, 3).requires_grad_(True)
    r = _kron.structural_residual(W, 2, 2, 2)
    r.backward()
    assert float(r.detach()) < 1e-12 and torch.isfinite(W.grad).all()


def test_residual_gradient_matches_finite_differences():
    W = torch.randn(2, 4, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: _kron.structural_residual(w, 2, 2, 1), (W,))
    assert torch.autograd.gradcheck(lambda w: _kron.project(w, 3, 2, 2), (W,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_other_dtypes_keep_their_dtype(dtype):
    W = torch.randn(4, 6, 3, 3)
    r = _kron.structural_residual(W.to(dtype), 3, 2, 2)
    assert r.dtype == dtype
    assert float(r) == pytest.approx(S.structural_residual(W.double().numpy(), 3, 2), abs=2e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    W = torch.randn(8, 16, 3, 3, dtype=torch.float64)
    r_cpu = _kron.structural_residual(W, 5, 2, 2)
    Wc = W.cuda().requires_grad_(True)
    r = _kron.structural_residual(Wc, 5, 2, 2)
    r.backward()
    assert r.device.type == "cuda" and float(r) == pytest.approx(float(r_cpu), abs=1e-12)
