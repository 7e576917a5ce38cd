"""Statistics of the accuracy benchmark from its result files (PROTOCOL.md section 7).

    .venv/bin/python benchmarks/accuracy/analyze.py --scale cpu

Reads benchmarks/accuracy/runs/<scale>/ and writes benchmarks/results/accuracy_<scale>.md,
.csv (one row per plan, the search's calibration input), .json (everything, for the report)
and accuracy_<scale>_plans/<plan>.yaml. Refuses an incomplete benchmark unless
``--allow-incomplete`` (then the outputs say INCOMPLETE at the top).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stats
from config import RESULTS, ROOT, RUNS
from report_md import markdown

BASELINE = "params"
COST_BASELINES = ("params", "mults")


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def collect(root: Path) -> dict:
    """Everything the result files hold, per plan and per seed."""
    cfg = _load(root / "config.json")
    if cfg is None:
        raise SystemExit(f"accuracy analysis: no benchmark in {root} (config.json missing)")
    plans = _load(root / "plans" / "result.json")
    if plans is None:
        raise SystemExit(f"accuracy analysis: the plans job of {root} has not finished")
    seeds = cfg["seeds"]
    jobs = {d.name: _load(d / "result.json") for d in root.iterdir() if d.is_dir()}
    errors = {d.name: _load(d / "error.json") for d in root.iterdir() if (d / "error.json").exists()}
    missing = [f"run-{p['id']}-s{s}" for p in plans["plans"] for s in seeds
               if not jobs.get(f"run-{p['id']}-s{s}")]
    missing += [f"{k}-s{s}" for k in ("dense", "ref") for s in seeds if not jobs.get(f"{k}-s{s}")]
    rows = []
    for p in plans["plans"]:
        runs = [jobs.get(f"run-{p['id']}-s{s}") for s in seeds]
        accs = [r["acc"] if r else float("nan") for r in runs]
        before = [r["acc_before"] for r in runs if r and r.get("acc_before") is not None]
        res = [r["max_residual"] for r in runs if r and r.get("max_residual") is not None]
        rows.append({**p, "acc": accs,
                     "acc_mean": float(np.mean(accs)) if all(np.isfinite(accs)) else float("nan"),
                     "acc_std": (float(np.std(accs, ddof=1)) if len(accs) > 1 and all(np.isfinite(accs))
                                 else float("nan")),
                     "acc_before_mean": float(np.mean(before)) if len(before) == len(seeds) else float("nan"),
                     "max_residual": max(res) if res else float("nan"),
                     "diverged": any(r and r.get("diverged") for r in runs)})
    timed = [r for r in jobs.values() if r and "started" in r]
    wall = (max(r["finished"] for r in timed) - min(r["started"] for r in timed)) if timed else float("nan")
    return {"config": cfg, "plans": plans, "rows": rows, "missing": missing, "errors": errors, "jobs": jobs,
            "wall_seconds": wall, "job_seconds": sum(r["finished"] - r["started"] for r in timed),
            "processes": len({(r["host"], r["pid"]) for r in timed})}


def _oriented(rows, name, sign):
    return np.array([sign * r["proxies"][name] for r in rows], float)


def analyse(data: dict) -> dict:
    cfg, rows = data["config"], [r for r in data["rows"] if np.isfinite(r["acc_mean"])]
    orient, order = data["plans"]["orientation"], data["plans"]["proxy_order"]
    B = int(cfg["boot"])
    out = {"n_plans": len(rows)}
    for split in ("held-out", "calibration", "all"):
        sub = rows if split == "all" else [r for r in rows if r["split"] == split]
        acc = np.array([r["acc_mean"] for r in sub])
        px = {n: _oriented(sub, n, orient[n]) for n in order}
        out[split] = {"n": len(sub),
                      "corr": stats.correlations(px, acc, BASELINE, B, seed=0) if len(sub) > 2 else {}}
    calib = out["calibration"]["corr"]
    cands = [n for n in order if n not in COST_BASELINES and n in calib and np.isfinite(calib[n]["tau"])]
    sel = max(cands, key=lambda n: (calib[n]["tau"], -order.index(n))) if cands else None
    out["selected"] = sel
    seeds = cfg["seeds"]
    held = [r for r in rows if r["split"] == "held-out"]
    if len(seeds) >= 2 and len(held) > 2:
        a0, a1 = np.array([r["acc"][0] for r in held]), np.array([r["acc"][1] for r in held])
        out["noise_ceiling_tau"] = stats.kendall(a0, a1)
    acc_all = np.array([r["acc_mean"] for r in rows])
    jobs = data["jobs"]
    ref = [jobs[f"ref-s{s}"]["acc"] for s in seeds if jobs.get(f"ref-s{s}")]
    dense = [jobs[f"dense-s{s}"]["acc"] for s in seeds if jobs.get(f"dense-s{s}")]
    seed_diff = [abs(r["acc"][0] - r["acc"][1]) for r in rows] if len(seeds) >= 2 else []
    out["spread"] = {"min": float(acc_all.min()), "max": float(acc_all.max()),
                     "median": float(np.median(acc_all)),
                     "q25": float(np.percentile(acc_all, 25)), "q75": float(np.percentile(acc_all, 75)),
                     "sd": float(acc_all.std(ddof=1)), "ref": ref,
                     "ref_mean": float(np.mean(ref)) if ref else None,
                     "dense_pretrain": dense,
                     "seed_noise_median": float(np.median(seed_diff)) if seed_diff else None,
                     "within_1pt_of_dense": (int(np.sum(np.abs(acc_all - np.mean(ref)) <= 1.0)) if ref
                                             else None),
                     "diverged_plans": [r["id"] for r in rows if r["diverged"]]}
    return out


def _fmt(v):
    if isinstance(v, float):
        return "" if not np.isfinite(v) else f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ";".join(map(str, v))
    return str(v)


def write_csv(path: Path, data: dict, plan_dir: Path) -> None:
    seeds, order = data["config"]["seeds"], data["plans"]["proxy_order"]
    head = ["plan_id", "plan_file", "source", "split", "cycles_ratio", "energy_ratio", "params",
            "params_ratio", "mults", "design_layers", "changed_layers"] + [f"proxy:{n}" for n in order] + \
           [f"acc_seed{s}" for s in seeds] + ["acc_mean", "acc_std", "acc_before_mean", "max_residual",
                                              "diverged", "aliases"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    rel = (plan_dir.resolve().relative_to(ROOT) if plan_dir.resolve().is_relative_to(ROOT)
           else plan_dir.resolve())
    for r in data["rows"]:
        w.writerow([r["id"], f"{rel}/{r['id']}.yaml", r["source"], r["split"]] +
                   [_fmt(r[k]) for k in ("cycles_ratio", "energy_ratio", "params", "params_ratio", "mults",
                                         "design_layers", "changed_layers")] +
                   [_fmt(float(r["proxies"][n])) for n in order] + [_fmt(float(a)) for a in r["acc"]] +
                   [_fmt(r["acc_mean"]), _fmt(r["acc_std"]), _fmt(r["acc_before_mean"]),
                    _fmt(r["max_residual"]), str(bool(r["diverged"])).lower(), _fmt(r["aliases"])])
    _atomic(path, buf.getvalue())


def _atomic(path: Path, text: str) -> None:
    from structconv.core import atomic_write_text

    atomic_write_text(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", type=int, choices=(1, 2), default=1)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--results-dir", default=None)
    ap.add_argument("--allow-incomplete", action="store_true")
    args = ap.parse_args(argv)
    default = args.scale if args.protocol == 1 else f"v2-{args.scale}"
    root = Path(args.runs_dir) if args.runs_dir else RUNS / default
    results = Path(args.results_dir) if args.results_dir else RESULTS
    if args.protocol == 2:
        return main_v2(root, results, args)
    data = collect(root)
    if data["config"].get("overrides") and results.resolve() == RESULTS.resolve():
        raise SystemExit("accuracy analysis: this run used --set overrides; "
                         "it cannot write to benchmarks/results")
    if data["missing"] and not args.allow_incomplete:
        print(f"accuracy analysis: {len(data['missing'])} job(s) have no result ({data['missing'][:6]}...); "
              f"finish the benchmark or pass --allow-incomplete", file=sys.stderr)
        return 2
    stem = f"accuracy_{args.scale}"
    results.mkdir(parents=True, exist_ok=True)
    plan_dir = results / f"{stem}_plans"
    if plan_dir.exists():
        shutil.rmtree(plan_dir)
    shutil.copytree(root / "plans" / "plans", plan_dir)
    an = analyse(data)
    write_csv(results / f"{stem}.csv", data, plan_dir)
    _atomic(results / f"{stem}.md", markdown(data, an, stem))
    from structconv.core import write_data_file

    write_data_file(results / f"{stem}.json", {"config": data["config"], "analysis": an,
                                               "rows": data["rows"], "missing": data["missing"],
                                               "wall_seconds": data["wall_seconds"],
                                               "job_seconds": data["job_seconds"],
                                               "excluded": data["plans"]["excluded"],
                                               "info": data["plans"]["info"]})
    print(f"accuracy analysis: wrote {results / stem}.md/.csv/.json ({an['n_plans']} plans)")
    return 0


def main_v2(root: Path, results: Path, args) -> int:
    import analyze_v2

    cfg = _load(root / "config.json") or {}
    if cfg.get("overrides") and results.resolve() == RESULTS.resolve():
        raise SystemExit("accuracy analysis: this run used --set overrides; "
                         "it cannot write to benchmarks/results")
    missing = analyze_v2.collect(root)["missing"]
    if missing and not args.allow_incomplete:
        print(f"accuracy analysis: {len(missing)} job(s) have no result ({missing[:6]}...); "
              f"finish the benchmark or pass --allow-incomplete", file=sys.stderr)
        return 2
    out = analyze_v2.write(root, results, args.scale)
    print(f"accuracy analysis: wrote {out['stem']}.md/.csv/.json ({out['an']['n_plans']} plans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
