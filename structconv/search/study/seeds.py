"""Plans the study is seeded with before any sampled trial (``enqueue_trial``), and per-layer rules.

The network's presets that fit the space (``core.presets_for``) and a uniform family
(same c fraction and n offset on every layer); the study adds plans from the exact
fronts (``solve.exact_seed_plans``) unless ``warm_start=False``. The Lagrangian rule
(per layer argmin proxy_loss + lambda * cost, lambda bisected to a budget) stays as a
baseline's per-layer rule: its plans are the supported points of the exact front.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import Plan, Structure, presets_for
from .problem import BUDGETS, Problem
from .space import LayerSpace, SearchSpace

UNIFORM_FRACTIONS = (0.75, 0.5, 0.25)
UNIFORM_N_OFFSETS = (0, 1, 2)


# -- presets and the uniform family --------------------------------------------------
def preset_plans(space: SearchSpace) -> tuple[list[Plan], list[str]]:
    """The core presets that apply to the network and fit the space (+ notes on the rest)."""
    plans, notes = [], []
    for name, plan in presets_for(space.network).items():
        if space.contains(plan):
            plans.append(plan)
        else:
            notes.append(f"preset {name!r} is outside the search space: not enqueued")
    return plans, notes


def _nearest(ls: LayerSpace, frac: float, dn: int):
    """The choice of the layer's menu closest to Structure(C * frac, k - dn), or None.

    The uniform family is a family of one kind (Structure): only that kind's members
    of the menu are candidates, compared by their c and n.
    """
    C = ls.layer.group_in_channels
    kh, kw = ls.layer.kernel
    c = max(1, min(C, int(round(C * frac))))
    want = Structure(c, (max(1, kh - dn), max(1, kw - dn)))
    same = [ch for ch in ls.choices if ch.kind == want.kind]
    if not same:
        return None
    return min(same, key=lambda s: (abs(math.log(s.c / c)) + abs(s.nh - want.nh) + abs(s.nw - want.nw), s.c))


def uniform_plans(space: SearchSpace) -> list[Plan]:
    """Same c fraction and same n offset on every searched layer (nearest choice in the space)."""
    out = []
    for frac in UNIFORM_FRACTIONS:
        for dn in UNIFORM_N_OFFSETS:
            choices = {ls.name: ch for ls in space.searched if (ch := _nearest(ls, frac, dn)) is not None}
            if not choices:
                continue
            p = Plan(choices, name=f"uniform-c{frac:g}-n{'k' if dn == 0 else f'k-{dn}'}", model=space.network.name)
            if all(q.choices != p.choices for q in out):
                out.append(p)
    return out


# -- Lagrangian plans ------------------------------------------------------------------
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
