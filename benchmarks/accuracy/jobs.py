"""What one job does: dense pre-training, drawing the plans, the dense reference, one (plan, seed) run.

Each returns the dict that becomes the job's ``result.json``.
"""
from __future__ import annotations

import os
import shutil
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

import data_prep
import plan_draw
from config import DESIGN_KINDS, DIVERGED_ACC, HW, Scale


@lru_cache(maxsize=4)
def bundle(scale: Scale, seed: int):
    # the augmentation seed only matters with augmentation (full scale); one bundle otherwise
    return data_prep.load(scale, seed if scale.augment else 0)


def train_only(data):
    """The bundle without its test split: training never looks at the test set (not even per-epoch logs)."""
    import dataclasses

    return dataclasses.replace(data, val=None)


@lru_cache(maxsize=1)
def net(scale: Scale):
    return data_prep.network(scale)


def _train_kwargs(scale: Scale, seed: int, out_dir: Path, device: str) -> dict:
    return dict(batch_size=scale.batch_size, weight_decay=scale.weight_decay, seed=seed, out_dir=out_dir,
                resume=True, quiet=True, device=device, workers=scale.workers)


def _design_kwargs(plan) -> dict:
    """Design layers: layer-wise distillation from the dense layer on 256 training images (PROTOCOL 3)."""
    if any(ch.kind in DESIGN_KINDS for ch in plan.choices.values()):
        return {"design_init": "distill", "calibration_size": 256}
    return {}


def _save_state(model, path: Path, scale: Scale) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    shape = [3, scale.input_size, scale.input_size]
    torch.save({"state_dict": state, "meta": {"input_shape": shape, "num_classes": 10}}, tmp)
    os.replace(tmp, path)


def _dense_model(scale: Scale, seed: int):
    import torch

    from structconv.nn import build_module, read_weights

    model = build_module(net(scale))
    _, sd, _, _ = read_weights(dense_path(scale, seed), "dense checkpoint")
    model.load_state_dict(sd, strict=True)
    torch.manual_seed(seed)
    return model


_RUNS: dict = {}


def dense_path(scale: Scale, seed: int) -> Path:
    return _RUNS["root"] / f"dense-s{seed}" / "dense.pt"


def set_root(root: Path) -> None:
    _RUNS["root"] = Path(root)


def _tidy(train_dir: Path) -> None:
    """Drop the per-epoch checkpoints once the result is safe (metrics.jsonl and summary.json stay)."""
    for name in ("checkpoint.pt", "final.pt"):
        (train_dir / name).unlink(missing_ok=True)


# -- jobs ------------------------------------------------------------------------------------
def dense(scale: Scale, seed: int, d: Path, device: str) -> dict:
    import torch

    from structconv.nn import build_module, evaluate, train

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build_module(net(scale))
    data = bundle(scale, seed)
    train(model, train_only(data), None, epochs=scale.pretrain_epochs, lr=scale.pretrain_lr,
          evaluate_decomposition=False, **_train_kwargs(scale, seed, d / "train", device))
    ev = evaluate(model, data.val, device=device, workers=scale.workers)
    _save_state(model, d / "dense.pt", scale)
    _tidy(d / "train")
    return {"job": "dense", "seed": seed, "acc": ev["acc"], "loss": ev["loss"],
            "epochs": scale.pretrain_epochs, "seconds": time.perf_counter() - t0}


def reference(scale: Scale, seed: int, d: Path, device: str) -> dict:
    """The dense network fine-tuned exactly like a plan, without SR: the dense accuracy of the scale."""
    from structconv.nn import evaluate, train

    t0 = time.perf_counter()
    model = _dense_model(scale, seed)
    data = bundle(scale, seed)
    train(model, train_only(data), None, lam=0.0, epochs=scale.epochs, lr=scale.lr,
          evaluate_decomposition=False, **_train_kwargs(scale, seed, d / "train", device))
    ev = evaluate(model, data.val, device=device, workers=scale.workers)
    _tidy(d / "train")
    return {"job": "reference", "seed": seed, "acc": ev["acc"], "loss": ev["loss"],
            "seconds": time.perf_counter() - t0}


def fine_tune(scale, plan, plan_id: str, seed: int, d: Path, device: str, data) -> tuple:
    """SR fine-tuning of ``plan`` from the dense checkpoint, the trained model's validation-split
    evaluation and ``decompose(strict=True)``: (train result, before, decomposed model, report).
    NonFiniteError when the loss diverged."""
    from structconv.nn import decompose, evaluate, train

    model = _dense_model(scale, seed)
    r = train(model, train_only(data), plan, lam=scale.lam, epochs=scale.epochs, lr=scale.lr,
              evaluate_decomposition=False, **_design_kwargs(plan),
              **_train_kwargs(scale, seed, d / "train", device))
    before = evaluate(model, data.val, device=device, workers=scale.workers)
    dec, report = decompose(model, plan, strict=True)
    if report.skipped:
        raise RuntimeError(f"decompose skipped layers {list(report.skipped)} of plan {plan_id}")
    return r, before, dec.to(device), report


def run(scale: Scale, plan_id: str, seed: int, d: Path, device: str, plan_file: Path) -> dict:
    """SR fine-tune of one plan from the dense checkpoint, decomposition, test accuracy."""
    from structconv.core import resolve_plan
    from structconv.nn import NonFiniteError, evaluate

    t0 = time.perf_counter()
    plan = resolve_plan(str(plan_file), net(scale))
    data = bundle(scale, seed)
    out = {"job": "run", "plan": plan_id, "seed": seed}
    try:
        r, before, dec, report = fine_tune(scale, plan, plan_id, seed, d, device, data)
    except NonFiniteError as e:
        return {**out, "acc": DIVERGED_ACC, "acc_before": None, "diverged": True,
                "error": str(e).splitlines()[0], "seconds": time.perf_counter() - t0}
    after = evaluate(dec, data.val, device=device, workers=scale.workers)
    _tidy(d / "train")
    return {**out, "acc": after["acc"], "loss": after["loss"], "acc_before": before["acc"],
            "loss_before": before["loss"], "diverged": False, "max_residual": report.max_residual,
            "residuals": {l.name: l.residual for l in report.layers}, "n_test": after["n"],
            "distillation": getattr(r, "distillation", None),
            "seconds": time.perf_counter() - t0}


def plans(scale: Scale, d: Path, device: str) -> dict:
    """Proxies on the dense seed-0 checkpoint, the plans of the protocol, their costs and proxies."""
    import copy

    import torch

    from structconv.nn import build_module
    from structconv.search import (
        build_costs,
        build_space,
        compute_proxies,
        list_proxies,
        space_config_from_dict,
    )

    t0 = time.perf_counter()
    network, data = net(scale), bundle(scale, 0)
    space = build_space(network, None if scale.designs else space_config_from_dict({"designs": False}))
    costs = build_costs(space, HW)
    model = build_module(network)
    suite = compute_proxies(space, model=copy.deepcopy(model), weights=str(dense_path(scale, 0)), data=data,
                            calib_size=scale.calib_size, seed=0)
    torch.manual_seed(0)
    init = compute_proxies(space, data=data, calib_size=scale.calib_size, seed=0)
    recs, excluded, info = plan_draw.draw(space, costs, suite, scale)
    if scale.smoke_plans:
        recs = recs[:scale.smoke_plans]
    known = list_proxies()
    pdir = d / "plans"
    if pdir.exists():
        shutil.rmtree(pdir)
    pdir.mkdir(parents=True)
    orient = {n: (1 if t.higher_is_better else -1) for n, t in suite.tables.items()}
    orient["projected_loss"] = -1
    init_names = [n for n in init.tables if known[n].needs_torch]
    orient.update({f"{n} [init]": (1 if init.tables[n].higher_is_better else -1) for n in init_names})
    rows = []
    for r in recs:
        idx = r["index"]
        prox = {n: t.score(idx) for n, t in suite.tables.items()}
        prox["projected_loss"] = suite.projected_loss(idx)
        prox.update({f"{n} [init]": init.tables[n].score(idx) for n in init_names})
        tot = costs.totals(np.asarray(idx, dtype=np.int64))
        dense = costs.dense
        r["plan"].save(pdir / f"{r['id']}.yaml")
        rows.append({"id": r["id"], "source": r["source"], "split": r["split"], "aliases": r["aliases"],
                     "index": idx, "plan_file": f"plans/{r['id']}.yaml", "cycles_ratio": r["cycles_ratio"],
                     "energy_ratio": tot["energy_pj"] / dense["energy_pj"], "params": int(tot["params"]),
                     "params_ratio": tot["params"] / dense["params"], "mults": int(tot["mults"]),
                     "changed_layers": len(r["plan"].choices),
                     "design_layers": sum(ch.kind in DESIGN_KINDS for ch in r["plan"].choices.values()),
                     "proxies": prox})
    return {"job": "plans", "plans": rows, "excluded": excluded, "info": info, "orientation": orient,
            "proxy_order": list(orient),
            "proxy_notes": list(suite.notes) + [f"[init] {n}" for n in init.notes],
            "dense_costs": {k: float(v) for k, v in costs.dense.items()}, "seconds": time.perf_counter() - t0}
