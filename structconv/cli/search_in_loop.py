"""`structconv search --in-loop N`: the front's N most promising plans trained, decomposed and ranked.

The proxy search finds the front cheaply; accuracy in the loop then spends real training on
the few plans the proxy likes best (``search.front_candidates``), each SR-fine-tuned from
``--weights`` for growing epoch budgets, decomposed and evaluated on ``--data``, with
Optuna's pruner stopping the weak ones early (``search.run_in_loop``). Everything is checked
before the search starts, so a wrong weights file costs nothing.
"""
from __future__ import annotations

import hashlib
import os

from ._common import is_zoo_name, plain
from ._table import render

SIZED = ("fashion-mnist", "idx")          # loaders that draw a class-balanced training subset


def add_args(p) -> None:
    g = p.add_argument_group("accuracy in the loop (needs --weights and --data)")
    g.add_argument("--in-loop", type=int, metavar="N",
                   help="after the search: SR fine-tune the N front plans with the least proxy loss from --weights, "
                        "decompose and evaluate them on --data, pruning weak ones early; writes in_loop.json and "
                        "in_loop_best.yaml")
    g.add_argument("--in-loop-epochs", default="1,2,4", metavar="E,E,..",
                   help="increasing epoch budgets per plan (default 1,2,4)")
    g.add_argument("--in-loop-pruner", default="sha", help="sha (successive halving, default) | hyperband | none")
    g.add_argument("--train-size", type=int, metavar="N",
                   help="training images for --in-loop (fashion-mnist / idx: a class-balanced subset)")
    g.add_argument("--device", help="device for --in-loop training: cpu, cuda, cuda:1 ... (default: CUDA if any)")


def _epochs(text: str) -> tuple:
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values) or list(values) != sorted(set(values)):
        raise ValueError(f"--in-loop-epochs = {text!r} must be increasing integers >= 1, e.g. 1,2,4")
    return values


def check(args) -> None:
    """The in-loop flags, before anything is built (one line, exit 2)."""
    if args.in_loop is None:
        if args.train_size is not None or args.device is not None:
            raise ValueError("--train-size and --device apply to --in-loop only")
        return
    from structconv.nn import check_device
    from structconv.search import PRUNERS

    if args.in_loop < 1:
        raise ValueError(f"--in-loop = {args.in_loop} is out of range [1, inf)")
    if args.weights is None or args.data is None:
        raise ValueError("--in-loop needs --weights (the trained dense model to fine-tune) and --data "
                         "(the dataset to train and evaluate on)")
    if not is_zoo_name(args.model):
        raise ValueError(f"--in-loop trains zoo models (`structconv zoo` lists them); {args.model!r} is not one")
    _epochs(args.in_loop_epochs)
    if args.in_loop_pruner not in PRUNERS:
        raise ValueError(f"--in-loop-pruner = {args.in_loop_pruner!r} is not one of {list(PRUNERS)}")
    if args.train_size is not None and (args.data not in SIZED or args.train_size < 1):
        raise ValueError(f"--train-size = {args.train_size} needs --data {' or '.join(SIZED)} and a value >= 1")
    args.device = check_device(args.device)


def check_weights(args) -> None:
    """Load --weights into the model once, before the search, so a mismatch fails first."""
    from structconv.search import SRFineTune

    SRFineTune(args.model, None, weights=args.weights).module()


def evaluator(args, network):
    """SR fine-tuning on --data shaped for the searched ``network``."""
    from structconv.search import SRFineTune, load_calibration

    extra = {"train_size": args.train_size} if args.train_size is not None else {}
    return SRFineTune(args.model, load_calibration(args.data, network, args.data_dir, **extra),
                      weights=args.weights, device=args.device)


def _study_name(args, plans) -> str:
    """One study per candidate set and settings: a rerun with other candidates never reads old trials."""
    key = repr(([p.to_dict() for p in plans], args.in_loop_epochs, args.in_loop_pruner, str(args.weights),
                args.data, args.data_dir, args.train_size))
    return "in-loop-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def run(args, res, problem, out: str) -> dict:
    """Train the candidates; write in_loop.json and the winner as in_loop_best.yaml."""
    from structconv.core import write_data_file
    from structconv.search import front_candidates, run_in_loop

    plans = front_candidates(res, problem, args.in_loop)
    if not plans:
        return {"ranking": [], "best": None, "note": "the front is empty: nothing to train"}
    loop = run_in_loop(plans, evaluator(args, problem.space.network), budgets=_epochs(args.in_loop_epochs),
                       pruner=args.in_loop_pruner, storage=os.path.join(out, "in_loop.journal"),
                       study_name=_study_name(args, plans))
    d = loop.to_dict()
    write_data_file(os.path.join(out, "in_loop.json"), d)
    if loop.best is not None:
        best = next(p for p in plans if p.name == loop.best["plan"])
        best.save(os.path.join(out, "in_loop_best.yaml"))
    return d


def print_ranking(d: dict, out: str) -> None:
    if not d["ranking"]:
        print(f"\naccuracy in the loop: {d.get('note', 'no candidate ran')}")
        return
    rows = [[plain(r["plan"]), r["state"].lower(), str(r["budget_reached"]),
             "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}"] for r in d["ranking"]]
    print(f"\naccuracy in the loop ({d['seconds']:.1f} s; accuracy after decomposition at the last epoch budget reached):")
    print(render(["plan", "state", "epochs", "top-1 %"], rows, "llrr"))
    if d["best"] is not None:
        print(f"best trained plan: {plain(d['best']['plan'])} -> {os.path.join(out, 'in_loop_best.yaml')}")
