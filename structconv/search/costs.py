"""Per-(layer, choice) cost tables of a search space on one accelerator.

Cycles and energy come from ``structconv.sim.BatchSimulator`` (its tables are
built once, one engine call for every (layer, choice) pair); mults, adds and
params from ``core.count_ops``. Network totals are sums over layers, so a trial
costs one fancy-indexed sum per metric: O(layers), microseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import count_ops
from ..sim import BatchSimulator, load_accelerator
from .space import SearchSpace

SIM_METRICS = ("cycles_total", "energy_pj")
OP_METRICS = ("mults", "adds", "params")
METRICS = SIM_METRICS + OP_METRICS


@dataclass
class CostTables:
    """``values[m]``: (searched layers, max choices) table; ``base[m]``: fixed layers (+ extra params)."""

    space: SearchSpace
    hw: object                                  # structconv.sim.Accelerator
    values: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    dense: dict = field(default_factory=dict)
    fixed_peak: dict = field(default_factory=dict)  # the largest fixed layer's value (cross-layer objectives)

    def __post_init__(self):
        self._rows = np.arange(len(self.space.searched))

    def totals(self, idx) -> dict[str, float]:
        idx = np.asarray(idx, dtype=np.int64)
        return {m: float(self.base[m] + self.values[m][self._rows, idx].sum()) for m in METRICS}

    def totals_batch(self, idx_matrix) -> dict[str, np.ndarray]:
        M = np.asarray(idx_matrix, dtype=np.int64)
        return {m: self.base[m] + self.values[m][self._rows[None, :], M].sum(axis=1) for m in METRICS}

    def peak(self, metric: str, idx) -> float:
        """The largest single layer's value under ``idx`` (fixed layers included): not a sum."""
        idx = np.asarray(idx, dtype=np.int64)
        return float(max(self.fixed_peak.get(metric, 0.0), self.values[metric][self._rows, idx].max()))

    def minimum(self, metric: str) -> float:
        """The least total any plan of the space reaches (per-layer minima are independent)."""
        return float(self.base[metric] + np.nanmin(self.values[metric], axis=1).sum())

    def ratios(self, totals: dict) -> dict[str, float]:
        return {m: totals[m] / self.dense[m] if self.dense[m] else 0.0 for m in METRICS}

    @property
    def seconds_per_cycle(self) -> float:
        return 1.0 / self.hw.clock_hz

    def area_mm2(self) -> float:
        return float(self.hw.area_mm2())


def _op_tables(space: SearchSpace, searched: list[int], K: int) -> dict[str, np.ndarray]:
    ops = {m: np.full((len(searched), K), np.nan) for m in OP_METRICS}
    for r, i in enumerate(searched):
        ls = space.layers[i]
        for j, ch in enumerate(ls.choices):
            op = count_ops(ls.layer, ch)
            for m in OP_METRICS:
                ops[m][r, j] = getattr(op, m)
    return ops


def _op_sum(layers, metric: str) -> float:
    return float(sum(getattr(count_ops(layer), metric) for layer in layers))


def build_costs(space: SearchSpace, hw="edge-int8", mode: str = "analytical") -> CostTables:
    """Simulate every (layer, choice) of ``space`` on ``hw`` once and tabulate."""
    hw = load_accelerator(hw)
    bs = BatchSimulator(space.network, hw, [list(ls.choices) for ls in space.layers], mode=mode)
    searched = [i for i, ls in enumerate(space.layers) if len(ls) > 1]
    fixed = [i for i, ls in enumerate(space.layers) if len(ls) == 1]
    K = max(len(ls) for ls in space.searched)
    ops = _op_tables(space, searched, K)
    sim = {"cycles_total": bs.cycles_table.astype(np.float64),
           "energy_pj": bs.energy_table.astype(np.float64)}
    padding = np.isnan(ops["mults"])
    values = {**{m: np.where(padding, np.nan, t[searched][:, :K]) for m, t in sim.items()}, **ops}
    base = {m: float(t[fixed, 0].sum()) for m, t in sim.items()}
    dense = {m: float(t[:, 0].sum()) for m, t in sim.items()}
    for m in OP_METRICS:
        base[m] = _op_sum([space.layers[i].layer for i in fixed], m)
        dense[m] = _op_sum(space.network.layers, m)
    base["params"] += space.network.extra_params
    dense["params"] += space.network.extra_params
    peak = {m: float(t[fixed, 0].max()) if fixed else 0.0 for m, t in sim.items()}
    return CostTables(space, hw, values, base, dense, peak)
