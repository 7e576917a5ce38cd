"""Baselines in the search's own harness (same Problem, same proxy, same budget).

* uniform: the presets that apply plus the uniform family (same c fraction and n
  offset on every layer): the best one under the budget by proxy.
* greedy (AIMET's greedy compression-ratio selection): a per-layer sensitivity
  table (the proxy's loss increase when only that layer takes that choice), then
  one shared threshold tau: each layer takes its cheapest choice whose sensitivity
  is <= tau; tau is bisected to the smallest value whose plan meets the budget.
* random: Optuna's RandomSampler in ``run_search`` with the same trial count; or
  ``random_plans`` for a numpy-only draw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core import Plan
from ..evaluation import Evaluation
from ..problem import Problem
from ..study import preset_plans, uniform_plans
from .lagrangian import budget_cost, loss_table


@dataclass(frozen=True)
class BaselinePlan:
    name: str
    plan: Plan
    index: tuple
    evaluation: Evaluation

    @property
    def feasible(self) -> bool:
        return self.evaluation.feasible

    def to_dict(self) -> dict:
        ev = self.evaluation
        return {"name": self.name, "plan": self.plan.name, "feasible": ev.feasible,
                "cycles_total": int(ev.cycles_total), "energy_pj": ev.energy_pj, "params": int(ev.params),
                "mults": int(ev.mults), "ratios": ev.ratios, "proxies": ev.proxies}


def _cost_matrix(problem: Problem, metric: str | None = None):
    """Normalised cost per (layer, choice): the budget metrics summed (cycles_total without budgets)."""
    ct = problem.costs
    if metric is None and problem.budgets:
        return budget_cost(problem)
    metric = metric or "cycles_total"
    return ct.values[metric] / ct.dense[metric], ct.base[metric] / ct.dense[metric]


def wrap(problem: Problem, name: str, idx) -> BaselinePlan:
    idx = tuple(int(i) for i in idx)
    return BaselinePlan(name, problem.space.plan(list(idx), name=name), idx, problem.evaluate(list(idx)))


def greedy(problem: Problem, iters: int = 80) -> BaselinePlan:
    """AIMET-style greedy selection: one sensitivity threshold, bisected until the budget is met."""
    loss = loss_table(problem)
    sens = loss - loss[:, :1]                           # increase over the dense choice, per layer
    cost, _ = _cost_matrix(problem)
    valid = ~np.isnan(sens)

    def plan_at(tau):
        ok = valid & (sens <= tau)
        ok[:, 0] = True                                 # dense is always allowed
        c = np.where(ok, cost, np.inf)
        return np.argmin(c, axis=1)                     # the cheapest allowed choice per layer

    def feasible(idx):
        return problem.evaluate(idx).feasible

    if not problem.budgets:
        raise ValueError("greedy needs a budget (max_cycles_ratio, max_energy_ratio or max_params_ratio)")
    lo = float(np.nanmin(sens)) - 1e-12
    hi = float(np.nanmax(sens)) + 1e-12
    best = plan_at(hi)
    if not feasible(best):
        return wrap(problem, "greedy", best)           # nothing meets the budget: the cheapest plan
    if feasible(plan_at(lo)):
        return wrap(problem, "greedy", plan_at(lo))
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        idx = plan_at(mid)
        if feasible(idx):
            hi, best = mid, idx
        else:
            lo = mid
    return wrap(problem, "greedy", best)


def uniform(problem: Problem) -> tuple[BaselinePlan | None, list[BaselinePlan]]:
    """(best feasible uniform plan by proxy or None, every uniform/preset plan evaluated)."""
    presets, _ = preset_plans(problem.space)
    plans = presets + uniform_plans(problem.space)
    out = []
    for p in plans:
        params = problem.space.params_of(p)
        idx = [params.get(n, 0) for n in problem.names]
        out.append(wrap(problem, p.name, idx))
    feas = [b for b in out if b.feasible]
    best = min(feas, key=lambda b: b.evaluation.proxy_loss) if feas else None
    return best, out


def random_plans(problem: Problem, n: int, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(0, k)) for k in problem.sizes) for _ in range(n)]


def best_random(problem: Problem, n: int, seed: int = 0) -> BaselinePlan | None:
    """Best feasible of ``n`` uniformly random plans (numpy draw, no Optuna)."""
    best = None
    for idx in random_plans(problem, n, seed):
        ev = problem.evaluate(list(idx))
        if ev.feasible and (best is None or ev.proxy_loss < best.evaluation.proxy_loss):
            best = BaselinePlan("random", problem.space.plan(list(idx), name="random"), idx, ev)
    return best


def baseline_summary(problem: Problem, result, trials: int, seed: int) -> dict:
    """The search's best plan beside the uniform, greedy and random baselines (each as its dict, None where
    none is feasible or applies); co-design has none of the three."""
    out = {}
    if problem.hw_space is None:
        best_u, _ = uniform(problem)
        out["uniform"] = best_u.to_dict() if best_u else None
        out["greedy"] = greedy(problem).to_dict() if problem.budgets else None
        r = best_random(problem, trials, seed)
        out["random"] = r.to_dict() if r else None
    if result.best is not None:
        out["search"] = result.best.to_dict()
    return out
