"""Slow, obviously-correct twins of core's fast paths, used only by tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def dense_pinv_project(W, c, nh, nw):
    """A A^+ W and A^+ W with the dense basis matrix and numpy's pinv."""
    from structconv.core import basis_matrix

    co, C, kh, kw = W.shape
    A = basis_matrix(C, (kh, kw), c, (nh, nw))
    Ap = np.linalg.pinv(A)
    Wm = W.reshape(co, -1).T
    return (A @ Ap @ Wm).T.reshape(W.shape), (Ap @ Wm).T.reshape(co, c, nh, nw)


class Counter:
    def __init__(self):
        self.adds = 0
        self.mults = 0

    def dot(self, xs, ws):
        """sum(x*w) the way a MAC-less datapath does it: len-1 adds, len mults."""
        self.mults += len(xs)
        self.adds += len(xs) - 1
        return float(np.dot(xs, ws))

    def total(self, xs):
        self.adds += len(xs) - 1
        return float(np.sum(xs))


def decomposed_conv_counted(x, alpha, bias, layer, structure):
    """Run the decomposed layer literally (sum-pool loops, then small-conv loops),
    counting every add and multiply. x: (C_in, H, W); alpha: (C_out, c, nh, nw).

    Returns (output, sumpool_adds, total_adds, mults).
    """
    g = layer.groups
    Cg = layer.group_in_channels
    kc, a, b = structure.window(layer)
    (ph, pw), (dh, dw), (sh, sw) = layer.padding, layer.dilation, layer.stride
    c, nh, nw = structure.c, structure.nh, structure.nw
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    H1 = xp.shape[1] - dh * (a - 1)
    W1 = xp.shape[2] - dw * (b - 1)
    cnt = Counter()
    pooled = np.zeros((g * c, H1, W1))
    for gi in range(g):
        for ci in range(c):
            for i in range(H1):
                for j in range(W1):
                    vals = [xp[gi * Cg + ci + u, i + dh * p, j + dw * q]
                            for u in range(kc) for p in range(a) for q in range(b)]
                    pooled[gi * c + ci, i, j] = cnt.total(vals)
    sumpool_adds = cnt.adds
    ho, wo = layer.output_size
    co = layer.out_channels
    out = np.zeros((co, ho, wo))
    per_group = co // g
    for o in range(co):
        gi = o // per_group
        for i in range(ho):
            for j in range(wo):
                xs = [pooled[gi * c + ci, i * sh + dh * p, j * sw + dw * q]
                      for ci in range(c) for p in range(nh) for q in range(nw)]
                ws = [alpha[o, ci, p, q] for ci in range(c) for p in range(nh) for q in range(nw)]
                v = cnt.dot(xs, ws)
                if bias is not None:
                    v += bias[o]
                    cnt.adds += 1
                out[o, i, j] = v
    return out, sumpool_adds, cnt.adds, cnt.mults


def dense_conv(x, W, bias, layer):
    """Direct convolution (cross-correlation, PyTorch semantics), for output checks."""
    g = layer.groups
    Cg = layer.group_in_channels
    (ph, pw), (dh, dw), (sh, sw) = layer.padding, layer.dilation, layer.stride
    kh, kw = layer.kernel
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    ho, wo = layer.output_size
    co = layer.out_channels
    per_group = co // g
    out = np.zeros((co, ho, wo))
    for o in range(co):
        gi = o // per_group
        for i in range(ho):
            for j in range(wo):
                patch = xp[gi * Cg:(gi + 1) * Cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                           j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[o, i, j] = np.sum(patch * W[o]) + (bias[o] if bias is not None else 0.0)
    return out


def dense_conv_counted(x, W, bias, layer):
    """Direct convolution run literally, one dot product per output value, counting every
    add and multiply (padded zeros are multiplied too: a dense datapath does not skip them).
    x: (C_in, H, W); W: (C_out, C_in/groups, kh, kw).

    Returns (output, adds, mults).
    """
    g = layer.groups
    Cg = layer.group_in_channels
    (ph, pw), (dh, dw), (sh, sw) = layer.padding, layer.dilation, layer.stride
    kh, kw = layer.kernel
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    ho = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    co = W.shape[0]
    per_group = co // g
    cnt = Counter()
    out = np.zeros((co, ho, wo))
    for o in range(co):
        gi = o // per_group
        for i in range(ho):
            for j in range(wo):
                xs = [xp[gi * Cg + ci, i * sh + dh * p, j * sw + dw * q]
                      for ci in range(Cg) for p in range(kh) for q in range(kw)]
                ws = [W[o, ci, p, q] for ci in range(Cg) for p in range(kh) for q in range(kw)]
                v = cnt.dot(xs, ws)
                if bias is not None:
                    v += bias[o]
                    cnt.adds += 1
                out[o, i, j] = v
    return out, cnt.adds, cnt.mults


@st.composite
def kernel_case(draw, max_C=7):
    """(W, c, nh, nw): a random (C_out, C, kh, kw) kernel and a valid structure for it."""
    co = draw(st.integers(1, 3))
    C = draw(st.integers(1, max_C))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    c = draw(st.integers(1, C))
    nh, nw = draw(st.integers(1, kh)), draw(st.integers(1, kw))
    seed = draw(st.integers(0, 2**31))
    W = np.random.default_rng(seed).normal(size=(co, C, kh, kw))
    return W, c, nh, nw
