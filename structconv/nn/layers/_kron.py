"""Torch port of ``structconv.core.structure``: the Kronecker-factored projector.

A = A_C (x) A_h (x) A_w, each factor a "sliding ones" matrix (len x k) whose
column j holds ones at rows j .. j+L-1, L = len - k + 1. Same algorithm as the
numpy version, one axis at a time, O(size of W) per axis, never a dense A^+:

* null(A^T) along one axis = L-periodic vectors whose period sums to zero, so
  Q x (the projection onto it) is a fold (sum per residue mod L), a scalar
  Lagrange correction and a tile;  A A^+ x = x - Q x.
* A^+ x follows from A A^+ x by a running difference ("deconvolution").
* A alpha (compose) is a sliding sum of width L (prefix-sum differences).

Everything is plain torch arithmetic: differentiable, any floating dtype, any
device, and batched over the other axes.
"""
from __future__ import annotations

import torch


def _fold_pad(x: torch.Tensor, m: int, L: int) -> torch.Tensor:
    """x (..., C) zero-padded to (..., m*L) and viewed as (..., m, L)."""
    C = x.shape[-1]
    if m * L != C:
        x = torch.nn.functional.pad(x, (0, m * L - C))
    return x.reshape(x.shape[:-1] + (m, L))


def _as3(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, int, int]:
    """x viewed as (pre, len, post) around ``dim`` (a copy only if x is not contiguous)."""
    dim = dim % x.dim()
    pre = 1
    for s in x.shape[:dim]:
        pre *= s
    post = 1
    for s in x.shape[dim + 1:]:
        post *= s
    return x.reshape(pre, x.shape[dim], post), pre, post


def _fold(x3: torch.Tensor, L: int):
    """Sum per residue mod L of a (pre, C, post) view, the residue counts, and C = full*L + rem."""
    pre, C, post = x3.shape
    full, rem = divmod(C, L)
    s = x3[:, :full * L].reshape(pre, full, L, post).sum(1)                # (pre, L, post)
    if rem:
        s = torch.cat([s[:, :rem] + x3[:, full * L:], s[:, rem:]], 1)
    counts = torch.full((L,), float(full), dtype=x3.dtype, device=x3.device)
    counts[:rem] += 1.0                                                   # how many i have i % L == j
    return s, counts, full, rem


def _null_coeffs(x3: torch.Tensor, L: int):
    """u (pre, L, post): Q x = u tiled with period L (closed form of the projection onto
    null(A^T) = L-periodic vectors whose period sums to zero)."""
    s, counts, full, rem = _fold(x3, L)
    inv = (1.0 / counts).view(1, L, 1)
    lam = (s * inv).sum(1, keepdim=True) / inv.sum()                      # Lagrange multiplier
    return (s - lam) * inv, full, rem


def null_part(x: torch.Tensor, dim: int, L: int) -> torch.Tensor:
    """Q x: orthogonal projection of ``x`` onto null(A^T) along ``dim`` (window L)."""
    x3, _, _ = _as3(x, dim)
    pre, C, post = x3.shape
    u, full, rem = _null_coeffs(x3, L)
    q = u.unsqueeze(1).expand(pre, full + (1 if rem else 0), L, post).reshape(pre, -1, post)[:, :C]
    return q.reshape(x.shape)


def project_axis(x: torch.Tensor, dim: int, k: int) -> torch.Tensor:
    """A A^+ x = x - Q x along one axis for structure parameter k (k = axis length: identity)."""
    L = x.shape[dim] - k + 1
    if L == 1:
        return x
    x3, pre, post = _as3(x, dim)
    u, full, rem = _null_coeffs(x3, L)
    out = (x3[:, :full * L].reshape(pre, full, L, post) - u.unsqueeze(1)).reshape(pre, full * L, post)
    if rem:
        out = torch.cat([out, x3[:, full * L:] - u[:, :rem]], 1)
    return out.reshape(x.shape)


_SPATIAL: dict = {}


def spatial_projector(kh: int, kw: int, nh: int, nw: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """P_h (x) P_w as a (kh*kw x kh*kw) matrix (symmetric), each factor from the closed form
    above applied to the identity. Kernels are at most a few taps wide, so this is a
    tiny matrix (81 entries for 3x3) and one small GEMM applies it to a whole W."""
    key = (kh, kw, nh, nw, dtype, str(device))
    P = _SPATIAL.get(key)
    if P is None:
        eye = torch.eye(kh * kw, dtype=torch.float64).reshape(kh * kw, kh, kw)
        P = project_axis(project_axis(eye, 1, nh), 2, nw).reshape(kh * kw, kh * kw)
        P = P.to(dtype=dtype, device=device)
        if len(_SPATIAL) < 256:
            _SPATIAL[key] = P
    return P


def pinv_axis(x: torch.Tensor, dim: int, k: int) -> torch.Tensor:
    """A^+ x along one axis: the k coefficients whose sliding sums best fit x."""
    C = x.shape[dim]
    L = C - k + 1
    if L == 1:
        return x
    y = project_axis(x, dim, k).movedim(dim, -1)[..., :k]
    d = torch.diff(y, dim=-1, prepend=torch.zeros_like(y[..., :1]))      # alpha[i] - alpha[i-L]
    m = -(-k // L)
    alpha = torch.cumsum(_fold_pad(d, m, L), dim=-2).reshape(d.shape[:-1] + (m * L,))[..., :k]
    return alpha.movedim(-1, dim)


def expand_axis(alpha: torch.Tensor, dim: int, length: int) -> torch.Tensor:
    """A alpha along one axis: sliding sums of width L = length - k + 1."""
    k = alpha.shape[dim]
    L = length - k + 1
    if L == 1:
        return alpha
    a = alpha.movedim(dim, -1)
    if min(k, L) <= 8:
        # out[i] = sum of a[j] over j in [i-L+1, i]: the shorter of k shifted copies
        # of a column or L shifted copies of a, exact (no prefix-sum cancellation).
        out = a.new_zeros(a.shape[:-1] + (length,))
        if k <= L:
            for j in range(k):
                out = out + torch.nn.functional.pad(a[..., j:j + 1].expand(a.shape[:-1] + (L,)),
                                                    (j, k - 1 - j))
        else:
            for t in range(L):
                out = out + torch.nn.functional.pad(a, (t, L - 1 - t))
    else:
        # prefix sums, O(length): out[i] = cs[i+1] - cs[i+1-L]
        cs = torch.cumsum(a, dim=-1)
        cs = torch.cat([torch.zeros_like(a[..., :1]), cs, cs[..., -1:].expand(a.shape[:-1] + (length - k,))],
                       dim=-1)
        lo = torch.cat([torch.zeros_like(a[..., :1]).expand(a.shape[:-1] + (L,)), cs[..., 1:length + 1 - L]],
                       dim=-1)
        out = cs[..., 1:] - lo
    return out.movedim(-1, dim)


# -- whole kernels (W: (C_out, C, kh, kw), alpha: (C_out, c, nh, nw)) --------------
_SMALL_KERNEL = 64          # kh*kw up to this: spatial projector as one small matrix


def project(W: torch.Tensor, c: int, nh: int, nw: int) -> torch.Tensor:
    """A A^+ W: the nearest (c, (nh, nw))-structured kernel, same shape as W.

    Channel axis by the O(C) fold; the two spatial axes either the same way or,
    for small kernels, as one (kh*kw)^2 Kronecker product P_h (x) P_w (same numbers,
    one GEMM instead of several strided passes)."""
    Co, C, kh, kw = W.shape
    x = project_axis(W, 1, c)
    if (nh, nw) == (kh, kw):
        return x
    if kh * kw <= _SMALL_KERNEL:
        P = spatial_projector(kh, kw, nh, nw, W.dtype, W.device)
        return (x.reshape(Co * C, kh * kw) @ P).reshape(W.shape)
    return project_axis(project_axis(x, 2, nh), 3, nw)


def alphas(W: torch.Tensor, c: int, nh: int, nw: int) -> torch.Tensor:
    """A^+ W: the (C_out, c, nh, nw) kernels of the small convolution."""
    return pinv_axis(pinv_axis(pinv_axis(W, 1, c), 2, nh), 3, nw)


def compose(alpha: torch.Tensor, C: int, kh: int, kw: int) -> torch.Tensor:
    """A alpha: the full (C_out, C, kh, kw) kernel the blocks add up to."""
    return expand_axis(expand_axis(expand_axis(alpha, 1, C), 2, kh), 3, kw)


def residual_norms(W: torch.Tensor, c: int, nh: int, nw: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(||(I - A A^+) W||_F, ||W||_F) as 0-d tensors (W 4-D)."""
    Co, C, kh, kw = W.shape
    if c == C and (nh, nw) != (kh, kw) and kh * kw <= _SMALL_KERNEL:
        # channel axis is the identity: (I - P_sp) W in one GEMM
        Q = torch.eye(kh * kw, dtype=W.dtype, device=W.device) - spatial_projector(kh, kw, nh, nw, W.dtype,
                                                                                   W.device)
        R = W.reshape(Co * C, kh * kw) @ Q
    else:
        R = W - project(W, c, nh, nw)
    return torch.linalg.vector_norm(R), torch.linalg.vector_norm(W)


def structural_residual(W: torch.Tensor, c: int, nh: int, nw: int) -> torch.Tensor:
    """||(I - A A^+) W||_F / ||W||_F as a differentiable 0-d tensor (0 for W = 0)."""
    r, w = residual_norms(W, c, nh, nw)
    safe = torch.where(w > 0, w, torch.ones_like(w))
    return torch.where(w > 0, r / safe, torch.zeros_like(r))
