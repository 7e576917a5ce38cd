"""`structconv search`: the per-layer structure search on the simulator (Optuna).

    structconv search MODEL [--hw PRESET|FILE] [--max-cycles-ratio R] [--max-energy-ratio R]
        [--max-params-ratio R] [--objectives proxy,cycles_total,energy_pj] [--proxy NAME] [--trials N]
        [--timeout S] [--storage URL] [--study NAME] [--workers K] [--seed S]
        [--sampler nsga2|tpe|random] [--weights FILE] [--data digits] [--space FILE]
        [--hw-space FILE] [--out DIR] [--baselines] [--json]
        [--in-loop N [--in-loop-epochs 1,2,4] [--in-loop-pruner sha|hyperband|none] [--train-size N] [--device D]]

Prints the feasible Pareto front and writes DIR/front.yaml, DIR/best.yaml (the best
plan under the budgets) and DIR/plans/front-NNN.yaml, one per front member; the
study itself lives in DIR/study.journal (or --storage), so running the same
command again resumes it. MODEL goes to ``search()``, which resolves it
(``core.resolve_network``) at the input size a --weights checkpoint records.
With --in-loop N the front's N most promising plans are then trained, decomposed and
ranked by accuracy (``search_in_loop``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import search_in_loop as in_loop
from ._common import add_model_args, check_out_dir, is_zoo_name, plain, print_json, resolve_model, shown
from ._table import human, render

SAMPLERS = ("nsga2", "tpe", "random")


def register(sub) -> None:
    p = sub.add_parser("search", help="search per-layer structures under a cycles/energy budget (Optuna)")
    add_model_args(p)
    p.add_argument("--hw", default="edge-int8", help="accelerator preset or YAML file (default edge-int8)")
    p.add_argument("--max-cycles-ratio", type=float, metavar="R", help="budget: cycles_total <= R x dense")
    p.add_argument("--max-energy-ratio", type=float, metavar="R", help="budget: energy_pj <= R x dense")
    p.add_argument("--max-params-ratio", type=float, metavar="R", help="budget: params <= R x dense")
    p.add_argument("--objectives", default="proxy,cycles_total,energy_pj",
                   help="comma list of proxy, cycles_total, energy_pj, params, mults, area or a proxy name "
                        "(default proxy,cycles_total,energy_pj; 'proxy' alone = single objective under the "
                        "budgets)")
    p.add_argument("--proxy", help="accuracy proxy to optimise (default: residual with --weights, "
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
    p.add_argument("--mode", choices=["sampler", "exact", "auto"], default="sampler",
                   help="sampler (default): an Optuna study, seeded with exact-front plans; exact: the exact "
                        "Pareto front by multiple-choice-knapsack DP (every objective and budget must add up over "
                        "layers; no study file); auto: exact when it applies, else the sampler")
    p.add_argument("--no-warm-start", action="store_true",
                   help="do not enqueue the exact-front seed plans (presets are still enqueued)")
    p.add_argument("--weights", metavar="FILE", help="trained checkpoint (loaded with weights_only=True): "
                                                     "enables the weight-based proxies")
    p.add_argument("--data", help="calibration dataset for the proxies (digits | fashion-mnist | cifar10 | folder | idx)")
    p.add_argument("--data-dir", help="dataset directory for --data cifar10/folder/idx (fashion-mnist: Debian's)")
    p.add_argument("--proxies", help="comma list of proxies to compute (default: all that apply)")
    p.add_argument("--space", metavar="FILE", help="YAML restricting the search space")
    p.add_argument("--hw-space", metavar="FILE", help="YAML of accelerator knobs to co-design (+ area budget)")
    p.add_argument("--out", metavar="DIR", help="output directory (default out/search-MODEL)")
    p.add_argument("--baselines", action="store_true", help="also report uniform, greedy and random baselines")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    in_loop.add_args(p)
    p.set_defaults(func=run)


def _ratios(d: dict) -> list[str]:
    r = d["ratios"]
    return [f"{r['cycles_total']:.3f}", f"{r['energy_pj']:.3f}", f"{r['params']:.3f}"]


def _codesign_cells(d: dict) -> list[str]:
    hw = d.get("hw") or {}
    rows_cols = (hw.get("mac_array.rows"), hw.get("mac_array.cols"))
    return [f"{d['area_mm2']:.3f}", "x".join(str(v) for v in rows_cols if v) or "base",
            str(hw.get("sum_pool.adder_lanes", hw.get("sum_pool.lanes_per_mac", "base"))),
            str(hw.get("mac_array.dataflow", "base"))]


def _front_table(res, limit: int = 20) -> str:
    codesign = res.codesign is not None
    proj = any("projected_loss" in m.breakdown for m in res.front)
    headers = ["#", "origin", res.proxy, "cycles x", "energy x", "params x", "cycles_total", "energy_uJ"]
    headers += ["area_mm2", "MACs", "lanes", "flow"] if codesign else []
    headers += (["proj_loss"] if proj else []) + ["layers"]
    rows = []
    for i, m in enumerate(res.front[:limit]):
        d = m.to_dict()
        r = [str(i), m.origin.split(":")[0], f"{d['proxies'][res.proxy]:.4g}", *_ratios(d),
             human(d["cycles_total"]), f"{d['energy_pj'] / 1e6:.4g}"]
        r += _codesign_cells(d) if codesign else []
        r += [f"{d['projected_loss']:.4g}" if "projected_loss" in d else ""] if proj else []
        rows.append(r + [str(d["changed_layers"])])
    out = render(headers, rows, "ll" + "r" * (len(headers) - 2))
    if len(res.front) > limit:
        out += f"\n... {len(res.front) - limit} more front members in front.yaml"
    return out


def _at_least(flag: str, value, lo) -> None:
    if value is not None and not value >= lo:          # `not >=`: NaN fails too
        raise ValueError(f"{flag} = {value} is out of range [{lo}, inf)")


def _check(args) -> None:
    """Arguments checked before anything is built or written (no study file for a bad --population)."""
    _at_least("--trials", args.trials, 1)
    _at_least("--workers", args.workers, 1)
    _at_least("--population", args.population, 2)      # NSGA-II crosses two parents
    _at_least("--timeout", args.timeout, 0)
    for flag in ("max_cycles_ratio", "max_energy_ratio", "max_params_ratio"):
        value = getattr(args, flag)
        if value is not None and not 0 < value < float("inf"):
            raise ValueError(f"--{flag.replace('_', '-')} = {value} is out of range (0, inf)")
    if args.sampler not in SAMPLERS:
        raise ValueError(f"--sampler = {shown(args.sampler)} is not one of {list(SAMPLERS)}")
    in_loop.check(args)


def _split(text: str | None) -> tuple | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def run(args) -> int:
    from structconv.search import search                  # optuna

    _check(args)
    out = args.out or os.path.join("out", f"search-{Path(args.model).stem or 'model'}")   # a file's stem, not its path
    check_out_dir("--out", out)
    if args.in_loop is not None:
        in_loop.check_weights(args)
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    log = (lambda m: None) if args.json else (lambda m: print(m, flush=True))
    proxies = _split(args.proxies)
    model = args.model if is_zoo_name(args.model) and args.input_shape is None else \
        resolve_model(args.model, args.input_shape)       # a file or Python reference: its Network
    res, problem = search(
        model, args.hw, max_cycles_ratio=args.max_cycles_ratio, max_energy_ratio=args.max_energy_ratio,
        max_params_ratio=args.max_params_ratio, objectives=_split(args.objectives), proxy=args.proxy,
        trials=args.trials, timeout=args.timeout, storage=args.storage, study=args.study, workers=args.workers,
        seed=args.seed, sampler=args.sampler, weights=args.weights, data=args.data, data_dir=args.data_dir,
        space=args.space, hw_space=args.hw_space, out=out, warm_start=not args.no_warm_start,
        population=args.population, proxies=list(proxies) if proxies else None, progress=progress, log=log,
        mode=args.mode)
    baselines = _baselines(problem, res, args.trials, args.seed) if args.baselines else None
    loop = in_loop.run(args, res, problem, out) if args.in_loop is not None else None
    if args.json:
        print_json({**res.to_dict(), "out": out, **({"baselines": baselines} if baselines is not None else {}),
                    **({"in_loop": loop} if loop is not None else {})})
    else:
        _print_result(args, res, problem, out, baselines)
        if loop is not None:
            in_loop.print_ranking(loop, out)
    return 0


def _print_result(args, res, problem, out: str, baselines) -> None:
    print(f"{plain(problem.space.network.name)} on {plain(res.hw)}: {res.n_complete} trials ({res.n_feasible} "
          f"feasible, {res.n_failed} failed), study {shown(res.study_name)} in {shown(str(res.storage), 200)}")
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
        _print_best(args, res, out)
    if res.codesign:
        print(f"\nco-design: {res.codesign.get('answer', res.codesign.get('note'))}")
    if baselines:
        _print_baselines(res, baselines)
    print(f"\nwrote {os.path.join(out, 'front.yaml')} and {len(res.front)} plan file(s) in {os.path.join(out, 'plans')}")


def _print_best(args, res, out: str) -> None:
    b = res.best.to_dict()
    cyc, en, par = _ratios(b)
    print(f"\nbest {res.proxy} under the budgets: trial {b['trial']} ({res.best.origin}), cycles_total {cyc}, "
          f"energy_pj {en}, params {par} x dense -> {os.path.join(out, 'best.yaml')}")
    print(f"train it: structconv train {args.model} --plan {os.path.join(out, 'best.yaml')}")


def _print_baselines(res, baselines: dict) -> None:
    rows = [[k, "yes" if v and v["feasible"] else "no" if v else "-",
             f"{v['proxies'][res.proxy]:.4g}" if v else "-", *(_ratios(v)[:2] if v else ["-", "-"])]
            for k, v in baselines.items()]
    print("\nbaselines (same proxy, same budgets):")
    print(render(["method", "feasible", res.proxy, "cycles x", "energy x"], rows, "llrrr"))


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
