"""Lambda sensitivity of Structural Regularization (seed supplementary A.5, Tables 3-4) on digits.

The paper trains Struct-Res18-A and -B on ImageNet from scratch with SR at several
lambda, decomposes (alpha = A^+ W) and compares accuracy before and after: the gap is
large at lambda = 0.001 and (nearly) vanishes from lambda = 0.1 on. This script repeats
the experiment at laptop scale: scikit-learn's digits (1437 train / 360 validation
images, 8x8), ``SmallCNN`` (3 convs + linear, BatchNorm) trained from scratch with SR,
two plans:

    A  mild        uniform-n2 (core preset): every 3x3 conv but the first -> c = C, n = 2
    B  aggressive  also c < C: conv2 c = C/2, conv3 c = C/2 (n = 2), fc c = 3C/4

    .venv/bin/python benchmarks/lambda_sensitivity.py            # ~5-10 min on 2 CPU cores
    .venv/bin/python benchmarks/lambda_sensitivity.py --quick    # a smoke run

Writes benchmarks/results/lambda_sensitivity.md (and .csv with every run) and prints the table.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import torch

from structconv.core import Plan, count_network, resolve_plan
from structconv.nn import SmallCNN, load_digits_data, network_from_module, train

HERE = Path(__file__).resolve().parent


def make_plans(model, input_shape, width):
    """Plan A from the uniform-n2 preset, plan B by hand (both checked against the model)."""
    net = network_from_module(model, torch.zeros((1,) + tuple(input_shape)), name="small_cnn")
    a = resolve_plan("uniform-n2", net)
    b = resolve_plan(Plan({"conv2": {"c": width // 2, "n": 2}, "conv3": {"c": width, "n": 2},
                           "fc": {"c": 3 * width}},
                          name="B", model="small_cnn"), net)
    return net, {"A": a, "B": b}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lams", default="0.001,0.01,0.1,1.0", help="comma-separated lambdas")
    p.add_argument("--plans", default="A,B")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (the table shows their mean)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--weight-decay", type=float, default=5e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--size", type=int, default=8, help="digits image side (8 = native)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="3 epochs, one lambda per end: a smoke run")
    p.add_argument("--out", default=str(HERE / "results" / "lambda_sensitivity.md"))
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.lams = 3, "0.001,1.0"

    torch.set_num_threads(args.threads)
    lams = [float(v) for v in args.lams.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    plan_names = args.plans.split(",")
    data = load_digits_data(size=args.size)
    net, plans = make_plans(SmallCNN(1, 10, args.width), data.input_shape, args.width)

    rows = []
    t_all = time.perf_counter()
    for pname in plan_names:
        plan = plans[pname]
        for lam in lams:
            for seed in seeds:
                torch.manual_seed(seed)
                model = SmallCNN(1, 10, args.width)
                t0 = time.perf_counter()
                r = train(model, data, plan, lam=lam, epochs=args.epochs, lr=args.lr,
                          batch_size=args.batch_size, weight_decay=args.weight_decay, seed=seed,
                          quiet=True, model_name="small_cnn")
                row = {"plan": pname, "lam": lam, "seed": seed, "acc_before": r.acc_before,
                       "acc_after": r.acc_after, "gap": r.gap, "max_residual": max(r.residuals.values()),
                       "residuals": " ".join(f"{k}={v:.2g}" for k, v in r.residuals.items()),
                       "train_acc": r.final["train_acc"], "seconds": time.perf_counter() - t0}
                rows.append(row)
                print(f"plan {pname} lam {lam:g} seed {seed}: before {r.acc_before:.2f} after "
                      f"{r.acc_after:.2f} gap {r.gap:.2f} max residual {row['max_residual']:.3g} "
                      f"[{row['seconds']:.0f}s]", file=sys.stderr, flush=True)
    total_s = time.perf_counter() - t_all

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    lines = [
        "# Lambda sensitivity of Structural Regularization on digits",
        "",
        f"`benchmarks/lambda_sensitivity.py` (seed supplementary A.5, Tables 3-4, at small scale): "
        f"SmallCNN width {args.width} on scikit-learn digits {args.size}x{args.size} (1437 train / 360 "
        f"validation), trained from scratch with SR for {args.epochs} epochs (SGD momentum 0.9, "
        f"cosine lr {args.lr:g}, batch {args.batch_size}, weight decay {args.weight_decay:g}), then "
        f"decomposed with `decompose()`. Validation accuracy in %, mean over seeds {seeds}; "
        f"gap = before - after (percentage points).",
        "",
    ]
    for pname in plan_names:
        cost = count_network(net, plans[pname])
        desc = ", ".join(f"{k}: {v.label}" for k, v in plans[pname].choices.items())
        lines.append(f"- Plan {pname} ({plans[pname].name}): {desc}; "
                     f"mults x{cost.structured.mults / cost.original.mults:.3f}, "
                     f"params x{cost.structured.params / cost.original.params:.3f}")
    lines += ["", "max residual: the largest per-layer ||(I - A A^+) W||_F / ||W||_F at the end of training.",
              "", "| plan | lambda | acc before | acc after | gap (points) | gap per seed | max residual |",
              "|---|---|---|---|---|---|---|"]
    for pname in plan_names:
        for lam in sorted(lams, reverse=True):
            rs = [r for r in rows if r["plan"] == pname and r["lam"] == lam]
            m = {k: statistics.mean(r[k] for r in rs)
                 for k in ("acc_before", "acc_after", "gap", "max_residual")}
            per_seed = ", ".join(f"{r['gap']:.2f}" for r in rs)
            lines.append(f"| {pname} | {lam:g} | {m['acc_before']:.2f} | {m['acc_after']:.2f} "
                         f"| {m['gap']:.2f} | {per_seed} | {m['max_residual']:.2g} |")
    lines += ["", f"{len(rows)} runs, {total_s / 60:.1f} min with {args.threads} CPU thread(s) "
                  f"(torch {torch.__version__}). Every run: `{out.with_suffix('.csv').name}`.", ""]
    text = "\n".join(lines)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
