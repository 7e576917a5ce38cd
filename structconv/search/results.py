"""What a study yields: the feasible Pareto front, the best plan under the budgets, and how they are saved."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import Plan, pareto_mask, write_data_file
from .codesign_summary import codesign_summary
from .problem import Problem


@dataclass
class FrontMember:
    """One plan of the result: its trial, plan, totals and proxies."""

    trial: int | None                  # None: from the exact solver, no study trial
    plan: Plan
    index: tuple
    values: tuple
    breakdown: dict
    origin: str = "search"

    def to_dict(self) -> dict:
        bd = self.breakdown
        d = {"trial": self.trial, "origin": self.origin, "plan": self.plan.name,
             "values": [float(v) for v in self.values],
             "cycles_total": int(bd["cycles_total"]), "latency_s": bd["latency_s"], "energy_pj": bd["energy_pj"],
             "mults": int(bd["mults"]), "params": int(bd["params"]), "area_mm2": bd.get("area_mm2"),
             "ratios": bd["ratios"], "proxies": bd["proxies"], "feasible": bd.get("feasible", True),
             "changed_layers": len(self.plan)}
        d.update({k: bd[k] for k in ("projected_loss", "hw") if k in bd})
        return d

    def renamed(self, name: str, model: str) -> "FrontMember":
        self.plan = Plan(self.plan.choices, name=name, model=model)
        return self


@dataclass
class SearchResult:
    """The feasible Pareto front of a study, its best plan under the budgets and how it ran."""

    study_name: str
    storage: str
    objectives: tuple
    proxy: str
    budgets: dict
    front: list
    best: FrontMember | None
    n_complete: int
    n_feasible: int
    n_failed: int
    wall_seconds: float
    eval_seconds: float
    dense: dict
    hw: str
    notes: list = field(default_factory=list)
    proxy_info: dict = field(default_factory=dict)
    codesign: dict | None = None
    total_seconds: float | None = None
    mode: str = "sampler"              # exact: the exact solver's front; sampler: an Optuna study's

    @property
    def sources(self) -> dict:
        """How many front members came from the exact solver (origin exact / exact:i seeds) and the sampler."""
        n_exact = sum(m.origin.split(":")[0] == "exact" for m in self.front)
        n_sampled = sum(m.origin == "search" for m in self.front)
        return {"exact": n_exact, "sampler": n_sampled, "other_seeds": len(self.front) - n_exact - n_sampled}

    def to_dict(self) -> dict:
        return {"mode": self.mode, "sources": self.sources,
                "study": self.study_name, "storage": self.storage, "objectives": list(self.objectives),
                "proxy": self.proxy, "budgets": self.budgets, "hw": self.hw,
                "trials": {"complete": self.n_complete, "feasible": self.n_feasible, "failed": self.n_failed},
                "wall_seconds": round(self.wall_seconds, 3), "eval_seconds": round(self.eval_seconds, 4),
                "total_seconds": None if self.total_seconds is None else round(self.total_seconds, 3),
                "dense": self.dense, "best": self.best.to_dict() if self.best else None,
                "front": [m.to_dict() for m in self.front], "notes": list(self.notes),
                "proxies": self.proxy_info, "codesign": self.codesign}

    def save(self, out_dir) -> Path:
        """DIR/front.yaml (summary + members) and DIR/plans/<name>.yaml, one per member."""
        out = Path(out_dir)
        (out / "plans").mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        for m, md in zip(self.front, d["front"]):
            path = out / "plans" / f"{m.plan.name}.yaml"
            m.plan.save(path)
            md["plan_file"] = str(path.relative_to(out))
        if self.best is not None:
            self.best.plan.save(out / "best.yaml")
            d["best"]["plan_file"] = "best.yaml"
        write_data_file(out / "front.yaml", d)
        return out / "front.yaml"


# -- from the study's trials ---------------------------------------------------------------
def _member(t, problem: Problem) -> FrontMember:
    idx = tuple(int(t.params.get(n, 0)) for n in problem.names)
    bd = t.user_attrs.get("breakdown")
    if bd is None:                                      # e.g. a trial told from outside: recompute
        hw = {n: t.params[n] for n in problem.hw_space.param_names} if problem.hw_space else None
        bd = problem.breakdown(problem.evaluate(idx, problem.hw_space.decode(hw) if hw else None))
    return FrontMember(t.number, problem.space.plan(list(idx), name=f"trial-{t.number}"), idx,
                       tuple(t.values), dict(bd), t.user_attrs.get("seed", "search"))


def _unique_feasible(trials, problem: Problem) -> list:
    """Feasible trials, one per plan (+ hardware): the earliest."""
    hw_names = list(problem.hw_space.param_names) if problem.hw_space else []
    uniq = {}
    for t in trials:
        if not all(v <= 0 for v in t.constraints.values()):
            continue
        key = tuple(t.params.get(n, 0) for n in problem.names) + tuple(t.params.get(n) for n in hw_names)
        if key not in uniq or t.number < uniq[key].number:
            uniq[key] = t
    return sorted(uniq.values(), key=lambda t: t.number)


def _front(feas: list, problem: Problem) -> list[FrontMember]:
    if not feas:
        return []
    mask = pareto_mask(np.array([t.values for t in feas], dtype=float))
    members = sorted((_member(t, problem) for t, keep in zip(feas, mask) if keep), key=lambda m: tuple(m.values))
    model = problem.space.network.name
    return [m.renamed(f"front-{i:03d}", model) for i, m in enumerate(members)]


def _best(feas: list, problem: Problem) -> FrontMember | None:
    """The feasible plan with the least proxy loss (only when that question is posed)."""
    if not feas or not (problem.constrained or len(problem.objectives) == 1):
        return None

    def ploss(t):
        v = t.user_attrs.get("breakdown", {}).get("proxy_loss")
        return v if v is not None else problem.proxy_loss(problem.proxy, [t.params.get(n, 0) for n in problem.names])

    bt = min(feas, key=lambda t: (ploss(t), t.number))
    return _member(bt, problem).renamed("best", problem.space.network.name)


def _rerank(members: list, best, problem: Problem, rerank: int, notes: list) -> None:
    """With trained weights: the front re-scored with projected_loss (every chosen layer projected)."""
    ev = problem.proxies.evaluator
    if ev is None or not ev.weights_loaded or not rerank:
        return
    for m in members[:rerank] + ([best] if best is not None else []):
        pl = m.breakdown.get("proxies", {}).get("projected_loss")
        m.breakdown = dict(m.breakdown, projected_loss=pl if pl is not None else
                           problem.proxies.projected_loss(list(m.index)))
    notes.append("front re-scored with projected_loss (task loss with every chosen layer projected, no training)")


def collect_result(study, problem: Problem, wall: float, storage_desc: str, notes=(), rerank: int = 64,
                   eval_seconds: float | None = None) -> SearchResult:
    """The feasible front (deduplicated by plan) and the best feasible plan by proxy."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = sum(t.state == TrialState.FAIL for t in trials)
    n_feasible = sum(all(v <= 0 for v in t.constraints.values()) for t in done)
    if eval_seconds is None:
        eval_seconds = sum(t.user_attrs.get("breakdown", {}).get("eval_us", 0.0) for t in done) / 1e6
    feas = _unique_feasible(done, problem)
    members, best = _front(feas, problem), _best(feas, problem)
    notes = list(notes)
    _rerank(members, best, problem, rerank, notes)
    res = SearchResult(study.study_name, storage_desc, problem.objectives, problem.proxy, dict(problem.budgets),
                       members, best, len(done), n_feasible, failed, wall, eval_seconds, dict(problem.costs.dense),
                       problem.costs.hw.name, notes, problem.proxies.to_dict())
    if problem.hw_space is not None:
        res.codesign = codesign_summary(problem, res)
    return res
