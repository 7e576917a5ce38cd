"""`structconv search`: the per-layer structure search on the simulator (Optuna).

    structconv search MODEL [--hw PRESET|FILE] [--max-latency-ratio R] [--max-energy-ratio R]
        [--max-params-ratio R] [--objectives proxy,cycles,energy] [--proxy NAME] [--trials N]
        [--timeout S] [--storage URL] [--study NAME] [--workers K] [--seed S]
        [--sampler nsga2|tpe|random] [--weights FILE] [--data digits] [--space FILE]
        [--hw-space FILE] [--out DIR] [--baselines] [--json]

Prints the feasible Pareto front and writes DIR/front.yaml, DIR/best.yaml (the best
plan under the budgets) and DIR/plans/front-NNN.yaml, one per front member; the
study itself lives in DIR/study.journal (or --storage), so running the same
command again resumes it.
"""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("search", help="search per-layer structures under a latency/energy budget (Optuna)")
    p.add_argument("model", help="zoo network name (see `structconv zoo`)")
    p.add_argument("--hw", default="edge-int8", help="accelerator preset or YAML file (default edge-int8)")
    p.add_argument("--max-latency-ratio", type=float, metavar="R", help="budget: cycles <= R x dense")
    p.add_argument("--max-energy-ratio", type=float, metavar="R", help="budget: energy <= R x dense")
    p.add_argument("--max-params-ratio", type=float, metavar="R", help="budget: params <= R x dense")
    p.add_argument("--objectives", default="proxy,cycles,energy",
                   help="comma list of proxy, cycles, energy, params, mults, area or a proxy name "
                        "(default proxy,cycles,energy; 'proxy' alone = single objective under the budgets)")
    p.add_argument("--proxy", help="accuracy proxy to optimise (default: projection_loss with --weights, "
                                   "else kept_dof)")
    p.add_argument("--trials", type=int, default=500, help="complete trials the study should hold (default 500)")
    p.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--storage", help="postgresql://user@host:port/db, sqlite:///file.db or a journal file "
                                     "(default DIR/study.journal)")
    p.add_argument("--study", help="study name (default: model + a hash of the settings)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--sampler", default="nsga2", help="nsga2 (default) | tpe | random")
    p.add_argument("--population", type=int, help="NSGA-II population size (default 50)")
    p.add_argument("--no-warm-start", action="store_true",
                   help="do not enqueue the Lagrangian-relaxation seed plans (presets are still enqueued)")
    p.add_argument("--weights", metavar="FILE", help="trained checkpoint (loaded with weights_only=True): "
                                                     "enables the weight-based proxies")
    p.add_argument("--data", help="calibration dataset for the proxies (digits | cifar10 | folder)")
    p.add_argument("--data-dir", help="dataset directory for --data cifar10/folder")
    p.add_argument("--proxies", help="comma list of proxies to compute (default: all that apply)")
    p.add_argument("--space", metavar="FILE", help="YAML restricting the search space")
    p.add_argument("--hw-space", metavar="FILE", help="YAML of accelerator knobs to co-design (+ area budget)")
    p.add_argument("--out", metavar="DIR", help="output directory (default out/search-MODEL)")
    p.add_argument("--baselines", action="store_true", help="also report uniform, greedy and random baselines")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _front_table(res, limit: int = 20) -> str:
    from ._table import human, render

    proxy = res.proxy
    codesign = res.codesign is not None
    headers = ["#", "origin", proxy, "latency", "energy", "params", "cycles", "energy_uJ"]
    if codesign:
        headers += ["area_mm2", "MACs", "lanes", "flow"]
    if any("projected_loss" in m.breakdown for m in res.front):
        headers.append("proj_loss")
    headers.append("layers")
    rows = []
    for i, m in enumerate(res.front[:limit]):
        d = m.to_dict()
        r = [str(i), m.origin.split(":")[0] if m.origin != "search" else "search",
             f"{d['proxies'][proxy]:.4g}", f"{d['ratios']['latency']:.3f}", f"{d['ratios']['energy']:.3f}",
             f"{d['ratios']['params']:.3f}", human(d["cycles"]), f"{d['energy_pj'] / 1e6:.4g}"]
        if codesign:
            hw = d.get("hw") or {}
            rows_cols = (hw.get("mac_array.rows"), hw.get("mac_array.cols"))
            r += [f"{d['area_mm2']:.3f}", "x".join(str(v) for v in rows_cols if v) or "base",
                  str(hw.get("sum_pool.adder_lanes", hw.get("sum_pool.lanes_per_mac", "base"))),
                  str(hw.get("mac_array.dataflow", "base"))]
        if "proj_loss" in headers:
            r.append(f"{d['projected_loss']:.4g}" if "projected_loss" in d else "")
        r.append(str(d["changed_layers"]))
        rows.append(r)
    out = render(headers, rows, "ll" + "r" * (len(headers) - 2))
    if len(res.front) > limit:
        out += f"\n... {len(res.front) - limit} more front members in front.yaml"
    return out


def run(args) -> int:
    import os

    from structconv.search.api import search

    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials = {args.trials} must be >= 1")
    objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
    out = args.out or os.path.join("out", f"search-{args.model}")
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    log = (lambda m: None) if args.json else (lambda m: print(m, flush=True))
    proxies = [p.strip() for p in args.proxies.split(",")] if args.proxies else None
    if args.sampler not in ("nsga2", "tpe", "random"):
        raise ValueError(f"sampler = {args.sampler!r} is not one of ['nsga2', 'tpe', 'random']")
    res, problem = search(
        args.model, args.hw, max_latency_ratio=args.max_latency_ratio, max_energy_ratio=args.max_energy_ratio,
        max_params_ratio=args.max_params_ratio, objectives=objectives, proxy=args.proxy, trials=args.trials,
        timeout=args.timeout, storage=args.storage, study=args.study, workers=args.workers, seed=args.seed,
        sampler=args.sampler, weights=args.weights, data=args.data, data_dir=args.data_dir, space=args.space,
        hw_space=args.hw_space, out=out, warm_start=not args.no_warm_start, population=args.population,
        proxies=proxies, progress=progress, log=log)
    baselines = None
    if args.baselines:
        baselines = _baselines(problem, res, args.trials, args.seed)
    if args.json:
        from ._common import print_json

        d = res.to_dict()
        d["out"] = out
        if baselines is not None:
            d["baselines"] = baselines
        print_json(d)
        return 0
    print(f"{problem.space.network.name} on {res.hw}: {res.n_complete} trials ({res.n_feasible} feasible, "
          f"{res.n_failed} failed), study {res.study_name!r} in {res.storage}")
    print(f"search {res.wall_seconds:.1f} s, objective evaluation {res.eval_seconds:.2f} s "
          f"({100 * res.eval_seconds / max(res.wall_seconds, 1e-9):.1f}%)")
    if problem.proxies.weights is None:
        print(f"weight-free proxies only (no --weights): optimising {res.proxy}")
    for n in res.notes:
        print(f"note: {n}")
    budgets = ", ".join(f"{k} <= {v:g} x dense" for k, v in res.budgets.items()) or "none"
    print(f"\nfeasible Pareto front ({len(res.front)} plans; objectives {', '.join(res.objectives)}; "
          f"budgets: {budgets}); ratios are to the dense network")
    print(_front_table(res) if res.front else "(empty: no trial met the budgets)")
    if res.best is not None:
        b = res.best.to_dict()
        print(f"\nbest {res.proxy} under the budgets: trial {b['trial']} ({res.best.origin}), latency "
              f"{b['ratios']['latency']:.3f}, energy {b['ratios']['energy']:.3f}, params {b['ratios']['params']:.3f}"
              f" x dense -> {os.path.join(out, 'best.yaml')}")
        print(f"train it: structconv train {args.model} --plan {os.path.join(out, 'best.yaml')}")
    if res.codesign:
        print(f"\nco-design: {res.codesign.get('answer', res.codesign.get('note'))}")
    if baselines:
        from ._table import render

        rows = [[k, "yes" if v and v["feasible"] else "no" if v else "-",
                 f"{v['proxies'][res.proxy]:.4g}" if v else "-",
                 f"{v['ratios']['latency']:.3f}" if v else "-", f"{v['ratios']['energy']:.3f}" if v else "-"]
                for k, v in baselines.items()]
        print("\nbaselines (same proxy, same budgets):")
        print(render(["method", "feasible", res.proxy, "latency", "energy"], rows, "llrrr"))
    print(f"\nwrote {os.path.join(out, 'front.yaml')} and {len(res.front)} plan file(s) in {os.path.join(out, 'plans')}")
    return 0


def _baselines(problem, res, trials: int, seed: int) -> dict:
    from structconv.search import best_random, greedy, uniform

    out = {}
    if problem.hw_space is None:
        best_u, _ = uniform(problem)
        out["uniform"] = best_u.to_dict() if best_u else None
        out["greedy"] = greedy(problem).to_dict() if problem.budgets else None
        r = best_random(problem, trials, seed)
        out["random"] = r.to_dict() if r else None
    if res.best is not None:
        out["search"] = res.best.to_dict()
    return out
