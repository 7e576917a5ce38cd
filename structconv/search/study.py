"""The study driver: Optuna 5 over the per-layer choice indices.

One ``trial.suggest_int(layer_name, 0, len(choices) - 1)`` per searched layer.
Objectives (all minimised) are any of ``proxy`` (the chosen accuracy proxy in its
loss form), ``cycles``, ``energy``, ``params``, ``mults``, ``area`` (co-design);
budgets are constraints set with ``trial.set_constraint`` (value <= 0 feasible;
``value = metric / (ratio * dense) - 1``), which NSGA-II and TPE in Optuna 5 read
from the trial, never an infinite penalty. Each trial's breakdown (cycles,
energy, latency, params, mults, every proxy, evaluation time) goes to the user
attribute ``breakdown``.

Before any sampled trial the study is seeded (``enqueue_trial``): the network's
uniform presets (``core.presets``) and a uniform family (same c fraction and n
everywhere), then, unless ``warm_start=False``, a few Lagrangian-relaxation plans
(per layer argmin proxy_loss + lambda * cost, lambda bisected to budgets spread
over the reachable range) so NSGA-II starts from a good front.

The study lives in a storage (``storage.py``): resumable, shareable by K local
worker processes (``workers``) or by many machines (PostgreSQL).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import Plan, Structure
from .costs import CostTables, build_costs
from .proxies import ProxySuite
from .space import SearchSpace

SAMPLERS = ("nsga2", "tpe", "random")
_WORKER = f"{socket.gethostname()}:{os.getpid()}"
OBJECTIVES = ("proxy", "cycles", "energy", "params", "mults", "area")
BUDGET_METRICS = {"latency": "cycles", "energy": "energy_pj", "params": "params"}
_METRIC_OF = {"cycles": "cycles", "latency": "cycles", "energy": "energy_pj", "params": "params",
              "mults": "mults"}


# -- the evaluation ---------------------------------------------------------------
@dataclass
class Problem:
    """Everything a trial needs, picklable (sent to worker processes)."""

    space: SearchSpace
    costs: CostTables
    proxies: ProxySuite
    proxy: str
    objectives: tuple = ("proxy", "cycles", "energy")
    budgets: dict = field(default_factory=dict)         # 'latency' | 'energy' | 'params' -> max ratio
    hw_space: object = None                              # HwSpace for co-design, else None
    area_budget_mm2: float | None = None

    def __post_init__(self):
        self.objectives = tuple(self.objectives)
        if not self.objectives:
            raise ValueError("objectives must name at least one of " + str(list(OBJECTIVES)))
        bad = [o for o in self.objectives if o not in OBJECTIVES and o not in self.proxies]
        if bad:
            raise ValueError(f"objectives {bad} are unknown; choose from {list(OBJECTIVES)} or a computed proxy "
                             f"{list(self.proxies.tables)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives {list(self.objectives)} name one twice")
        if "area" in self.objectives and self.hw_space is None:
            raise ValueError("objective 'area' needs a hardware search space (--hw-space)")
        if self.proxy not in self.proxies:
            avail = list(self.proxies.tables) + (["projected_loss"] if "projected_loss" in self.proxies else [])
            raise ValueError(f"proxy = {self.proxy!r} is not available; computed: {avail}")
        for k, v in self.budgets.items():
            if k not in BUDGET_METRICS:
                raise ValueError(f"budget {k!r} is unknown; choose from {list(BUDGET_METRICS)}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v) or not math.isfinite(v):
                raise ValueError(f"max_{k}_ratio = {v!r} must be a number > 0")
        self.names = self.space.param_names
        self.sizes = self.space.sizes
        self._cost_cache = {}
        self.eval_seconds = 0.0

    def __getstate__(self):
        d = dict(self.__dict__)
        d["proxies"] = ProxySuite(self.proxies.space, self.proxies.tables, self.proxies.weights,
                                  list(self.proxies.notes), self.proxies.seconds, None)
        d["_cost_cache"] = {}
        return d

    @property
    def per_trial_torch(self) -> bool:
        """True when a trial needs the torch model (projected_loss): one process only."""
        return self.proxy == "projected_loss" or "projected_loss" in self.objectives

    def proxy_loss(self, name: str, idx) -> float:
        """A proxy in its minimised form."""
        if name == "projected_loss":
            return self.proxies.projected_loss(list(idx))
        return self.proxies.tables[name].loss(idx)

    @property
    def constrained(self) -> bool:
        return bool(self.budgets) or self.area_budget_mm2 is not None

    # -- costs, possibly per accelerator (co-design) ------------------------------
    def costs_for(self, hw_params: dict | None) -> CostTables:
        if not hw_params:
            return self.costs
        key = tuple(sorted(hw_params.items()))
        ct = self._cost_cache.get(key)
        if ct is None:
            if len(self._cost_cache) > 512:
                self._cost_cache.clear()
            ct = build_costs(self.space, self.hw_space.accelerator(self.costs.hw, hw_params))
            self._cost_cache[key] = ct
        return ct

    def evaluate(self, idx, hw_params: dict | None = None) -> dict:
        """Totals, ratios to the dense network on the base accelerator, proxies, objectives, constraints."""
        idx = np.asarray(idx, dtype=np.int64)
        ct = self.costs_for(hw_params)
        tot = ct.totals(idx)
        dense = self.costs.dense                             # ratios against the base accelerator
        ratios = {m: tot[m] / dense[m] if dense[m] else 0.0 for m in tot}
        proxies = self.proxies.scores(idx)
        if self.per_trial_torch:
            proxies["projected_loss"] = self.proxies.projected_loss(list(idx))
        area = ct.area_mm2()
        values = []
        for o in self.objectives:
            if o == "proxy":
                values.append(proxies["projected_loss"] if self.proxy == "projected_loss"
                              else self.proxies.tables[self.proxy].loss(idx))
            elif o == "projected_loss":
                values.append(proxies["projected_loss"])
            elif o in self.proxies.tables:
                values.append(self.proxies.tables[o].loss(idx))
            elif o == "area":
                values.append(area)
            else:
                values.append(tot[_METRIC_OF[o]])
        cons = {}
        for k, r in self.budgets.items():
            cons[k] = ratios[BUDGET_METRICS[k]] / r - 1.0
        if self.area_budget_mm2 is not None:
            cons["area"] = area / self.area_budget_mm2 - 1.0
        out = {"cycles": tot["cycles"], "latency_s": tot["cycles"] * ct.latency_scale,
               "energy_pj": tot["energy_pj"], "mults": tot["mults"], "adds": tot["adds"],
               "params": tot["params"], "area_mm2": area,
               "ratios": {"latency": ratios["cycles"], "energy": ratios["energy_pj"],
                          "params": ratios["params"], "mults": ratios["mults"]},
               "proxies": proxies, "values": values, "constraints": cons,
               "proxy_loss": (proxies["projected_loss"] if self.proxy == "projected_loss"
                              else self.proxies.tables[self.proxy].loss(idx)),
               "feasible": all(v <= 0 for v in cons.values())}
        if hw_params:
            out["hw"] = dict(hw_params)
        return out

    # -- the Optuna objective -----------------------------------------------------
    def objective(self, trial):
        idx = [trial.suggest_int(n, 0, k - 1) for n, k in zip(self.names, self.sizes)]
        hw_params = self.hw_space.suggest(trial) if self.hw_space is not None else None
        t0 = time.perf_counter()
        ev = self.evaluate(idx, hw_params)
        dt = time.perf_counter() - t0
        self.eval_seconds += dt
        for k, v in ev["constraints"].items():
            trial.set_constraint(k, v)
        bd = {k: ev[k] for k in ("cycles", "latency_s", "energy_pj", "mults", "params", "area_mm2", "ratios",
                                  "proxies", "proxy_loss", "feasible")}
        if hw_params:
            bd["hw"] = hw_params
        bd["eval_us"] = round(dt * 1e6, 1)
        bd["worker"] = _WORKER
        trial.set_user_attr("breakdown", bd)
        return ev["values"][0] if len(ev["values"]) == 1 else tuple(ev["values"])

    def signature(self) -> str:
        """A short hash of everything that changes what a trial means."""
        d = {"model": self.space.network.name, "layers": self.space.to_dict()["layers"],
             "hw": self.costs.hw.to_dict(), "proxy": self.proxy, "objectives": list(self.objectives),
             "budgets": self.budgets, "area": self.area_budget_mm2, "weights": self.proxies.weights,
             "proxies": sorted(self.proxies.tables),
             "hw_space": self.hw_space.to_dict() if self.hw_space is not None else None}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def check_feasible_up_front(self) -> None:
        """ValueError when no plan in the space can meet a budget (per-layer minimum-cost choices)."""
        check_budgets(self.costs, self.budgets, self.hw_space, self.area_budget_mm2)


def check_budgets(costs: CostTables, budgets: dict, hw_space=None, area_budget_mm2=None) -> None:
    """ValueError when no plan can meet a budget: the sum of per-layer minimum costs exceeds it."""
    if hw_space is not None:
        if area_budget_mm2 is not None:
            amin = hw_space.min_area_mm2(costs.hw)
            if amin > area_budget_mm2:
                raise ValueError(f"area budget {area_budget_mm2} mm^2 cannot be met: the smallest "
                                 f"accelerator of the hardware space has {amin:.3f} mm^2")
        return
    for k, r in budgets.items():
        m = BUDGET_METRICS[k]
        best = costs.minimum(m) / costs.dense[m]
        if best > r * (1 + 1e-12):
            raise ValueError(f"max_{k}_ratio = {r} cannot be met: the cheapest plan in the search space "
                             f"reaches {best:.3f} of the dense {k} on {costs.hw.name} "
                             f"(budget must be >= {math.ceil(best * 1000) / 1000:.3f})")


# -- samplers ---------------------------------------------------------------------
def make_sampler(name: str, seed: int | None, population_size: int | None = None, n_objectives: int = 1,
                 workers: int = 1):
    import optuna

    if name not in SAMPLERS:
        raise ValueError(f"sampler = {name!r} is not one of {list(SAMPLERS)}")
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size or 50)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=workers > 1,
                                          n_startup_trials=min(20, population_size or 20))
    return optuna.samplers.RandomSampler(seed=seed)


# -- seeding: presets, uniform family, Lagrangian plans -----------------------------
def uniform_plans(space: SearchSpace) -> list[Plan]:
    """Same c fraction and same n offset on every searched layer (nearest choice in the space)."""
    out = []
    for frac in (0.75, 0.5, 0.25):
        for dn in (0, 1, 2):
            choices = {}
            for ls in space.searched:
                C = ls.layer.group_in_channels
                kh, kw = ls.layer.kernel
                c = max(1, min(C, int(round(C * frac))))
                want = Structure(c, (max(1, kh - dn), max(1, kw - dn)))
                structs = [ch for ch in ls.choices if isinstance(ch, Structure)]
                if not structs:
                    continue
                best = min(structs, key=lambda s: (abs(math.log(s.c / c)) + abs(s.nh - want.nh)
                                                   + abs(s.nw - want.nw), s.c))
                choices[ls.name] = best
            if choices:
                p = Plan(choices, name=f"uniform-c{frac:g}-n{'k' if dn == 0 else f'k-{dn}'}",
                         model=space.network.name)
                if all(q.choices != p.choices for q in out):
                    out.append(p)
    return out


def preset_plans(space: SearchSpace) -> tuple[list[Plan], list[str]]:
    """The core presets that apply to the network and fit the space (+ notes on the rest)."""
    plans, notes = [], []
    try:
        from ..core.presets import get_preset, list_presets
    except ImportError:                                 # pragma: no cover
        return plans, ["core.presets missing: no presets enqueued"]
    for name in list_presets():
        try:
            p = get_preset(name, space.network)
        except ValueError:
            continue
        if space.contains(p):
            plans.append(p)
        else:
            notes.append(f"preset {name!r} is outside the search space: not enqueued")
    return plans, notes


def _loss_table(problem: Problem) -> np.ndarray:
    """Per-(layer, choice) loss form of the proxy (projected_loss: its additive surrogate projection_loss)."""
    name = problem.proxy
    if name == "projected_loss":
        name = "projection_loss" if "projection_loss" in problem.proxies.tables else "kept_dof"
    t = problem.proxies.tables[name]
    v = t.values * t._scale
    return -v if t.higher_is_better else v


def lagrangian_plan(loss: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """Per layer argmin loss + lam * cost (NaN padding never chosen)."""
    s = loss + lam * cost
    return np.nanargmin(np.where(np.isnan(s), np.inf, s), axis=1)


def lagrangian_for_budget(loss, cost, base: float, budget: float, iters: int = 60):
    """The least-lambda Lagrangian plan whose total cost base + sum <= budget (None if none)."""
    rows = np.arange(loss.shape[0])

    def total(idx):
        return base + cost[rows, idx].sum()

    lo, hi = 0.0, 1.0
    idx = lagrangian_plan(loss, cost, hi)
    n = 0
    while total(idx) > budget and n < 200:
        hi *= 4.0
        idx = lagrangian_plan(loss, cost, hi)
        n += 1
    if total(idx) > budget:
        return None
    best = idx
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        idx = lagrangian_plan(loss, cost, mid)
        if total(idx) <= budget:
            hi, best = mid, idx
        else:
            lo = mid
    return best


def warm_start_plans(problem: Problem, count: int = 16) -> list[np.ndarray]:
    """Lagrangian plans for budgets spread over the reachable range of each cost objective/budget."""
    loss = _loss_table(problem)
    ct = problem.costs
    metrics = [BUDGET_METRICS[k] for k in problem.budgets] or \
              [_METRIC_OF[o] for o in problem.objectives if o in _METRIC_OF] or ["cycles"]
    metrics = list(dict.fromkeys(metrics))
    out = []
    if problem.budgets:                                # one cost = sum of normalised constrained metrics
        cost = sum(ct.values[m] / (problem.budgets[k] * ct.dense[m])
                   for k, m in BUDGET_METRICS.items() if k in problem.budgets)
        base = sum(ct.base[m] / (problem.budgets[k] * ct.dense[m])
                   for k, m in BUDGET_METRICS.items() if k in problem.budgets)
        nb = len(problem.budgets)
        lo = base + np.nanmin(cost, axis=1).sum()
        for b in np.linspace(lo, nb, max(2, count // 2))[::-1]:
            idx = lagrangian_for_budget(loss, cost, base, b)
            if idx is not None:
                out.append(idx)
        metrics = [m for m in metrics if m not in (BUDGET_METRICS[k] for k in problem.budgets)] or metrics
    per = max(2, (count - len(out)) // max(1, len(metrics)))
    for m in metrics:
        cost = ct.values[m] / ct.dense[m]
        base = ct.base[m] / ct.dense[m]
        lo = ct.minimum(m) / ct.dense[m]
        for b in np.linspace(lo, 1.0, per):
            idx = lagrangian_for_budget(loss, cost, base, b)
            if idx is not None:
                out.append(idx)
    uniq, seen = [], set()
    for idx in out:
        key = tuple(int(i) for i in idx)
        if key not in seen:
            seen.add(key)
            uniq.append(np.asarray(key))
    return uniq[:count]


# -- results ----------------------------------------------------------------------
@dataclass
class FrontMember:
    """One plan of the result: its trial, plan, totals and proxies."""

    trial: int
    plan: Plan
    index: tuple
    values: tuple
    breakdown: dict
    origin: str = "search"

    def to_dict(self) -> dict:
        bd = self.breakdown
        d = {"trial": self.trial, "origin": self.origin, "plan": self.plan.name,
             "values": [float(v) for v in self.values],
             "cycles": int(bd["cycles"]), "latency_s": bd["latency_s"], "energy_pj": bd["energy_pj"],
             "mults": int(bd["mults"]), "params": int(bd["params"]), "area_mm2": bd.get("area_mm2"),
             "ratios": bd["ratios"], "proxies": bd["proxies"], "feasible": bd.get("feasible", True),
             "changed_layers": len(self.plan)}
        if "projected_loss" in bd:
            d["projected_loss"] = bd["projected_loss"]
        if "hw" in bd:
            d["hw"] = bd["hw"]
        return d


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

    def to_dict(self) -> dict:
        return {"study": self.study_name, "storage": self.storage, "objectives": list(self.objectives),
                "proxy": self.proxy, "budgets": self.budgets, "hw": self.hw,
                "trials": {"complete": self.n_complete, "feasible": self.n_feasible, "failed": self.n_failed},
                "wall_seconds": round(self.wall_seconds, 3), "eval_seconds": round(self.eval_seconds, 4),
                "total_seconds": None if self.total_seconds is None else round(self.total_seconds, 3),
                "dense": self.dense, "best": self.best.to_dict() if self.best else None,
                "front": [m.to_dict() for m in self.front], "notes": list(self.notes),
                "proxies": self.proxy_info, "codesign": self.codesign}

    def save(self, out_dir) -> Path:
        """DIR/front.yaml (summary + members) and DIR/plans/<name>.yaml, one per member."""
        import yaml

        from ..core import atomic_write_text

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
        atomic_write_text(out / "front.yaml", yaml.safe_dump(_plain(d), sort_keys=False))
        return out / "front.yaml"


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Non-dominated rows (minimisation)."""
    n = len(values)
    keep = np.ones(n, bool)
    for i in range(n):
        if not keep[i]:
            continue
        dom = np.all(values <= values[i], axis=1) & np.any(values < values[i], axis=1)
        if dom.any():
            keep[i] = False
    return keep


def collect_result(study, problem: Problem, wall: float, storage_desc: str, notes=(), rerank: int = 64,
                   eval_seconds: float | None = None) -> SearchResult:
    """The feasible front (deduplicated by plan) and the best feasible plan by proxy."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = sum(t.state == TrialState.FAIL for t in trials)
    feas = [t for t in done if all(v <= 0 for v in t.constraints.values())]
    ev_s = eval_seconds if eval_seconds is not None else \
        sum(t.user_attrs.get("breakdown", {}).get("eval_us", 0.0) for t in done) / 1e6
    uniq = {}
    hw_names = [n for n in (problem.hw_space.param_names if problem.hw_space else ())]
    for t in feas:
        key = tuple(t.params.get(n, 0) for n in problem.names) + tuple(t.params.get(n) for n in hw_names)
        if key not in uniq or t.number < uniq[key].number:
            uniq[key] = t
    feas_u = sorted(uniq.values(), key=lambda t: t.number)
    members = []
    if feas_u:
        vals = np.array([t.values for t in feas_u], dtype=float)
        mask = pareto_mask(vals)
        for t, keep in zip(feas_u, mask):
            if keep:
                members.append(_member(t, problem))
        members.sort(key=lambda m: tuple(m.values))
        for i, m in enumerate(members):
            m.plan = Plan(m.plan.choices, name=f"front-{i:03d}", model=problem.space.network.name)
    best = None
    if feas_u and (problem.constrained or len(problem.objectives) == 1):
        def ploss(t):
            v = t.user_attrs.get("breakdown", {}).get("proxy_loss")
            return v if v is not None else problem.proxy_loss(problem.proxy, [t.params.get(n, 0) for n in problem.names])
        bt = min(feas_u, key=lambda t: (ploss(t), t.number))
        best = _member(bt, problem)
        best.plan = Plan(best.plan.choices, name="best", model=problem.space.network.name)
    notes = list(notes)
    if problem.proxies.evaluator is not None and problem.proxies.evaluator.weights_loaded and rerank:
        ranked = members[:rerank] + ([best] if best is not None else [])
        for m in ranked:
            pl = m.breakdown.get("proxies", {}).get("projected_loss")
            m.breakdown = dict(m.breakdown, projected_loss=pl if pl is not None else
                               problem.proxies.projected_loss(list(m.index)))
        notes.append("front re-scored with projected_loss (task loss with every chosen layer projected, "
                     "no training)")
    res = SearchResult(study.study_name, storage_desc, problem.objectives, problem.proxy, dict(problem.budgets),
                       members, best, len(done), len(feas), failed, wall, ev_s, dict(problem.costs.dense),
                       problem.costs.hw.name, notes, problem.proxies.to_dict())
    if problem.hw_space is not None:
        from .codesign import codesign_summary
        res.codesign = codesign_summary(problem, res)
    return res


def _member(t, problem: Problem) -> FrontMember:
    idx = tuple(int(t.params.get(n, 0)) for n in problem.names)
    origin = t.user_attrs.get("seed", "search")
    bd = t.user_attrs.get("breakdown")
    if bd is None:                                      # e.g. a trial told from outside: recompute
        hw = {n: t.params[n] for n in problem.hw_space.param_names} if problem.hw_space else None
        ev = problem.evaluate(idx, problem.hw_space.decode(hw) if hw else None)
        bd = {k: ev[k] for k in ("cycles", "latency_s", "energy_pj", "mults", "params", "area_mm2", "ratios",
                                 "proxies", "proxy_loss", "feasible")}
    return FrontMember(t.number, problem.space.plan(list(idx), name=f"trial-{t.number}"), idx,
                       tuple(t.values), dict(bd), origin)


# -- running ----------------------------------------------------------------------
def _directions(problem: Problem):
    return ["minimize"] * len(problem.objectives)


def _prepare_study(problem: Problem, storage, study_name: str, sampler, seed_study: bool, warm_start: bool,
                   notes: list):
    import optuna

    try:
        study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler,
                                    directions=_directions(problem), load_if_exists=True)
    except ValueError as e:
        raise ValueError(f"study {study_name!r}: {str(e).splitlines()[0]}") from None
    sig = problem.signature()
    stored = study.user_attrs.get("structconv_signature")
    if stored is None:
        study.set_user_attr("structconv_signature", sig)
        study.set_user_attr("structconv_config", {
            "model": problem.space.network.name, "hw": problem.costs.hw.name, "proxy": problem.proxy,
            "objectives": list(problem.objectives), "budgets": problem.budgets,
            "area_budget_mm2": problem.area_budget_mm2, "searched_layers": len(problem.names)})
        if len(study.directions) != len(problem.objectives):
            raise ValueError(f"study {study_name!r} exists with {len(study.directions)} objective(s); "
                             f"this search has {len(problem.objectives)}")
        if seed_study:
            _enqueue_seeds(study, problem, warm_start, notes)
    elif stored != sig:
        raise ValueError(f"study {study_name!r} was created with other settings (model, space, hw, proxy, "
                         f"objectives or budgets); use another --study name or --out directory")
    return study


def _enqueue_seeds(study, problem: Problem, warm_start: bool, notes: list) -> None:
    space = problem.space
    presets, pnotes = preset_plans(space)
    notes.extend(pnotes)
    seeds = [(p, f"preset:{p.name}") for p in presets]
    seeds += [(p, f"uniform:{p.name}") for p in uniform_plans(space)]
    seen = set()
    hw0 = problem.hw_space.default_params(problem.costs.hw) if problem.hw_space is not None else {}
    for plan, tag in seeds:
        params = space.params_of(plan)
        key = tuple(params.get(n, 0) for n in problem.names)
        if key in seen:
            continue
        seen.add(key)
        study.enqueue_trial({**params, **hw0}, user_attrs={"seed": tag})
    if warm_start:
        for i, idx in enumerate(warm_start_plans(problem)):
            key = tuple(int(v) for v in idx)
            if key in seen:
                continue
            seen.add(key)
            study.enqueue_trial({**{n: int(v) for n, v in zip(problem.names, idx)}, **hw0},
                                user_attrs={"seed": f"lagrangian:{i}"})


def _count_complete(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _worker(problem, kind, spec, study_name, sampler_name, seed, pop, n_target, timeout, n_obj, workers,
            heartbeat_interval=10):
    """One worker process: join the study and run until ``n_target`` trials are complete."""
    import warnings

    import optuna

    from .storage import open_storage

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(kind, spec, heartbeat_interval=heartbeat_interval, check=False)
    sampler = make_sampler(sampler_name, seed, pop, n_obj, workers)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    study.optimize(problem.objective, n_trials=None if workers > 1 else max(0, n_target - _count_complete(study)),
                   timeout=timeout, callbacks=[MaxTrialsCallback(n_target, states=(TrialState.COMPLETE,))],
                   catch=())


def run_search(problem: Problem, n_trials: int = 500, timeout: float | None = None, sampler: str = "nsga2",
               seed: int = 0, storage: str | None = None, out_dir=None, study_name: str | None = None,
               workers: int = 1, warm_start: bool = True, population_size: int | None = None,
               progress: bool = False, rerank: int = 64, enqueue: bool = True,
               heartbeat_interval: int = 10) -> SearchResult:
    """Run (or resume) a study until it holds ``n_trials`` complete trials; return its front.

    storage: None = ``out_dir/study.journal`` (in memory when out_dir is None too), a
    journal file path, ``sqlite:///...`` or ``postgresql://...``.
    """
    import warnings

    import optuna

    from .storage import DirLock, describe, open_storage, recover_stale_trials, resolve_storage_spec

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler = {sampler!r} is not one of {list(SAMPLERS)}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"trials = {n_trials!r} must be an integer >= 1")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r} must be an integer >= 1")
    if timeout is not None and not (timeout > 0):
        raise ValueError(f"timeout = {timeout!r} must be > 0 seconds")
    problem.check_feasible_up_front()
    kind, spec = resolve_storage_spec(storage, out_dir)
    if problem.per_trial_torch and workers > 1:
        raise ValueError("proxy projected_loss runs the torch model in every trial: use --workers 1")
    if kind == "memory" and workers > 1:
        raise ValueError("workers > 1 need a shared storage: give --out (journal file) or --storage URL")
    study_name = study_name or f"{problem.space.network.name}-{problem.signature()}"
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    notes: list[str] = list(problem.proxies.notes)
    lock = DirLock(out_dir) if (out_dir is not None and kind == "journal") else None
    t0 = time.perf_counter()
    if lock:
        lock.__enter__()
    try:
        st = open_storage(kind, spec, heartbeat_interval=heartbeat_interval)
        pop = population_size or 50
        n_obj = len(problem.objectives)
        smp = make_sampler(sampler, seed, pop, n_obj, workers)
        existing = _study_exists(st, study_name)
        study = _prepare_study(problem, st, study_name, smp, enqueue and not existing, warm_start, notes)
        if kind == "journal":
            stale = recover_stale_trials(study)
            if stale:
                notes.append(f"resumed: trial(s) {stale} were running when the last search stopped; "
                             f"marked FAIL and re-enqueued")
        before = _count_complete(study)
        if existing and before:
            notes.append(f"resumed study {study_name!r} with {before} complete trial(s)")
        problem.eval_seconds = 0.0
        if workers == 1:
            _run_local(study, problem, n_trials, timeout, progress, before)
        else:
            _run_workers(study, problem, kind, spec, study_name, sampler, seed, pop, n_trials, timeout,
                         workers, progress, before, heartbeat_interval)
        wall = time.perf_counter() - t0
        return collect_result(study, problem, wall, describe(spec), notes, rerank,
                              eval_seconds=problem.eval_seconds if workers == 1 else None)
    finally:
        if lock:
            lock.__exit__(None, None, None)


def _study_exists(storage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
        return True
    except KeyError:
        return False


def _run_local(study, problem, n_trials, timeout, progress, before):
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    remaining = max(0, n_trials - before)
    if remaining == 0:
        return
    callbacks = [MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE,))]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_trials, initial=before, desc="search", unit="trial", leave=False)
        callbacks.append(lambda s, t: bar.update(1) if t.state == TrialState.COMPLETE else None)
    try:
        study.optimize(problem.objective, n_trials=remaining, timeout=timeout, callbacks=callbacks, catch=())
    finally:
        if bar is not None:
            bar.close()


def _run_workers(study, problem, kind, spec, study_name, sampler, seed, pop, n_trials, timeout, workers,
                 progress, before, heartbeat_interval=10):
    import multiprocessing as mp

    if before >= n_trials:
        return
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(problem, kind, spec, study_name, sampler,
                                               None if seed is None else seed + 1 + i, pop, n_trials, timeout,
                                               len(problem.objectives), workers, heartbeat_interval),
                             daemon=False)
             for i in range(workers)]
    for p in procs:
        p.start()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_trials, initial=before, desc=f"search ({workers} workers)", unit="trial", leave=False)
    try:
        last = before
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            if bar is not None:
                n = _count_complete(study)
                bar.update(max(0, n - last))
                last = n
        for p in procs:
            p.join()
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
