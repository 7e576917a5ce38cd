"""`structconv demo`: the main job on built-in defaults, in a few minutes on a CPU.

cost -> simulate -> search -> SR training on digits -> decompose and verify -> OUT/report.html
(see ``structconv.analysis.demo``). Exit status 0 when no stage failed
(skipped stages are fine), 1 otherwise.
"""
from __future__ import annotations

import sys
import time

from ._args import add_hw_arg
from ._errors import as_flags
from ._inputs import load_hw_arg
from ._output import print_json
from ._paths import check_out_dir


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on built-in defaults "
                                    "(writes OUT/report.html)")
    p.add_argument("--out", default="out", help="output directory (default out)")
    p.add_argument("--model", default="resnet20", help="zoo network (default resnet20; its torch module is "
                   "trained on digits)")
    add_hw_arg(p, help="accelerator preset or YAML (default edge-int8)")
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


FIELDS = ("model", "hw", "trials", "max_cycles_ratio", "lam", "epochs", "pretrain_epochs", "train_size",
          "train_samples", "seed")


def run(args) -> int:
    from structconv.analysis import DemoSettings, run_demo  # pandas, plotly; the steps load torch, optuna

    with as_flags():                                     # all checked before any stage runs or OUT is made
        settings = DemoSettings(**{f: getattr(args, f) for f in FIELDS})
    check_out_dir("--out", args.out)
    if args.hw:
        load_hw_arg(args.hw)                             # the user's error (exit 2), not a failed stage
    t0 = time.perf_counter()
    res = run_demo(args.out, settings=settings,
                   log=lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True))
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
