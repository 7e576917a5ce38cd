"""structconv.search: per-layer structure / sparse-kernel design search on the simulator (Optuna).

    space = build_space(network, load_space_config("space.yaml"))     # ordered choices per layer
    costs = build_costs(space, "edge-int8")                            # (layer, choice) cycles/energy/...
    proxies = compute_proxies(space, weights="ck.pt", data=bundle)     # accuracy proxy tables
    problem = Problem(space, costs, proxies, proxy="projection_loss",
                      objectives=("proxy", "cycles", "energy"), budgets={"latency": 0.6})
    result = run_search(problem, n_trials=2000, out_dir="out/search")  # resumable study -> front
    result.save("out/search")                                          # front.yaml + plans/*.yaml
    greedy(problem), uniform(problem), best_random(problem, n)         # baselines, same harness

``search(model, hw, ...)`` does all of it from names (what `structconv search` runs).
"""
from .api import search
from .baselines import BaselinePlan, best_random, greedy, uniform
from .codesign import HwSpace, codesign_summary, hw_space_from_dict, load_hw_space
from .costs import CostTables, build_costs
from .proxies import ProxySuite, ProxyTable, compute_proxies, load_weights
from .space import LayerSpace, SearchSpace, SpaceConfig, build_space, load_space_config, space_config_from_dict
from .study import (FrontMember, Problem, SearchResult, check_budgets, make_sampler, run_search, uniform_plans,
                    warm_start_plans)

__all__ = ["search", "build_space", "load_space_config", "space_config_from_dict", "SearchSpace", "LayerSpace",
           "SpaceConfig", "build_costs", "CostTables", "compute_proxies", "load_weights", "ProxySuite",
           "ProxyTable", "Problem", "run_search", "check_budgets", "SearchResult", "FrontMember", "make_sampler",
           "uniform_plans", "warm_start_plans", "greedy", "uniform", "best_random", "BaselinePlan",
           "HwSpace", "load_hw_space", "hw_space_from_dict", "codesign_summary"]
