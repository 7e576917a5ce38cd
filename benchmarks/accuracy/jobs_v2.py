"""What one job of protocol version 2 does (PROTOCOL_v2.md): dense pre-training, the dense reference,
the calibration plans with every proxy (``plans-cal``), the held-out plans drawn after the calibration
runs (``plans-held``), one (plan, seed) run recording validation and test accuracy.

What reads which split (the protocol's table): training reads ``train`` only (``train_only``); every
proxy, the sensitivity table and the calibration batch read ``val`` only (``selection``: the bundle
without its test split); ``test`` is only evaluated, in ``_accuracies``, to be reported.
"""
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
from config import DESIGN_KINDS, DIVERGED_ACC, HW, ScaleV2
from plan_draw import Drawer, check_trainable
from plan_draw_v2 import add_calibration, draw_held


@lru_cache(maxsize=4)
def bundle(scale: ScaleV2, seed: int):
    return data_prep.load_v2(scale, seed if scale.augment else 0)


def train_only(data):
    """Training sees the training split only: no validation, no test."""
    return dataclasses.replace(data, val=None, test=None)


def selection(data):
    """What a choice may read: the training and validation splits, the test split dropped."""
    return dataclasses.replace(data, test=None)


def _accuracies(model, data, scale: ScaleV2, device: str) -> dict:
    """Validation (for choices) and test (reported only) accuracy of ``model``."""
    from structconv.nn import evaluate

    v = evaluate(model, data.val, device=device, workers=scale.workers)
    t = evaluate(model, data.test, device=device, workers=scale.workers)
    return {"acc": t["acc"], "loss": t["loss"], "n_test": t["n"],
            "acc_val": v["acc"], "loss_val": v["loss"], "n_val": v["n"]}


# -- dense pre-training, reference, one plan run -----------------------------------------------
def dense(scale: ScaleV2, seed: int, d: Path, device: str) -> dict:
    import torch

    from structconv.nn import build_module, train

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build_module(J.net(scale))
    data = bundle(scale, seed)
    train(model, train_only(data), None, epochs=scale.pretrain_epochs, lr=scale.pretrain_lr,
          evaluate_decomposition=False, **J._train_kwargs(scale, seed, d / "train", device))
    acc = _accuracies(model, data, scale, device)
    J._save_state(model, d / "dense.pt", scale)
    J._tidy(d / "train")
    return {"job": "dense", "seed": seed, **acc, "epochs": scale.pretrain_epochs,
            "seconds": time.perf_counter() - t0}


def reference(scale: ScaleV2, seed: int, d: Path, device: str) -> dict:
    from structconv.nn import train

    t0 = time.perf_counter()
    model = J._dense_model(scale, seed)
    data = bundle(scale, seed)
    train(model, train_only(data), None, lam=0.0, epochs=scale.epochs, lr=scale.lr,
          evaluate_decomposition=False, **J._train_kwargs(scale, seed, d / "train", device))
    acc = _accuracies(model, data, scale, device)
    J._tidy(d / "train")
    return {"job": "reference", "seed": seed, **acc, "seconds": time.perf_counter() - t0}


def run(scale: ScaleV2, plan_id: str, seed: int, d: Path, device: str, plan_file: Path) -> dict:
    """SR fine-tune of one plan from the dense checkpoint, decomposition, validation and test accuracy."""
    from structconv.core import resolve_plan
    from structconv.nn import NonFiniteError

    t0 = time.perf_counter()
    plan = resolve_plan(str(plan_file), J.net(scale))
    data = bundle(scale, seed)
    out = {"job": "run", "plan": plan_id, "seed": seed}
    try:
        r, before, dec, report = J.fine_tune(scale, plan, plan_id, seed, d, device, data)
    except NonFiniteError as e:
        return {**out, "acc": DIVERGED_ACC, "acc_val": DIVERGED_ACC, "acc_before_val": None, "diverged": True,
                "error": str(e).splitlines()[0], "seconds": time.perf_counter() - t0}
    acc = _accuracies(dec, data, scale, device)
    J._tidy(d / "train")
    return {**out, **acc, "acc_before_val": before["acc"], "diverged": False,
            "max_residual": report.max_residual, "residuals": {l.name: l.residual for l in report.layers},
            "distillation": getattr(r, "distillation", None), "seconds": time.perf_counter() - t0}


# -- the proxies --------------------------------------------------------------------------------
def _space(scale: ScaleV2, network):
    from structconv.search import build_costs, build_space, space_config_from_dict

    space = build_space(network, None if scale.designs else space_config_from_dict({"designs": False}))
    return space, build_costs(space, HW)


def _proxies(space, scale: ScaleV2, data, names) -> object:
    """compute_proxies on the dense seed-0 checkpoint with ``calib_size`` validation images."""
    import copy

    from structconv.nn import build_module

    model = build_module(space.network)
    return compute(space, dict(model=copy.deepcopy(model), weights=str(J.dense_path(scale, 0)), data=data,
                               calib_size=scale.calib_size, seed=0, proxies=names, quiet=True))


def compute(space, kw: dict):
    from structconv.search import compute_proxies

    return compute_proxies(space, **kw)


def table_names() -> list[str]:
    """Every registered table proxy, the opt-in (measured) ones included, in registry order."""
    from structconv.search import list_proxies

    return [n for n, p in list_proxies().items() if not p.per_trial]


def _timed(space, scale: ScaleV2, data, names) -> float:
    t0 = time.perf_counter()
    _proxies(space, scale, data, names)
    return time.perf_counter() - t0


def timings(space, scale: ScaleV2, data) -> dict:
    """Wall seconds of the sensitivity table (measured fresh: empty cache) and of Fisher, each with the
    model loading and calibration batch included, and of that overhead alone (``params`` only)."""
    return {"overhead_s": _timed(space, scale, data, ["params"]),
            "fisher_s": _timed(space, scale, data, ["fisher"]),
            "sensitivity_s": _timed(space, scale, data, ["sensitivity_loss", "sensitivity_acc"]),
            "load_avg_1m": os.getloadavg()[0]}


def init_suite(space, scale: ScaleV2, data):
    """The weight-free proxies at a seeded init on ``init_calib_size`` validation images (version 1's)."""
    import torch

    torch.manual_seed(0)
    return compute(space, dict(data=data, calib_size=scale.init_calib_size, seed=0))


def orientation(suite, init, init_names) -> dict:
    orient = {n: (1 if t.higher_is_better else -1) for n, t in suite.tables.items()}
    orient["projected_loss"] = -1
    orient.update({f"{n} [init]": (1 if init.tables[n].higher_is_better else -1) for n in init_names})
    return orient


def _plan_row(r: dict, tables: dict, suite, costs) -> dict:
    """One plan's record: costs, every proxy, and the joint loss increase (BN kept, as the table's)."""
    idx = r["index"]
    prox = {n: t.score(idx) for n, t in tables.items()}
    prox["projected_loss"] = suite.projected_loss(idx)
    ev = suite.evaluator
    joint = suite.projected_loss(idx, recalibrate=False) - ev.loss_with({}, False)
    tot, dense = costs.totals(np.asarray(idx, dtype=np.int64)), costs.dense
    return {"id": r["id"], "source": r["source"], "split": r["split"], "aliases": r["aliases"], "index": idx,
            "plan_file": f"plans/{r['id']}.yaml", "cycles_ratio": r["cycles_ratio"],
            "energy_ratio": tot["energy_pj"] / dense["energy_pj"], "params": int(tot["params"]),
            "params_ratio": tot["params"] / dense["params"], "mults": int(tot["mults"]),
            "changed_layers": len(r["plan"].choices),
            "design_layers": sum(ch.kind in DESIGN_KINDS for ch in r["plan"].choices.values()),
            "joint_loss_increase": joint, "proxies": prox}


def _rows(recs, tables, suite, costs, d: Path) -> list[dict]:
    pdir = d / "plans"
    pdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in recs:
        r["plan"].save(pdir / f"{r['id']}.yaml")
        rows.append(_plan_row(r, tables, suite, costs))
    return rows


def _all_tables(suite, init, init_names) -> dict:
    tables = dict(suite.tables)
    tables.update({f"{n} [init]": init.tables[n] for n in init_names})
    return tables


def save_tables(path: Path, tables: dict) -> dict:
    """The tables' values to ``path`` (npz, no pickle); their metadata returned for result.json."""
    np.savez(path, **{f"t{i}": t.values for i, t in enumerate(tables.values())})
    return {n: {"key": f"t{i}", "base": float(t.base), "reduce": t.reduce,
                "higher_is_better": t.higher_is_better, "requires_weights": t.requires_weights,
                "note": t.note}
            for i, (n, t) in enumerate(tables.items())}


def load_tables(path: Path, meta: dict) -> dict:
    from structconv.search import ProxyTable

    with np.load(path, allow_pickle=False) as z:
        return {n: ProxyTable(n, z[m["key"]], m["base"], m["reduce"], m["higher_is_better"],
                              m["requires_weights"], m["note"]) for n, m in meta.items()}


def plans_cal(scale: ScaleV2, d: Path, device: str) -> dict:
    """Every proxy on dense-s0 (timed), the calibration plans (version 1's), their proxies."""
    from structconv.search import list_proxies

    t0 = time.perf_counter()
    os.environ["STRUCTCONV_CACHE"] = str(d / "cache")   # empty: the sensitivity table is measured and timed
    network, data = J.net(scale), selection(bundle(scale, 0))
    space, costs = _space(scale, network)
    timing = timings(space, scale, data)
    suite = _proxies(space, scale, data, table_names())
    init = init_suite(space, scale, data)
    init_names = [n for n in init.tables if list_proxies()[n].needs_torch]
    drawer = Drawer(space, costs, scale)
    add_calibration(drawer, network, scale)
    for r in drawer.plans:
        r["split"] = "calibration"
    check_trainable(drawer.plans)
    tables = _all_tables(suite, init, init_names)
    meta = save_tables(d / "tables.npz", tables)
    orient = orientation(suite, init, init_names)
    return {"job": "plans-cal", "plans": _rows(drawer.plans, tables, suite, costs, d),
            "excluded": drawer.excluded, "orientation": orient, "proxy_order": list(orient), "tables": meta,
            "suite_names": list(suite.tables),
            "timings": timing, "proxy_notes": list(suite.notes) + [f"[init] {n}" for n in init.notes],
            "data": bundle(scale, 0).to_dict(), "dense_costs": {k: float(v) for k, v in costs.dense.items()},
            "seconds": time.perf_counter() - t0}


def fit_calibrated(cal: dict, cal_runs: dict, tables: dict):
    """``calibrated`` (the search's ridge fit, its defaults) on the calibration plans' validation accuracy."""
    from structconv.search import GroundTruth, fit_calibration

    rows = cal["plans"]
    gt = GroundTruth([r["id"] for r in rows], np.array(["calibration"] * len(rows)),
                     np.array([cal_runs[r["id"]]["acc_val"] for r in rows], float),
                     {n: np.array([r["proxies"][n] for r in rows], float) for n in cal["suite_names"]})
    model = fit_calibration(gt, names=cal["suite_names"])
    return model, model.table(tables)


def plans_held(scale: ScaleV2, d: Path, cal_dir: Path, cal_runs: dict) -> dict:
    """``calibrated`` fitted, then the held-out plans: every proxy's front picks and fresh random plans."""
    from structconv.search import ProxySuite

    t0 = time.perf_counter()
    cal = json.loads((cal_dir / "result.json").read_text())
    network, data = J.net(scale), selection(bundle(scale, 0))
    space, costs = _space(scale, network)
    tables = load_tables(cal_dir / "tables.npz", cal["tables"])
    ev = _proxies(space, scale, data, ["params"]).evaluator          # the same calibration batch
    suite = ProxySuite(space, {n: tables[n] for n in cal["suite_names"]}, str(J.dense_path(scale, 0)),
                       evaluator=ev)
    model, suite.tables["calibrated"] = fit_calibrated(cal, cal_runs, tables)
    recs, excluded, info = draw_held(space, costs, suite, network, scale)
    tables["calibrated"] = suite.tables["calibrated"]
    cal_scores = {r["id"]: tables["calibrated"].score(r["index"]) for r in cal["plans"]}
    return {"job": "plans-held", "plans": _rows(recs, tables, suite, costs, d), "excluded": excluded,
            "info": info, "calibration_model": model.to_dict(), "calibrated_on_calibration": cal_scores,
            "seconds": time.perf_counter() - t0}
