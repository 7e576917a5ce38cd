"""`structconv search`: the per-layer structure search on the simulator (Optuna).

    structconv search MODEL [--hw PRESET|FILE] [--max-cycles-ratio R] [--max-energy-ratio R]
        [--max-params-ratio R] [--objectives proxy,cycles_total,energy_pj] [--proxy NAME] [--trials N]
        [--timeout S] [--storage URL] [--study NAME] [--workers K] [--seed S]
        [--sampler nsga2|tpe|random] [--weights FILE] [--data digits] [--space FILE]
        [--hw-space FILE] [--out DIR] [--baselines] [--json]
        [--in-loop N [--in-loop-epochs 1,2,4] [--in-loop-pruner sha|hyperband|none] [--train-size N] [--device D]]

Prints the feasible Pareto front and writes DIR/front.yaml, DIR/best.yaml (the best plan under
the budgets) and DIR/plans/front-NNN.yaml; the study lives in DIR/study.journal (or --storage),
so the same command again resumes it. The flags become one ``search.SearchSettings`` (checked
there, by the rules the Python API uses) and ``search.search_with`` runs it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import search_in_loop as in_loop
from . import search_render as render
from ._common import CLIError, add_model_args, is_zoo_name, resolve_model

FLAGS = [  # (flag, argparse options): the options of SearchSettings / RunSettings
    ("--hw", dict(default="edge-int8", help="accelerator preset or YAML file (default edge-int8)")),
    ("--max-cycles-ratio", dict(type=float, metavar="R", help="budget: cycles_total <= R x dense")),
    ("--max-energy-ratio", dict(type=float, metavar="R", help="budget: energy_pj <= R x dense")),
    ("--max-params-ratio", dict(type=float, metavar="R", help="budget: params <= R x dense")),
    ("--objectives", dict(default="proxy,cycles_total,energy_pj", help=(
        "comma list of proxy, cycles_total, energy_pj, params, mults, area or a proxy name (default "
        "proxy,cycles_total,energy_pj; 'proxy' alone = single objective under the budgets)"))),
    ("--proxy", dict(help="accuracy proxy to optimise (default: residual with --weights, else kept_dof)")),
    ("--trials", dict(type=int, default=500, help="complete trials the study should hold (default 500)")),
    ("--timeout", dict(type=float, metavar="S", help="stop after S seconds")),
    ("--storage", dict(help="postgresql://user@host:port/db, sqlite:///file.db or a journal file "
                            "(default DIR/study.journal)")),
    ("--study", dict(help="study name (default: model + a hash of the settings)")),
    ("--workers", dict(type=int, default=1, help="local worker processes (default 1)")),
    ("--seed", dict(type=int, default=0, help="sampler seed (default 0)")),
    ("--sampler", dict(default="nsga2", help="nsga2 (default) | tpe | random")),
    ("--population", dict(type=int, help="NSGA-II population size (default 50)")),
    ("--mode", dict(choices=["sampler", "exact", "auto"], default="sampler", help=(
        "sampler (default): an Optuna study, seeded with exact-front plans; exact: the exact Pareto front by "
        "multiple-choice-knapsack DP (every objective and budget must add up over layers; no study file); "
        "auto: exact when it applies, else the sampler"))),
    ("--no-warm-start", dict(action="store_true", help="do not enqueue the exact-front seed plans (presets "
                                                       "are still enqueued)")),
    ("--weights", dict(metavar="FILE", help="trained checkpoint (loaded with weights_only=True): enables the "
                                            "weight-based proxies")),
    ("--data", dict(help="calibration dataset for the proxies (digits | fashion-mnist | cifar10 | folder | idx)")),
    ("--data-dir", dict(help="dataset directory for --data cifar10/folder/idx (fashion-mnist: Debian's)")),
    ("--proxies", dict(help="comma list of proxies to compute (default: all that apply)")),
    ("--space", dict(metavar="FILE", help="YAML restricting the search space")),
    ("--hw-space", dict(metavar="FILE", help="YAML of accelerator knobs to co-design (+ area budget)")),
    ("--out", dict(metavar="DIR", help="output directory (default out/search-MODEL)")),
    ("--baselines", dict(action="store_true", help="also report uniform, greedy and random baselines")),
    ("--no-progress", dict(action="store_true", help="no progress bar")),
    ("--json", dict(action="store_true", help="print one JSON object")),
]
SETTINGS = ("hw", "max_cycles_ratio", "max_energy_ratio", "max_params_ratio", "proxy", "weights", "data",
            "data_dir", "space", "hw_space", "baselines", "trials", "timeout", "storage", "study", "workers",
            "seed", "sampler", "population", "mode")


def register(sub) -> None:
    p = sub.add_parser("search", help="search per-layer structures under a cycles/energy budget (Optuna)")
    add_model_args(p)
    for flag, options in FLAGS:
        p.add_argument(flag, **options)
    in_loop.add_args(p)
    p.set_defaults(func=run)


def _split(text: str | None) -> tuple | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def _settings(args, out: str):
    from structconv.search import SearchSettings, SettingError

    proxies = _split(args.proxies)
    try:
        return SearchSettings.of(
            args.model, **{k: getattr(args, k) for k in SETTINGS}, objectives=_split(args.objectives),
            proxies=list(proxies) if proxies else None, out=out, warm_start=not args.no_warm_start,
            progress=not args.no_progress and not args.json and sys.stderr.isatty(), in_loop=in_loop.settings(args))
    except SettingError as e:                              # the same rule as the API's, named by its flag
        raise CLIError(e.line(in_loop.flag)) from None


def run(args) -> int:
    from structconv.search import search_with

    out = args.out or os.path.join("out", f"search-{Path(args.model).stem or 'model'}")   # a file's stem, not its path
    settings = _settings(args, out)
    network = None if is_zoo_name(args.model) and args.input_shape is None else \
        resolve_model(args.model, args.input_shape)       # a file or Python reference: its Network, warnings said
    job = search_with(settings, network, log=None if args.json else (lambda m: print(m, flush=True)))
    render.show(args, job, out)
    return 0
