"""The registered accuracy proxies, one decorated function each (its per-choice terms for one layer).

====================  ======  =========  ====================================================
proxy                 better  weights?   per-(layer, choice) term
====================  ======  =========  ====================================================
params                higher  no         parameters kept (the naive baseline)
mults                 higher  no         multiplies kept (the naive baseline)
kept_dof              higher  no         log(kept / dense weight count), mean over layers
field_ratio           higher  no         information field / the dense layer's, mean
grad_norm             higher  no         ||P G||_F, G = dL/dW on a calibration batch
snip                  higher  no         sum |P(W) * P(G)|
synflow               higher  no         log R'/R with only this layer structured (exact: R is affine)
naswot                higher  no         change of NASWOT's log|K_H| with only this layer projected
residual              lower   yes        ||W - P(W)|| / ||W|| (the SR residual)
projection_loss       lower   yes        calibration-loss increase with only this layer projected
projected_loss        lower   yes        per trial: task loss with every chosen layer projected
====================  ======  =========  ====================================================

P(W) and the gradient projection come from ``approx.py`` (read from the choice's
parts). "No weights" proxies run on a seeded random initialisation (zero-cost NAS
practice). ``projection_loss`` and ``naswot`` need forward passes: they are measured
at a few *anchor* choices per layer and interpolated in the residual r of each
choice (0 at r = 0). ``projected_loss`` is no table: the study re-ranks its front
with it, and small studies can optimise it directly (one forward pass per trial).
"""
from __future__ import annotations

import math

import numpy as np

from ...core import Dense, count_ops
from .approx import LayerApprox
from .registry import Proxy, proxy, register_proxy

DENSE = Dense()


# -- what the proxies share: one run, one searched layer at a time ----------------------
class ProxyRun:
    """The space, the torch evaluator (None: cost proxies only) and the quantities computed once."""

    def __init__(self, space, evaluator=None, anchors: int = 3, quiet: bool = False):
        self.space = space
        self.ev = evaluator
        self.anchors = anchors
        self.quiet = quiet                           # no progress bar for the measured tables
        self.bn_train = evaluator is not None and not evaluator.weights_loaded
        self.fitted = False                          # some P(W) is a fit, not a projection
        self._cache = {}

    def once(self, key: str, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def grads(self) -> dict:
        return self.once("grads", lambda: self.ev.gradients(self.bn_train))

    @property
    def synflow(self) -> tuple[float, dict]:
        return self.once("synflow", self.ev.synflow)

    @property
    def nas0(self) -> float:
        return self.once("nas0", lambda: self.ev.naswot({}, self.bn_train))

    def fixed_layers(self):
        return [ls for ls in self.space.layers if len(ls) == 1]


class LayerWork:
    """One searched layer: its choices, and P(W), P(G) and residuals computed on first use."""

    def __init__(self, run: ProxyRun, ls):
        self.run, self.layer, self.name, self.choices = run, ls.layer, ls.name, ls.choices
        self._ap = None
        self._approx, self._pg = {}, {}
        self._res = None

    @property
    def ap(self) -> LayerApprox:
        if self._ap is None:
            self._ap = LayerApprox(self.layer, self.run.ev.weight(self.name))
        return self._ap

    @property
    def W(self) -> np.ndarray:
        return self.ap.W

    def approx(self, j: int) -> np.ndarray:
        if j not in self._approx:
            self._approx[j] = self.ap.approx(self.choices[j])
        return self._approx[j]

    def proj_grad(self, j: int) -> np.ndarray:
        if j not in self._pg:
            self._pg[j] = self.ap.project_grad(self.choices[j], self.run.grads[self.name])
        return self._pg[j]

    @property
    def residuals(self) -> np.ndarray:
        if self._res is None:
            nW = np.linalg.norm(self.W)
            self._res = np.array([float(np.linalg.norm(self.W - self.approx(j)) / nW) if nW > 0 else 0.0
                                  for j in range(len(self.choices))])
        return self._res

    def anchor_ids(self) -> list[int]:
        return [j + 1 for j in anchors(self.residuals[1:], self.run.anchors)]

    def interpolated(self, measure) -> np.ndarray:
        """``measure(j)`` at the anchor choices, interpolated in the residual to every choice."""
        ids = self.anchor_ids()
        return interp(self.residuals, self.residuals[ids], [measure(j) for j in ids])


def anchors(residuals: np.ndarray, n: int) -> list[int]:
    """Indices (into the non-dense choices) spanning the residual range, max always in."""
    order = np.argsort(residuals, kind="stable")
    if n >= len(order):
        return list(order)
    pos = np.unique(np.round(np.linspace(0, len(order) - 1, n + 1)[1:]).astype(int))
    return [int(order[p]) for p in pos]


def interp(r_all: np.ndarray, r_anchor, v_anchor) -> np.ndarray:
    xs = np.concatenate([[0.0], np.asarray(r_anchor, float)])
    ys = np.concatenate([[0.0], np.asarray(v_anchor, float)])
    o = np.argsort(xs, kind="stable")
    xs, keep = np.unique(xs[o], return_index=True)
    ys = ys[o][keep]
    out = np.interp(r_all, xs, ys)
    if len(xs) >= 2:                                   # linear extrapolation beyond the last anchor
        slope = (ys[-1] - ys[-2]) / max(xs[-1] - xs[-2], 1e-12)
        hi = r_all > xs[-1]
        out[hi] = ys[-1] + slope * (r_all[hi] - xs[-1])
    return out


# -- cost proxies: no torch, no weights -------------------------------------------------
def _fixed_sum(run: ProxyRun, metric: str) -> float:
    return float(sum(getattr(count_ops(ls.layer, ls.choices[0]), metric) for ls in run.fixed_layers()))


@proxy("params", "parameters kept (naive baseline)",
       base=lambda run: _fixed_sum(run, "params") + run.space.network.extra_params)
def _params(run, work):
    return [count_ops(work.layer, c).params for c in work.choices]


@proxy("mults", "multiplies kept (naive baseline)", base=lambda run: _fixed_sum(run, "mults"))
def _mults(run, work):
    return [count_ops(work.layer, c).mults for c in work.choices]


def _weight_count(layer, choice) -> int:
    return count_ops(layer, choice).params - (layer.out_channels if layer.bias else 0)


@proxy("kept_dof", "mean log fraction of weights kept per layer", reduce="mean")
def _kept_dof(run, work):
    w0 = _weight_count(work.layer, DENSE)
    return [math.log(max(1, _weight_count(work.layer, c)) / w0) for c in work.choices]


def field_size(layer, choice) -> int:
    """Input taps x channels one output sees through the choice's parts (a sum-pool part sees its
    layer's whole field; grouped parts are joined by a channel shuffle, as the designs are)."""
    h = w = reach = 1
    for p in reversed(choice.parts(layer)):
        reach = min(p.layer.groups, reach) * p.layer.group_in_channels
        h += p.layer.kernel[0] - 1
        w += p.layer.kernel[1] - 1
    return h * w * reach


@proxy("field_ratio", "mean information-field ratio (1 = full field)", reduce="mean")
def _field_ratio(run, work):
    full = field_size(work.layer, DENSE)
    return [min(1.0, field_size(work.layer, c) / full) for c in work.choices]


# -- zero-cost proxies on the torch model (a seeded init without weights) ----------------
@proxy("grad_norm", "sum of projected gradient norms", needs_torch=True)
def _grad_norm(run, work):
    return [float(np.linalg.norm(work.proj_grad(j))) for j in range(len(work.choices))]


@proxy("snip", "SNIP saliency of the structured weights", needs_torch=True)
def _snip(run, work):
    return [float(np.abs(work.approx(j) * work.proj_grad(j)).sum()) for j in range(len(work.choices))]


def _synflow_term(m: float, absW_S: float, R: float) -> float:
    if not (R > 0 and math.isfinite(R)):
        return 0.0
    return math.log(max(1.0 + (m - absW_S) / R, 1e-300))


@proxy("synflow", "log SynFlow score of the structured network", needs_torch=True,
       base=lambda run: run.synflow[0])
def _synflow(run, work):
    """R is affine in |W_l| when only layer l changes: the term is exact for one layer."""
    S = run.synflow[1][work.name]
    absW_S = float((np.abs(work.W) * S).sum())
    return [_synflow_term(float((np.abs(work.approx(j)) * S).sum()), absW_S, run.ev.synflow_R)
            for j in range(len(work.choices))]


def _naswot_singular(run) -> str | None:
    if not math.isfinite(run.nas0):
        return "naswot: the dense kernel matrix is singular; proxy skipped"
    return None


@proxy("naswot", "NASWOT log|K_H| of the structured network", needs_torch=True, heavy=True,
       base=lambda run: run.nas0, prepare=_naswot_singular,
       note=lambda run: f"interpolated from {run.anchors} anchors per layer")
def _naswot(run, work):
    def measure(j):
        v = run.ev.naswot({work.name: work.approx(j)}, run.bn_train) - run.nas0
        return v if math.isfinite(v) else -1e3
    return work.interpolated(measure)


# -- proxies of trained weights -------------------------------------------------------------
@proxy("residual", "sum of SR residuals of the pretrained weights", higher_is_better=False,
       needs_weights=True, needs_torch=True)
def _residual(run, work):
    return work.residuals


@proxy("projection_loss", "sensitivity-weighted projection loss (sum of per-layer loss increases)",
       higher_is_better=False, needs_weights=True, needs_torch=True, base=lambda run: run.ev.dense_loss,
       note=lambda run: f"per-layer loss increase measured at {run.anchors} anchors per layer, "
                        "interpolated in r")
def _projection_loss(run, work):
    return work.interpolated(lambda j: run.ev.loss_with({work.name: work.approx(j)}) - run.ev.dense_loss)


register_proxy(Proxy("projected_loss", "task loss with every chosen layer projected (per trial)",
                     higher_is_better=False, needs_weights=True, needs_torch=True))
