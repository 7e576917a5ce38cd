"""Rank statistics of PROTOCOL.md section 7: Kendall tau-b / Spearman rho, percentile bootstrap
intervals over plans, paired bootstrap differences against a baseline, Holm's adjustment.

The resampled statistics are vectorised over resamples (B x pairs sign products for tau-b,
row-wise average ranks for rho); ``kendall`` / ``spearman`` on one sample are scipy's, and
tests/checks compare the two (``_check_against_scipy``).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr


def kendall(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(kendalltau(x, y).statistic)            # tau-b


def spearman(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def resamples(n: int, B: int, seed: int = 0) -> np.ndarray:
    """(B, n) indices of B bootstrap resamples of n plans."""
    return np.random.default_rng(seed).integers(0, n, size=(B, n))


def tau_b_rows(X: np.ndarray, Y: np.ndarray, chunk_cells: int = 20_000_000) -> np.ndarray:
    """Kendall tau-b of each row pair (X[b], Y[b]); NaN where a row is constant.

    Rows go in chunks of about ``chunk_cells`` (row, pair) cells: 10,000 resamples of 200 plans are
    2e8 pairs, too many to hold at once."""
    n = X.shape[1]
    rows = max(1, chunk_cells // max(1, n * (n - 1) // 2))
    if X.shape[0] > rows:
        blocks = [_tau_b_block(X[k:k + rows], Y[k:k + rows]) for k in range(0, X.shape[0], rows)]
        return np.concatenate(blocks)
    return _tau_b_block(X, Y)


def _tau_b_block(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    n = X.shape[1]
    i, j = np.triu_indices(n, 1)
    dx = np.sign(X[:, i] - X[:, j])
    dy = np.sign(Y[:, i] - Y[:, j])
    den = np.sqrt(np.count_nonzero(dx, axis=1).astype(float) * np.count_nonzero(dy, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (dx * dy).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def rho_rows(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair (average ranks for ties); NaN where a row is constant."""
    rx = rankdata(X, axis=1)
    ry = rankdata(Y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    a = (1 - level) / 2 * 100
    return (float(np.percentile(v, a)), float(np.percentile(v, 100 - a)))


def paired_p(d: np.ndarray) -> float:
    """Two-sided bootstrap p of 'the difference is 0' from resampled differences ``d``."""
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    lo = (np.count_nonzero(d <= 0) + 1) / (d.size + 1)
    hi = (np.count_nonzero(d >= 0) + 1) / (d.size + 1)
    return float(min(1.0, 2 * min(lo, hi)))


def holm(pvalues: dict) -> dict:
    """Holm-Bonferroni adjusted p for each name (NaN stays NaN, not counted)."""
    items = sorted(((p, k) for k, p in pvalues.items() if np.isfinite(p)))
    m, out, running = len(items), {k: float("nan") for k in pvalues}, 0.0
    for rank, (p, k) in enumerate(items):
        running = max(running, min(1.0, (m - rank) * p))
        out[k] = running
    return out


def correlations(proxies: dict, acc: np.ndarray, baseline: str, B: int, seed: int = 0) -> dict:
    """Per proxy: tau, rho, their bootstrap intervals, and the paired tau difference to ``baseline``.

    ``proxies``: name -> oriented values (same plan order as ``acc``).
    """
    acc = np.asarray(acc, float)
    idx = resamples(len(acc), B, seed)
    Y = acc[idx]
    taus = {k: tau_b_rows(np.asarray(v, float)[idx], Y) for k, v in proxies.items()}
    rhos = {k: rho_rows(np.asarray(v, float)[idx], Y) for k, v in proxies.items()}
    base = taus[baseline]
    out = {}
    for k, v in proxies.items():
        d = taus[k] - base
        out[k] = {"tau": kendall(v, acc), "tau_ci": ci(taus[k]), "rho": spearman(v, acc),
                  "rho_ci": ci(rhos[k]), "discarded": int(np.count_nonzero(~np.isfinite(taus[k]))),
                  "d_tau": kendall(v, acc) - kendall(proxies[baseline], acc), "d_tau_ci": ci(d),
                  "p_vs_baseline": paired_p(d) if k != baseline else float("nan")}
    adj = holm({k: r["p_vs_baseline"] for k, r in out.items() if k != baseline})
    for k in out:
        out[k]["p_holm"] = adj.get(k, float("nan"))
    return out


def _check_against_scipy(n: int = 12, B: int = 50, seed: int = 1) -> None:
    """The vectorised row statistics equal scipy's on resampled (tied) data."""
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 5, n).astype(float), rng.normal(size=n)
    idx = resamples(n, B, seed)
    t, r = tau_b_rows(x[idx], y[idx]), rho_rows(x[idx], y[idx])
    for b in range(B):
        assert np.isclose(t[b], kendall(x[idx[b]], y[idx[b]]), equal_nan=True), b
        assert np.isclose(r[b], spearman(x[idx[b]], y[idx[b]]), equal_nan=True), b
    assert np.array_equal(tau_b_rows(x[idx], y[idx], chunk_cells=100), t, equal_nan=True)   # chunked alike


if __name__ == "__main__":
    _check_against_scipy()
    print("stats: vectorised tau-b / rho equal scipy's (tau-b chunked or not)")
