"""How a study runs: trial count, sampler, seed, workers and where it lives; checked once, when made."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..bounds import check, check_out_dir
from .journal import check_journal_file
from .storage import resolve_storage_spec

DEFAULT_POPULATION = 50


@dataclass(frozen=True)
class RunSettings:
    """The options of ``run_search``; a bad one is a one-line SettingError before anything is made.

    storage: None = ``out/study.journal`` (in memory when out is None too), a journal file
    path, ``sqlite:///...`` or ``postgresql://...``. mode: ``sampler`` (an Optuna study,
    seeded from the exact fronts unless warm_start is False), ``exact`` (the exact solver
    only, no study) or ``auto`` (exact when it applies, else sampler). enqueue: seed a new
    study. rerank: front members re-scored with projected_loss when weights are loaded.
    """

    trials: int = 500
    timeout: float | None = None
    sampler: str = "nsga2"
    seed: int | None = 0
    population: int | None = None
    workers: int = 1
    storage: str | None = None
    out: str | os.PathLike | None = None
    study: str | None = None
    warm_start: bool = True
    progress: bool = False
    mode: str = "sampler"
    rerank: int = 64
    enqueue: bool = True
    heartbeat_interval: int = 10

    def __post_init__(self):
        check(self, ("sampler", "trials", "workers", "population", "seed", "heartbeat_interval", "timeout",
                     "mode", "rerank"), optional=("population", "seed", "timeout"))
        check_out_dir("out", self.out)
        kind, spec = self.place
        if kind == "journal":
            check_out_dir("storage", Path(spec).parent, of=spec)
            check_journal_file(spec)

    @property
    def place(self) -> tuple[str, str]:
        """(storage kind, spec): 'journal' (a file path), 'rdb' (a URL) or 'memory'."""
        return resolve_storage_spec(self.storage, self.out)

    @property
    def population_size(self) -> int:
        return self.population or DEFAULT_POPULATION
