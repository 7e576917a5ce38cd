"""The exact Pareto front of additive objectives (multiple-choice knapsack DP), on tables and on a Problem.

    front = pareto_front(tables, limits)       # knapsack: any per-(layer, choice) tables
    res = exact_result(problem)                 # solve: a Problem's front as a SearchResult (mode 'exact')
    seeds = exact_seed_plans(problem)           # the sampler's warm start
"""
from .knapsack import MAX_POINTS, ExactFront, brute_force_front, fold_sum, pareto_front, prune
from .solve import (
                    dimensions,
                    dominates_or_equals,
                    exact_front,
                    exact_result,
                    exact_seed_plans,
                    front_of,
                    hypervolume_2d,
                    objective_table,
                    problem_tables,
)

__all__ = ["pareto_front", "ExactFront", "brute_force_front", "fold_sum", "prune", "MAX_POINTS",
           "exact_front", "exact_result", "exact_seed_plans", "dimensions", "objective_table",
           "problem_tables",
           "dominates_or_equals", "front_of", "hypervolume_2d"]
