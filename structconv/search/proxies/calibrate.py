"""Proxies calibrated on the accuracy benchmark's calibration plans, validated on its held-out plans only.

The ground truth is one CSV row per plan (issue 12's benchmark writes it)::

    plan_id,plan_file,split,cycles_ratio,params,<proxy>...,accuracy_mean

``split`` is ``calibration`` or ``held_out`` (fixed by the benchmark's protocol); every
column besides those named here is a proxy. ``fit`` learns, on calibration rows only,
each proxy's direction (the sign of its Kendall tau there) and a small ridge model over
the standardised proxies (``Calibrated``). ``validate`` scores every proxy and the
model on held-out rows only: Kendall tau and Spearman rho with bootstrap percentile
CIs, and a paired bootstrap test against ``params`` (the same resampled plans for
both; one-sided p of "no better than #params"). ``Calibrated.table`` turns a linear
model over table proxies back into one additive ProxyTable, so the exact solver can
optimise it.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from .registry import ProxyTable

FIXED = ("plan_id", "plan_file", "split", "cycles_ratio", "accuracy_mean")
SPLITS = ("calibration", "held_out")
BASELINE = "params"


@dataclass
class GroundTruth:
    plan_ids: list
    split: np.ndarray                    # 'calibration' | 'held_out' per row
    accuracy: np.ndarray
    proxies: dict                        # name -> values per row
    plan_files: list = field(default_factory=list)

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)


def _number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{where} = {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{where} = {text!r} must be finite")
    return v


def read_ground_truth(path) -> GroundTruth:
    """The benchmark's per-plan CSV (one-line ValueErrors naming the file, row and column)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"ground truth file {str(p)!r} does not exist")
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"ground truth file {str(p)!r} has no rows")
    missing = [c for c in FIXED + (BASELINE,) if c not in rows[0]]
    if missing:
        raise ValueError(f"ground truth file {str(p)!r}: missing column(s) {missing}")
    names = [c for c in rows[0] if c not in FIXED]
    for i, r in enumerate(rows, start=2):
        if r["split"] not in SPLITS:
            raise ValueError(f"{p.name} line {i}: split = {r['split']!r} is not one of {list(SPLITS)}")
    num = {c: np.array([_number(r[c], f"{p.name} line {i}: {c}") for i, r in enumerate(rows, start=2)])
           for c in names + ["accuracy_mean"]}
    return GroundTruth([r["plan_id"] for r in rows], np.array([r["split"] for r in rows]),
                       num["accuracy_mean"], {c: num[c] for c in names}, [r["plan_file"] for r in rows])


# -- the fit: calibration rows only ---------------------------------------------------------------
@dataclass
class Calibrated:
    """score = sum_i w_i * (x_i - mean_i) / std_i (+ intercept): higher predicts higher accuracy."""

    names: tuple
    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    intercept: float = 0.0
    signs: dict = field(default_factory=dict)  # per proxy: +1 / -1, its direction on calibration plans

    def predict(self, proxies: dict) -> np.ndarray:
        X = np.column_stack([proxies[n] for n in self.names])
        return self.intercept + ((X - self.mean) / self.std) @ self.weights

    def table(self, tables: dict) -> ProxyTable:
        """The model as one additive table (each proxy total is base + scale * sum of its table)."""
        vals, base = 0.0, self.intercept
        for n, w, m, s in zip(self.names, self.weights, self.mean, self.std):
            t = tables[n]
            scale = 1.0 / t.values.shape[0] if t.reduce == "mean" else 1.0
            vals = vals + (w / s) * scale * t.values
            base += (w / s) * (t.base - m)
        return ProxyTable("calibrated", vals, base, "sum", True,
                          any(tables[n].requires_weights for n in self.names),
                          note="ridge model over " + ", ".join(self.names))

    def to_dict(self) -> dict:
        return {"names": list(self.names), "weights": [float(w) for w in self.weights],
                "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
                "intercept": float(self.intercept), "signs": dict(self.signs)}


def fit(gt: GroundTruth, names=None, ridge: float = 1.0) -> Calibrated:
    """Ridge regression of accuracy on the standardised proxies, calibration rows only."""
    names = tuple(names or gt.proxies)
    cal = gt.rows("calibration")
    if len(cal) < 3:
        raise ValueError(f"calibration rows = {len(cal)}: need at least 3")
    X = np.column_stack([gt.proxies[n][cal] for n in names])
    y = gt.accuracy[cal]
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    Z = (X - mean) / std
    w = np.linalg.solve(Z.T @ Z + ridge * np.eye(len(names)), Z.T @ (y - y.mean()))
    signs = {n: _direction(gt.proxies[n][cal], y) for n in names}
    return Calibrated(names, w, mean, std, float(y.mean()), signs)


# -- validation: held-out rows only ---------------------------------------------------------------
def _tau(x, y) -> float:
    t = stats.kendalltau(x, y).statistic
    return 0.0 if np.isnan(t) else float(t)


def _rho(x, y) -> float:
    r = stats.spearmanr(x, y).statistic
    return 0.0 if np.isnan(r) else float(r)


def validate(gt: GroundTruth, model: Calibrated | None = None, n_boot: int = 2000, seed: int = 0,
             level: float = 0.95) -> dict:
    """Per proxy (oriented by its calibration sign) and the model: tau, rho, CIs, paired test vs params."""
    model = model or fit(gt)
    held = gt.rows("held_out")
    if len(held) < 4:
        raise ValueError(f"held-out rows = {len(held)}: need at least 4")
    y = gt.accuracy[held]
    scores = {n: model.signs.get(n, 1) * gt.proxies[n][held] for n in gt.proxies}
    scores["calibrated"] = model.predict({n: v[held] for n, v in gt.proxies.items()})
    rng = np.random.default_rng(seed)
    boots = rng.integers(0, len(held), size=(n_boot, len(held)))
    taus = {n: np.array([_tau(s[b], y[b]) for b in boots]) for n, s in scores.items()}
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = {}
    for n, s in scores.items():
        rhos = np.array([_rho(s[b], y[b]) for b in boots])
        d = taus[n] - taus[BASELINE]
        out[n] = {"tau": _tau(s, y),
                  "tau_ci": [float(np.percentile(taus[n], lo)), float(np.percentile(taus[n], hi))],
                  "rho": _rho(s, y),
                  "rho_ci": [float(np.percentile(rhos, lo)), float(np.percentile(rhos, hi))],
                  "tau_minus_params": float(_tau(s, y) - _tau(scores[BASELINE], y)),
                  "p_vs_params": None if n == BASELINE else float((1 + np.sum(d <= 0)) / (1 + n_boot))}
    return {"held_out_plans": len(held), "calibration_plans": len(gt.rows("calibration")),
            "bootstrap": n_boot, "proxies": out, "model": model.to_dict(), "winner": winner(out)}


def winner(results: dict, alpha: float = 0.05) -> dict:
    """The proxy with the highest held-out tau, and whether it beats #params significantly."""
    name = max(results, key=lambda n: results[n]["tau"])
    p = results[name]["p_vs_params"]
    beats = p is not None and p < alpha
    return {"proxy": name, "beats_params": beats,
            "note": f"{name} has the highest held-out tau" + ("" if beats else
                    "; no proxy beats #params significantly (paired bootstrap, alpha 0.05)"
                    if name == BASELINE or p is None or p >= alpha else "")}


def _direction(x, y) -> int:
    """+1 or -1: the sign of Kendall's tau on the calibration plans; +1 when it is undefined
    (a constant proxy)."""
    t = stats.kendalltau(x, y).statistic
    return 1 if not np.isfinite(t) or t == 0 else int(np.sign(t))
