"""SumPool3d / SumPool1d: every implementation equals a naive loop over the window."""
import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from structconv.nn.layers.sumpool import METHODS, SumPool1d, SumPool3d, choose_method, sum_pool1d, sum_pool3d

ALL = [m for m in METHODS]


def naive_sum_pool(x, window, groups, pad, dil):
    """Obviously-correct reference: zero-pad, then add every tap of the window one by one."""
    kc, a, b = window
    N, C, H, W = x.shape
    Cg = C // groups
    c = Cg - kc + 1
    t, bo, l, r = pad
    xp = torch.nn.functional.pad(x, (l, r, t, bo))
    H1, W1 = xp.shape[2] - dil[0] * (a - 1), xp.shape[3] - dil[1] * (b - 1)
    out = torch.zeros(N, groups * c, H1, W1, dtype=x.dtype)
    for g in range(groups):
        for o in range(c):
            for i in range(kc):
                for u in range(a):
                    for v in range(b):
                        out[:, g * c + o] += xp[:, g * Cg + o + i, u * dil[0]:u * dil[0] + H1,
                                                v * dil[1]:v * dil[1] + W1]
    return out


@st.composite
def pool_case(draw):
    groups = draw(st.integers(1, 3))
    Cg = draw(st.integers(1, 5))
    kc = draw(st.integers(1, Cg))
    a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    sym = draw(st.booleans())
    if sym:
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        pad = (ph, ph, pw, pw)
    else:
        pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    H = draw(st.integers(max(1, dil[0] * (a - 1) + 1 - pad[0] - pad[1]), 20))
    W = draw(st.integers(max(1, dil[1] * (b - 1) + 1 - pad[2] - pad[3]), 20))
    seed = draw(st.integers(0, 2**31))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, groups * Cg, H, W, generator=g, dtype=torch.float64)
    return x, (kc, a, b), groups, pad, dil


@given(pool_case())
def test_every_method_equals_the_naive_window_sum(case):
    x, window, groups, pad, dil = case
    ref = naive_sum_pool(x, window, groups, pad, dil)
    for m in ALL:
        y = sum_pool3d(x, window, groups, pad, dil, method=m)
        assert y.shape == ref.shape, m
        torch.testing.assert_close(y, ref, atol=1e-10, rtol=0, msg=f"method {m}")


@pytest.mark.parametrize("method", ALL)
def test_module_matches_function_and_reports_channels(method):
    x = torch.randn(2, 12, 9, 10, dtype=torch.float64)
    sp = SumPool3d(12, (2, 3, 2), groups=3, padding=(1, 2), dilation=(2, 1), method=method)
    y = sp(x)
    assert y.shape == (2, sp.out_channels, 9 + 2 - 4, 10 + 4 - 1)
    torch.testing.assert_close(y, naive_sum_pool(x, (2, 3, 2), 3, (1, 1, 2, 2), (2, 1)), atol=1e-10, rtol=0)
    assert sp.state_dict() == {}                 # no parameters: never changes a state dict


@pytest.mark.parametrize("method", ALL)
def test_float32_and_channels_last(method):
    x = torch.randn(3, 8, 15, 15).contiguous(memory_format=torch.channels_last)
    ref = naive_sum_pool(x.double(), (1, 2, 2), 1, (1, 1, 1, 1), (1, 1))
    y = sum_pool3d(x, (1, 2, 2), 1, 1, 1, method=method)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y.double(), ref, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_non_zero_padding_modes_pad_then_sum(mode):
    x = torch.randn(1, 4, 7, 8, dtype=torch.float64)
    xp = torch.nn.functional.pad(x, (2, 2, 1, 1), mode=mode)
    ref = naive_sum_pool(xp, (2, 2, 3), 2, (0, 0, 0, 0), (1, 1))
    for m in ALL:
        y = SumPool3d(4, (2, 2, 3), groups=2, padding=(1, 2), method=m, padding_mode=mode)(x)
        torch.testing.assert_close(y, ref, atol=1e-10, rtol=0)


def test_sum_pool_is_differentiable_and_gradients_agree():
    x = torch.randn(1, 6, 6, 7, dtype=torch.float64, requires_grad=True)
    grads = []
    for m in ALL:
        (sum_pool3d(x, (2, 2, 3), 2, 1, (1, 2), method=m) ** 2).sum().backward()
        grads.append(x.grad.clone())
        x.grad = None
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0], atol=1e-10, rtol=0)


@given(st.integers(1, 30), st.integers(0, 2**31), st.sampled_from(ALL))
def test_sum_pool1d_equals_sliding_sums(F, seed, method):
    x = torch.randn(2, 3, F, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    for w in sorted({1, min(2, F), max(1, F // 2), F}):
        ref = torch.stack([x[..., i:i + w].sum(-1) for i in range(F - w + 1)], -1)
        torch.testing.assert_close(sum_pool1d(x, w, method), ref, atol=1e-10, rtol=0)
        torch.testing.assert_close(SumPool1d(F, w, method)(x), ref, atol=1e-10, rtol=0)


def test_auto_rule_picks_a_real_method_for_every_shape():
    for kc, a, b, d in itertools.product([1, 2, 9], [1, 2, 3, 7], [1, 2, 7], [1, 2]):
        assert choose_method((kc, a, b), (d, d)) in ("avgpool", "separable", "cumsum", "conv")
    assert choose_method((1, 2, 2), (1, 1), channels_last=True) == "avgpool"
    assert choose_method((1, 2, 2), (1, 1), channels_last=False) == "separable"
    assert choose_method((97, 1, 1)) == "cumsum"


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="kc"):
        SumPool3d(4, (5, 1, 1))
    with pytest.raises(ValueError, match="groups"):
        SumPool3d(5, (1, 1, 1), groups=2)
    with pytest.raises(ValueError, match="method"):
        SumPool3d(4, (1, 2, 2), method="fft")
    with pytest.raises(ValueError, match="window"):
        SumPool3d(4, (1, 2))
    with pytest.raises(ValueError, match="expects input"):
        SumPool3d(4, (1, 2, 2))(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        sum_pool3d(torch.randn(1, 2, 3, 3), (1, 5, 1))
    with pytest.raises(ValueError, match="window"):
        sum_pool1d(torch.randn(2, 4), 5)
