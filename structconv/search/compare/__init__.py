"""Baselines in the search's own harness: the same Problem, proxy, budgets and trial count for every method.

    greedy(problem), uniform(problem), best_random(problem, n)    # one BaselinePlan each
    compare(problem, trials)                                        # every method, exact and sampler included
"""
from .baselines import BaselinePlan, baseline_summary, best_random, greedy, random_plans, uniform
from .harness import compare, paired_test
from .lagrangian import budget_cost, lagrangian_for_budget, loss_table

__all__ = ["greedy", "uniform", "best_random", "random_plans", "BaselinePlan", "baseline_summary", "compare",
           "paired_test", "lagrangian_for_budget", "loss_table", "budget_cost"]
