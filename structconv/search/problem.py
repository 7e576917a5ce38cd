"""The search problem, defined once: a space, its cost and proxy tables, the proxy, objectives and budgets.

Budgets are ratios to the dense network (``max_cycles_ratio``, ``max_energy_ratio``,
``max_params_ratio``), set as Optuna constraints (``value = metric / (ratio * dense) - 1``,
<= 0 feasible), which NSGA-II and TPE in Optuna 5 read from the trial: never an infinite
penalty. A Problem is frozen and checked when it is made; ``evaluate`` scores a plan
(``Evaluator``, pure) and ``study.TrialObjective`` is its Optuna adapter.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property

from .bounds import BOUNDS
from .costs import CostTables
from .evaluation import CROSS_LAYER_OBJECTIVES, OBJECTIVES, Evaluation, Evaluator
from .proxies import ProxySuite
from .space import SearchSpace

# budget metric -> the Python keyword (and settings field) that sets it (CLI: --max-cycles-ratio, ...)
BUDGETS = {"cycles_total": "max_cycles_ratio", "energy_pj": "max_energy_ratio", "params": "max_params_ratio"}
RENAMED = {"cycles": "cycles_total", "latency": "cycles_total", "energy": "energy_pj"}


def _renamed(what: str, name) -> str:
    new = RENAMED.get(name)
    return f" ({what} {name!r} is now called {new!r})" if new else ""


def check_budget_value(metric: str, ratio) -> None:
    BOUNDS[BUDGETS[metric]].check(BUDGETS[metric], ratio)


@dataclass(frozen=True, eq=False)
class Problem:
    """What a trial means; picklable (sent to worker processes without the torch model)."""

    space: SearchSpace
    costs: CostTables
    proxies: ProxySuite
    proxy: str
    objectives: tuple = ("proxy", "cycles_total", "energy_pj")
    budgets: dict = field(default_factory=dict)         # 'cycles_total' | 'energy_pj' | 'params' -> max ratio
    hw_space: object = None                              # HwSpace for co-design, else None
    area_budget_mm2: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "objectives", tuple(self.objectives))
        object.__setattr__(self, "budgets", dict(self.budgets))
        self._check_objectives()
        self._check_budgets()
        if self.proxy not in self.proxies:
            raise ValueError(f"proxy = {self.proxy!r} is not available; computed: {self.proxies.available}")

    def _check_objectives(self) -> None:
        if not self.objectives:
            raise ValueError("objectives must name at least one of " + str(list(OBJECTIVES)))
        for o in self.objectives:
            if o not in OBJECTIVES and o not in self.proxies:
                raise ValueError(f"objectives [{o!r}] are unknown; choose from {list(OBJECTIVES)} "
                                 f"or a computed proxy {list(self.proxies.tables)}"
                                 + _renamed("objective", o))
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives {list(self.objectives)} name one twice")
        if "area" in self.objectives and self.hw_space is None:
            raise ValueError("objective 'area' needs a hardware search space (--hw-space)")

    def _check_budgets(self) -> None:
        for k, v in self.budgets.items():
            if k not in BUDGETS:
                raise ValueError(f"budget {k!r} is unknown; choose from {list(BUDGETS)}"
                                 + _renamed("budget", k))
            check_budget_value(k, v)

    def __getstate__(self):
        d = {k: v for k, v in self.__dict__.items() if k != "evaluator"}
        d["proxies"] = self.proxies.without_evaluator()
        return d

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The searched layers: one trial parameter each."""
        return self.space.param_names

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        return self.space.sizes

    @property
    def per_trial_torch(self) -> bool:
        """True when a trial needs the torch model (projected_loss): one process only."""
        return self.proxy == "projected_loss" or "projected_loss" in self.objectives

    @property
    def constrained(self) -> bool:
        return bool(self.budgets) or self.area_budget_mm2 is not None

    def not_additive(self) -> str | None:
        """Why some objective or budget is not a sum over layers (None: the exact solver applies)."""
        if self.hw_space is not None:
            return "the accelerator is co-designed with the plan (every table changes with it)"
        if self.per_trial_torch:
            return "projected_loss evaluates every plan with the torch model (not a sum over layers)"
        cross = [o for o in self.objectives if o in CROSS_LAYER_OBJECTIVES]
        return f"objective {cross[0]!r} has cross-layer effects" if cross else None

    # -- scoring a plan: the pure evaluator, made on first use --------------------------
    @cached_property
    def evaluator(self) -> Evaluator:
        return Evaluator(self)

    def evaluate(self, idx, hw_params: dict | None = None) -> Evaluation:
        return self.evaluator.evaluate(idx, hw_params)

    def proxy_loss(self, name: str, idx) -> float:
        return self.evaluator.proxy_loss(name, idx)

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
