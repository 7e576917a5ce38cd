"""The exact solver on a search Problem: its objectives and budgets as per-layer tables, the front as
a result.

``exact_front(problem)`` returns the exact feasible Pareto front of the problem's
objectives (``knapsack.pareto_front``), when every objective and budget is a sum over
layers (``Problem.not_additive`` says why not). ``exact_result`` turns it into the
same ``SearchResult`` a study yields, with ``mode = "exact"`` and every member's
origin ``exact``. ``exact_seed_plans`` gives the sampler its seeds from the exact
fronts of the additive part of a problem: the Lagrangian warm start is the special
case of the supported (convex-hull) points of these fronts, so it is gone.
"""
from __future__ import annotations

import time

import numpy as np

from ...core import pareto_mask
from ..evaluation import COST_OBJECTIVES
from ..problem import BUDGETS, Problem
from ..results import FrontMember, SearchResult, result_of
from .knapsack import ExactFront, pareto_front, prune


def objective_table(problem: Problem, name: str) -> tuple[np.ndarray, float]:
    """(per-(layer, choice) terms, constant) of an additive objective's minimised form. ``proxy`` is the
    problem's proxy even when that is named like a cost metric (the params proxy is maximised; the params
    objective is minimised)."""
    if name in COST_OBJECTIVES:
        return problem.costs.values[name], problem.costs.base[name]
    if name == "proxy":
        name = problem.proxy
    if name == "projected_loss":
        raise ValueError("projected_loss is no sum over layers: the exact solver cannot take it")
    t = problem.proxies.tables[name]
    return t.loss_terms(), (-t.base if t.higher_is_better else t.base)


def problem_tables(problem: Problem, objectives=None):
    """(tables, limits, number of objective columns): objectives first, then the budget-only metrics."""
    objectives = tuple(objectives or problem.objectives)
    tables = [objective_table(problem, o)[0] for o in objectives]
    ct, limits = problem.costs, {}
    for m, r in problem.budgets.items():
        col = objectives.index(m) if m in objectives else len(tables)
        if col == len(tables):
            tables.append(ct.values[m])
        limits[col] = r * ct.dense[m] - ct.base[m]
    return tables, limits, len(objectives)


def dimensions(problem: Problem) -> int:
    """Columns the DP carries: the objectives and the budgets that are not objectives."""
    return len(problem.objectives) + sum(m not in problem.objectives for m in problem.budgets)


def exact_front(problem: Problem, objectives=None, max_points: int | None = None) -> ExactFront:
    """The exact feasible front of ``objectives`` (default the problem's) under the problem's budgets."""
    why = problem.not_additive()
    if why is not None and objectives is None:
        raise ValueError(f"the exact solver needs objectives and budgets that add up over layers: {why}")
    tables, limits, k = problem_tables(problem, objectives)
    kw = {} if max_points is None else {"max_points": max_points}
    return pareto_front(tables, limits, k, **kw)


def _members(problem: Problem, front: ExactFront, notes: list) -> list[FrontMember]:
    model, out, dropped = problem.space.network.name, [], 0
    for i, idx in enumerate(front.plans):
        ev = problem.evaluate(idx)
        if not ev.feasible:                          # a budget met in the tables' sum, missed by rounding
            dropped += 1
            continue
        plan = problem.space.plan(list(idx), name=f"front-{i:03d}")
        out.append(FrontMember(None, plan, tuple(int(j) for j in idx), ev.values, ev, "exact"))
    if dropped:
        notes.append(f"{dropped} exact point(s) at a budget's edge were infeasible after rounding: dropped")
    # the DP adds tables rounded to 2^-40 of their largest total; totals that are equal in the
    # problem's own arithmetic may differ there by a few grid steps: keep what that arithmetic keeps
    out = [out[i] for i in sorted(prune(np.array([m.values for m in out])))] if out else []
    out.sort(key=lambda m: m.values)
    return [m.renamed(f"front-{i:03d}", model) for i, m in enumerate(out)]


def exact_result(problem: Problem, max_points: int | None = None) -> SearchResult:
    """The exact front as a SearchResult (mode 'exact'; every member's origin 'exact')."""
    t0 = time.perf_counter()
    front = exact_front(problem, max_points=max_points)
    notes = list(problem.proxies.notes) + [
        f"exact front by multiple-choice knapsack dynamic programming: {len(front)} points in "
        f"{front.seconds:.3f} s (largest partial front {front.peak_points})"]
    members = _members(problem, front, notes)
    best = None
    if members and (problem.constrained or len(problem.objectives) == 1):
        b = min(members, key=lambda m: (m.evaluation.proxy_loss, m.values))
        best = b.renamed("best", problem.space.network.name)
    return result_of(problem, members, best, study_name="exact", storage="none", n_complete=len(members),
                     n_feasible=len(members), n_failed=0, wall_seconds=time.perf_counter() - t0,
                     eval_seconds=front.seconds, notes=notes, mode="exact")


# -- seeds for the sampler ---------------------------------------------------------------
def _spread(front: ExactFront, n: int) -> list[np.ndarray]:
    if len(front) <= n:
        return list(front.plans)
    rows = np.unique(np.round(np.linspace(0, len(front) - 1, n)).astype(int))
    return [front.plans[r] for r in rows]


def exact_seed_plans(problem: Problem, count: int = 16) -> list[np.ndarray]:
    """Plans spread along the exact 2-objective fronts of the proxy against each cost of the problem.

    The costs are the cost objectives and budgets (cycles_total when there are none); each
    front keeps its own metric's budget and leaves the others out (two columns stay cheap;
    a seed that misses another budget is an infeasible trial, no harm). Hardware co-design
    seeds use the base accelerator.
    """
    costs = ([o for o in problem.objectives if o in COST_OBJECTIVES]
             + [m for m in BUDGETS if m in problem.budgets])
    costs = list(dict.fromkeys(costs)) or ["cycles_total"]
    per = max(2, count // len(costs))
    proxy = "proxy" if problem.proxy != "projected_loss" else _surrogate(problem)
    out: dict[tuple, np.ndarray] = {}
    for m in costs:
        ct = problem.costs
        limits = {1: problem.budgets[m] * ct.dense[m] - ct.base[m]} if m in problem.budgets else {}
        front = pareto_front([objective_table(problem, proxy)[0], ct.values[m]], limits)
        for idx in _spread(front, per):
            out.setdefault(tuple(int(i) for i in idx), idx)
    return list(out.values())[:count]


def _surrogate(problem: Problem) -> str:
    """projected_loss's additive stand-in (as the old warm start used)."""
    return "projection_loss" if "projection_loss" in problem.proxies.tables else "kept_dof"


def dominates_or_equals(exact_values: np.ndarray, points: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """For each row of ``points``: is some exact point no worse in every objective (up to rtol)?"""
    e = np.asarray(exact_values, float)
    p = np.asarray(points, float)
    tol = rtol * np.maximum(np.abs(e).max(axis=0), 1.0)
    return np.array([(e <= q + tol).all(axis=1).any() for q in p])


def front_of(values: np.ndarray) -> np.ndarray:
    """The non-dominated rows of ``values`` (core's Pareto filter)."""
    v = np.asarray(values, float)
    return v[pareto_mask(v)] if len(v) else v



def hypervolume_2d(points, ref) -> float:
    """Area dominated by ``points`` (n x 2, minimised) and bounded by ``ref``; points beyond ref add
    nothing."""
    p = np.asarray(points, float).reshape(-1, 2)
    p = p[(p[:, 0] < ref[0]) & (p[:, 1] < ref[1])]
    if not len(p):
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    area, y_prev = 0.0, float(ref[1])
    for x, y in p:
        if y < y_prev:
            area += (ref[0] - x) * (y_prev - y)
            y_prev = y
    return float(area)
