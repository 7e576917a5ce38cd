"""`structconv demo`: the main job on built-in defaults, in a few minutes on a CPU.

cost -> simulate -> search -> SR training on digits -> decompose and verify -> OUT/report.html
(see ``structconv.analysis.demo``). Exit status 0 when no stage failed
(skipped stages are fine), 1 otherwise.
"""
from __future__ import annotations

import sys
import time

from ._common import check_out_dir, print_json, shown, user_input


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


def _check(args) -> None:
    """Arguments checked before any stage runs or OUT is created."""
    if args.trials < 1:
        raise ValueError(f"--trials = {args.trials} is out of range [1, inf)")
    if args.epochs < 0 or args.pretrain_epochs < 0 or args.epochs + args.pretrain_epochs < 1:
        raise ValueError(f"--epochs = {args.epochs} and --pretrain-epochs = {args.pretrain_epochs} must be >= 0 "
                         "with at least one epoch in total")
    if not 0 < args.max_cycles_ratio < float("inf"):
        raise ValueError(f"--max-cycles-ratio = {args.max_cycles_ratio} is out of range (0, inf)")
    if not 0 <= args.lam < float("inf"):
        raise ValueError(f"--lam = {args.lam} is out of range [0, inf)")
    if not 4 <= args.train_size <= 128:                # 1797 digits x 3 x 128^2 floats: 350 MB already
        raise ValueError(f"--train-size = {args.train_size} is out of range [4, 128]")
    if args.train_samples is not None and args.train_samples < 1:
        raise ValueError(f"--train-samples = {args.train_samples} is out of range [1, inf)")
    check_out_dir("--out", args.out)
    if args.hw:
        _check_hw(args.hw)


def _check_hw(hw) -> None:
    """A bad --hw is the user's error (exit 2), not a failed simulate stage (exit 1)."""
    try:
        from structconv.sim import load_accelerator          # numba
    except ImportError:
        return                                                # the simulate stage says it is skipped
    with user_input(f"--hw {shown(hw)}"):
        load_accelerator(hw)


def run(args) -> int:
    from structconv.analysis import run_demo          # pandas, plotly; the steps load torch, optuna

    _check(args)
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
