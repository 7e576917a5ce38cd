"""P(W): the weight a choice leaves a layer with, and the gradient projection, read from the choice's parts.

The Choice protocol answers what the hardware runs (``choice.parts(layer)``); that
is all this module asks, so a plug-in kind needs no edit here:

* one plain part that is the layer itself (dense, an identity structure): W;
* one part carrying a ``structure`` on the layer itself: the orthogonal projection
  onto that (c, n) structure (Kronecker projector ``A A^+ W``);
* a depthwise k x k stack followed by a pointwise conv (the dw_pw shape): the exact
  per-input-channel rank-1 fit (DW x PW);
* anything else (the other sparse-kernel designs, plug-in kinds): the best rank-r fit
  of the (C_out, C*k*k) matrix, r matched to the parts' weight count. This is an
  estimate, and the proxy suite says so in its notes.

Gradients are projected on the tangent space of the same set.
"""
from __future__ import annotations

import numpy as np

from ...core import Choice, Layer, Part
from ...core import project as numpy_project

SAME, PROJECT, DW_PW, LOW_RANK = "same", "project", "dw_pw", "low_rank"
FITTED = (DW_PW, LOW_RANK)


def _is_dw_pw(layer: Layer, parts) -> bool:
    """Depthwise (layer's kernel, C -> C) then pointwise C -> F, no sum-pool: rank 1 per input channel."""
    if len(parts) != 2 or any(p.structure is not None for p in parts):
        return False
    dw, pw = parts[0].layer, parts[1].layer
    C = layer.in_channels
    return (dw.in_channels == dw.out_channels == dw.groups == C and dw.kernel == layer.kernel
            and pw.kernel == (1, 1) and pw.groups == 1 and pw.in_channels == C
            and pw.out_channels == layer.out_channels)


def method(layer: Layer, choice: Choice) -> str:
    """How the weight of ``choice`` on ``layer`` is obtained: same | project | dw_pw | low_rank."""
    parts = choice.parts(layer)
    if parts == (Part(layer),):
        return SAME
    if len(parts) == 1 and parts[0].structure is not None and parts[0].layer == layer:
        return PROJECT
    return DW_PW if _is_dw_pw(layer, parts) else LOW_RANK


def weight_count(layer: Layer, choice: Choice) -> int:
    """Weights (no bias) of the choice's parts."""
    return sum(p.layer.out_channels * p.layer.group_in_channels * p.layer.kernel[0] * p.layer.kernel[1]
               for p in choice.parts(layer))


def kronecker_project(X: np.ndarray, structure) -> np.ndarray:
    """A A^+ X (torch's port is 3-10x faster than numpy's here; numpy when torch is missing)."""
    try:
        import torch

        from ...nn import project
    except ImportError:                             # pragma: no cover - torch is a dependency
        return numpy_project(X, structure.c, structure.n)
    with torch.no_grad():
        return project(torch.from_numpy(np.ascontiguousarray(X)), structure.c, structure.nh,
                       structure.nw).numpy()


def _tangent(U: np.ndarray, V: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Projection of M on the tangent space of the rank-r matrices at U S V^T (batched)."""
    uM = U @ (np.swapaxes(U, -1, -2) @ M)
    return uM + (M @ V) @ np.swapaxes(V, -1, -2) - (uM @ V) @ np.swapaxes(V, -1, -2)


class LayerApprox:
    """P(W) and the gradient projection for every choice of one layer (numpy, float64)."""

    def __init__(self, layer: Layer, W4: np.ndarray):
        self.layer = layer
        self.W = np.asarray(W4, dtype=np.float64)
        self._svd = None
        self._dw = None

    def _full_svd(self):
        if self._svd is None:
            self._svd = np.linalg.svd(self.W.reshape(self.W.shape[0], -1), full_matrices=False)
        return self._svd

    def _dw_svd(self):
        if self._dw is None:
            F, C = self.W.shape[:2]
            U, s, Vt = np.linalg.svd(np.moveaxis(self.W.reshape(F, C, -1), 1, 0), full_matrices=False)
            self._dw = (U[:, :, :1], s[:, :1], Vt[:, :1, :])          # (C, F, 1), (C, 1), (C, 1, k*k)
        return self._dw

    def rank_of(self, choice: Choice) -> int:
        F, C, kh, kw = self.W.shape
        return int(min(F, C * kh * kw, max(1, round(weight_count(self.layer, choice) / (F + C * kh * kw)))))

    def structure(self, choice: Choice):
        return choice.parts(self.layer)[0].structure

    def approx(self, choice: Choice) -> np.ndarray:
        how = method(self.layer, choice)
        if how == SAME:
            return self.W
        if how == PROJECT:
            return kronecker_project(self.W, self.structure(choice))
        if how == DW_PW:
            U, s, Vt = self._dw_svd()
            return np.moveaxis((U * s[:, None, :]) @ Vt, 0, 1).reshape(self.W.shape)
        U, s, Vt = self._full_svd()
        r = self.rank_of(choice)
        return ((U[:, :r] * s[:r]) @ Vt[:r]).reshape(self.W.shape)

    def project_grad(self, choice: Choice, G: np.ndarray) -> np.ndarray:
        how = method(self.layer, choice)
        if how == SAME:
            return G
        if how == PROJECT:
            return kronecker_project(G, self.structure(choice))
        F, C = self.W.shape[:2]
        if how == DW_PW:
            U, _, Vt = self._dw_svd()
            P = _tangent(U, np.swapaxes(Vt, 1, 2), np.moveaxis(G.reshape(F, C, -1), 1, 0))
            return np.moveaxis(P, 0, 1).reshape(G.shape)
        U, _, Vt = self._full_svd()
        r = self.rank_of(choice)
        return _tangent(U[:, :r], Vt[:r].T, G.reshape(F, -1)).reshape(G.shape)
