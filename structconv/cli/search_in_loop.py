"""`structconv search --in-loop N`: the front's N most promising plans trained, decomposed and ranked.

The proxy search finds the front cheaply; accuracy in the loop then spends real training on the
few plans the proxy likes best, each SR-fine-tuned from ``--weights`` for growing epoch budgets,
decomposed and evaluated on ``--data``, with Optuna's pruner stopping the weak ones early
(``search.InLoopSettings``; the library checks everything before the search starts, so a wrong
weights file costs nothing).
"""
from __future__ import annotations

import os

from ._common import CLIError, plain
from ._table import render

FLAG_OF = {"candidates": "--in-loop", "epochs": "--in-loop-epochs", "pruner": "--in-loop-pruner"}


def add_args(p) -> None:
    g = p.add_argument_group("accuracy in the loop (needs --weights and --data)")
    g.add_argument("--in-loop", type=int, metavar="N",
                   help="after the search: SR fine-tune the N front plans with the least proxy loss from "
                        "--weights at the accuracy benchmark's recipe, decompose and rank them on a "
                        "validation split carved from --data's training split (never its test split), "
                        "pruning weak ones early; writes "
                        "in_loop.json and in_loop_best.yaml")
    g.add_argument("--in-loop-epochs", default="1,2,4", metavar="E,E,..",
                   help="increasing epoch budgets per plan (default 1,2,4)")
    g.add_argument("--in-loop-pruner", default="sha",
                   help="sha (successive halving, default) | hyperband | none")
    g.add_argument("--train-size", type=int, metavar="N",
                   help="training images for --in-loop (fashion-mnist / idx: a class-balanced subset)")
    g.add_argument("--device",
                   help="device for --in-loop training: cpu, cuda, cuda:1 ... (default: CUDA if any)")


def flag(field: str) -> str:
    """The command-line flag of a settings field (a SettingError names fields; the CLI says flags)."""
    return FLAG_OF.get(field) or "--" + field.replace("_", "-")


def settings(args):
    """The in-loop settings of the flags (None without --in-loop)."""
    if args.in_loop is None:
        if args.train_size is not None or args.device is not None:
            raise CLIError("--train-size and --device apply to --in-loop only")
        return None
    from structconv.search import InLoopSettings

    return InLoopSettings(args.in_loop, args.in_loop_epochs, args.in_loop_pruner, args.train_size,
                          args.device)


def print_ranking(d: dict, out: str) -> None:
    if not d["ranking"]:
        print(f"\naccuracy in the loop: {d.get('note', 'no candidate ran')}")
        return
    rows = [[plain(r["plan"]), r["state"].lower(), str(r["budget_reached"]),
             "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}"] for r in d["ranking"]]
    print(f"\naccuracy in the loop ({d['seconds']:.1f} s; accuracy after decomposition at the last epoch "
          f"budget reached):")
    print(render(["plan", "state", "epochs", "top-1 %"], rows, "llrr"))
    if "recipe" in d:
        r = d["recipe"]
        print(f"recipe: lam {r['lam']:g}, lr {r['lr']:g}, batch {r['batch_size']} ({r['source']}); "
              f"ranked on the {r['ranked_on']}, never on the test split")
    if d["best"] is not None:
        print(f"best trained plan: {plain(d['best']['plan'])} -> {os.path.join(out, 'in_loop_best.yaml')}")
