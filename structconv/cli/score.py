"""`structconv score MODEL --plans P1.yaml P2.yaml ... [--weights W] [--data D] [--json]`: every registered
accuracy proxy for each plan, the default proxy first (``search.score_plans``); how a user ranks
candidate plans they already have. Without --weights only the weight-free proxies run."""
from __future__ import annotations

from structconv.core import shown

from ._args import add_force_arg, add_model_args, plan_file_ref
from ._inputs import is_zoo_name, resolve_model
from ._output import plain, print_json
from ._table import render


def register(sub) -> None:
    p = sub.add_parser("score", help="every accuracy proxy for each of some plans, the default first")
    add_model_args(p)
    p.add_argument("--plans", nargs="+", required=True, metavar="PLAN", help="plan files (YAML or JSON)")
    add_force_arg(p)
    p.add_argument("--weights", help="trained checkpoint of MODEL (else: weight-free proxies only)")
    p.add_argument("--data", help="dataset the proxies read (a validation split carved from its training "
                                  "split): digits | fashion-mnist | cifar10 | folder | idx")
    p.add_argument("--data-dir", help="dataset directory (fashion-mnist: Debian's by default)")
    p.add_argument("--calib-size", type=int, default=128, help="samples the proxies read (default 128)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from structconv.search import ScoreSettings, score_plans

    network = None if is_zoo_name(args.model) and args.input_shape is None else \
        resolve_model(args.model, args.input_shape)
    settings = ScoreSettings(args.weights, args.data, args.data_dir, calib_size=args.calib_size,
                             quiet=args.quiet or args.json)
    plans = [plan_file_ref(f, args.force) for f in args.plans]
    scores = score_plans(args.model, plans, settings, network=network)
    if args.json:
        print_json(scores.to_dict())
        return 0
    names = list(scores.rows[0]["proxies"])
    rows = [[plain(r["plan"])] + [f"{r['proxies'][n]:.6g}" for n in names] for r in scores.rows]
    print(f"proxies of {len(rows)} plans (default {shown(scores.default)} first):")
    print(render(["plan"] + names, rows, "l" + "r" * len(names)))
    for note in scores.notes:
        print(f"note: {note}")
    return 0
