"""The study driver: Optuna over the per-layer choice indices, resumable from its storage.

One ``trial.suggest_int(layer_name, 0, len(choices) - 1)`` per searched layer
(``Problem.objective``). Each trial's breakdown (cycles_total, energy_pj, latency_s,
params, mults, every proxy, evaluation time) goes to the user attribute ``breakdown``.
Before any sampled trial the study is seeded (``seeds.py``). The study lives in a
storage (``storage.py``): resumable, shareable by K local worker processes
(``workers``) or by many machines (PostgreSQL).
"""
from __future__ import annotations

import contextlib
import time

from .problem import Problem
from .results import SearchResult, collect_result
from .seeds import preset_plans, uniform_plans, warm_start_plans
from .storage import DirLock, describe, open_storage, recover_stale_trials, resolve_storage_spec
from .workers import SAMPLERS, count_complete, make_sampler, quiet_optuna, run_local, run_workers


def _study_config(problem: Problem) -> dict:
    return {"model": problem.space.network.name, "hw": problem.costs.hw.name, "proxy": problem.proxy,
            "objectives": list(problem.objectives), "budgets": problem.budgets,
            "area_budget_mm2": problem.area_budget_mm2, "searched_layers": len(problem.names)}


def _prepare_study(problem: Problem, storage, study_name: str, sampler, seed_study: bool, warm_start: bool,
                   notes: list):
    import optuna

    try:
        study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler,
                                    directions=["minimize"] * len(problem.objectives), load_if_exists=True)
    except ValueError as e:
        raise ValueError(f"study {study_name!r}: {str(e).splitlines()[0]}") from None
    sig = problem.signature()
    stored = study.user_attrs.get("structconv_signature")
    if stored is None:
        study.set_user_attr("structconv_signature", sig)
        study.set_user_attr("structconv_config", _study_config(problem))
        if len(study.directions) != len(problem.objectives):
            raise ValueError(f"study {study_name!r} exists with {len(study.directions)} objective(s); "
                             f"this search has {len(problem.objectives)}")
        if seed_study:
            _enqueue_seeds(study, problem, warm_start, notes)
    elif stored != sig:
        raise ValueError(f"study {study_name!r} was created with other settings (model, space, hw, proxy, "
                         f"objectives or budgets); use another --study name or --out directory")
    return study


def _seed_params(problem: Problem, warm_start: bool, notes: list):
    """(params over the searched layers, origin tag) of every seed, in order."""
    space = problem.space
    presets, pnotes = preset_plans(space)
    notes.extend(pnotes)
    for plan, tag in [(p, f"preset:{p.name}") for p in presets] + [(p, f"uniform:{p.name}")
                                                                    for p in uniform_plans(space)]:
        yield space.params_of(plan), tag
    if warm_start:
        for i, idx in enumerate(warm_start_plans(problem)):
            yield {n: int(v) for n, v in zip(problem.names, idx)}, f"lagrangian:{i}"


def _enqueue_seeds(study, problem: Problem, warm_start: bool, notes: list) -> None:
    hw0 = problem.hw_space.default_params(problem.costs.hw) if problem.hw_space is not None else {}
    seen = set()
    for params, tag in _seed_params(problem, warm_start, notes):
        key = tuple(int(params.get(n, 0)) for n in problem.names)
        if key in seen:
            continue
        seen.add(key)
        study.enqueue_trial({**params, **hw0}, user_attrs={"seed": tag})


def _study_exists(storage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
        return True
    except KeyError:
        return False


def _check_run_args(n_trials, timeout, sampler: str, workers) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler = {sampler!r} is not one of {list(SAMPLERS)}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"trials = {n_trials!r} must be an integer >= 1")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r} must be an integer >= 1")
    if timeout is not None and not (timeout > 0):
        raise ValueError(f"timeout = {timeout!r} must be > 0 seconds")


def _check_parallel(problem: Problem, workers: int, kind: str) -> None:
    if problem.per_trial_torch and workers > 1:
        raise ValueError("proxy projected_loss runs the torch model in every trial: use --workers 1")
    if kind == "memory" and workers > 1:
        raise ValueError("workers > 1 need a shared storage: give --out (journal file) or --storage URL")


def run_search(problem: Problem, n_trials: int = 500, timeout: float | None = None, sampler: str = "nsga2",
               seed: int = 0, storage: str | None = None, out_dir=None, study_name: str | None = None,
               workers: int = 1, warm_start: bool = True, population_size: int | None = None,
               progress: bool = False, rerank: int = 64, enqueue: bool = True,
               heartbeat_interval: int = 10) -> SearchResult:
    """Run (or resume) a study until it holds ``n_trials`` complete trials; return its front.

    storage: None = ``out_dir/study.journal`` (in memory when out_dir is None too), a
    journal file path, ``sqlite:///...`` or ``postgresql://...``.
    """
    import optuna

    _check_run_args(n_trials, timeout, sampler, workers)
    problem.check_feasible_up_front()
    kind, spec = resolve_storage_spec(storage, out_dir)
    _check_parallel(problem, workers, kind)
    study_name = study_name or f"{problem.space.network.name}-{problem.signature()}"
    quiet_optuna(optuna)
    notes: list[str] = list(problem.proxies.notes)
    t0 = time.perf_counter()
    with DirLock(out_dir) if (out_dir is not None and kind == "journal") else contextlib.nullcontext():
        st = open_storage(kind, spec, heartbeat_interval=heartbeat_interval)
        pop = population_size or 50
        smp = make_sampler(sampler, seed, pop, len(problem.objectives), workers)
        existing = _study_exists(st, study_name)
        study = _prepare_study(problem, st, study_name, smp, enqueue and not existing, warm_start, notes)
        before = _resume(study, kind, existing, study_name, notes)
        problem.eval_seconds = 0.0
        if workers == 1:
            run_local(study, problem, n_trials, timeout, progress, before)
        else:
            run_workers(study, problem, kind, spec, study_name, sampler, seed, pop, n_trials, timeout,
                        workers, progress, before, heartbeat_interval)
        return collect_result(study, problem, time.perf_counter() - t0, describe(spec), notes, rerank,
                              eval_seconds=problem.eval_seconds if workers == 1 else None)


def _resume(study, kind: str, existing: bool, study_name: str, notes: list) -> int:
    """Recover what a killed run left (journal) and count the complete trials."""
    if kind == "journal":
        stale = recover_stale_trials(study)
        if stale:
            notes.append(f"resumed: trial(s) {stale} were running when the last search stopped; "
                         f"marked FAIL and re-enqueued")
    before = count_complete(study)
    if existing and before:
        notes.append(f"resumed study {study_name!r} with {before} complete trial(s)")
    return before

