"""structconv.search: per-layer structure / sparse-kernel design search on the simulator (Optuna).

    space = build_space(network, load_space_config("space.yaml"))     # ordered choices per layer
    costs = build_costs(space, "edge-int8")                            # (layer, choice) cycles_total/energy_pj/...
    proxies = compute_proxies(space, weights="ck.pt", data=bundle)     # accuracy proxy tables
    problem = Problem(space, costs, proxies, proxy="projection_loss",
                      objectives=("proxy", "cycles_total", "energy_pj"), budgets={"cycles_total": 0.6})
    exact = run_search(problem, mode="exact")                          # additive: the exact front (DP)
    result = run_search(problem, n_trials=2000, out_dir="out/search")  # resumable study -> front
    result.save("out/search")                                          # front.yaml + plans/*.yaml
    greedy(problem), uniform(problem), best_random(problem, n)         # baselines, same harness

``search(model, hw, ...)`` does all of it from a Network or a model reference (what
`structconv search` runs). Modules: space_config (what users restrict), space (the
ordered choices, from the Choice registry), costs (simulator tables), proxy_registry /
proxy_terms / proxies (accuracy proxies), approx (P(W) from a choice's parts), torch_eval,
problem (objectives, budgets, one evaluation), exact / solve (the exact front of additive
objectives: multiple-choice knapsack DP), seeds (presets, uniform, the Lagrangian rule),
study / workers / storage / journal (running; journal: worker leases), results (front, saving), codesign(_summary), baselines.
"""
from .api import load_calibration, search
from .baselines import BaselinePlan, best_random, greedy, random_plans, uniform
from .codesign import HwSpace, hw_space_from_dict, load_hw_space
from .codesign_summary import codesign_summary
from .costs import METRICS, CostTables, build_costs
from .problem import BUDGETS, OBJECTIVES, Problem, check_budgets
from .proxies import ProxySuite, compute_proxies
from .proxy_registry import Proxy, ProxyTable, get_proxy, list_proxies, proxy, register_proxy
from .results import FrontMember, SearchResult
from .calibrate import Calibrated, GroundTruth, read_ground_truth
from .calibrate import fit as fit_calibration
from .calibrate import validate as validate_proxies
from .exact import ExactFront, brute_force_front, pareto_front
from .harness import compare, paired_test
from .in_loop import PRUNERS, InLoopResult, SRFineTune, front_candidates, run_in_loop
from .seeds import lagrangian_for_budget, preset_plans, uniform_plans
from .solve import exact_front, exact_result, exact_seed_plans
from .space import LayerSpace, SearchSpace, build_space
from .space_config import Rule, SpaceConfig, load_space_config, space_config_from_dict
from .study import MODES, run_search
from .torch_eval import load_weights
from .workers import SAMPLERS, make_sampler

__all__ = ["search", "build_space", "load_space_config", "space_config_from_dict", "SearchSpace", "LayerSpace",
           "SpaceConfig", "Rule", "build_costs", "CostTables", "METRICS", "compute_proxies", "load_weights",
           "ProxySuite", "ProxyTable", "Proxy", "proxy", "register_proxy", "get_proxy", "list_proxies",
           "Problem", "OBJECTIVES", "BUDGETS", "run_search", "check_budgets", "SearchResult", "FrontMember",
           "make_sampler", "SAMPLERS", "uniform_plans", "preset_plans", "exact_seed_plans", "lagrangian_for_budget",
           "MODES", "pareto_front", "ExactFront", "brute_force_front", "exact_front", "exact_result",
           "greedy", "uniform", "best_random", "random_plans", "BaselinePlan",
           "HwSpace", "load_hw_space", "hw_space_from_dict", "codesign_summary",
           "read_ground_truth", "GroundTruth", "Calibrated", "fit_calibration", "validate_proxies",
           "compare", "paired_test", "run_in_loop", "front_candidates", "SRFineTune", "PRUNERS", "InLoopResult",
           "load_calibration"]
