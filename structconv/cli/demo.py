"""`structconv demo`: the main job on built-in defaults, in a few minutes on a CPU.

cost -> simulate -> search -> SR training on digits -> decompose and verify -> OUT/report.html
(see ``structconv.analysis.demo``). Exit status 0 when no stage failed
(skipped stages are fine), 1 otherwise.
"""
from __future__ import annotations

import sys
import time

from ._common import print_json


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on built-in defaults (writes OUT/report.html)")
    p.add_argument("--out", default="out", help="output directory (default out)")
    p.add_argument("--model", default="resnet20", help="zoo network (default resnet20; its torch module is "
                   "trained on digits)")
    p.add_argument("--hw", default=None, help="accelerator preset or YAML (default edge-int8)")
    p.add_argument("--trials", type=int, default=300, help="search trials (default 300)")
    p.add_argument("--max-cycles-ratio", type=float, default=0.7,
                   help="search budget: cycles_total <= R x dense (default 0.7)")
    p.add_argument("--epochs", type=int, default=4, help="SR epochs (default 4)")
    p.add_argument("--pretrain-epochs", type=int, default=1, help="plain epochs before SR (default 1)")
    p.add_argument("--lam", type=float, default=10.0, help="SR weight lambda (default 10: a short run "
                   "needs a strong pull towards the structure)")
    p.add_argument("--train-size", type=int, default=8, help="digits image side for training (default 8)")
    p.add_argument("--train-samples", type=int, default=None, help="use only this many training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the stages and the summary as JSON at the end")
    p.set_defaults(func=run)


def run(args) -> int:
    from structconv.analysis import run_demo          # pandas, plotly; the steps load torch, optuna

    if args.trials < 1:
        raise ValueError(f"trials = {args.trials} must be >= 1")
    if args.epochs < 0 or args.pretrain_epochs < 0 or args.epochs + args.pretrain_epochs < 1:
        raise ValueError("epochs and pretrain-epochs must be >= 0 with at least one epoch in total")
    t0 = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    res = run_demo(args.out, args.model, args.hw, trials=args.trials, max_cycles_ratio=args.max_cycles_ratio,
                   lam=args.lam, epochs=args.epochs, pretrain_epochs=args.pretrain_epochs,
                   train_size=args.train_size, train_samples=args.train_samples, seed=args.seed, log=log)
    print(f"\ndemo finished in {res.seconds:.0f} s")
    for s in res.stages:
        print(f"  {s.name:42s} {s.status} ({s.seconds:.1f} s)")
    if res.report:
        print(f"report: {res.report}")
    if args.json:
        print_json(res.to_dict())
    if not res.ok:
        print("structconv demo: some stages failed (see above)", file=sys.stderr)
        return 1
    return 0
