"""Accuracy in the loop: candidates (e.g. from the exact front) trained, decomposed and evaluated at growing
budgets, with Optuna's pruners cutting the weak ones early.

Each candidate plan is one enqueued trial of a maximised study (param ``candidate`` =
its index). A trial reports the decomposed accuracy after each budget of ``budgets``
(epochs of SR fine-tuning, from the same dense weights each time) and is pruned when
the pruner says so: ``sha`` (successive halving) or ``hyperband``. The study lives in
a storage (a journal file or PostgreSQL URL; ``storage.open_storage``), so any number
of worker processes may run ``join`` on it: each takes the next waiting candidate.
A trial the sampler made up (no queued candidate left) is pruned at once, never run.

``SRFineTune`` is the default evaluator (``structconv.nn``: train with SR for the
budget's epochs at the accuracy benchmark's recipe, decompose, evaluate on a validation split
carved from the training data, never on the test split; ``device`` picks the accelerator); any
callable ``evaluate(plan, budget) -> accuracy`` does.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass, field

from ...core import Plan
from .._optuna import optuna, quiet, trial_state
from ..bounds import BOUNDS, Increasing
from .storage import open_storage, resolve_storage_spec


def make_pruner(name: str, budgets):
    BOUNDS["pruner"].check("pruner", name)
    pruners = optuna().pruners
    if name == "sha":
        return pruners.SuccessiveHalvingPruner(min_resource=budgets[0], reduction_factor=2,
                                               min_early_stopping_rate=0)
    if name == "hyperband":
        return pruners.HyperbandPruner(min_resource=budgets[0], max_resource=budgets[-1], reduction_factor=2)
    return pruners.NopPruner()


def check_budgets_list(budgets) -> tuple:
    return Increasing().parse("budgets", budgets)


@dataclass
class InLoopResult:
    study_name: str
    # [{candidate, plan, state, budget_reached, accuracy}], best first
    ranking: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> dict | None:
        done = [r for r in self.ranking if r["state"] == "COMPLETE"]
        return done[0] if done else None

    def to_dict(self) -> dict:
        return {"study": self.study_name, "seconds": round(self.seconds, 2), "ranking": self.ranking,
                "best": self.best}


class _Objective:
    def __init__(self, plans, evaluate, budgets):
        self.plans, self.evaluate, self.budgets = plans, evaluate, budgets

    def __call__(self, trial):
        pruned = optuna().TrialPruned
        if "plan" not in trial.user_attrs:          # the queue is empty: nothing made up is run
            trial.suggest_int("candidate", 0, len(self.plans) - 1)
            raise pruned("no queued candidate")
        i = trial.suggest_int("candidate", 0, len(self.plans) - 1)
        acc = None
        for b in self.budgets:
            acc = float(self.evaluate(self.plans[i], b))
            trial.report(acc, b)
            trial.set_user_attr("budget_reached", b)
            if b != self.budgets[-1] and trial.should_prune():
                raise pruned(f"pruned at budget {b}")
        return acc


def _study(storage, study_name, pruner, budgets, create: bool):
    op = quiet()
    kind, spec = resolve_storage_spec(storage, None)
    st = open_storage(kind, spec)
    sampler = op.samplers.RandomSampler(seed=0)
    if create:
        return op.create_study(study_name=study_name, storage=st, direction="maximize", sampler=sampler,
                               pruner=make_pruner(pruner, budgets), load_if_exists=True)
    return op.load_study(study_name=study_name, storage=st, sampler=sampler,
                         pruner=make_pruner(pruner, budgets))


def _run_waiting(study, obj) -> None:
    """Run the study's waiting candidates, one trial at a time, until none is left."""
    waiting = (trial_state().WAITING,)
    while study.get_trials(deepcopy=False, states=waiting):
        study.optimize(obj, n_trials=1)


def join(storage, study_name: str, plans, evaluate, budgets=(1, 2, 4), pruner: str = "sha") -> None:
    """One worker: run waiting candidates of the study until none is left."""
    budgets = check_budgets_list(budgets)
    plans = [Plan.from_dict(p) if isinstance(p, dict) else p for p in plans]
    study = _study(storage, study_name, pruner, budgets, create=False)
    _run_waiting(study, _Objective(plans, evaluate, budgets))


def run_in_loop(plans, evaluate, budgets=(1, 2, 4), pruner: str = "sha", storage=None,
                study_name: str = "in-loop", workers: int = 1) -> InLoopResult:
    """Enqueue every candidate plan, run them (here, or with ``workers`` spawned processes), rank them."""
    t0 = time.perf_counter()
    budgets = check_budgets_list(budgets)
    plans = [p if isinstance(p, Plan) else Plan(dict(p)) for p in plans]
    study = _study(storage, study_name, pruner, budgets, create=True)
    if not study.trials:
        for i in range(len(plans)):
            study.enqueue_trial({"candidate": i}, user_attrs={"plan": plans[i].name})
    if workers > 1:
        if storage is None:
            raise ValueError("workers > 1 need a shared storage (a journal file or a postgresql:// URL)")
        ctx = mp.get_context("spawn")
        sent = [p.to_dict() for p in plans]  # Plans hold mapping proxies: send their saved form
        procs = [ctx.Process(target=join, args=(storage, study_name, sent, evaluate, budgets, pruner))
                 for _ in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    else:
        _run_waiting(study, _Objective(plans, evaluate, budgets))
    return InLoopResult(study_name, _ranking(study, plans), time.perf_counter() - t0)


def _ranking(study, plans) -> list:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if "candidate" not in t.params or "plan" not in t.user_attrs:
            continue
        last = max(t.intermediate_values) if t.intermediate_values else None
        rows.append({"candidate": int(t.params["candidate"]), "plan": plans[int(t.params["candidate"])].name,
                     "state": t.state.name, "budget_reached": last,
                     "accuracy": t.intermediate_values.get(last) if last is not None else None,
                     "worker_trial": t.number})
    return sorted(rows, key=lambda r: (r["state"] != "COMPLETE", -(r["budget_reached"] or 0),
                                       -(r["accuracy"] if r["accuracy"] is not None else -1e9)))


#: the accuracy benchmark's fine-tuning recipe (benchmarks/accuracy/config.py, PROTOCOL.md v1)
BENCHMARK_RECIPE = {"lam": 200.0, "lr": 0.05, "batch_size": 128}


@dataclass(frozen=True)
class SRFineTune:
    """evaluate(plan, epochs): SR fine-tuning from ``weights`` for ``epochs``, decomposed, accuracy (%)
    on the validation split carved from the training data (``nn.selection_bundle``: the test split is
    dropped before training starts, so it is never read to choose).

    The defaults are the accuracy benchmark's recipe (``BENCHMARK_RECIPE``); ``model_kw`` go to
    ``nn.build_module`` (e.g. num_classes, in_channels); ``validation_size`` / ``validation_seed``
    carve the split (default size: 10% of the training data, at most 5000).
    """

    model: str
    data: object
    weights: object = None
    device: str | None = None
    lam: float = BENCHMARK_RECIPE["lam"]
    lr: float = BENCHMARK_RECIPE["lr"]
    batch_size: int = BENCHMARK_RECIPE["batch_size"]
    seed: int = 0
    model_kw: dict = field(default_factory=dict)
    validation_size: int | None = None
    validation_seed: int = 0

    @property
    def recipe(self) -> dict:
        """What the candidates are trained and ranked with (the in-loop output says it)."""
        same = all(getattr(self, k) == v for k, v in BENCHMARK_RECIPE.items())
        return {"lam": self.lam, "lr": self.lr, "batch_size": self.batch_size,
                "source": "accuracy benchmark (PROTOCOL.md v1)" if same else "custom",
                "ranked_on": "validation split carved from the training data"}

    def module(self):
        """A fresh module holding ``weights``; a state dict of another model is a one-line ValueError."""
        from ...nn import build_module, read_weights

        module = build_module(self.model, **self.model_kw)
        if self.weights is not None:
            sd = read_weights(self.weights, "weights file")[1]
            try:
                module.load_state_dict(sd)
            except RuntimeError:
                raise ValueError(f"weights file {str(self.weights)!r} does not hold the parameters of "
                                 f"{getattr(self.model, 'name', self.model)!r} "
                                 "(names or shapes differ)") from None
        return module

    def selection_data(self):
        from ...nn import as_bundle, selection_bundle

        return selection_bundle(as_bundle(self.data), self.validation_size, self.validation_seed)

    def __call__(self, plan, epochs: int) -> float:
        from ...nn import train

        res = train(self.module(), self.selection_data(), plan, lam=self.lam, epochs=int(epochs), lr=self.lr,
                    pretrain_epochs=0, batch_size=self.batch_size, seed=self.seed, quiet=True,
                    device=self.device)
        return float(res.acc_after)


def front_candidates(result, problem, n: int) -> list:
    """The ``n`` plans of ``result``'s front with the least proxy loss: the ones worth training."""
    ranked = sorted(result.front,
                    key=lambda m: (problem.proxy_loss(problem.proxy, list(m.index)), m.plan.name))
    return [m.plan for m in ranked[:n]]
