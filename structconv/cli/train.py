"""`structconv train MODEL`: train with Structural Regularization, then decompose and evaluate."""
from __future__ import annotations

import sys

from ._args import parse_input_shape
from ._common import CLIError, check_out_dir, plain, plan_ref, print_json, shown
from .train_flags import add_train_args

#: TrainSettings fields with a flag of their own name; the others: --out, --nproc, --quiet/--json
SAME_NAMES = ("lam", "epochs", "lr", "pretrain_epochs", "pretrain_lr", "batch_size", "weight_decay",
              "nesterov", "schedule", "seed", "resume", "device", "workers", "threads", "design_init")
FLAGS = {"world_size": "--nproc"}


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model with Structural Regularization; report accuracy "
                                     "before and after decomposition")
    add_train_args(p)
    p.set_defaults(func=run)


def _settings(args):
    """(TrainSettings, DataSettings), checked before the dataset or the output directory are touched;
    a value out of range names its flag."""
    from structconv.nn import DataSettings, SettingError, TrainSettings  # torch

    same = {k: getattr(args, k) for k in SAME_NAMES}
    try:
        return (TrainSettings(out_dir=args.out, quiet=args.quiet or args.json, world_size=args.nproc, **same),
                DataSettings(args.dataset, args.data_dir, _input_side(args), args.train_size,
                             augment=not args.no_augment))
    except SettingError as e:
        raise e.renamed(FLAGS.get(e.field, "--" + e.field.replace("_", "-"))) from None


def _input_side(args) -> int | None:
    """The image side --input-shape (or its alias --input-size) asks for: the datasets resize to a square."""
    shape = parse_input_shape(args.input_shape)
    if shape is None:
        return args.input_size
    if len(shape) < 3 or shape[-1] != shape[-2] or args.input_size not in (None, shape[-1]):
        raise CLIError(f"--input-shape = {shown(args.input_shape)} must end in H,W with H = W (images are "
                       "resized to a square side) and agree with --input-size")
    return shape[-1]


def run(args) -> int:
    from structconv.nn import train_model

    settings, data = _settings(args)
    check_out_dir("--out", args.out)
    done = train_model(args.model, data, settings, plan=plan_ref(args), weights=args.weights)
    if args.json:
        print_json(done.result.to_dict())
    else:
        _print_result(args, done)
    for line in done.result.warnings:
        print(f"structconv: warning: {line}", file=sys.stderr)
    return 0


def _print_result(args, done) -> None:
    result, plan = done.result, done.model.plan
    plan_name = plan.name if plan is not None else "dense"
    print(f"{plain(args.model)} on {done.data.name} under plan {shown(plan_name)}, "
          f"lambda {args.lam:g}: {len(result.history)} epochs")
    if result.acc_before is not None:
        print(f"accuracy ({result.eval_split}) before decomposition {result.acc_before:.2f}%, "
              f"after {result.acc_after:.2f}% (gap {result.gap:+.2f} points)")
    if result.residuals:
        worst = max(result.residuals.items(), key=lambda kv: kv[1])
        print(f"{len(result.residuals)} structured layers, largest residual "
              f"||(I-AA+)W||/||W|| = {worst[1]:.3g} ({worst[0]})")
    print(f"wrote {args.out}/{{metrics.jsonl, checkpoint.pt, final.pt, summary.json}}")
