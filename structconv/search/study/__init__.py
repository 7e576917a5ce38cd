"""Running a search as an Optuna study: settings, the driver, the trial adapter, workers, storage, seeds.

    res = run_search(problem, trials=2000, out="out/search")     # RunSettings' fields, or a RunSettings
    loop = run_in_loop(plans, SRFineTune("resnet20", data, weights="ck.pt"))   # accuracy in the loop

Modules: settings (RunSettings), driver (run_search), objective (TrialObjective: the
Optuna adapter of a Problem), workers (samplers, local and spawned workers), collect (a
study's trials back into a SearchResult), storage / journal (where a study lives;
journal: worker leases), seeds (presets, uniform family, exact-front seeds), in_loop.
"""
from .collect import collect_result
from .driver import pick_mode, resume_seed, run_search
from .in_loop import InLoopResult, SRFineTune, front_candidates, run_in_loop
from .journal import recover_dead_trials
from .objective import TrialObjective
from .seeds import preset_plans, seed_params, uniform_plans
from .settings import RunSettings
from .storage import Place, check_place, describe, open_storage, resolve_storage_spec
from .workers import make_sampler

__all__ = ["run_search", "RunSettings", "TrialObjective", "make_sampler", "pick_mode", "resume_seed",
           "collect_result", "preset_plans", "uniform_plans", "seed_params", "open_storage",
           "resolve_storage_spec", "describe", "Place", "recover_dead_trials", "run_in_loop", "SRFineTune",
           "front_candidates", "InLoopResult", "check_place"]
