"""The search problem: what a trial means (objectives, budgets) and how one plan is evaluated.

Objectives (all minimised) are any of ``proxy`` (the chosen accuracy proxy in its
loss form), ``cycles_total``, ``energy_pj``, ``params``, ``mults``, ``area``
(co-design) or a computed proxy's name. Budgets are ratios to the dense network
(``max_cycles_ratio``, ``max_energy_ratio``, ``max_params_ratio``), set as Optuna
constraints (``value = metric / (ratio * dense) - 1``, <= 0 feasible), which NSGA-II
and TPE in Optuna 5 read from the trial: never an infinite penalty. A trial whose
plan a COMPLETE trial of the study already holds reuses that trial's results
(user attr ``same_as``) instead of evaluating it again.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field

import numpy as np

from .costs import CostTables, build_costs
from .proxies import ProxySuite
from .space import SearchSpace

COST_OBJECTIVES = ("cycles_total", "energy_pj", "params", "mults")
# objectives that are no sum over layers: the exact solver cannot take them, the sampler does.
# cycles_pipelined: a layer-pipelined (fused) dataflow, one stage per layer, streams at the pace
# of its slowest stage, so its interval is the largest layer's cycles_total, not their sum.
CROSS_LAYER_OBJECTIVES = ("cycles_pipelined",)
OBJECTIVES = ("proxy",) + COST_OBJECTIVES + ("area",) + CROSS_LAYER_OBJECTIVES
# budget metric -> the Python keyword that sets it (CLI: --max-cycles-ratio, ...)
BUDGETS = {"cycles_total": "max_cycles_ratio", "energy_pj": "max_energy_ratio", "params": "max_params_ratio"}
RENAMED = {"cycles": "cycles_total", "latency": "cycles_total", "energy": "energy_pj"}
RATIO_METRICS = ("cycles_total", "energy_pj", "params", "mults")
BREAKDOWN_KEYS = ("cycles_total", "latency_s", "energy_pj", "mults", "params", "area_mm2", "ratios", "proxies",
                  "proxy_loss", "feasible")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _renamed(what: str, name) -> str:
    new = RENAMED.get(name)
    return f" ({what} {name!r} is now called {new!r})" if new else ""


def check_budget_value(metric: str, ratio) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not (0 < ratio) or not math.isfinite(ratio):
        raise ValueError(f"{BUDGETS[metric]} = {ratio!r} must be a number > 0")


@dataclass
class Problem:
    """Everything a trial needs, picklable (sent to worker processes)."""

    space: SearchSpace
    costs: CostTables
    proxies: ProxySuite
    proxy: str
    objectives: tuple = ("proxy", "cycles_total", "energy_pj")
    budgets: dict = field(default_factory=dict)         # 'cycles_total' | 'energy_pj' | 'params' -> max ratio
    hw_space: object = None                              # HwSpace for co-design, else None
    area_budget_mm2: float | None = None

    def __post_init__(self):
        self.objectives = tuple(self.objectives)
        self._check_objectives()
        self._check_budgets()
        if self.proxy not in self.proxies:
            raise ValueError(f"proxy = {self.proxy!r} is not available; computed: {self.proxies.available}")
        self.names = self.space.param_names
        self.sizes = self.space.sizes
        self._cost_cache = {}
        self.eval_seconds = 0.0
        self._done_key, self._done, self._done_numbers = None, {}, set()

    def _check_objectives(self) -> None:
        if not self.objectives:
            raise ValueError("objectives must name at least one of " + str(list(OBJECTIVES)))
        for o in self.objectives:
            if o not in OBJECTIVES and o not in self.proxies:
                raise ValueError(f"objectives [{o!r}] are unknown; choose from {list(OBJECTIVES)} or a computed "
                                 f"proxy {list(self.proxies.tables)}" + _renamed("objective", o))
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives {list(self.objectives)} name one twice")
        if "area" in self.objectives and self.hw_space is None:
            raise ValueError("objective 'area' needs a hardware search space (--hw-space)")

    def _check_budgets(self) -> None:
        for k, v in self.budgets.items():
            if k not in BUDGETS:
                raise ValueError(f"budget {k!r} is unknown; choose from {list(BUDGETS)}" + _renamed("budget", k))
            check_budget_value(k, v)

    def __getstate__(self):
        d = dict(self.__dict__)
        d["proxies"] = self.proxies.without_evaluator()
        d["_cost_cache"] = {}
        d["_done_key"], d["_done"], d["_done_numbers"] = None, {}, set()
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

    def not_additive(self) -> str | None:
        """Why some objective or budget is not a sum over layers (None: the exact solver applies)."""
        if self.hw_space is not None:
            return "the accelerator is co-designed with the plan (every table changes with it)"
        if self.per_trial_torch:
            return "projected_loss evaluates every plan with the torch model (not a sum over layers)"
        cross = [o for o in self.objectives if o in CROSS_LAYER_OBJECTIVES]
        return f"objective {cross[0]!r} has cross-layer effects" if cross else None

    @property
    def constrained(self) -> bool:
        return bool(self.budgets) or self.area_budget_mm2 is not None

    # -- costs, possibly per accelerator (co-design) ------------------------------
    def costs_for(self, hw_params: dict | None) -> CostTables:
        if not hw_params:
            return self.costs
        key = tuple(sorted(hw_params.items()))
        if key not in self._cost_cache:
            if len(self._cost_cache) > 512:
                self._cost_cache.clear()
            self._cost_cache[key] = build_costs(self.space, self.hw_space.accelerator(self.costs.hw, hw_params))
        return self._cost_cache[key]

    def evaluate(self, idx, hw_params: dict | None = None) -> dict:
        """Totals, ratios to the dense network on the base accelerator, proxies, objectives, constraints."""
        idx = np.asarray(idx, dtype=np.int64)
        ct = self.costs_for(hw_params)
        tot = ct.totals(idx)
        if "cycles_pipelined" in self.objectives:
            tot["cycles_pipelined"] = ct.peak("cycles_total", idx)
        dense = self.costs.dense                             # ratios against the base accelerator
        ratios = {m: tot[m] / dense[m] if dense[m] else 0.0 for m in RATIO_METRICS}
        proxies = self.proxies.scores(idx)
        if self.per_trial_torch:
            proxies["projected_loss"] = self.proxies.projected_loss(list(idx))
        area = ct.area_mm2()
        cons = {k: ratios[k] / r - 1.0 for k, r in self.budgets.items()}
        if self.area_budget_mm2 is not None:
            cons["area"] = area / self.area_budget_mm2 - 1.0
        out = {"cycles_total": tot["cycles_total"], "latency_s": tot["cycles_total"] * ct.seconds_per_cycle,
               "energy_pj": tot["energy_pj"], "mults": tot["mults"], "adds": tot["adds"],
               "params": tot["params"], "area_mm2": area, "ratios": ratios, "proxies": proxies,
               "values": [self._objective(o, idx, tot, proxies, area) for o in self.objectives],
               "constraints": cons, "proxy_loss": self._proxy_value(self.proxy, idx, proxies),
               "feasible": all(v <= 0 for v in cons.values())}
        if hw_params:
            out["hw"] = dict(hw_params)
        if "cycles_pipelined" in tot:
            out["cycles_pipelined"] = tot["cycles_pipelined"]
        return out

    def _proxy_value(self, name: str, idx, proxies: dict) -> float:
        return proxies["projected_loss"] if name == "projected_loss" else self.proxies.tables[name].loss(idx)

    def _objective(self, name: str, idx, tot: dict, proxies: dict, area: float) -> float:
        if name == "proxy":
            return self._proxy_value(self.proxy, idx, proxies)
        if name == "area":
            return area
        if name in COST_OBJECTIVES or name in CROSS_LAYER_OBJECTIVES:
            return tot[name]
        return self._proxy_value(name, idx, proxies)

    def breakdown(self, ev: dict) -> dict:
        """What a trial stores as its ``breakdown`` user attribute."""
        bd = {k: ev[k] for k in BREAKDOWN_KEYS}
        bd.update({k: ev[k] for k in ("hw", "cycles_pipelined") if k in ev})
        return bd

    # -- the Optuna objective -----------------------------------------------------
    def objective(self, trial):
        idx = [trial.suggest_int(n, 0, k - 1) for n, k in zip(self.names, self.sizes)]
        hw_params = self.hw_space.suggest(trial) if self.hw_space is not None else None
        same = self._finished_with(trial)
        if same is not None:
            return self._reuse(trial, same)
        t0 = time.perf_counter()
        ev = self.evaluate(idx, hw_params)
        dt = time.perf_counter() - t0
        self.eval_seconds += dt
        for k, v in ev["constraints"].items():
            trial.set_constraint(k, v)
        trial.set_user_attr("breakdown", {**self.breakdown(ev), "eval_us": round(dt * 1e6, 1), "worker": WORKER})
        return ev["values"][0] if len(ev["values"]) == 1 else tuple(ev["values"])

    # -- a plan already finished is not evaluated again -------------------------------
    def _finished_with(self, trial):
        """The COMPLETE trial of this study with the same parameters as ``trial``, or None."""
        from optuna.trial import TrialState

        study = trial.study
        key = (study._storage, study._study_id)         # the storage object itself: ids can be reused
        if self._done_key is None or self._done_key[0] is not key[0] or self._done_key[1] != key[1]:
            self._done_key, self._done, self._done_numbers = key, {}, set()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number not in self._done_numbers:
                self._done_numbers.add(t.number)
                self._done.setdefault(tuple(sorted(t.params.items())), t)
        return self._done.get(tuple(sorted(trial.params.items())))

    def _reuse(self, trial, t):
        """Finish ``trial`` with the values of the finished trial ``t`` of the same plan."""
        for k, v in t.constraints.items():
            trial.set_constraint(k, v)
        bd = t.user_attrs.get("breakdown") or {}
        trial.set_user_attr("breakdown", {**bd, "eval_us": 0.0, "worker": WORKER})
        trial.set_user_attr("same_as", t.number)
        return t.values[0] if len(t.values) == 1 else tuple(t.values)

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


def _check_area(costs: CostTables, hw_space, area_budget_mm2) -> None:
    if area_budget_mm2 is None:
        return
    amin = hw_space.min_area_mm2(costs.hw)
    if amin > area_budget_mm2:
        raise ValueError(f"area budget {area_budget_mm2} mm^2 cannot be met: the smallest "
                         f"accelerator of the hardware space has {amin:.3f} mm^2")


def check_budgets(costs: CostTables, budgets: dict, hw_space=None, area_budget_mm2=None) -> None:
    """ValueError when no plan can meet a budget: the sum of per-layer minimum costs exceeds it."""
    if hw_space is not None:
        return _check_area(costs, hw_space, area_budget_mm2)
    for m, r in budgets.items():
        best = costs.minimum(m) / costs.dense[m]
        if best > r * (1 + 1e-12):
            raise ValueError(f"{BUDGETS[m]} = {r} cannot be met: the cheapest plan in the search space "
                             f"reaches {best:.3f} of the dense {m} on {costs.hw.name} "
                             f"(budget must be >= {math.ceil(best * 1000) / 1000:.3f})")
