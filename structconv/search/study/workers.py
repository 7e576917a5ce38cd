"""Running trials: the sampler, and the trials in this process or in K spawned worker processes."""
from __future__ import annotations

import multiprocessing as mp
import time
import warnings

from .journal import recover_dead_trials
from .storage import open_storage

SAMPLERS = ("nsga2", "tpe", "random")


def make_sampler(name: str, seed: int | None, population_size: int | None = None, n_objectives: int = 1,
                 workers: int = 1):
    import optuna

    if name not in SAMPLERS:
        raise ValueError(f"sampler = {name!r} is not one of {list(SAMPLERS)}")
    if population_size is not None and (isinstance(population_size, bool) or not isinstance(population_size, int)
                                        or population_size < 2):
        raise ValueError(f"population = {population_size!r} must be an integer >= 2")
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size or 50)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=workers > 1,
                                          n_startup_trials=min(20, population_size or 20))
    return optuna.samplers.RandomSampler(seed=seed)


def quiet_optuna(optuna) -> None:
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def count_complete(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _until(n_target: int) -> list:
    """Optuna callback list: stop once ``n_target`` trials are complete (over every process)."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    return [MaxTrialsCallback(n_target, states=(TrialState.COMPLETE,))]


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

    def __init__(self, every: float = 2.0):
        self.every = every
        self.last = time.monotonic()
        self.notes: list[str] = []

    def __call__(self, study, trial) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        failed, retried, _ = recover_dead_trials(study)
        if failed:
            self.notes.append(f"trial(s) {failed} of a worker that died during this run: marked FAIL"
                              + (f", re-enqueued as {[retried[n] for n in failed if n in retried]}" if retried else ""))


def optimize(study, objective, n_target: int, timeout, callbacks=(), workers: int = 1) -> list[str]:
    """``study.optimize`` until ``n_target`` trials are complete (over every process).

    A trial another process marked finished (a stale-heartbeat decision on a live but
    stalled worker) is reported and skipped, not fatal: this worker goes on.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    t_end = None if timeout is None else time.monotonic() + timeout
    rec = _Recovery()
    cbs = _until(n_target) + [rec] + list(callbacks)
    for _ in range(100):
        left = None if t_end is None else t_end - time.monotonic()
        todo = None if workers > 1 else max(0, n_target - count_complete(study))
        if todo == 0 or (left is not None and left <= 0):
            break
        try:
            study.optimize(objective, n_trials=todo, timeout=left, callbacks=cbs, catch=())
            break
        except UpdateFinishedTrialError as e:
            rec.notes.append(f"{str(e).splitlines()[0]} (another process failed it); went on")
    rec.every = 0.0                                  # a last look: leave no dead worker's trial RUNNING
    rec(study, None)
    return rec.notes


def run_local(study, problem, n_trials, timeout, progress, before) -> list[str]:
    """Trials in this process until ``n_trials`` are complete; returns notes on recovered trials."""
    from optuna.trial import TrialState

    if max(0, n_trials - before) == 0:
        return []
    bar = _bar(progress, n_trials, before, "search")
    cbs = [lambda s, t: bar.update(1) if t.state == TrialState.COMPLETE else None] if bar is not None else []
    try:
        return optimize(study, problem.objective, n_trials, timeout, cbs)
    finally:
        if bar is not None:
            bar.close()


def worker(problem, kind, spec, study_name, sampler_name, seed, pop, n_target, timeout, n_obj, workers,
           heartbeat_interval=10):
    """One worker process: join the study and run until ``n_target`` trials are complete."""
    import optuna

    quiet_optuna(optuna)
    storage = open_storage(kind, spec, heartbeat_interval=heartbeat_interval, check=False)
    sampler = make_sampler(sampler_name, seed, pop, n_obj, workers)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    optimize(study, problem.objective, n_target, timeout, workers=workers)


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


def run_workers(study, problem, kind, spec, study_name, sampler, seed, pop, n_trials, timeout, workers,
                progress, before, heartbeat_interval=10) -> None:
    """``workers`` spawned processes share the study; a failed one is reported, its trials kept."""
    if before >= n_trials:
        return
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(problem, kind, spec, study_name, sampler,
                                              None if seed is None else (seed + 1 + i) % 2**32, pop, n_trials, timeout,
                                              len(problem.objectives), workers, heartbeat_interval),
                         daemon=False)
             for i in range(workers)]
    for p in procs:
        p.start()
    bar = _bar(progress, n_trials, before, f"search ({workers} workers)")
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
    if bad:
        raise ValueError(f"{len(bad)} search worker(s) failed (exit codes {bad}); finished trials are kept in "
                         f"the study, run again to resume")
