"""Layer-wise distillation: fit a ``DesignConv`` to a dense conv's outputs by least squares.

A design is linear, so it is one conv of kernel ``W_eff = B S``: ``S`` (J x C x T, T = kh*kw
taps) is what its stages before the last pointwise one compute, ``B`` (F x J) the last
(grouped, after the shuffle) pointwise stage, plus a bias ``b``. With the input patches x of
calibration data (second moments ``Sigma``, mean ``mu``; None: white noise, Sigma = I), the
output error of the dense layer (W, b0) is

    E||W x + b0 - B S x - b||^2 = tr((W - BS) Sigma (W - BS)^T) + 2 (b0 - b)^T (W - BS) mu + ||b0 - b||^2,

a quadratic in each stage alone. Alternating least squares solves it one stage at a time:
B and b in closed form per output group; S in closed form (a spatial stage: every allowed
weight at once; pointwise + depthwise: the depthwise and the pointwise weights in turn).
Large stages are solved by preconditioned conjugate gradients instead of a dense solve.
Calibration moments and the scope that selects fitting or fresh init: ``calibration``.
The fit's quality is ``sqrt(error / E||W x + b0||^2)``, the relative output error.

Two stage layouts cover the four designs:
  'spatial'   conv(k, groups g1) C->J, [shuffle], pointwise (groups g2) J->F     dw_pw, gc_pwg
  'bottleneck' pointwise (g1) C->J, [shuffle], depthwise(k) J, pointwise (g2) J->F  pw_dw_pw, pwg_dw_pwg
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import torch
from torch import nn

from .design_modules import ChannelShuffle, DesignConv

#: unknowns up to which a stage is solved by a dense (Cholesky) solve; above, by PCG
DIRECT_MAX = 2500


# -- the layout: torch weights <-> (S, B, b) ----------------------------------------------------
def _grouped_full(w: torch.Tensor, out: int, cin: int, groups: int) -> torch.Tensor:
    """(out, cin, ...) dense matrix of a grouped weight (out, cin/groups, ...) (zeros off the groups)."""
    per_in, per_out = cin // groups, out // groups
    cols = (torch.arange(out) // per_out * per_in)[:, None] + torch.arange(per_in)[None, :]
    full = w.new_zeros((out, cin) + tuple(w.shape[2:]))
    idx = cols.view(out, per_in, *([1] * (w.dim() - 2))).expand_as(w)
    return full.scatter(1, idx, w)


def _grouped_mask(out: int, cin: int, groups: int) -> torch.Tensor:
    return _grouped_full(torch.ones(out, cin // groups), out, cin, groups).bool()


@dataclass
class Layout:
    """Where S, B and b live in a DesignConv (see the module docstring)."""

    kind: str                      # 'spatial' | 'bottleneck'
    convs: list                    # the stage convs, in order
    perm: torch.Tensor             # post-shuffle channel i is pre-shuffle channel perm[i]
    allowed: torch.Tensor          # (J, C) bool: inputs row i of S may use
    bmask: torch.Tensor            # (F, J) bool: what B may use
    C: int
    J: int
    F: int
    T: int

    def read(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(S (J, C, T), B (F, J), b) of the module's current weights, in float64."""
        c = [m.weight.detach().double() for m in self.convs]
        first = _grouped_full(c[0].flatten(2), self.J, self.C, self.convs[0].groups)    # (J, C, T or 1)
        if self.kind == "spatial":
            S = first[self.perm]
        else:
            S = first[self.perm][:, :, 0][:, :, None] * c[1].flatten(1)[:, None, :]
        last = self.convs[-1]
        B = _grouped_full(c[-1].flatten(1), self.F, self.J, last.groups)
        b = last.bias.detach().double() if last.bias is not None else None
        return S, B, b

    @torch.no_grad()
    def write(self, S_or_DQ, B: torch.Tensor, b: torch.Tensor | None) -> None:
        first, last = self.convs[0], self.convs[-1]
        inv = torch.argsort(self.perm)
        if self.kind == "spatial":
            full = S_or_DQ[inv]                                         # (J, C, T), pre-shuffle rows
            _copy(first.weight, _take_groups(full, first.groups, self.C).view_as(first.weight))
        else:
            D, Q = S_or_DQ
            _copy(first.weight, _take_groups(Q[inv][:, :, None], first.groups, self.C).view_as(first.weight))
            _copy(self.convs[1].weight, D.view_as(self.convs[1].weight))
        _copy(last.weight, _take_groups(B[:, :, None], last.groups, self.J).view_as(last.weight))
        if b is not None and last.bias is not None:
            _copy(last.bias, b)


def _take_groups(full: torch.Tensor, groups: int, cin: int) -> torch.Tensor:
    """Inverse of ``_grouped_full``: (out, cin, T) -> (out, cin/groups, T)."""
    out, per_in = full.shape[0], cin // groups
    cols = (torch.arange(out) // (out // groups) * per_in)[:, None] + torch.arange(per_in)[None, :]
    return full.gather(1, cols[:, :, None].expand(out, per_in, full.shape[2]))


def _copy(param: torch.Tensor, value: torch.Tensor) -> None:
    param.copy_(value.to(param.dtype))


def layout_of(module: DesignConv) -> Layout:
    """The layout of a DesignConv (ValueError for a stage sequence neither layout describes)."""
    convs = module.convs
    shuffles = [m for m in module.stages if isinstance(m, ChannelShuffle)]
    first, last = convs[0], convs[-1]
    C, J, Fo = first.in_channels, first.out_channels, last.out_channels
    perm = shuffles[0].permutation(J) if shuffles else torch.arange(J)
    if len(convs) == 2 and tuple(last.kernel_size) == (1, 1):
        kind, T = "spatial", first.kernel_size[0] * first.kernel_size[1]
    elif (len(convs) == 3 and tuple(first.kernel_size) == (1, 1) and tuple(last.kernel_size) == (1, 1)
          and convs[1].groups == J == convs[1].out_channels):
        kind, T = "bottleneck", convs[1].kernel_size[0] * convs[1].kernel_size[1]
    else:
        raise ValueError(f"layer {module.layer.name!r}: design {module.label!r} has no least-squares layout")
    allowed = _grouped_mask(J, C, first.groups)[perm]
    return Layout(kind, convs, perm, allowed, _grouped_mask(Fo, J, last.groups), C, J, Fo, T)


def effective_kernel(module: DesignConv) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight (F, C, kh, kw), bias) of the one conv the design's linear stack equals (float64)."""
    lay = layout_of(module)
    S, B, b = lay.read()
    spatial = lay.convs[0] if lay.kind == "spatial" else lay.convs[1]
    return (B @ S.reshape(lay.J, -1)).reshape(lay.F, lay.C, *spatial.kernel_size), b


# -- the alternating least squares ----------------------------------------------------------------
@dataclass
class _Problem:
    W: torch.Tensor          # (F, CT) dense kernel
    b0: torch.Tensor         # (F,) dense bias (zeros when none)
    Sigma: torch.Tensor      # (CT, CT)
    mu: torch.Tensor         # (CT,)
    M0: torch.Tensor         # (F, CT) = E[y x^T] = W Sigma + b0 mu^T
    has_bias: bool
    C: int
    T: int

    def error(self, S: torch.Tensor, B: torch.Tensor, b: torch.Tensor) -> float:
        """E||y - y_hat||^2 of the design (S, B, b)."""
        E = self.W - B @ S.reshape(S.shape[0], -1)
        db = self.b0 - b
        return float((E @ self.Sigma * E).sum() + 2 * db @ (E @ self.mu) + db @ db)

    def energy(self) -> float:
        """E||y||^2 of the dense layer."""
        return float((self.W @ self.Sigma * self.W).sum() + 2 * self.b0 @ (self.W @ self.mu)
                     + self.b0 @ self.b0)


def _solve(H: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """H x = rhs for symmetric positive semi-definite H (a relative ridge of 1e-12 for the null space)."""
    ridge = 1e-12 * float(H.diagonal().abs().mean()) + 1e-300
    H = H + ridge * torch.eye(H.shape[0], dtype=H.dtype)
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) == 0:
        return torch.cholesky_solve(rhs.unsqueeze(-1) if rhs.dim() == 1 else rhs, L).reshape(rhs.shape)
    return torch.linalg.lstsq(H, rhs.unsqueeze(-1) if rhs.dim() == 1 else rhs).solution.reshape(rhs.shape)


def _pcg(op, rhs: torch.Tensor, x0: torch.Tensor, diag: torch.Tensor, iters: int) -> torch.Tensor:
    """Jacobi-preconditioned conjugate gradients on op(x) = rhs from x0 (a symmetric PSD op)."""
    inv = 1.0 / diag.clamp_min(1e-300)
    x = x0.clone()
    r = rhs - op(x)
    z = inv * r
    p = z.clone()
    rz = float((r * z).sum())
    stop = 1e-30 * max(1.0, float((rhs * inv * rhs).sum()))
    for _ in range(iters):
        if rz <= stop:
            break
        Ap = op(p)
        alpha = rz / max(float((p * Ap).sum()), 1e-300)
        x += alpha * p
        r -= alpha * Ap
        z = inv * r
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def _step_B(P: _Problem, S: torch.Tensor, bmask: torch.Tensor,
            b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The last stage (and bias) in closed form, one output group at a time."""
    S2 = S.reshape(S.shape[0], -1)
    Szz, Sz, cross = S2 @ P.Sigma @ S2.T, S2 @ P.mu, P.M0 @ S2.T            # cross: E[y z^T]
    ym = P.W @ P.mu + P.b0                                                 # E[y]
    B = torch.zeros(bmask.shape, dtype=S.dtype)
    b = torch.zeros_like(b) if P.has_bias else b
    for rows in torch.unique(bmask.to(torch.int64), dim=0):
        fs = (bmask == rows.bool()).all(1).nonzero().flatten()
        js = rows.bool().nonzero().flatten()
        G, R = Szz[js][:, js], cross[fs][:, js]
        if P.has_bias:
            G = torch.cat([torch.cat([G, Sz[js, None]], 1), torch.cat([Sz[js], Sz.new_ones(1)])[None]], 0)
            R = torch.cat([R, ym[fs, None]], 1)
        X = _solve(G, R.T)
        B[fs[:, None], js[None, :]] = X[:len(js)].T
        if P.has_bias:
            b[fs] = X[len(js)]
    return B, b


def _step_S_spatial(P: _Problem, S: torch.Tensor, B: torch.Tensor, b: torch.Tensor, allowed: torch.Tensor,
                    iters: int) -> torch.Tensor:
    """Every allowed weight of the spatial stage at once (a quadratic in S)."""
    A, N = B.T @ B, B.T @ (P.M0 - b[:, None] * P.mu[None, :])               # (J, J), (J, CT)
    mask = allowed[:, :, None].expand(-1, -1, P.T).reshape(allowed.shape[0], -1)
    ri, ci = mask.nonzero(as_tuple=True)
    if len(ri) <= DIRECT_MAX:
        x = _solve(A[ri][:, ri] * P.Sigma[ci][:, ci], N[ri, ci])
    else:
        def op(v):
            V = torch.zeros_like(N)
            V[ri, ci] = v
            return (A @ V @ P.Sigma)[ri, ci]
        diag = A.diagonal()[ri] * P.Sigma.diagonal()[ci]
        x = _pcg(op, N[ri, ci], S.reshape(S.shape[0], -1)[ri, ci], diag, iters)
    out = torch.zeros_like(N)
    out[ri, ci] = x
    return out.view_as(S)


def _step_D(P: _Problem, Q: torch.Tensor, B: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The depthwise stage D (J, T) of a bottleneck with Q and B fixed."""
    A, N = B.T @ B, (B.T @ (P.M0 - b[:, None] * P.mu[None, :])).view(-1, P.C, P.T)
    S4 = P.Sigma.view(P.C, P.T, P.C, P.T)
    SQ = torch.einsum("jc,ctdu,kd->jtku", Q, S4, Q)
    J = Q.shape[0]
    H = (A[:, None, :, None] * SQ).reshape(J * P.T, J * P.T)
    return _solve(H, torch.einsum("jc,jct->jt", Q, N).reshape(-1)).view(J, P.T)


def _step_Q(P: _Problem, D: torch.Tensor, Q: torch.Tensor, B: torch.Tensor, b: torch.Tensor,
            allowed: torch.Tensor, iters: int) -> torch.Tensor:
    """The first pointwise stage Q (J, C), allowed entries only, with D and B fixed."""
    A, N = B.T @ B, (B.T @ (P.M0 - b[:, None] * P.mu[None, :])).view(-1, P.C, P.T)
    S4 = P.Sigma.view(P.C, P.T, P.C, P.T)
    rj, cj = allowed.nonzero(as_tuple=True)
    rhs = torch.einsum("jt,jct->jc", D, N)[rj, cj]
    J = Q.shape[0]
    if J * P.C <= DIRECT_MAX:                # H[(j,c),(k,d)] = A[j,k] sum_tu D[j,t] Sigma[c,t,d,u] D[k,u]
        SD = torch.einsum("jcdu,ku->jckd", torch.einsum("jt,ctdu->jcdu", D, S4), D).reshape(J * P.C, J * P.C)
        flat = rj * P.C + cj
        x = _solve(SD[flat][:, flat] * A[rj][:, rj], rhs)
    else:
        def op(v):
            V = torch.zeros_like(Q)
            V[rj, cj] = v
            U = (A @ (V[:, :, None] * D[:, None, :]).reshape(len(V), -1) @ P.Sigma).view(-1, P.C, P.T)
            return torch.einsum("jct,jt->jc", U, D)[rj, cj]
        sdiag = torch.einsum("jt,ctu,ju->jc", D, torch.einsum("ctcu->ctu", S4), D)
        x = _pcg(op, rhs, Q[rj, cj], (A.diagonal()[:, None] * sdiag)[rj, cj], iters)
    out = torch.zeros_like(Q)
    out[rj, cj] = x
    return out


def _balance(D: torch.Tensor, Q: torch.Tensor, B: torch.Tensor):
    """Rescale the factors (same product): unit rows of Q and D, their norms moved into B."""
    q = Q.norm(dim=1).clamp_min(1e-300)
    Q, D = Q / q[:, None], D * q[:, None]
    d = D.norm(dim=1).clamp_min(1e-300)
    return D / d[:, None], Q, B * d[None, :]


def _init(lay: Layout, P: _Problem, seed: int):
    """Starting factors: a per-channel SVD for a depthwise spatial stage, else seeded random ones."""
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(lay.F, lay.J, generator=g, dtype=torch.float64) * lay.bmask
    B /= lay.bmask.sum(1, keepdim=True).clamp_min(1).sqrt()
    b = P.b0.clone() if P.has_bias else torch.zeros_like(P.b0)
    if lay.kind == "spatial":
        if bool((lay.allowed.sum(1) == 1).all()) and bool((lay.allowed.sum(0) <= 1).all()):
            S, B = _svd_init(lay, P)
            return S, B, b
        return (torch.randn(lay.J, lay.C, lay.T, generator=g, dtype=torch.float64) * lay.allowed[:, :, None],
                B, b)
    D = torch.randn(lay.J, lay.T, generator=g, dtype=torch.float64)
    Q = torch.randn(lay.J, lay.C, generator=g, dtype=torch.float64) * lay.allowed
    return (D, Q), B, b


def _svd_init(lay: Layout, P: _Problem):
    """Depthwise spatial stage: row i of S and column i of B from the top singular pair of W[:, c_i, :]."""
    W3 = P.W.view(lay.F, lay.C, lay.T)
    S = torch.zeros(lay.J, lay.C, lay.T, dtype=torch.float64)
    B = torch.zeros(lay.F, lay.J, dtype=torch.float64)
    for i, c in enumerate(lay.allowed.float().argmax(1).tolist()):
        fs = lay.bmask[:, i].nonzero().flatten()
        U, s, Vh = torch.linalg.svd(W3[fs, c, :], full_matrices=False)
        S[i, c], B[fs, i] = Vh[0], U[:, 0] * s[0]
    return S, B


def _sweep(lay: Layout, P: _Problem, front, B, b, iters: int):
    """One ALS sweep: the front stage(s), then the last stage and bias; returns (front, S, B, b)."""
    if lay.kind == "spatial":
        S = _step_S_spatial(P, front, B, b, lay.allowed, iters)
        B, b = _step_B(P, S, lay.bmask, b)
        return S, S, B, b
    D, Q = front
    D = _step_D(P, Q, B, b)
    Q = _step_Q(P, D, Q, B, b, lay.allowed, iters)
    D, Q, B = _balance(D, Q, B)
    S = Q[:, :, None] * D[:, None, :]
    B, b = _step_B(P, S, lay.bmask, b)
    return (D, Q), S, B, b


def _S_of(lay: Layout, front) -> torch.Tensor:
    if lay.kind == "spatial":
        return front
    D, Q = front
    return Q[:, :, None] * D[:, None, :]


def _extrapolate(lay: Layout, P: _Problem, prev, cur, step: float):
    """Line search along the last sweep's change (Bro's ALS acceleration): the point
    ``prev + step * (cur - prev)`` when its error is lower, else ``cur``; returns (state, error)."""
    (f0, B0, b0), (f1, B1, b1, err1) = prev, cur
    jump = lambda a, b: a + step * (b - a)                       # noqa: E731
    front = jump(f0, f1) if lay.kind == "spatial" else (jump(f0[0], f1[0]), jump(f0[1], f1[1]))
    B, b = jump(B0, B1), jump(b0, b1)
    err = P.error(_S_of(lay, front), B, b)
    return ((front, B, b), err) if err < err1 else ((f1, B1, b1), err1)


def fit(lay: Layout, P: _Problem, sweeps: int = 300, tol: float = 1e-7, seed: int = 0, cg_iters: int = 50):
    """Alternating least squares from ``_init`` with line-search extrapolation; stops when 5 sweeps
    improve the error by less than ``tol`` relatively (or at the rounding floor); returns
    (front, B, b, relative output error)."""
    energy = max(P.energy(), 1e-300)
    front, B, b = _init(lay, P, seed)
    best, history = None, []
    for it in range(sweeps):
        prev = (front, B, b)
        front, S, B, b = _sweep(lay, P, front, B, b, cg_iters)
        err = P.error(S, B, b)
        if it >= 2:
            (front, B, b), err = _extrapolate(lay, P, prev, (front, B, b, err), (it + 1) ** (1 / 3))
        err = max(err, 0.0) / energy
        if best is None or err < best[0]:
            best = (err, front, B.clone(), b.clone())
        history.append(err)
        if err < 1e-20 or (len(history) > 5 and history[-6] - err <= tol * max(history[-6], 1e-30)):
            break
    err, front, B, b = best
    return front, B, b, err ** 0.5


def _problem(conv: nn.Conv2d, moments) -> _Problem:
    W = conv.weight.detach().double().cpu().reshape(conv.out_channels, -1)
    b0 = conv.bias.detach().double().cpu() if conv.bias is not None else W.new_zeros(conv.out_channels)
    CT = W.shape[1]
    Sigma, mu = moments if moments is not None else (torch.eye(CT, dtype=torch.float64), W.new_zeros(CT))
    Sigma, mu = Sigma.double().cpu(), mu.double().cpu()
    if Sigma.shape != (CT, CT) or mu.shape != (CT,):
        raise ValueError(f"calibration moments of shape {tuple(Sigma.shape)}, {tuple(mu.shape)} do not fit a "
                         f"conv with {CT} inputs per output")
    kh, kw = conv.kernel_size
    return _Problem(W, b0, Sigma, mu, W @ Sigma + b0[:, None] * mu[None, :], conv.bias is not None,
                    conv.in_channels, kh * kw)


def distill_into(module: DesignConv, conv: nn.Conv2d, moments=None, sweeps: int = 300,
                 seed: int = 0) -> float:
    """Fit ``module``'s weights to ``conv``'s outputs (in place); returns the relative output error.

    ``moments``: (Sigma, mu) of the conv's input patches on calibration data (``Moments``), or
    None for white-noise inputs (then the fit is the Frobenius-nearest design kernel).
    """
    lay = layout_of(module)
    P = _problem(conv, moments)
    front, B, b, err = _cached_fit(module, lay, P, (sweeps, seed))
    lay.write(front, B, b if P.has_bias else None)
    module.fit_error = float(err)
    return float(err)


#: fits kept per (layer, design, weights and moments digest): accuracy in the loop trains the same
#: candidates from the same dense weights at every budget, and a fit is deterministic in these
_FITS: dict = {}
FITS_KEPT = 64


def _fit_key(module: DesignConv, P: _Problem, options: tuple) -> str:
    h = hashlib.sha256(repr((module.layer, module.choice, P.has_bias, options)).encode())
    for t in (P.W, P.b0, P.Sigma, P.mu):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _cached_fit(module: DesignConv, lay: Layout, P: _Problem, options: tuple):
    """``fit``'s result, computed once per key (copies out, so a caller's in-place change stays its own)."""
    key = _fit_key(module, P, options)
    if key not in _FITS:
        if len(_FITS) >= FITS_KEPT:
            _FITS.pop(next(iter(_FITS)))
        _FITS[key] = fit(lay, P, sweeps=options[0], seed=options[1])
    return copy.deepcopy(_FITS[key])


def distill_design(conv: nn.Conv2d, choice, layer, moments=None, sweeps: int = 300,
                   seed: int = 0) -> DesignConv:
    """A ``DesignConv`` of ``choice`` fitted to ``conv`` by least squares (``fit_error`` set)."""
    if not isinstance(conv, nn.Conv2d) or isinstance(conv, nn.ConvTranspose2d):
        raise ValueError(f"layer {layer.name!r}: a design replaces an nn.Conv2d, got {type(conv).__name__}")
    w = conv.weight
    module = DesignConv(choice, layer, template=conv).to(device=w.device, dtype=w.dtype)
    distill_into(module, conv, moments, sweeps, seed)
    module.train(conv.training)
    return module


def output_error(design: nn.Module, conv: nn.Conv2d, x: torch.Tensor) -> float:
    """||design(x) - conv(x)|| / ||conv(x)|| on inputs x (a check of a fit on real data)."""
    with torch.no_grad():
        want = conv(x).double()
        return float((design(x).double() - want).norm() / want.norm().clamp_min(1e-300))
