"""Running trials: the sampler, and the trials in this process or in K spawned worker processes."""
from __future__ import annotations

import multiprocessing as mp
import sys
import time
from dataclasses import dataclass, replace

from .._optuna import optuna, quiet, trial_state
from ..bounds import BOUNDS
from ..problem import Problem
from .journal import journal_errors, recover_dead_trials
from .objective import TrialObjective
from .settings import RunSettings
from .storage import Place, open_storage


@dataclass(frozen=True)
class Job:
    """One run over a study: the problem, how it runs, where the study lives and this run's sampler seed."""

    problem: Problem
    settings: RunSettings
    place: Place
    seed: int | None

    def sampler(self):
        s = self.settings
        return make_sampler(s.sampler, self.seed, s.population_size, len(self.problem.objectives), s.workers)


def make_sampler(name: str, seed: int | None, population_size: int | None = None, n_objectives: int = 1,
                 workers: int = 1):
    BOUNDS["sampler"].check("sampler", name)
    if population_size is not None:
        BOUNDS["population"].check("population", population_size)
    samplers = optuna().samplers
    if name == "nsga2":
        return samplers.NSGAIISampler(seed=seed, population_size=population_size or 50)
    if name == "tpe":
        return samplers.TPESampler(seed=seed, multivariate=True, constant_liar=workers > 1,
                                   n_startup_trials=min(20, population_size or 20))
    return samplers.RandomSampler(seed=seed)


def count_complete(study) -> int:
    return len(study.get_trials(deepcopy=False, states=(trial_state().COMPLETE,)))


def _until(n_target: int) -> list:
    """Optuna callback list: stop once ``n_target`` trials are complete (over every process)."""
    return [optuna().study.MaxTrialsCallback(n_target, states=(trial_state().COMPLETE,))]


def _bar(progress: bool, total: int, initial: int, desc: str):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="trial", leave=False)


class _Recovery:
    """Optuna callback: every ``every`` seconds, fail and retry the trials of dead journal workers.

    Optuna fails stale trials itself on RDB storage (heartbeats); a journal has leases
    instead (``journal.recover_dead_trials``), so a survivor picks up a killed
    worker's trial without waiting for the next start.
    """

    def __init__(self, storage, every: float = 2.0):
        self.storage = storage
        self.every = every
        self.last = time.monotonic()
        self.notes: list[str] = []

    def __call__(self, study, trial) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        failed, retried, _ = recover_dead_trials(study, self.storage)
        if failed:
            again = f", re-enqueued as {[retried[n] for n in failed if n in retried]}" if retried else ""
            self.notes.append(f"trial(s) {failed} of a worker that died during this run: marked FAIL{again}")


def optimize(study, storage, objective, settings: RunSettings, callbacks=()) -> list[str]:
    """``study.optimize`` until ``settings.trials`` trials are complete (over every process).

    A trial another process marked finished (a stale-heartbeat decision on a live but
    stalled worker) is reported and skipped, not fatal: this worker goes on.
    """
    n_target, workers = settings.trials, settings.workers
    t_end = None if settings.timeout is None else time.monotonic() + settings.timeout
    rec = _Recovery(storage)
    cbs = _until(n_target) + [rec] + list(callbacks)
    for _ in range(100):
        left = None if t_end is None else t_end - time.monotonic()
        todo = None if workers > 1 else max(0, n_target - count_complete(study))
        if todo == 0 or (left is not None and left <= 0):
            break
        try:
            study.optimize(objective, n_trials=todo, timeout=left, callbacks=cbs, catch=())
            break
        except optuna().exceptions.UpdateFinishedTrialError as e:
            rec.notes.append(f"{str(e).splitlines()[0]} (another process failed it); went on")
    rec.every = 0.0                                  # a last look: leave no dead worker's trial RUNNING
    rec(study, None)
    return rec.notes


def run_local(study, storage, job: Job, before: int) -> tuple[list[str], float]:
    """Trials in this process until the target is complete: (notes on recovered trials, evaluation s)."""
    n_trials = job.settings.trials
    if max(0, n_trials - before) == 0:
        return [], 0.0
    objective = TrialObjective(job.problem)
    bar = _bar(job.settings.progress, n_trials, before, "search")
    complete = trial_state().COMPLETE
    cbs = [lambda s, t: bar.update(1) if t.state == complete else None] if bar is not None else []
    try:
        return optimize(study, storage, objective, job.settings, cbs), objective.eval_seconds
    finally:
        if bar is not None:
            bar.close()


def worker(job: Job, errors=None) -> None:
    """One worker process: join the study and run until the target number of trials is complete. What
    ends it early goes to the parent through ``errors`` as one picklable exception (a full disk an OSError
    naming the journal), and the worker exits 1 without the traceback multiprocessing would print."""
    try:
        quiet()
        s = job.settings
        storage = open_storage(job.place.kind, job.place.spec, heartbeat_interval=s.heartbeat_interval,
                               check=False)
        study = optuna().load_study(study_name=job.place.name, storage=storage, sampler=job.sampler())
        with journal_errors():                       # Optuna's "Should not reach." after a failed write
            optimize(study, storage, TrialObjective(job.problem), s)
    except Exception as e:
        if errors is None:
            raise
        errors.put(_portable(e))
        sys.exit(1)


def _portable(e: Exception) -> Exception:
    """``e`` as a plain exception that pickles: an OSError keeps errno, reason and file, others their
    first line."""
    if isinstance(e, OSError):
        return OSError(e.errno, e.strerror, e.filename)
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return RuntimeError(f"{type(e).__name__}: {text}"[:500])


def _watch(procs, study, bar, before: int) -> None:
    last = before
    while any(p.is_alive() for p in procs):
        time.sleep(0.5)
        if bar is not None:
            n = count_complete(study)
            bar.update(max(0, n - last))
            last = n
    for p in procs:
        p.join()


def _worker_seed(seed: int | None, i: int) -> int | None:
    return None if seed is None else (seed + 1 + i) % 2**32


def run_workers(study, job: Job, before: int) -> None:
    """``workers`` spawned processes share the study; a failed one is reported, its trials kept."""
    s = job.settings
    if before >= s.trials:
        return
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    procs = [ctx.Process(target=worker, args=(replace(job, seed=_worker_seed(job.seed, i)), errors),
                         daemon=False) for i in range(s.workers)]
    for p in procs:
        p.start()
    bar = _bar(s.progress, s.trials, before, f"search ({s.workers} workers)")
    try:
        _watch(procs, study, bar, before)
    except BaseException:
        for p in procs:
            if p.is_alive():
                p.terminate()
        raise
    finally:
        if bar is not None:
            bar.close()
    bad = [p.exitcode for p in procs if p.exitcode]
    reasons = [] if errors.empty() else [errors.get()]
    if reasons and isinstance(reasons[0], OSError):
        raise reasons[0]                             # a full disk: "no space left on <journal>"
    if reasons:
        raise ValueError(f"a search worker failed: {reasons[0]}; finished trials are kept in the study, "
                         f"run again to resume")
    if bad:
        raise ValueError(f"{len(bad)} search worker(s) failed (exit codes {bad}); finished trials are kept "
                         f"in the study, run again to resume")
