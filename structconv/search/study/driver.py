"""The study driver: Optuna over the per-layer choice indices, resumable from its storage.

One ``trial.suggest_int(layer_name, 0, len(choices) - 1)`` per searched layer
(``Problem.objective``). Each trial's breakdown (cycles_total, energy_pj, latency_s,
params, mults, every proxy, evaluation time) goes to the user attribute ``breakdown``.
Before any sampled trial the study is seeded (``seeds.py``). The study lives in a
storage (``storage.py``): resumable, shareable by K local worker processes
(``workers``), by other searches on the same journal, or by many machines (PostgreSQL).

Resuming: only trials whose worker is dead are failed and re-enqueued (journal
leases, RDB heartbeats). A resumed run seeds its sampler from the seed *and* the
number of trials already in the study (``resume_seed``), so it does not replay the
stream of the run before it; and a sampled plan identical to one already finished
is not evaluated again: the trial reuses that trial's values, constraints and
breakdown and records ``same_as`` (``Problem.objective``).
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path

import numpy as np

from ..core import shown
from .journal import lease_dir, recover_dead_trials
from .problem import Problem
from .results import SearchResult, collect_result
from .seeds import preset_plans, uniform_plans
from .solve import dimensions, exact_result, exact_seed_plans
from .storage import DirLock, describe, open_storage, resolve_storage_spec
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
        study.set_user_attr("structconv_mode", "sampler")
        study.set_user_attr("structconv_seeds", "presets, uniform family" + (", exact fronts (origin exact:i)"
                                                                          if warm_start else ""))
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
        for i, idx in enumerate(exact_seed_plans(problem)):
            yield {n: int(v) for n, v in zip(problem.names, idx)}, f"exact:{i}"


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


MAX_WORKERS = 256
MAX_POPULATION = 100_000


def _int_in(name: str, value, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} = {shown(value)} must be an integer {rng}")


def check_run_args(n_trials, timeout, sampler: str, workers, population_size=None, seed=0,
                   heartbeat_interval=10) -> None:
    """One-line ValueErrors naming the field and its range, before anything is created."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler = {shown(sampler)} is not one of {list(SAMPLERS)}")
    _int_in("trials", n_trials, 1)
    _int_in("workers", workers, 1, MAX_WORKERS)
    if population_size is not None:
        _int_in("population", population_size, 2, MAX_POPULATION)   # NSGA-II needs two parents
    if seed is not None:
        _int_in("seed", seed, 0, 2**32 - 1)
    _int_in("heartbeat_interval", heartbeat_interval, 1, 3600)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not (timeout > 0) or math.isnan(timeout)):
        raise ValueError(f"timeout = {shown(timeout)} must be a number of seconds > 0")


def resume_seed(seed: int | None, n_existing: int) -> int | None:
    """The sampler seed of a run that finds ``n_existing`` trials in its study.

    A fresh study uses ``seed`` itself (reproducible runs); a resumed one mixes in the
    trial count, so its sampler does not replay the stream of the run before it.
    """
    if seed is None or n_existing == 0:
        return seed
    return int(np.random.SeedSequence([seed, n_existing]).generate_state(1)[0])


MODES = ("auto", "exact", "sampler")


def pick_mode(problem: Problem, mode: str) -> str:
    """'exact' or 'sampler' for ``mode``.

    auto: exact when every objective and budget adds up and the DP carries at most two
    columns (a 2-objective front, or one objective under one budget); with more, exact
    fronts grow to tens of thousands of points (resnet20: 30,639 for proxy/cycles/energy),
    so the sampler runs, seeded from the exact 2-objective fronts.
    """
    if mode not in MODES:
        raise ValueError(f"mode = {shown(mode)} is not one of {list(MODES)}")
    why = problem.not_additive()
    if mode == "exact" and why is not None:
        raise ValueError(f"mode = 'exact' needs objectives and budgets that add up over layers: {why}")
    if mode == "auto":
        return "exact" if why is None and dimensions(problem) <= 2 else "sampler"
    return mode


def _check_parallel(problem: Problem, workers: int, kind: str) -> None:
    if problem.per_trial_torch and workers > 1:
        raise ValueError("proxy projected_loss runs the torch model in every trial: use --workers 1")
    if kind == "memory" and workers > 1:
        raise ValueError("workers > 1 need a shared storage: give --out (journal file) or --storage URL")


def run_search(problem: Problem, n_trials: int = 500, timeout: float | None = None, sampler: str = "nsga2",
               seed: int = 0, storage: str | None = None, out_dir=None, study_name: str | None = None,
               workers: int = 1, warm_start: bool = True, population_size: int | None = None,
               progress: bool = False, rerank: int = 64, enqueue: bool = True,
               heartbeat_interval: int = 10, mode: str = "sampler") -> SearchResult:
    """Run (or resume) a study until it holds ``n_trials`` complete trials; return its front.

    storage: None = ``out_dir/study.journal`` (in memory when out_dir is None too), a
    journal file path, ``sqlite:///...`` or ``postgresql://...``.
    mode: ``sampler`` (an Optuna study, seeded from the exact fronts unless warm_start is
    False), ``exact`` (the exact solver only, no study; ValueError when an objective does
    not add up over layers) or ``auto`` (exact when it applies, else sampler).
    """
    import optuna

    check_run_args(n_trials, timeout, sampler, workers, population_size, seed, heartbeat_interval)
    if pick_mode(problem, mode) == "exact":
        problem.check_feasible_up_front()
        return exact_result(problem)
    problem.check_feasible_up_front()
    kind, spec = resolve_storage_spec(storage, out_dir)
    _check_parallel(problem, workers, kind)
    study_name = study_name or f"{problem.space.network.name}-{problem.signature()}"
    quiet_optuna(optuna)
    notes: list[str] = list(problem.proxies.notes)
    t0 = time.perf_counter()
    pop = population_size or 50
    made_out = out_dir is not None and not os.path.lexists(out_dir)
    with DirLock(out_dir) if (out_dir is not None and kind == "journal") else contextlib.nullcontext():
        with _removed_on_error(out_dir if made_out else None, spec if kind == "journal" else None):
            study, existing = _open_study(problem, kind, spec, study_name, make_sampler(sampler, seed, pop),
                                          enqueue, warm_start, heartbeat_interval, notes)
        before = _resume(study, kind, existing, study_name, notes)
        run_seed = resume_seed(seed, len(study.get_trials(deepcopy=False)) if existing else 0)
        study.sampler = make_sampler(sampler, run_seed, pop, len(problem.objectives), workers)
        problem.eval_seconds = 0.0
        if workers == 1:
            notes.extend(run_local(study, problem, n_trials, timeout, progress, before))
        else:
            run_workers(study, problem, kind, spec, study_name, sampler, run_seed, pop, n_trials, timeout,
                        workers, progress, before, heartbeat_interval)
        return collect_result(study, problem, time.perf_counter() - t0, describe(spec), notes, rerank,
                              eval_seconds=problem.eval_seconds if workers == 1 else None)


def _open_study(problem, kind, spec, study_name, sampler, enqueue, warm_start, heartbeat_interval, notes):
    st = open_storage(kind, spec, heartbeat_interval=heartbeat_interval)
    try:
        existing = _study_exists(st, study_name)
        return _prepare_study(problem, st, study_name, sampler, enqueue and not existing, warm_start, notes), existing
    except BaseException:
        if hasattr(st, "lease"):
            st.lease.release()
        raise


@contextlib.contextmanager
def _removed_on_error(made_out_dir, journal):
    """Setting up a new study failed: remove the empty journal and the directory made for it."""
    out = Path(made_out_dir) if made_out_dir is not None else None
    made_out = out is not None
    try:
        yield
    except BaseException:
        if journal is not None and os.path.isfile(journal) and os.path.getsize(journal) == 0:
            for p in (Path(journal), Path(str(journal) + ".lock")):
                with contextlib.suppress(OSError):
                    p.unlink()
            with contextlib.suppress(OSError):
                lease_dir(journal).rmdir()
        if made_out:
            with contextlib.suppress(OSError):
                (out / ".search.lock").unlink()
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _resume(study, kind: str, existing: bool, study_name: str, notes: list) -> int:
    """Recover what a killed run left (journal) and count the complete trials."""
    if kind == "journal":
        notes.extend(recovery_notes(*recover_dead_trials(study)))
    before = count_complete(study)
    if existing and before:
        notes.append(f"resumed study {study_name!r} with {before} complete trial(s)")
    return before


def recovery_notes(failed: list, retried: dict, unknown: list) -> list[str]:
    out = []
    if failed:
        again = f"; re-enqueued as trial(s) {[retried[n] for n in failed if n in retried]}" if retried else ""
        lost = [n for n in failed if n not in retried]
        none = f"; not re-enqueued (no parameters chosen yet): {lost}" if lost else ""
        out.append(f"resumed: trial(s) {failed} were running in a search worker that died; marked FAIL{again}{none}")
    if unknown:
        out.append(f"trial(s) {unknown} are RUNNING under a writer that holds no structconv lease "
                   f"(not a structconv worker): left as they are")
    return out
