"""The flags of `structconv search`: one row per option of ``search.SearchSettings`` / ``RunSettings``."""

FLAGS = [  # (flag, argparse options)
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
    ("--no-warm-start", dict(action="store_true",
                             help="do not enqueue the exact-front seed plans (presets are still enqueued)")),
    ("--weights", dict(metavar="FILE", help="trained checkpoint (loaded with weights_only=True): enables the "
                                            "weight-based proxies")),
    ("--data", dict(help="calibration dataset for the proxies "
                         "(digits | fashion-mnist | cifar10 | folder | idx)")),
    ("--data-dir", dict(help="dataset directory for --data cifar10/folder/idx (fashion-mnist: Debian's)")),
    ("--proxies", dict(help="comma list of proxies to compute (default: all that apply)")),
    ("--space", dict(metavar="FILE", help="YAML restricting the search space")),
    ("--hw-space", dict(metavar="FILE", help="YAML of accelerator knobs to co-design (+ area budget)")),
    ("--out", dict(metavar="DIR", help="output directory (default out/search-MODEL)")),
    ("--baselines", dict(action="store_true", help="also report uniform, greedy and random baselines")),
    ("--no-progress", dict(action="store_true", help="no progress bar")),
    ("--json", dict(action="store_true", help="print one JSON object")),
]
# the flags that are a settings field of the same name
SETTINGS = ("hw", "max_cycles_ratio", "max_energy_ratio", "max_params_ratio", "proxy", "weights", "data",
            "data_dir", "space", "hw_space", "baselines", "trials", "timeout", "storage", "study", "workers",
            "seed", "sampler", "population", "mode")
