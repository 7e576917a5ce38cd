"""The Lagrangian rule, a baseline's per-layer rule: per layer argmin proxy loss + lambda * cost, lambda
bisected to a budget. Its plans are the supported (convex-hull) points of the exact front.
"""
from __future__ import annotations

import numpy as np

from ..problem import BUDGETS, Problem


def loss_table(problem: Problem) -> np.ndarray:
    """Per-(layer, choice) loss form of the proxy (projected_loss: its additive surrogate projection_loss)."""
    name = problem.proxy
    if name == "projected_loss":
        name = "projection_loss" if "projection_loss" in problem.proxies.tables else "kept_dof"
    return problem.proxies.tables[name].loss_terms()


def budget_cost(problem: Problem) -> tuple[np.ndarray, float]:
    """(cost per (layer, choice), base): the budgeted metrics, each over its budget, summed."""
    ct, b = problem.costs, problem.budgets
    cost = sum(ct.values[m] / (b[m] * ct.dense[m]) for m in BUDGETS if m in b)
    base = sum(ct.base[m] / (b[m] * ct.dense[m]) for m in BUDGETS if m in b)
    return cost, base


def lagrangian_plan(loss: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """Per layer argmin loss + lam * cost (NaN padding never chosen)."""
    s = loss + lam * cost
    return np.nanargmin(np.where(np.isnan(s), np.inf, s), axis=1)


def lagrangian_for_budget(loss, cost, base: float, budget: float, iters: int = 60):
    """The least-lambda Lagrangian plan whose total cost base + sum <= budget (None if none)."""
    rows = np.arange(loss.shape[0])

    def total(idx):
        return base + cost[rows, idx].sum()

    lo, hi = 0.0, 1.0
    idx = lagrangian_plan(loss, cost, hi)
    n = 0
    while total(idx) > budget and n < 200:
        hi *= 4.0
        idx = lagrangian_plan(loss, cost, hi)
        n += 1
    if total(idx) > budget:
        return None
    best = idx
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        idx = lagrangian_plan(loss, cost, mid)
        if total(idx) <= budget:
            hi, best = mid, idx
        else:
            lo = mid
    return best
