"""The study driver: Optuna over the per-layer choice indices, resumable from its storage.

One ``trial.suggest_int(layer_name, 0, len(choices) - 1)`` per searched layer
(``TrialObjective``). Each trial's Evaluation (cycles_total, energy_pj, latency_s,
params, mults, every proxy, evaluation time) goes to the user attribute ``breakdown``.
Before any sampled trial the study is seeded (``seeds.py``). The study lives in a
storage (``storage.py``): resumable, shareable by K local worker processes
(``workers``), by other searches on the same journal, or by many machines (PostgreSQL).

Resuming: only trials whose worker is dead are failed and re-enqueued (journal
leases, RDB heartbeats). A resumed run seeds its sampler from the seed *and* the
number of trials already in the study (``resume_seed``), so it does not replay the
stream of the run before it; and a sampled plan identical to one already finished
is not evaluated again: the trial reuses that trial's values, constraints and
evaluation and records ``same_as`` (``TrialObjective``).
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np

from .._optuna import optuna, quiet
from ..exact import dimensions, exact_result
from ..problem import Problem
from ..results import SearchResult
from .collect import collect_result
from .journal import journal_errors, lease_dir, recover_dead_trials
from .seeds import enqueue_seeds
from .settings import RunSettings
from .storage import DirLock, Place, describe, missing_dirs, open_storage
from .workers import Job, count_complete, make_sampler, run_local, run_workers


def run_search(problem: Problem, settings: RunSettings | None = None, **options) -> SearchResult:
    """Run (or resume) a study until it holds ``settings.trials`` complete trials; return its front.

    ``options``: the fields of ``RunSettings`` (when ``settings`` is not given). In mode
    ``exact`` (or ``auto`` where it applies) the exact solver answers and no study is made.
    """
    settings = settings if settings is not None else RunSettings(**options)
    exact = pick_mode(problem, settings.mode) == "exact"
    problem.check_feasible_up_front()
    return exact_result(problem) if exact else _run_study(problem, settings)


def pick_mode(problem: Problem, mode: str) -> str:
    """'exact' or 'sampler' for ``mode``.

    auto: exact when every objective and budget adds up and the DP carries at most two
    columns (a 2-objective front, or one objective under one budget); with more, exact
    fronts grow to tens of thousands of points (resnet20: 30,639 for proxy/cycles/energy),
    so the sampler runs, seeded from the exact 2-objective fronts.
    """
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


def resume_seed(seed: int | None, n_existing: int) -> int | None:
    """The sampler seed of a run that finds ``n_existing`` trials in its study.

    A fresh study uses ``seed`` itself (reproducible runs); a resumed one mixes in the
    trial count, so its sampler does not replay the stream of the run before it.
    """
    if seed is None or n_existing == 0:
        return seed
    return int(np.random.SeedSequence([seed, n_existing]).generate_state(1)[0])


def _run_study(problem: Problem, s: RunSettings) -> SearchResult:
    quiet()
    kind, spec = s.place
    place = Place(kind, spec, s.study or f"{problem.space.network.name}-{problem.signature()}")
    _check_parallel(problem, s.workers, kind)
    notes: list[str] = list(problem.proxies.notes)
    t0 = time.perf_counter()
    made_out = s.out is not None and not os.path.lexists(s.out)
    new_journal = kind == "journal" and not os.path.lexists(spec)
    with DirLock(s.out) if (s.out is not None and kind == "journal") else contextlib.nullcontext(), \
            journal_errors():
        with _removed_on_error(s.out if made_out else None, spec if new_journal else None):
            study, storage, existing = _open_study(problem, s, place, notes)
        before = _resume(study, storage, place, existing, notes)
        n_existing = len(study.get_trials(deepcopy=False)) if existing else 0
        job = Job(problem, s, place, resume_seed(s.seed, n_existing))
        study.sampler = job.sampler()
        eval_seconds = None
        if s.workers == 1:
            more, eval_seconds = run_local(study, storage, job, before)
            notes.extend(more)
        else:
            run_workers(study, job, before)
        return collect_result(study, problem, time.perf_counter() - t0, describe(spec), notes, s.rerank,
                              eval_seconds=eval_seconds)


# -- opening (or resuming) the study -------------------------------------------------------
def _study_config(problem: Problem) -> dict:
    return {"model": problem.space.network.name, "hw": problem.costs.hw.name, "proxy": problem.proxy,
            "objectives": list(problem.objectives), "budgets": problem.budgets,
            "area_budget_mm2": problem.area_budget_mm2, "searched_layers": len(problem.names)}


def _open_study(problem: Problem, s: RunSettings, place: Place, notes: list):
    """(study, its storage, whether it existed); a new study is signed and seeded."""
    st = open_storage(place.kind, place.spec, heartbeat_interval=s.heartbeat_interval)
    try:
        existing = _study_exists(st, place.name)
        return _prepare_study(problem, st, place.name, s, s.enqueue and not existing, notes), st, existing
    except BaseException:
        if hasattr(st, "lease"):
            st.lease.release()
        raise


def _create(problem: Problem, storage, study_name: str, s: RunSettings):
    try:
        return optuna().create_study(study_name=study_name, storage=storage,
                                     sampler=make_sampler(s.sampler, s.seed, s.population_size),
                                     directions=["minimize"] * len(problem.objectives), load_if_exists=True)
    except ValueError as e:
        raise ValueError(f"study {study_name!r}: {str(e).splitlines()[0]}") from None


def _prepare_study(problem: Problem, storage, study_name: str, s: RunSettings, seed_study: bool, notes: list):
    study = _create(problem, storage, study_name, s)
    sig = problem.signature()
    stored = study.user_attrs.get("structconv_signature")
    if stored is None:
        study.set_user_attr("structconv_signature", sig)
        study.set_user_attr("structconv_config", _study_config(problem))
        study.set_user_attr("structconv_mode", "sampler")
        study.set_user_attr("structconv_seeds", "presets, uniform family" + (", exact fronts (origin exact:i)"
                                                                          if s.warm_start else ""))
        if len(study.directions) != len(problem.objectives):
            raise ValueError(f"study {study_name!r} exists with {len(study.directions)} objective(s); "
                             f"this search has {len(problem.objectives)}")
        if seed_study:
            enqueue_seeds(study, problem, s.warm_start, notes)
    elif stored != sig:
        raise ValueError(f"study {study_name!r} was created with other settings (model, space, hw, proxy, "
                         f"objectives or budgets); use another --study name or --out directory")
    return study


def _study_exists(storage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
        return True
    except KeyError:
        return False


@contextlib.contextmanager
def _removed_on_error(made_out_dir, journal):
    """Setting up a new study failed: remove the journal it made (a half-seeded study would resume
    without its seeds) and the directory made for it."""
    out = Path(made_out_dir) if made_out_dir is not None else None
    made_out = out is not None
    journal_dirs = missing_dirs(Path(journal).parent) if journal is not None else []
    try:
        yield
    except BaseException:
        if journal is not None and os.path.isfile(journal):
            for p in (Path(journal), Path(str(journal) + ".lock")):
                with contextlib.suppress(OSError):
                    p.unlink()
            for d in [lease_dir(journal), *journal_dirs]:
                with contextlib.suppress(OSError):
                    d.rmdir()
        if made_out:
            with contextlib.suppress(OSError):
                (out / ".search.lock").unlink()
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _resume(study, storage, place: Place, existing: bool, notes: list) -> int:
    """Recover what a killed run left (journal) and count the complete trials."""
    if place.kind == "journal":
        notes.extend(recovery_notes(*recover_dead_trials(study, storage)))
    before = count_complete(study)
    if existing and before:
        notes.append(f"resumed study {place.name!r} with {before} complete trial(s)")
    return before


def recovery_notes(failed: list, retried: dict, unknown: list) -> list[str]:
    out = []
    if failed:
        again = f"; re-enqueued as trial(s) {[retried[n] for n in failed if n in retried]}" if retried else ""
        lost = [n for n in failed if n not in retried]
        none = f"; not re-enqueued (no parameters chosen yet): {lost}" if lost else ""
        out.append(f"resumed: trial(s) {failed} were running in a search worker that died; "
                   f"marked FAIL{again}{none}")
    if unknown:
        out.append(f"trial(s) {unknown} are RUNNING under a writer that holds no structconv lease "
                   f"(not a structconv worker): left as they are")
    return out
