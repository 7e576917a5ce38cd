"""Statistics of protocol version 2 (PROTOCOL_v2.md section 6) from the runs' result files.

    .venv/bin/python benchmarks/accuracy/analyze.py --protocol 2 --scale cpu

Reads benchmarks/accuracy/runs/v2-<scale>/ and writes benchmarks/results/accuracy_v2_<scale>.md, .csv,
.json and accuracy_v2_<scale>_plans/. The default proxy is chosen on the calibration plans' validation
accuracy; every held-out statistic uses the held-out plans' test accuracy, seed 0 (one number per plan).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np

import stats
from analyze import _fmt
from config import ROOT

COST_BASELINES = ("params", "mults")
SHARED = ("tau", "tau_ci", "rho", "rho_ci", "discarded")


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _expected(cal, held, seeds) -> list[str]:
    names = [f"{k}-s{s}" for k in ("dense", "ref") for s in seeds] + ["plans-cal", "plans-held"]
    names += [f"run-{p['id']}-s0" for p in (cal or {}).get("plans", [])]
    if held:
        names += [f"run-{p['id']}-s0" for p in held["plans"]]
        names += [f"run-{i}-s1" for i in held["info"]["seed1"]]
    return names


def _row(p: dict, jobs: dict, calibrated: dict) -> dict:
    r0, r1 = jobs.get(f"run-{p['id']}-s0"), jobs.get(f"run-{p['id']}-s1")
    prox = dict(p["proxies"])
    if p["id"] in calibrated:
        prox["calibrated"] = calibrated[p["id"]]
    nan = float("nan")
    return {**p, "proxies": prox, "acc_test": r0["acc"] if r0 else nan,
            "acc_val": r0["acc_val"] if r0 else nan,
            "acc_test_s1": r1["acc"] if r1 else nan, "acc_val_s1": r1["acc_val"] if r1 else nan,
            "acc_before_val": (r0 or {}).get("acc_before_val") or nan,
            "max_residual": (r0 or {}).get("max_residual") or nan,
            "diverged": bool((r0 or {}).get("diverged") or (r1 or {}).get("diverged"))}


def _job_times(jobs: dict) -> dict:
    kinds = {}
    for name, r in jobs.items():
        if r and "started" in r:
            kind = "run" if name.startswith("run-") else name.rsplit("-s", 1)[0]
            kinds.setdefault(kind, []).append(r["finished"] - r["started"])
    return {k: {"n": len(v), "total_s": float(sum(v)), "median_s": float(np.median(v))}
            for k, v in kinds.items()}


def collect(root: Path) -> dict:
    cfg = _load(root / "config.json")
    if cfg is None:
        raise SystemExit(f"accuracy analysis: no benchmark in {root} (config.json missing)")
    cal, held = _load(root / "plans-cal" / "result.json"), _load(root / "plans-held" / "result.json")
    if cal is None:
        raise SystemExit(f"accuracy analysis: the plans-cal job of {root} has not finished")
    jobs = {d.name: _load(d / "result.json") for d in root.iterdir() if d.is_dir()}
    errors = {d.name: _load(d / "error.json") for d in root.iterdir() if (d / "error.json").exists()}
    calibrated = (held or {}).get("calibrated_on_calibration", {})
    plans = cal["plans"] + (held["plans"] if held else [])
    calibrated.update({p["id"]: p["proxies"]["calibrated"] for p in plans if "calibrated" in p["proxies"]})
    rows = [_row(p, jobs, calibrated) for p in plans]
    timed = [r for r in jobs.values() if r and "started" in r]
    wall = (max(r["finished"] for r in timed) - min(r["started"] for r in timed)) if timed else float("nan")
    order = cal["proxy_order"] + (["calibrated"] if held else [])
    return {"config": cfg, "cal": cal, "held": held, "rows": rows, "jobs": jobs, "errors": errors,
            "missing": [n for n in _expected(cal, held, cfg["seeds"]) if not jobs.get(n)],
            "orientation": {**cal["orientation"], "calibrated": 1}, "order": order, "wall_seconds": wall,
            "job_seconds": sum(r["finished"] - r["started"] for r in timed), "job_times": _job_times(jobs),
            "processes": len({(r["host"], r["pid"]) for r in timed})}


def _oriented(rows, names, orient) -> dict:
    return {n: np.array([orient[n] * r["proxies"][n] for r in rows], float) for n in names}


def select(rows: list, names: list, orient: dict) -> tuple[str | None, dict]:
    """The selected proxy: highest Kendall tau-b on the calibration plans' validation accuracy, the cost
    baselines excluded, ties broken by ``names`` order; and every proxy's calibration tau."""
    cal = [r for r in rows if r["split"] == "calibration" and np.isfinite(r["acc_val"])]
    acc = np.array([r["acc_val"] for r in cal])
    names = [n for n in names if all(n in r["proxies"] for r in cal)]
    px = _oriented(cal, names, orient)
    taus = {n: stats.kendall(v, acc) for n, v in px.items()} if len(cal) > 2 else {}
    cands = [n for n in names if n not in COST_BASELINES and np.isfinite(taus.get(n, np.nan))]
    sel = max(cands, key=lambda n: (taus[n], -names.index(n))) if cands else None
    return sel, {"n": len(cal), "tau": taus}


def held_out(rows: list, names: list, orient: dict, B: int) -> dict:
    """Per proxy: tau, rho, bootstrap CIs, paired differences against #params and #mults with Holm."""
    held = [r for r in rows if r["split"] == "held-out" and np.isfinite(r["acc_test"])]
    if len(held) < 3:
        return {"n": len(held), "corr": {}}
    acc = np.array([r["acc_test"] for r in held])
    px = _oriented(held, names, orient)
    out = {"n": len(held), "corr": {}}
    for base in COST_BASELINES:
        c = stats.correlations(px, acc, base, B, seed=0)
        for n, v in c.items():
            keep = out["corr"].setdefault(n, {k: v[k] for k in SHARED})
            keep.update({f"d_tau_{base}": v["d_tau"], f"d_tau_{base}_ci": v["d_tau_ci"],
                         f"p_{base}": v["p_vs_baseline"], f"p_holm_{base}": v["p_holm"]})
    return out


def primary(sel: str | None, held: dict) -> dict:
    c = held["corr"].get(sel) if sel else None
    if c is None:
        return {"selected": sel}
    beats = {b: bool(np.isfinite(c[f"p_holm_{b}"]) and c[f"p_holm_{b}"] < 0.05 and c[f"d_tau_{b}"] > 0)
             for b in COST_BASELINES}
    return {"selected": sel, "tau": c["tau"], "tau_ci": c["tau_ci"], "beats": beats,
            "goal_met": bool(c["tau"] >= 0.85 and all(beats.values()))}


def _pct(v: np.ndarray, q: float) -> float:
    return float(np.percentile(v, q)) if v.size else float("nan")


def interactions(rows: list) -> dict:
    """Summed per-layer sensitivity against the joint effect of the whole plan (held-out plans)."""
    held = [r for r in rows if r["split"] == "held-out" and np.isfinite(r["acc_test"])]
    if len(held) < 3:
        return {"n": len(held)}
    s = np.array([r["proxies"]["sensitivity_loss"] for r in held])
    pl = np.array([r["proxies"]["projected_loss"] for r in held])
    inc = np.array([r["joint_loss_increase"] for r in held])
    acc = np.array([r["acc_test"] for r in held])
    rel = np.abs(s - inc) / np.maximum(np.abs(inc), 1e-12)
    rel_pl = np.abs(s - pl) / np.abs(pl)
    return {"n": len(held), "tau_sum_vs_projected_loss": stats.kendall(s, pl),
            "tau_sum_vs_joint_increase": stats.kendall(s, inc),
            "rel_err_increase_median": _pct(rel, 50), "rel_err_increase_p90": _pct(rel, 90),
            "rel_err_projected_loss_median": _pct(rel_pl, 50), "rel_err_projected_loss_p90": _pct(rel_pl, 90),
            "sum_over_joint_median": float(np.median(s / np.where(inc != 0, inc, np.nan))),
            "tau_acc_sum": stats.kendall(-s, acc), "tau_acc_projected_loss": stats.kendall(-pl, acc),
            "tau_acc_joint_increase": stats.kendall(-inc, acc)}


def noise(rows: list) -> dict:
    two = [r for r in rows if np.isfinite(r["acc_test"]) and np.isfinite(r["acc_test_s1"])]
    if len(two) < 3:
        return {"n": len(two)}
    a0, a1 = np.array([r["acc_test"] for r in two]), np.array([r["acc_test_s1"] for r in two])
    return {"n": len(two), "tau": stats.kendall(a0, a1), "rho": stats.spearman(a0, a1),
            "abs_diff_median": float(np.median(np.abs(a0 - a1))),
            "abs_diff_max": float(np.max(np.abs(a0 - a1)))}


def spread(data: dict) -> dict:
    held = np.array([r["acc_test"] for r in data["rows"] if r["split"] == "held-out"], float)
    held = held[np.isfinite(held)]
    jobs, seeds = data["jobs"], data["config"]["seeds"]

    def accs(kind, key):
        return [jobs[f"{kind}-s{s}"][key] for s in seeds if jobs.get(f"{kind}-s{s}")]

    by = {}
    for r in data["rows"]:
        if np.isfinite(r["acc_test"]):
            by.setdefault(r["source"], []).append(r["acc_test"])
    return {"held_min": _pct(held, 0), "held_max": _pct(held, 100), "held_median": _pct(held, 50),
            "held_q25": _pct(held, 25), "held_q75": _pct(held, 75),
            "held_sd": float(held.std(ddof=1)) if held.size > 1 else float("nan"),
            "ref_test": accs("ref", "acc"), "ref_val": accs("ref", "acc_val"),
            "dense_test": accs("dense", "acc"),
            "dense_val": accs("dense", "acc_val"),
            "by_source": {k: {"n": len(v), "mean": float(np.mean(v)), "min": float(np.min(v)),
                              "max": float(np.max(v))} for k, v in by.items()},
            "design_plans_held": sum(r["design_layers"] > 0 for r in data["rows"]
                                     if r["split"] == "held-out"),
            "diverged": [r["id"] for r in data["rows"] if r["diverged"]]}


def analyse(data: dict) -> dict:
    rows, orient, order = data["rows"], data["orientation"], data["order"]
    sel, cal = select(rows, order, orient)
    held = held_out(rows, order, orient, int(data["config"]["boot"]))
    return {"calibration": cal, "selected": sel, "held-out": held, "primary": primary(sel, held),
            "interactions": interactions(rows), "noise": noise(rows), "spread": spread(data),
            "timings": data["cal"]["timings"], "n_plans": len(rows)}


COLUMNS = ("cycles_ratio", "energy_ratio", "params", "params_ratio", "mults", "design_layers",
           "changed_layers")
ACCS = ("joint_loss_increase", "acc_val", "acc_test", "acc_test_s1", "acc_before_val", "max_residual")


def csv_text(data: dict, plan_dir: Path) -> str:
    order = data["order"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["plan_id", "plan_file", "source", "split", *COLUMNS, *(f"proxy:{n}" for n in order),
                "joint_loss_increase", "acc_val_seed0", "acc_test_seed0", "acc_test_seed1", "acc_before_val",
                "max_residual", "diverged", "aliases"])
    rel = (plan_dir.resolve().relative_to(ROOT) if plan_dir.resolve().is_relative_to(ROOT)
           else plan_dir.resolve())
    for r in data["rows"]:
        w.writerow([r["id"], f"{rel}/{r['id']}.yaml", r["source"], r["split"], *(_fmt(r[k]) for k in COLUMNS),
                    *(_fmt(float(r["proxies"].get(n, np.nan))) for n in order),
                    *(_fmt(float(r[k])) for k in ACCS),
                    str(r["diverged"]).lower(), _fmt(r["aliases"])])
    return buf.getvalue()


def copy_plans(root: Path, plan_dir: Path) -> None:
    if plan_dir.exists():
        shutil.rmtree(plan_dir)
    plan_dir.mkdir(parents=True)
    for job in ("plans-cal", "plans-held"):
        for f in sorted((root / job / "plans").glob("*.yaml")):
            shutil.copy2(f, plan_dir / f.name)


def write(root: Path, results: Path, scale: str) -> dict:
    """Every output of version 2; returns the analysis."""
    from report_md_v2 import markdown
    from structconv.core import atomic_write_text, write_data_file

    data = collect(root)
    stem = f"accuracy_v2_{scale}"
    results.mkdir(parents=True, exist_ok=True)
    plan_dir = results / f"{stem}_plans"
    copy_plans(root, plan_dir)
    an = analyse(data)
    atomic_write_text(results / f"{stem}.csv", csv_text(data, plan_dir))
    atomic_write_text(results / f"{stem}.md", markdown(data, an, stem))
    write_data_file(results / f"{stem}.json", {
        "config": data["config"], "analysis": an, "rows": data["rows"], "missing": data["missing"],
        "wall_seconds": data["wall_seconds"], "job_seconds": data["job_seconds"],
        "job_times": data["job_times"],
        "excluded": data["cal"]["excluded"] + ((data["held"] or {}).get("excluded") or []),
        "held_info": (data["held"] or {}).get("info"), "calibration_model": (data["held"] or {}).get(
            "calibration_model"), "data": data["cal"].get("data"), "errors": data["errors"]})
    return {"an": an, "missing": data["missing"], "stem": results / stem}
