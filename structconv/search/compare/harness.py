"""A fair baseline harness: every method gets the same Problem (proxy, budgets) and the same trial count.

``compare(problem, trials)`` returns one plan per method: ``exact`` (the least proxy
under the budgets, read off the exact front), ``sampler`` (NSGA-II, no exact seeds),
``greedy`` (one sensitivity threshold), ``greedy_lagrangian`` (the Lagrangian's
per-layer rule, argmin loss + lambda * cost, lambda bisected to the budget),
``uniform`` (best of the uniform family), ``rule_preset`` (best rule preset that fits)
and ``random`` (best of as many random plans as the sampler's trials). Accuracy in the
loop joins when its ranking is given. ``paired_test`` compares post-decomposition
accuracy over seeds (Wilcoxon signed-rank, and a paired t-test) against a reference.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ...core import preset_kind
from ..exact import exact_result
from ..problem import Problem
from ..study import run_search
from .baselines import BaselinePlan, best_random, greedy, uniform, wrap
from .lagrangian import budget_cost, lagrangian_for_budget, loss_table


def _lagrangian(problem: Problem) -> BaselinePlan | None:
    cost, base = budget_cost(problem)
    idx = lagrangian_for_budget(loss_table(problem), cost, base, 1.0)   # every budget scaled to 1 each
    return None if idx is None else wrap(problem, "greedy_lagrangian", idx)


def _rule_preset(problem: Problem) -> BaselinePlan | None:
    out = []
    for plan in problem.space.presets:
        if preset_kind(plan.name) == "rule" and problem.space.contains(plan):
            p = problem.space.params_of(plan)
            out.append(wrap(problem, f"preset:{plan.name}", [p.get(n, 0) for n in problem.names]))
    feas = [b for b in out if b.feasible]
    return min(feas, key=lambda b: b.evaluation.proxy_loss) if feas else None


def compare(problem: Problem, trials: int = 500, seed: int = 0, in_loop_best=None) -> dict:
    """method -> BaselinePlan (None where a method found no feasible plan)."""
    if len(problem.budgets) != 1 or len(problem.objectives) != 2:
        raise ValueError("compare needs one budget and two objectives (proxy and one cost): "
                         "the same question for every method")
    ex = exact_result(problem)
    s = run_search(problem, trials=trials, seed=seed, warm_start=False, mode="sampler")
    out = {"exact": None if ex.best is None else wrap(problem, "exact", ex.best.index),
           "sampler": None if s.best is None else wrap(problem, "sampler", s.best.index),
           "greedy": greedy(problem), "greedy_lagrangian": _lagrangian(problem),
           "uniform": uniform(problem)[0],
           "rule_preset": _rule_preset(problem), "random": best_random(problem, trials, seed)}
    if in_loop_best is not None:
        out["in_loop"] = wrap(problem, "in_loop", problem.space.params_of(in_loop_best).values())
    return {k: (v if v is None or v.feasible else None) for k, v in out.items()}


def paired_test(accuracy: dict, reference: str) -> dict:
    """{method: per-seed accuracies} -> mean, and p-values of each method against ``reference``,
    paired by seed."""
    ref = np.asarray(accuracy[reference], float)
    out = {}
    for name, acc in accuracy.items():
        a = np.asarray(acc, float)
        if a.shape != ref.shape:
            raise ValueError(f"accuracy[{name!r}] has {a.size} seeds; {reference!r} has {ref.size}")
        row = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
               "seeds": int(a.size)}
        if name != reference:
            d = a - ref
            row["mean_diff"] = float(d.mean())
            row["p_wilcoxon"] = float(stats.wilcoxon(a, ref).pvalue) if np.any(d != 0) else 1.0
            row["p_ttest"] = (float(stats.ttest_rel(a, ref).pvalue) if np.any(d != d[0])
                              else (0.0 if d[0] else 1.0))
        out[name] = row
    return out
