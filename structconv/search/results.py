"""What a search yields: the feasible Pareto front, the best plan under the budgets, how they are saved."""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core import Plan, remove_orphans, write_data_file
from .evaluation import Evaluation


@dataclass(frozen=True)
class FrontMember:
    """One plan of the result: its trial, plan, objective values and evaluation."""

    trial: int | None                  # None: from the exact solver, no study trial
    plan: Plan
    index: tuple
    values: tuple
    evaluation: Evaluation
    origin: str = "search"

    def to_dict(self) -> dict:
        ev = self.evaluation
        d = {"trial": self.trial, "origin": self.origin, "plan": self.plan.name,
             "values": [float(v) for v in self.values],
             "cycles_total": int(ev.cycles_total), "latency_s": ev.latency_s, "energy_pj": ev.energy_pj,
             "mults": int(ev.mults), "params": int(ev.params), "area_mm2": ev.area_mm2,
             "ratios": ev.ratios, "proxies": ev.proxies, "feasible": ev.feasible,
             "changed_layers": len(self.plan)}
        d.update({k: getattr(ev, k) for k in ("projected_loss", "hw") if getattr(ev, k) is not None})
        return d

    def renamed(self, name: str, model: str, origin: str | None = None) -> FrontMember:
        plan = Plan(self.plan.choices, name=name, model=model)
        return replace(self, plan=plan, origin=origin or self.origin)


@dataclass(kw_only=True)
class SearchResult:
    """The feasible Pareto front of a study (or of the exact solver), its best plan under the budgets and how
    it ran."""

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
        """How many front members came from the exact solver (origin exact / exact:i) and the sampler."""
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
        """DIR/front.yaml (summary + members) and DIR/plans/<name>.yaml, one per member.

        Everything is written first into a staging folder in DIR, then moved into place, front.yaml
        last: a write that fails (a full disk) leaves DIR's files as they were, none half-written, and
        no folder this call made."""
        from .study.storage import missing_dirs

        out = Path(out_dir)
        made = missing_dirs(out)
        stage = out / f".save.{os.getpid()}.tmp"
        try:
            out.mkdir(parents=True, exist_ok=True)
            remove_orphans(out, ".save.", ".tmp")          # a killed writer's staging folder
            self._write(stage)
            _move_into(stage, out)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        shutil.rmtree(stage, ignore_errors=True)
        return out / "front.yaml"

    def filed(self) -> list[int]:
        """Front members that get a plan file: all, or MAX_PLAN_FILES spread evenly over a larger front."""
        n = len(self.front)
        if n <= MAX_PLAN_FILES:
            return list(range(n))
        return sorted({round(i * (n - 1) / (MAX_PLAN_FILES - 1)) for i in range(MAX_PLAN_FILES)})

    def _write(self, out: Path) -> None:
        (out / "plans").mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        filed = set(self.filed())
        rest = {}                                  # one JSON file for the others: YAML took minutes
        for i, (m, md) in enumerate(zip(self.front, d["front"])):
            if i in filed:
                path = out / "plans" / f"{m.plan.name}.yaml"
                m.plan.save(path)
                md["plan_file"] = str(path.relative_to(out))
            else:
                rest[m.plan.name] = dict(md, layers=m.plan.to_dict()["layers"])
        if rest:
            d["notes"].append(f"the front has {len(self.front)} members: front.yaml and plan files hold "
                              f"{len(filed)} of them, spread evenly; plans/{REST_FILE} holds the other "
                              f"{len(rest)}, each with its layers")
            d["front"] = [md for i, md in enumerate(d["front"]) if i in filed]
            write_data_file(out / "plans" / REST_FILE, rest)
        if self.best is not None:
            self.best.plan.save(out / "best.yaml")
            d["best"]["plan_file"] = "best.yaml"
        write_data_file(out / "front.yaml", d)


MAX_PLAN_FILES = 1000   # a 3-objective exact front can hold 30,000 members: one YAML file each took minutes
REST_FILE = "rest.json"


def _move_into(stage: Path, out: Path) -> None:
    """The staged files into ``out`` (renames: no new space needed), front.yaml last."""
    (out / "plans").mkdir(exist_ok=True)
    for f in sorted((stage / "plans").iterdir()):
        os.replace(f, out / "plans" / f.name)
    if (stage / "best.yaml").exists():
        os.replace(stage / "best.yaml", out / "best.yaml")
    os.replace(stage / "front.yaml", out / "front.yaml")


def result_of(problem, front: list, best: FrontMember | None, **run) -> SearchResult:
    """A SearchResult of ``problem``: what the problem fixes is read from it, ``run`` says how it ran."""
    return SearchResult(objectives=problem.objectives, proxy=problem.proxy, budgets=dict(problem.budgets),
                        front=front, best=best, dense=dict(problem.costs.dense), hw=problem.costs.hw.name,
                        proxy_info=problem.proxies.to_dict(), **run)
