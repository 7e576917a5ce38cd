"""Structure math: the basis A, its projector A A^+ and pseudo-inverse A^+.

A = A_C (x) A_h (x) A_w, each factor a "sliding ones" matrix (len x k) whose
column j holds ones at rows j .. j+L-1, L = len - k + 1. Everything here works
one axis at a time and never forms A^+ or A A^+ densely, so C = 2048 costs
O(size of W), not O(C^3).

Per axis, null(A^T) is the set of L-periodic vectors whose period sums to zero
(consecutive window sums differ by v[i+L] - v[i]). Projecting onto that small
subspace in closed form gives P = I - Q in O(len); A^+ x then follows from P x
by a running difference ("deconvolution"), also O(len).
"""
from __future__ import annotations

import numpy as np

from .checks import int_field, pair_field


# -- one axis -------------------------------------------------------------------
def sliding_ones(length: int, k: int) -> np.ndarray:
    """The 1-D factor of A: (length x k), column j = ones at rows j .. j+length-k."""
    L = length - k + 1
    m = np.zeros((length, k))
    for j in range(k):
        m[j:j + L, j] = 1.0
    return m


def _null_part(x: np.ndarray, axis: int, L: int) -> np.ndarray:
    """Q x: orthogonal projection of x onto null(A^T) along ``axis`` (L = window)."""
    x = np.moveaxis(x, axis, -1)
    C = x.shape[-1]
    m = -(-C // L)
    padded = np.zeros(x.shape[:-1] + (m * L,), dtype=x.dtype)
    padded[..., :C] = x
    s = padded.reshape(x.shape[:-1] + (m, L)).sum(axis=-2)           # fold: sum per residue
    counts = np.full(L, C // L, dtype=float)
    counts[: C % L] += 1                                               # how many i have i % L == j
    lam = (s / counts).sum(axis=-1, keepdims=True) / (1.0 / counts).sum()
    u = (s - lam) / counts
    q = np.tile(u, m)[..., :C]
    return np.moveaxis(q, -1, axis)


def project_axis(x: np.ndarray, axis: int, k: int) -> np.ndarray:
    """A A^+ x along one axis for structure parameter k (k = axis length: identity)."""
    L = x.shape[axis] - k + 1
    if L == 1:
        return x
    return x - _null_part(x, axis, L)


def pinv_axis(x: np.ndarray, axis: int, k: int) -> np.ndarray:
    """A^+ x along one axis: the k coefficients whose sliding sums best fit x."""
    C = x.shape[axis]
    L = C - k + 1
    if L == 1:
        return x
    y = np.moveaxis(project_axis(x, axis, k), axis, -1)
    d = np.diff(y[..., :k], axis=-1, prepend=0.0)                      # alpha[i] - alpha[i-L]
    m = -(-k // L)
    padded = np.zeros(y.shape[:-1] + (m * L,), dtype=y.dtype)
    padded[..., :k] = d
    alpha = np.cumsum(padded.reshape(y.shape[:-1] + (m, L)), axis=-2).reshape(padded.shape)[..., :k]
    return np.moveaxis(alpha, -1, axis)


def expand_axis(alpha: np.ndarray, axis: int, length: int) -> np.ndarray:
    """A alpha along one axis: sliding sums of width length - k + 1."""
    a = np.moveaxis(alpha, axis, -1)
    k = a.shape[-1]
    L = length - k + 1
    cs = np.zeros(a.shape[:-1] + (length + 1,), dtype=np.result_type(a, float))
    cs[..., 1:k + 1] = np.cumsum(a, axis=-1)
    cs[..., k + 1:] = cs[..., k:k + 1]
    out = cs[..., 1:] - np.concatenate([np.zeros(a.shape[:-1] + (L,)), cs[..., 1:length + 1 - L]], axis=-1)
    return np.moveaxis(out, -1, axis)


# -- the public, whole-kernel functions -------------------------------------------
def _params(W, c, n):
    W = np.asarray(W)
    if W.ndim == 2:                      # linear layer: (C_out, C)
        W = W[:, :, None, None]
    if W.ndim != 4:
        raise ValueError(f"W must have shape (C_out, C, kh, kw) or (C_out, C), got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W contains NaN or inf values")
    C, kh, kw = W.shape[1:]
    c = int_field("c", c, 1, C)
    nh, nw = pair_field("n", n, 1, (kh, kw))
    return W.astype(np.float64, copy=False), c, nh, nw


MAX_DENSE = 2**26         # entries of a dense A (512 MiB of float64): the reference is for small cases


def basis_matrix(C: int, N, c: int, n) -> np.ndarray:
    """Dense A (C*kh*kw x c*nh*nw); N and n are ints or (h, w) pairs. For reference and tests."""
    C = int_field("C", C, 1)
    kh, kw = pair_field("N", N, 1)
    c = int_field("c", c, 1, C)
    nh, nw = pair_field("n", n, 1, (kh, kw))
    size = C * kh * kw * c * nh * nw
    if size > MAX_DENSE:
        raise ValueError(f"the dense A of C = {C}, N = {(kh, kw)}, c = {c}, n = {(nh, nw)} has {size:,} "
                         f"entries (over {MAX_DENSE:,}); project() and alphas() work without it")
    return np.kron(sliding_ones(C, c), np.kron(sliding_ones(kh, nh), sliding_ones(kw, nw)))


def project(W, c: int, n) -> np.ndarray:
    """A A^+ W: the nearest (c, n)-structured kernel, same shape as W (4-D)."""
    W, c, nh, nw = _params(W, c, n)
    return project_axis(project_axis(project_axis(W, 1, c), 2, nh), 3, nw)


def alphas(W, c: int, n) -> np.ndarray:
    """A^+ W: the (C_out, c, nh, nw) kernels of the small convolution."""
    W, c, nh, nw = _params(W, c, n)
    return pinv_axis(pinv_axis(pinv_axis(W, 1, c), 2, nh), 3, nw)


def compose(alpha, C: int, N) -> np.ndarray:
    """A alpha: the full (C_out, C, kh, kw) kernel that the blocks add up to."""
    kh, kw = pair_field("N", N, 1)
    alpha = np.asarray(alpha, dtype=np.float64)
    return expand_axis(expand_axis(expand_axis(alpha, 1, C), 2, kh), 3, kw)


def structural_residual(W, c: int, n) -> float:
    """||(I - A A^+) W||_F / ||W||_F (0 for an all-zero W)."""
    Wf, c, nh, nw = _params(W, c, n)
    norm = np.linalg.norm(Wf)
    if norm == 0.0:
        return 0.0
    return float(np.linalg.norm(Wf - project(Wf, c, (nh, nw))) / norm)
