"""What one plan scores (``Evaluation``) and the pure function that scores it (``Evaluator``).

Objectives (all minimised) are any of ``proxy`` (the chosen accuracy proxy in its loss
form), ``cycles_total``, ``energy_pj``, ``params``, ``mults``, ``area`` (co-design),
``cycles_pipelined`` or a computed proxy's name. Budgets become constraints
``metric / (ratio * dense) - 1`` (<= 0 feasible).

An Evaluation is what a trial stores (its user attribute ``breakdown``), a front member
carries and a baseline reports. ``to_dict``/``from_dict`` are the one conversion to the
keys on disk, which existing journals, front files and the report read.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .costs import CostTables, build_costs

COST_OBJECTIVES = ("cycles_total", "energy_pj", "params", "mults")
# objectives that are no sum over layers: the exact solver cannot take them, the sampler does.
# cycles_pipelined: a layer-pipelined (fused) dataflow, one stage per layer, streams at the pace
# of its slowest stage, so its interval is the largest layer's cycles_total, not their sum.
CROSS_LAYER_OBJECTIVES = ("cycles_pipelined",)
OBJECTIVES = ("proxy",) + COST_OBJECTIVES + ("area",) + CROSS_LAYER_OBJECTIVES
RATIO_METRICS = ("cycles_total", "energy_pj", "params", "mults")
TRIAL_ATTR = "breakdown"                   # the trial user attribute an Evaluation is stored under
STORED = ("cycles_total", "latency_s", "energy_pj", "mults", "params", "area_mm2", "ratios", "proxies",
          "proxy_loss", "feasible")
STORED_IF_SET = ("hw", "cycles_pipelined", "eval_us", "worker", "projected_loss")
MAX_HW_TABLES = 512                        # co-design: cost tables kept per accelerator


@dataclass(frozen=True)
class Evaluation:
    """One plan's totals, ratios to the dense network, proxies, objective values and constraints."""

    cycles_total: float
    latency_s: float
    energy_pj: float
    mults: float
    params: float
    area_mm2: float | None = None
    ratios: dict = field(default_factory=dict)
    proxies: dict = field(default_factory=dict)
    proxy_loss: float | None = None
    feasible: bool = True
    hw: dict | None = None                 # co-design: the accelerator's knob values
    cycles_pipelined: float | None = None
    eval_us: float | None = None           # set by the study: evaluation time and worker
    worker: str | None = None
    projected_loss: float | None = None    # set when the front is re-scored with trained weights
    adds: float | None = None              # not stored
    values: tuple = ()                     # objective values and constraints: a trial stores them itself
    constraints: dict = field(default_factory=dict)

    def to_dict(self, values: bool = False) -> dict:
        """The stored form (on-disk keys); ``values`` adds the objective values and constraints."""
        d = {k: getattr(self, k) for k in STORED}
        d.update({k: getattr(self, k) for k in STORED_IF_SET if getattr(self, k) is not None})
        if values:
            d.update(values=list(self.values), constraints=dict(self.constraints))
        return d

    @classmethod
    def from_dict(cls, d: dict, values=None, constraints=None) -> Evaluation:
        """The record of a dict ``to_dict`` wrote (unknown keys ignored); a trial passes its own values and
        constraints."""
        known = {k: d[k] for k in STORED + STORED_IF_SET if k in d}
        values = d.get("values", ()) if values is None else values
        constraints = d.get("constraints", {}) if constraints is None else constraints
        return cls(**known, values=tuple(values), constraints=dict(constraints))


class Evaluator:
    """Scores plans of one Problem: no Optuna, no I/O; co-designed accelerators' tables are kept."""

    def __init__(self, problem):
        self.problem = problem
        self._tables: dict = {}

    def costs_for(self, hw_params: dict | None) -> CostTables:
        p = self.problem
        if not hw_params:
            return p.costs
        key = tuple(sorted(hw_params.items()))
        if key not in self._tables:
            if len(self._tables) > MAX_HW_TABLES:
                self._tables.clear()
            self._tables[key] = build_costs(p.space, p.hw_space.accelerator(p.costs.hw, hw_params))
        return self._tables[key]

    def evaluate(self, idx, hw_params: dict | None = None) -> Evaluation:
        """Totals, ratios to the dense network on the base accelerator, proxies, objectives, constraints."""
        p, idx = self.problem, np.asarray(idx, dtype=np.int64)
        ct = self.costs_for(hw_params)
        tot = ct.totals(idx)
        if "cycles_pipelined" in p.objectives:
            tot["cycles_pipelined"] = ct.peak("cycles_total", idx)
        dense = p.costs.dense                             # ratios against the base accelerator
        ratios = {m: tot[m] / dense[m] if dense[m] else 0.0 for m in RATIO_METRICS}
        proxies = p.proxies.scores(idx)
        if p.per_trial_torch:
            proxies["projected_loss"] = p.proxies.projected_loss(list(idx))
        area = ct.area_mm2()
        cons = self._constraints(ratios, area)
        return Evaluation(
            cycles_total=tot["cycles_total"], latency_s=tot["cycles_total"] * ct.seconds_per_cycle,
            energy_pj=tot["energy_pj"], mults=tot["mults"], params=tot["params"], area_mm2=area,
            ratios=ratios, proxies=proxies, proxy_loss=self._proxy_value(p.proxy, idx, proxies),
            feasible=all(v <= 0 for v in cons.values()), hw=dict(hw_params) if hw_params else None,
            cycles_pipelined=tot.get("cycles_pipelined"), adds=tot["adds"],
            values=tuple(self._objective(o, idx, tot, proxies, area) for o in p.objectives), constraints=cons)

    def proxy_loss(self, name: str, idx) -> float:
        """A proxy in its minimised form."""
        if name == "projected_loss":
            return self.problem.proxies.projected_loss(list(idx))
        return self.problem.proxies.tables[name].loss(idx)

    def _constraints(self, ratios: dict, area: float) -> dict:
        p = self.problem
        cons = {k: ratios[k] / r - 1.0 for k, r in p.budgets.items()}
        if p.area_budget_mm2 is not None:
            cons["area"] = area / p.area_budget_mm2 - 1.0
        return cons

    def _proxy_value(self, name: str, idx, proxies: dict) -> float:
        if name == "projected_loss":
            return proxies["projected_loss"]
        return self.problem.proxies.tables[name].loss(idx)

    def _objective(self, name: str, idx, tot: dict, proxies: dict, area: float) -> float:
        if name == "proxy":
            return self._proxy_value(self.problem.proxy, idx, proxies)
        if name == "area":
            return area
        if name in COST_OBJECTIVES or name in CROSS_LAYER_OBJECTIVES:
            return tot[name]
        return self._proxy_value(name, idx, proxies)
