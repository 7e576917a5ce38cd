"""The Optuna adapter of a Problem: a trial's parameters in, its objective values and stored Evaluation out.

One ``trial.suggest_int(layer_name, 0, len(choices) - 1)`` per searched layer (and the
hardware knobs in co-design). The Evaluation goes to the user attribute ``breakdown``
with the evaluation time and the worker, the budgets to the trial's constraints. A
sampled plan that a COMPLETE trial of the study already holds is not evaluated again:
the trial reuses that trial's values, constraints and evaluation and records ``same_as``.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import replace

from .._optuna import trial_state
from ..evaluation import TRIAL_ATTR, Evaluation
from ..problem import Problem

WORKER = f"{socket.gethostname()}:{os.getpid()}"


class TrialObjective:
    """``study.optimize(TrialObjective(problem))``: one per study run and process."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.eval_seconds = 0.0
        self._done: dict = {}                          # sorted params -> the first COMPLETE trial with them
        self._seen: set = set()                        # trial numbers already looked at

    def __call__(self, trial):
        p = self.problem
        idx = [trial.suggest_int(n, 0, k - 1) for n, k in zip(p.names, p.sizes)]
        hw_params = p.hw_space.suggest(trial) if p.hw_space is not None else None
        same = self._finished_with(trial)
        if same is not None:
            return self._reuse(trial, same, idx, hw_params)
        t0 = time.perf_counter()
        ev = p.evaluate(idx, hw_params)
        dt = time.perf_counter() - t0
        self.eval_seconds += dt
        return self._finish(trial, ev, round(dt * 1e6, 1))

    @staticmethod
    def _finish(trial, ev: Evaluation, eval_us: float):
        for k, v in ev.constraints.items():
            trial.set_constraint(k, v)
        trial.set_user_attr(TRIAL_ATTR, replace(ev, eval_us=eval_us, worker=WORKER).to_dict())
        return ev.values[0] if len(ev.values) == 1 else tuple(ev.values)

    def _finished_with(self, trial):
        """The COMPLETE trial of this study with the same parameters as ``trial``, or None."""
        for t in trial.study.get_trials(deepcopy=False, states=(trial_state().COMPLETE,)):
            if t.number not in self._seen:
                self._seen.add(t.number)
                self._done.setdefault(tuple(sorted(t.params.items())), t)
        return self._done.get(tuple(sorted(trial.params.items())))

    def _reuse(self, trial, t, idx, hw_params):
        """Finish ``trial`` with the values of the finished trial ``t`` of the same plan."""
        stored = t.user_attrs.get(TRIAL_ATTR)
        ev = Evaluation.from_dict(stored) if stored else self.problem.evaluate(idx, hw_params)
        self._finish(trial, replace(ev, constraints=dict(t.constraints)), 0.0)
        trial.set_user_attr("same_as", t.number)
        return t.values[0] if len(t.values) == 1 else tuple(t.values)
