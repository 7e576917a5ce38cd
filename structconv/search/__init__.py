"""structconv.search: per-layer structure / sparse-kernel design search on the simulator (Optuna).

    space = build_space(network, load_space_config("space.yaml"))     # ordered choices per layer
    costs = build_costs(space, "edge-int8")                            # (layer, choice) cycles, energy, ...
    proxies = compute_proxies(space, weights="ck.pt", data=bundle)     # accuracy proxy tables
    problem = Problem(space, costs, proxies, proxy="projection_loss",
                      objectives=("proxy", "cycles_total", "energy_pj"), budgets={"cycles_total": 0.6})
    problem.evaluate(idx)                                              # an Evaluation of one plan
    exact = run_search(problem, mode="exact")                          # additive: the exact front (DP)
    result = run_search(problem, trials=2000, out="out/search")        # resumable study -> front
    result.save("out/search")                                          # front.yaml + plans/*.yaml
    greedy(problem), uniform(problem), best_random(problem, n)         # baselines, same harness

``search(model, hw, **options)`` does all of it from a Network or a model reference (what
`structconv search` runs: ``search_with(SearchSettings)``). Subpackages: proxies (accuracy
proxies), exact (the exact front of additive objectives: multiple-choice knapsack DP),
study (running an Optuna study: settings, driver, trial adapter, workers, storage, seeds,
accuracy in the loop), compare (baselines and the fair harness). Modules: bounds (every
setting's allowed values), settings (SearchSettings), space_config / space (what is
searched), costs (simulator tables), evaluation (Evaluation, Evaluator), problem,
results (front, saving), codesign(_summary), api.
"""
from .api import SearchRun, load_calibration, search, search_with
from .bounds import MODES, PRUNERS, SAMPLERS, SettingError
from .codesign import HwSpace, hw_space_from_dict, load_hw_space
from .codesign_summary import codesign_summary
from .compare import (
                      BaselinePlan,
                      baseline_summary,
                      best_random,
                      compare,
                      greedy,
                      lagrangian_for_budget,
                      paired_test,
                      random_plans,
                      uniform,
)
from .costs import METRICS, CostTables, build_costs
from .evaluation import OBJECTIVES, Evaluation, Evaluator
from .exact import ExactFront, brute_force_front, exact_front, exact_result, exact_seed_plans, pareto_front
from .problem import BUDGETS, Problem, check_budgets
from .proxies import (
                      Calibrated,
                      GroundTruth,
                      Proxy,
                      ProxySettings,
                      ProxySuite,
                      ProxyTable,
                      compute_proxies,
                      fit_calibration,
                      get_proxy,
                      list_proxies,
                      load_weights,
                      proxy,
                      read_ground_truth,
                      register_proxy,
                      validate_proxies,
)
from .results import FrontMember, SearchResult
from .score import Scores, ScoreSettings, score_plans
from .settings import InLoopSettings, SearchSettings
from .space import LayerSpace, SearchSpace, build_space
from .space_config import Rule, SpaceConfig, load_space_config, space_config_from_dict
from .study import (
                      InLoopResult,
                      RunSettings,
                      SRFineTune,
                      TrialObjective,
                      front_candidates,
                      make_sampler,
                      preset_plans,
                      run_in_loop,
                      run_search,
                      uniform_plans,
)

__all__ = [
    "score_plans", "ScoreSettings", "Scores",
    # one run from references, and its settings
    "search", "search_with", "SearchRun", "SearchSettings", "RunSettings", "InLoopSettings", "SettingError",
    "SAMPLERS", "MODES", "PRUNERS", "load_calibration",
    # the space, its costs and proxies
    "build_space", "SearchSpace", "LayerSpace", "load_space_config", "space_config_from_dict", "SpaceConfig",
    "Rule", "build_costs", "CostTables", "METRICS", "compute_proxies", "ProxySettings", "ProxySuite",
    "ProxyTable", "Proxy", "proxy", "register_proxy", "get_proxy", "list_proxies", "load_weights",
    "read_ground_truth", "GroundTruth", "Calibrated", "fit_calibration", "validate_proxies",
    # the problem, a plan's evaluation, the result
    "Problem", "OBJECTIVES", "BUDGETS", "check_budgets", "Evaluation", "Evaluator", "SearchResult",
    "FrontMember",
    # running it: the study, the exact front, co-design
    "run_search", "TrialObjective", "make_sampler", "uniform_plans", "preset_plans", "exact_seed_plans",
    "pareto_front", "ExactFront", "brute_force_front", "exact_front", "exact_result", "HwSpace",
    "load_hw_space", "hw_space_from_dict", "codesign_summary",
    # baselines, the harness, accuracy in the loop
    "greedy", "uniform", "best_random", "random_plans", "BaselinePlan", "baseline_summary",
    "lagrangian_for_budget", "compare", "paired_test", "run_in_loop", "front_candidates", "SRFineTune",
    "InLoopResult",
]
