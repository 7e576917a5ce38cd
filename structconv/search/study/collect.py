"""A study's trials read back into a SearchResult: the feasible front (one trial per plan), the best plan."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...core import pareto_mask
from .._optuna import trial_state
from ..codesign_summary import codesign_summary
from ..evaluation import TRIAL_ATTR, Evaluation
from ..problem import Problem
from ..results import FrontMember, SearchResult, result_of


def _evaluation(t, problem: Problem) -> Evaluation:
    """What the trial stored; recomputed for a trial told from outside (no stored evaluation)."""
    stored = t.user_attrs.get(TRIAL_ATTR)
    if stored is not None:
        return Evaluation.from_dict(stored, t.values, t.constraints)
    hw = {n: t.params[n] for n in problem.hw_space.param_names} if problem.hw_space else None
    idx = [int(t.params.get(n, 0)) for n in problem.names]
    return problem.evaluate(idx, problem.hw_space.decode(hw) if hw else None)


def _member(t, problem: Problem) -> FrontMember:
    idx = tuple(int(t.params.get(n, 0)) for n in problem.names)
    return FrontMember(t.number, problem.space.plan(list(idx), name=f"trial-{t.number}"), idx,
                       tuple(t.values), _evaluation(t, problem), t.user_attrs.get("seed", "search"))


def _feasible(t) -> bool:
    return all(v <= 0 for v in t.constraints.values())


def _unique_feasible(trials, problem: Problem) -> list:
    """Feasible trials, one per plan (+ hardware): the earliest."""
    hw_names = list(problem.hw_space.param_names) if problem.hw_space else []
    uniq = {}
    for t in trials:
        if not _feasible(t):
            continue
        key = tuple(t.params.get(n, 0) for n in problem.names) + tuple(t.params.get(n) for n in hw_names)
        if key not in uniq or t.number < uniq[key].number:
            uniq[key] = t
    return sorted(uniq.values(), key=lambda t: t.number)


def _front(feas: list, problem: Problem) -> list[FrontMember]:
    if not feas:
        return []
    mask = pareto_mask(np.array([t.values for t in feas], dtype=float))
    members = sorted((_member(t, problem) for t, keep in zip(feas, mask) if keep),
                     key=lambda m: tuple(m.values))
    model = problem.space.network.name
    return [m.renamed(f"front-{i:03d}", model) for i, m in enumerate(members)]


def _best(feas: list, problem: Problem) -> FrontMember | None:
    """The feasible plan with the least proxy loss (only when that question is posed)."""
    if not feas or not (problem.constrained or len(problem.objectives) == 1):
        return None

    def ploss(t):
        stored = t.user_attrs.get(TRIAL_ATTR)
        v = Evaluation.from_dict(stored).proxy_loss if stored else None
        idx = [t.params.get(n, 0) for n in problem.names]
        return v if v is not None else problem.proxy_loss(problem.proxy, idx)

    bt = min(feas, key=lambda t: (ploss(t), t.number))
    return _member(bt, problem).renamed("best", problem.space.network.name)


def _rerank(members: list, best, problem: Problem, rerank: int, notes: list) -> tuple:
    """With trained weights: the front re-scored with projected_loss (every chosen layer projected)."""
    ev = problem.proxies.evaluator
    if ev is None or not ev.weights_loaded or not rerank:
        return members, best

    def scored(m: FrontMember) -> FrontMember:
        pl = m.evaluation.proxies.get("projected_loss")
        pl = pl if pl is not None else problem.proxies.projected_loss(list(m.index))
        return replace(m, evaluation=replace(m.evaluation, projected_loss=pl))

    notes.append("front re-scored with projected_loss (task loss with every chosen layer projected, "
                 "no training)")
    return [scored(m) for m in members[:rerank]] + members[rerank:], (None if best is None else scored(best))


def _eval_seconds(done: list) -> float:
    return sum((Evaluation.from_dict(t.user_attrs[TRIAL_ATTR]).eval_us or 0.0) if TRIAL_ATTR in t.user_attrs
               else 0.0 for t in done) / 1e6


def collect_result(study, problem: Problem, wall: float, storage_desc: str, notes=(), rerank: int = 64,
                   eval_seconds: float | None = None) -> SearchResult:
    """The feasible front (deduplicated by plan) and the best feasible plan by proxy."""
    TrialState = trial_state()
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    feas = _unique_feasible(done, problem)
    notes = list(notes)
    members, best = _rerank(_front(feas, problem), _best(feas, problem), problem, rerank, notes)
    res = result_of(problem, members, best, study_name=study.study_name, storage=storage_desc,
                    n_complete=len(done), n_feasible=sum(_feasible(t) for t in done),
                    n_failed=sum(t.state == TrialState.FAIL for t in trials), wall_seconds=wall,
                    eval_seconds=_eval_seconds(done) if eval_seconds is None else eval_seconds, notes=notes)
    if problem.hw_space is not None:
        res.codesign = codesign_summary(problem, res)
    return res
