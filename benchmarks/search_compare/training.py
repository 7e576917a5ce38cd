"""One SR fine-tune run (the accuracy benchmark's recipe, from its dense seed-0 checkpoint) and the
selection split that accuracy-in-the-loop is scored on (never the test set)."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

import data_prep
import jobs as J
from config import DIVERGED_ACC


def write_json(path: Path, obj) -> None:
    from structconv.core import write_data_file

    path.parent.mkdir(parents=True, exist_ok=True)
    write_data_file(path, obj)


def read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


@lru_cache(maxsize=2)
def selection_split(scale, per_class: int, seed: int):
    """``per_class`` training images per class from outside the benchmark's training subset (seeded)."""
    from structconv.nn import ArrayDataset

    raw = data_prep._raw_bundle()
    x, y = data_prep._arrays(raw.train)
    yn = y.numpy()
    used = data_prep.subset_indices(yn, scale.train_per_class, 0)
    free = np.setdiff1d(np.arange(len(yn)), used)
    perm = free[np.random.default_rng(seed).permutation(len(free))]
    pick = np.sort(np.concatenate([perm[yn[perm] == c][:per_class] for c in np.unique(yn)]))
    if len(np.intersect1d(pick, used)):
        raise RuntimeError("selection split overlaps the training subset")
    xtr = J.bundle(scale, 0).train.images                # the training subset, prepared: its mean/std
    xs = data_prep._prepare(x[pick], scale.pool)
    return ArrayDataset(xs, y[pick], float(xtr.mean()), float(xtr.std())), pick


def _model(scale, seed: int):
    import torch

    model = J._dense_model(scale, 0)                       # dense-s0 for every fine-tune seed
    torch.manual_seed(seed)
    return model


def fine_tune(scale, plan, seed: int, epochs: int, d: Path, device: str, eval_set=None) -> dict:
    """SR fine-tune for ``epochs``, decompose(strict), top-1 on ``eval_set`` (None: the test set)."""
    from structconv.nn import NonFiniteError, decompose, evaluate, train

    t0 = time.perf_counter()
    model = _model(scale, seed)
    data = J.bundle(scale, 0)
    target = data.val if eval_set is None else eval_set
    out = {"seed": seed, "epochs": epochs, "eval": "test" if eval_set is None else "selection"}
    try:
        train(model, J.train_only(data), plan, lam=scale.lam, epochs=epochs, lr=scale.lr,
              evaluate_decomposition=False, **J._design_kwargs(plan),
              **J._train_kwargs(scale, seed, d / "train", device))
    except NonFiniteError as e:
        return {**out, "acc": DIVERGED_ACC, "acc_before": None, "diverged": True,
                "error": str(e).splitlines()[0], "seconds": time.perf_counter() - t0}
    before = evaluate(model, target, device=device, workers=scale.workers)
    dec, report = decompose(model, plan, strict=True)
    if report.skipped:
        raise RuntimeError(f"decompose skipped layers {list(report.skipped)}")
    dec.to(device)
    after = evaluate(dec, target, device=device, workers=scale.workers)
    J._tidy(d / "train")
    return {**out, "acc": after["acc"], "acc_before": before["acc"], "diverged": False,
            "max_residual": report.max_residual, "n_eval": after["n"], "seconds": time.perf_counter() - t0}


def cached(d: Path, fn) -> dict:
    """The job's result.json, computing it once (an interrupted job restarts from scratch)."""
    res = read_json(d / "result.json")
    if res is None:
        res = fn()
        res.update({"finished": time.time(), "pid": os.getpid()})
        write_json(d / "result.json", res)
    return res


class SelectionEval:
    """evaluate(plan, epochs) for run_in_loop: seed 0, scored on the selection split; cached per
    (plan, epochs)."""

    def __init__(self, scale, settings, root: Path, device: str, keys: dict, log):
        self.scale, self.settings, self.root, self.device, self.keys, self.log = (
            scale, settings, root, device, keys, log)
        self.epochs_spent, self.compute_seconds = 0, 0.0

    def __call__(self, plan, epochs: int) -> float:
        sel, _ = selection_split(self.scale, self.settings.sel_per_class, self.settings.sel_seed)
        d = self.root / "inloop" / f"{self.keys[plan.name]}-e{epochs}"
        fresh = not (d / "result.json").exists()
        res = cached(d, lambda: fine_tune(self.scale, plan, 0, int(epochs), d, self.device, eval_set=sel))
        self.epochs_spent += int(epochs)
        self.compute_seconds += float(res["seconds"])      # also when cached: the job's own time
        self.log(f"in-loop {plan.name} ({self.keys[plan.name]}) {epochs} epoch(s): selection acc "
                 f"{res['acc']:.2f}%{'' if fresh else ' (cached)'}")
        return res["acc"]


def replace_scale(scale, **kw):
    return dataclasses.replace(scale, **kw)
