"""Search speed: ResNet-50, full per-layer space, 2,000 NSGA-II trials.

    .venv/bin/python benchmarks/bench_search.py [--trials 2000] [--storage journal|memory|both]

Acceptance: < 60 s wall for the trials, objective evaluation < 10% of that wall.
"Objective evaluation" is our code inside the objective (cost-table sums, proxy
table sums, constraint values: ``Problem.evaluate``), timed per trial; the rest
of the wall is Optuna (sampling, the per-parameter ``suggest_int`` storage
writes, NSGA-II selection) and the storage. Setup (space, simulator tables,
proxy tables) is reported separately. The proxy is the weight-free ``kept_dof``
(no torch), the budget cycles_total <= 0.6 x dense on edge-int8, objectives
(proxy, cycles_total, energy_pj).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--hw", default="edge-int8")
    ap.add_argument("--storage", default="both", choices=("journal", "memory", "both"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--budget", type=float, default=0.6, help="co-design: max cycles_total ratio (vs dense on --hw)")
    ap.add_argument("--codesign", action="store_true",
                    help="instead: co-design MAC array / dataflow / sum-pool lanes under an area budget")
    args = ap.parse_args(argv)
    if args.codesign:
        return codesign(args)

    t0 = time.perf_counter()
    from structconv.core.zoo import get_network
    from structconv.search import Problem, build_costs, build_space, compute_proxies, run_search

    t_import = time.perf_counter() - t0
    t = time.perf_counter()
    net = get_network(args.model)
    space = build_space(net)
    t_space = time.perf_counter() - t
    t = time.perf_counter()
    costs = build_costs(space, args.hw)
    t_costs = time.perf_counter() - t
    t = time.perf_counter()
    proxies = compute_proxies(space, proxies=["params", "mults", "kept_dof", "field_ratio"])
    t_proxies = time.perf_counter() - t
    out = {"model": args.model, "hw": args.hw, "trials": args.trials, "searched_layers": len(space.searched),
           "choices": sum(space.sizes), "log10_plans": round(space.log10_size, 1), "cpus": os.cpu_count(),
           "load_avg_start": os.getloadavg()[0],
           "setup_s": {"import": round(t_import, 2), "space": round(t_space, 2), "sim_tables": round(t_costs, 2),
                       "proxy_tables": round(t_proxies, 2)}, "runs": {}}
    kinds = ("journal", "memory") if args.storage == "both" else (args.storage,)
    for kind in kinds:
        problem = Problem(space, costs, proxies, "kept_dof", ("proxy", "cycles_total", "energy_pj"), {"cycles_total": 0.6})
        with tempfile.TemporaryDirectory() as tmp:
            res = run_search(problem, n_trials=args.trials, sampler="nsga2", seed=0,
                             out_dir=tmp if kind == "journal" else None)
            size = (Path(tmp) / "study.journal").stat().st_size if kind == "journal" else 0
        out["runs"][kind] = {"wall_s": round(res.wall_seconds, 2), "objective_eval_s": round(res.eval_seconds, 3),
                             "objective_fraction": round(res.eval_seconds / res.wall_seconds, 4),
                             "ms_per_trial": round(1e3 * res.wall_seconds / res.n_complete, 2),
                             "us_per_eval": round(1e6 * res.eval_seconds / res.n_complete, 1),
                             "complete": res.n_complete, "feasible": res.n_feasible, "front": len(res.front),
                             "journal_mb": round(size / 2**20, 1),
                             "best_kept_dof": res.best.breakdown["proxies"]["kept_dof"] if res.best else None,
                             "best_origin": res.best.origin if res.best else None,
                             "pass": res.wall_seconds < 60 and res.eval_seconds / res.wall_seconds < 0.10}
    out["load_avg_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.model}: {out['searched_layers']} searched layers, {out['choices']} choices "
              f"(10^{out['log10_plans']} plans); setup {out['setup_s']}")
        for kind, r in out["runs"].items():
            print(f"  {kind:8s} {args.trials} NSGA-II trials: {r['wall_s']:.1f} s wall ({r['ms_per_trial']:.1f} ms/trial), "
                  f"objective {r['objective_eval_s']:.2f} s = {100 * r['objective_fraction']:.1f}% "
                  f"({r['us_per_eval']:.0f} us/trial); {r['feasible']} feasible, front {r['front']}"
                  f"{', journal %.1f MB' % r['journal_mb'] if kind == 'journal' else ''} -> "
                  f"{'PASS' if r['pass'] else 'FAIL'} (< 60 s, < 10%)")
        print(f"  load average {out['load_avg_start']:.1f} -> {out['load_avg_end']:.1f} on {out['cpus']} CPUs")
    return 0


HW_SPACE = {"area_budget_mm2": 2.5,
            "mac_array": {"rows": [8, 16, 32], "cols": [8, 16, 32], "dataflow": ["os", "ws", "is"]},
            "sum_pool": {"lanes_per_mac": [0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0],
                         "scheme": ["tree", "separable", "sliding"]}}


def codesign(args) -> int:
    """Joint plan + accelerator search; prints the lanes-per-MAC and dataflow answer."""
    from structconv.core.zoo import get_network
    from structconv.search import (Problem, build_costs, build_space, compute_proxies, hw_space_from_dict,
                                   run_search)

    hs = hw_space_from_dict(HW_SPACE)
    net = get_network(args.model)
    space = build_space(net)
    costs = build_costs(space, args.hw)
    proxies = compute_proxies(space, proxies=["params", "mults", "kept_dof"])
    problem = Problem(space, costs, proxies, "kept_dof", ("proxy", "cycles_total", "area"),
                      {"cycles_total": args.budget}, hs, hs.area_budget_mm2)
    t = time.perf_counter()
    res = run_search(problem, n_trials=args.trials, seed=0)
    cd = res.codesign
    out = {"model": args.model, "hw_space": HW_SPACE, "trials": res.n_complete, "feasible": res.n_feasible,
           "front": len(res.front), "wall_s": round(time.perf_counter() - t, 1), "codesign": cd}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"{args.model}: {res.n_complete} trials ({res.n_feasible} within {HW_SPACE['area_budget_mm2']} mm^2), "
          f"front {len(res.front)}, {out['wall_s']} s")
    print("answer:", cd.get("answer", cd.get("note")))
    if "lanes_sweep" in cd:
        print(f"  at the reference plan {cd['reference']} ({cd['reference_hw']}):")
        print("  lanes/MAC  lanes  cycles_total area_mm2  median slowdown over the front")
        for r, s in zip(cd["lanes_sweep"], cd["median_slowdown"]):
            print(f"  {r['lanes_per_mac']:<9g}  {r['adder_lanes']:<5d}  {r['cycles_total']:<11,d}  {r['area_mm2']:.3f}     "
                  f"{s:.3f}")
        print("  dataflow  cycles_total energy_uJ")
        for r in cd["dataflow_sweep"]:
            print(f"  {r['dataflow']:<8s}  {r['cycles_total']:<11,d}  {r['energy_pj'] / 1e6:.1f}")
        print("  fastest dataflow counts:", cd["dataflow_fastest_counts"], " least energy:",
              cd["dataflow_least_energy_counts"])
        print("  front dataflows:", cd["front_dataflows"], " lanes/MAC on the front:", cd["front_lanes_per_mac"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
