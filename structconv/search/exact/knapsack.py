"""The exact Pareto front of additive objectives: multiple-choice knapsack dynamic programming.

When every objective and budget is a sum over layers (a table proxy, params, mults,
and the simulator's per-(layer, choice) cycles and energy, which it computes layer by
layer), a plan's value vector is the sum of one row per layer. The front of a sum lies
within the Minkowski sum of the per-layer fronts, and a partial sum (over the first l
layers) that another partial sum weakly dominates can never complete to a front point
that the other one does not reach or beat: adding the same rest keeps the order
(floating-point addition is monotone too). So merging layer by layer and dropping
dominated partial sums at every step is exact, for any number of objectives.

Budgets (the epsilon-constraint method): a budgeted metric that is not an objective
becomes one more dimension of the partial sums (it must be, to stay exact), and a
partial sum that cannot meet a budget even with the cheapest rest is dropped. The
front is then the feasible front of the objectives; ``best_under`` reads the
epsilon-constraint optimum (least proxy with every cost <= epsilon) off it.

Ties are ties: each table column is first rounded to a grid of 2^-40 of its largest
possible total (``quantize``; integers such as cycles stay as they are), so every sum
is exact in float64 whatever the order, and two plans whose totals differ by less than
that (~1e-12 relative) count as equal rather than as an accident of rounding order.

Two dimensions use a sort-and-scan filter (O(n log n)); more use a blocked numpy
dominance check, whose work grows with the square of the front size (``max_points``
bounds it). ``brute_force_front`` is the slow twin the tests compare with.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from ...sim import numba_kernel  # Numba's flags and cache directory: sim/_numba.py, one place

MAX_POINTS = 200_000


@dataclass
class ExactFront:
    """Front points (n x d values, objective columns first) and their plans (n x layers choice indices)."""

    values: np.ndarray
    plans: np.ndarray
    seconds: float = 0.0
    peak_points: int = 0                       # the largest partial front kept (work grows with it)
    notes: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def best_under(self, limits: dict[int, float], column: int = 0) -> int | None:
        """Row of the least ``column`` value among points with values[:, c] <= limit for every c (or None)."""
        ok = np.ones(len(self.values), bool)
        for c, lim in limits.items():
            ok &= self.values[:, c] <= lim
        if not ok.any():
            return None
        rows = np.flatnonzero(ok)
        return int(rows[np.lexsort(self.values[rows].T[::-1])[0]]) if column == 0 else \
            int(rows[np.argmin(self.values[rows, column])])


def _prune_2d(v: np.ndarray) -> np.ndarray:
    """Rows of the non-dominated points of v (n x 2), one per distinct point, sorted by column 0."""
    order = np.lexsort((v[:, 1], v[:, 0]))
    y = v[order, 1]
    prev = np.minimum.accumulate(np.concatenate(([np.inf], y[:-1])))
    return order[y < prev]


def _prune_nd(v: np.ndarray, block: int = 512) -> np.ndarray:
    """Rows of the non-dominated points of v (n x d), one per distinct point, in lexicographic order.

    Lexicographic order puts every weak dominator before what it dominates, so a point is
    kept iff no point kept before it weakly dominates it.
    """
    order = np.lexsort(v.T[::-1])
    v = v[order]
    kept = np.empty((0, v.shape[1]))
    rows = []
    for s in range(0, len(v), block):
        b = v[s:s + block]
        dom = ((kept[None, :, :] <= b[:, None, :]).all(axis=2).any(axis=1) if len(kept)
               else np.zeros(len(b), bool))
        within = (b[None, :, :] <= b[:, None, :]).all(axis=2)           # [i, j]: b[j] weakly dominates b[i]
        keep = np.zeros(len(b), bool)
        for i in np.flatnonzero(~dom):                                   # earlier kept points of this block
            keep[i] = not within[i, :i][keep[:i]].any()
        rows.append(s + np.flatnonzero(keep))
        kept = np.concatenate([kept, b[keep]])
    return order[np.concatenate(rows)] if rows else order[:0]


@numba_kernel
def _staircase_3d(r1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    """keep[i]: no earlier point j has rank1[j] <= rank1[i] and v2[j] <= v2[i] (a Fenwick tree of
    prefix minima)."""
    n = len(r1)
    size = int(r1.max()) + 2 if n else 1
    tree = np.full(size, np.inf)
    keep = np.zeros(n, np.bool_)
    for i in range(n):
        k, best = r1[i] + 1, np.inf
        while k > 0:
            best = min(best, tree[k])
            k -= k & -k
        if best <= v2[i]:
            continue
        keep[i] = True
        k = r1[i] + 1
        while k < size:
            if v2[i] < tree[k]:
                tree[k] = v2[i]
            k += k & -k
    return keep


def _prune_3d(v: np.ndarray) -> np.ndarray:
    """Rows of the non-dominated points of v (n x 3), one per distinct point, in lexicographic order.

    After a lexicographic sort every weak dominator comes first; a point is kept iff no
    earlier kept point has column 1 <= and column 2 <= its own (ranks of column 1 index the tree).
    """
    order = np.lexsort(v.T[::-1])
    w = v[order]
    r1 = np.unique(w[:, 1], return_inverse=True)[1].astype(np.int64)
    return order[_staircase_3d(r1, np.ascontiguousarray(w[:, 2]))]


def prune(v: np.ndarray) -> np.ndarray:
    """Rows of the distinct non-dominated points of v (all columns minimised)."""
    if len(v) == 0:
        return np.zeros(0, np.int64)
    d = v.shape[1]
    if d == 1:
        return np.array([np.argmin(v[:, 0])])
    return _prune_2d(v) if d == 2 else (_prune_3d(v) if d == 3 else _prune_nd(v))


GRID_BITS = 40


def quantize(t: np.ndarray) -> np.ndarray:
    """Each column (last axis) on a grid of 2^-GRID_BITS of its largest total over the layers.

    Every sum of grid values below 2^GRID_BITS grid steps is exact in float64 (53-bit mantissa).
    """
    out = np.array(t, dtype=np.float64)
    for c in range(out.shape[-1]):
        big = np.nansum(np.nanmax(np.abs(out[..., c]), axis=1)) if out.shape[1] else 0.0
        if big > 0 and np.isfinite(big):
            scale = 2.0 ** (GRID_BITS - int(np.ceil(np.log2(big))))
            if scale < 1 or not np.all(np.isnan(out[..., c]) | (out[..., c] == np.round(out[..., c]))):
                out[..., c] = np.round(out[..., c] * scale) / scale
    return out


def _check_tables(tables) -> tuple[np.ndarray, np.ndarray]:
    """(L x K x d stacked and quantized tables, L x K valid mask); a choice is valid where no table is NaN."""
    t = np.stack([np.asarray(x, dtype=np.float64) for x in tables], axis=-1)
    if t.ndim != 3:
        raise ValueError(f"tables must be (layers x choices) each, got shape {t.shape[:-1]}")
    valid = ~np.isnan(t).any(axis=2)
    empty = np.flatnonzero(~valid.any(axis=1))
    if len(empty):
        raise ValueError(f"layer row {int(empty[0])} has no choice with a value in every table")
    if not np.isfinite(t[valid]).all():
        raise ValueError("tables hold an infinite value")
    return quantize(t), valid


def pareto_front(tables, limits: dict[int, float] | None = None, objectives: int | None = None,
                 max_points: int = MAX_POINTS) -> ExactFront:
    """The exact front of sum over layers of tables[c][l, choice_l], c = 0..d-1 (all minimised).

    ``limits``: {column: L}: only plans whose column sum is <= L (budgets, as absolute sums
    over the searched layers). ``objectives``: the first so many columns are the front's
    objectives (default all); the others only carry budgets and are projected out at the
    end. NaN marks a choice a layer does not have. ValueError when a partial front
    passes ``max_points``.
    """
    t0 = time.perf_counter()
    t, valid = _check_tables(tables)
    L, _, d = t.shape
    limits = dict(limits or {})
    k = d if objectives is None else int(objectives)
    if not 1 <= k <= d or any(not 0 <= c < d for c in limits):
        raise ValueError(f"objectives = {objectives!r} / limit columns {sorted(limits)} must lie in [0, {d})")
    lim_cols = np.array(sorted(limits), dtype=np.int64)
    lim = np.array([limits[c] for c in lim_cols])
    rest = _suffix_minima(t, valid, lim_cols)
    V = np.zeros((1, d))
    back, peak = [], 1
    for l in range(L):
        J = np.flatnonzero(valid[l])
        cand = (V[:, None, :] + t[l, J][None, :, :]).reshape(-1, d)
        par = np.repeat(np.arange(len(V)), len(J))
        ch = np.tile(J, len(V))
        if len(lim_cols):
            ok = (cand[:, lim_cols] + rest[l + 1] <= lim).all(axis=1)
            cand, par, ch = cand[ok], par[ok], ch[ok]
            if not len(cand):
                return ExactFront(np.zeros((0, k)), np.zeros((0, L), np.int64), time.perf_counter() - t0,
                                  peak, ["no plan meets the limits"])
        rows = prune(cand)
        V = cand[rows]
        back.append((par[rows], ch[rows]))
        peak = max(peak, len(V))
        if len(V) > max_points:
            raise ValueError(f"the exact front passed max_points = {max_points} partial points "
                             f"at layer row {l} ({d} dimensions); use fewer objectives or a budget")
    plans = _backtrack(back, len(V))
    final = prune(V[:, :k]) if k < d else np.arange(len(V))
    return ExactFront(V[final, :k], plans[final], time.perf_counter() - t0, peak)


def _suffix_minima(t, valid, cols) -> np.ndarray:
    """rest[l, c]: the least sum of column c over layers l.. (0 past the last layer)."""
    m = np.where(valid[:, :, None], t, np.inf)[:, :, cols].min(axis=1)     # (L, len(cols))
    return np.concatenate([np.cumsum(m[::-1], axis=0)[::-1], np.zeros((1, len(cols)))])


def _backtrack(back, n: int) -> np.ndarray:
    plans = np.zeros((n, len(back)), np.int64)
    cur = np.arange(n)
    for l in range(len(back) - 1, -1, -1):
        par, ch = back[l]
        plans[:, l] = ch[cur]
        cur = par[cur]
    return plans


def fold_sum(tables, plan) -> np.ndarray:
    """The value vector of ``plan`` on the quantized tables: a left-to-right sum over layers."""
    t = _check_tables(tables)[0]
    out = np.zeros(t.shape[2])
    for l, j in enumerate(plan):
        out = out + t[l, j]
    return out


def brute_force_front(tables, limits: dict[int, float] | None = None, objectives: int | None = None):
    """The slow twin: every plan enumerated. (set of distinct front value tuples, {tuple: [plans]})."""
    t, valid = _check_tables(tables)
    d = t.shape[2]
    k = d if objectives is None else objectives
    pts = {}
    for plan in itertools.product(*[np.flatnonzero(valid[l]) for l in range(t.shape[0])]):
        v = sum((t[l, j] for l, j in enumerate(plan)), np.zeros(d))
        if all(v[c] <= lim for c, lim in (limits or {}).items()):
            pts.setdefault(tuple(v[:k]), []).append(tuple(int(j) for j in plan))
    keys = list(pts)
    if not keys:
        return set(), {}
    arr = np.array(keys)
    front = set()
    for i, p in enumerate(arr):
        dominated = ((arr <= p).all(axis=1) & (arr < p).any(axis=1)).any()
        if not dominated:
            front.add(keys[i])
    return front, {p: pts[p] for p in front}
