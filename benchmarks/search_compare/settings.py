"""The settings of the search comparison, as PROTOCOL.md (version 1) fixes them.

The network, data, recipe and dense checkpoint are the accuracy benchmark's (its config.py,
data_prep.py and jobs.py are imported, not copied). ``--toy`` (smoke tests only) shrinks them.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ACC = ROOT / "benchmarks" / "accuracy"
sys.path.insert(0, str(ACC))

PROTOCOL_VERSION = 1
RESULTS = ROOT / "benchmarks" / "results"
RUNS = HERE / "runs"
ACC_RUNS = ACC / "runs" / "cpu"
PRIMARY_PROXY = "projection_loss"
BUDGET = 0.5                       # cycles_total <= 0.5 x dense on edge-int8
PRIMARY = ("in_loop", "exact", "greedy", "uniform", "rule_preset", "random")
SECONDARY = ("sampler", "greedy_lagrangian")


@dataclass(frozen=True)
class Settings:
    seeds: tuple = (0, 1, 2, 3, 4)
    random_feasible: int = 1000    # N feasible uniformly random plans
    random_batch: int = 10000
    random_max_draws: int = 2_000_000
    sampler_trials: int = 1000
    k_candidates: int = 8
    cand_window: tuple = (0.40, 0.50)
    budgets: tuple = (1, 2, 3)     # in-the-loop epochs
    sel_per_class: int = 200       # selection split: per class, outside the training subset
    sel_seed: int = 1
    n_boot: int = 10000
    toy: bool = False
    train_per_class: int | None = None   # None: the accuracy benchmark's (toy only changes it)
    epochs: int | None = None            # None: the benchmark's E = 3

    def scale(self):
        from config import SCALES

        s = SCALES["cpu"]
        kw = {}
        if self.train_per_class is not None:
            kw["train_per_class"] = self.train_per_class
        if self.epochs is not None:
            kw["epochs"] = self.epochs
        return dataclasses.replace(s, **kw) if kw else s

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["protocol_version"] = PROTOCOL_VERSION
        return d


PROTOCOL = Settings()
TOY = Settings(seeds=(0, 1), random_feasible=20, sampler_trials=60, k_candidates=3, budgets=(1, 2),
               sel_per_class=20, n_boot=200, toy=True, train_per_class=30, epochs=1)
