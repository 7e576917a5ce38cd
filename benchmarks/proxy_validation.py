"""Do the accuracy proxies predict post-SR accuracy? And does the search's plan beat the baselines?

    .venv/bin/python benchmarks/proxy_validation.py [--plans 40] [--epochs 5] [--seeds 3] [--quick]

1. ResNet-20 (CIFAR layout) at half width (8/16/32 channels, so capacity binds) on
   scikit-learn's digits at 8x8, 3 channels, half of the images held out for
   validation (899); dense pre-training (``structconv.nn.train``), the checkpoint
   is the ``--weights`` of the weight-based proxies and the start of every fine-tune.
2. ``--plans`` diverse Plans from the structure-only search space (sparse-kernel
   designs are left out: SR/decomposition cannot derive them from weights, so they
   have no post-SR ground truth): the uniform family (c fraction x n) and random
   plans stratified by aggressiveness, with some layers left dense.
3. Every proxy for every plan: the table proxies computed on the trained weights
   (``[trained]``), the zero-cost ones also at a seeded random init (``[init]``,
   the weight-free mode of `structconv search`), plus ``projected_loss``; the two
   loss proxies also without BatchNorm re-estimation (``[no BN recal]``, ablation).
4. Ground truth: SR fine-tune from the dense checkpoint (lambda 200, lr 0.05
   cosine, ``--epochs`` epochs; lambda this large drives every residual to ~1e-3 so
   the decomposition is lossless), ``decompose``, validation accuracy.
5. Kendall tau / Spearman rho of each proxy (oriented so that + means "predicts
   higher accuracy") with 95% bootstrap intervals; #params and #mults are the
   naive baselines.
6. At one latency budget on edge-int8, with the proxy that ranked best in step 5
   (among those the search can optimise): the search's plan (NSGA-II, single
   objective under the constraint, with and without Lagrangian warm start),
   AIMET-style greedy (per-layer sensitivity table, one bisected threshold), best
   uniform and best random (same trial count), each fine-tuned with ``--seeds``
   seeds: accuracy mean +- std.

Writes benchmarks/results/proxy_validation.md (and .json). ~10-15 min on 2 shared cores.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAM, LR, BATCH = 200.0, 0.05, 64
WIDTHS = (8, 16, 32)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sample_plans(space, n_random: int, seed: int):
    from structconv.core import Plan
    from structconv.search import uniform_plans

    plans = [p for p in uniform_plans(space)]
    rng = np.random.default_rng(seed)
    for i in range(n_random):
        a = (i + 0.5) / n_random                       # aggressiveness, stratified
        p_dense = rng.uniform(0.0, 0.4)
        idx = []
        for ls in space.searched:
            k = len(ls)
            if rng.random() < p_dense:
                idx.append(0)
            else:
                hi = max(1, int(math.ceil(a * (k - 1))))
                idx.append(int(rng.integers(1, hi + 1)))
        plans.append(Plan(space.plan(idx).choices, name=f"random-{i:02d}", model=space.network.name))
    return plans


def finetune(net, bundle, state, plan, epochs: int, seed: int):
    import torch

    from structconv.nn import build_module, train

    torch.manual_seed(seed)
    model = build_module(net)
    model.load_state_dict(state)
    r = train(model, bundle, plan, lam=LAM, epochs=epochs, lr=LR, batch_size=BATCH, seed=seed, quiet=True)
    return r.acc_after, max(r.residuals.values()) if r.residuals else 0.0


def median(v):
    return float(np.median(v))


def boot_ci(x, y, stat, n_boot: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = len(x)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        v = stat(x[i], y[i])
        if np.isfinite(v):
            vals.append(v)
    return ((float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))) if vals
            else (float("nan"),) * 2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", type=int, default=40, help="plans for the correlation study (>= 24)")
    ap.add_argument("--epochs", type=int, default=5, help="SR fine-tune epochs per plan")
    ap.add_argument("--pretrain-epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=5, help="fine-tune seeds for the equal-latency comparison")
    ap.add_argument("--budget", type=float, default=0.5, help="max latency ratio for the comparison")
    ap.add_argument("--trials", type=int, default=1000, help="search / random trials for the comparison")
    ap.add_argument("--hw", default="edge-int8")
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "proxy_validation.md"))
    ap.add_argument("--quick", action="store_true", help="tiny settings to smoke-test the script")
    args = ap.parse_args(argv)
    if args.quick:
        args.plans, args.epochs, args.pretrain_epochs, args.seeds, args.trials, args.boot = (
            8, 1, 2, 1, 60, 100)

    import torch
    from scipy.stats import kendalltau, spearmanr
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)

    from structconv.core.zoo.resnet_cifar import CifarResNetSpec, build_cifar_resnet
    from structconv.nn import build_module, load_digits_data, train
    from structconv.search import (
        Problem,
        best_random,
        build_costs,
        build_space,
        compute_proxies,
        greedy,
        run_search,
        space_config_from_dict,
        uniform,
    )

    t_start = time.perf_counter()
    net = build_cifar_resnet(CifarResNetSpec("resnet20", 3, widths=WIDTHS, num_classes=10, input_size=(8, 8)))
    bundle = load_digits_data(size=8, channels=3, val_fraction=0.5)
    torch.manual_seed(0)
    model = build_module(net)
    log(f"pre-training dense resnet20 (widths {WIDTHS}) on digits 8x8 ({args.pretrain_epochs} epochs)")
    r = train(model, bundle, None, epochs=args.pretrain_epochs, lr=0.05, batch_size=BATCH, seed=0, quiet=True)
    dense_acc = r.acc_before
    state = copy.deepcopy(model.state_dict())
    ck = ROOT / "out" / "proxy_validation" / "dense.pt"
    ck.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": {"input_shape": [3, 8, 8], "num_classes": 10}}, ck)
    log(f"dense accuracy {dense_acc:.2f}%")

    space = build_space(net, space_config_from_dict({"designs": False}))
    calib = bundle
    log("proxies: trained weights")
    trained = compute_proxies(space, model=copy.deepcopy(model), weights=str(ck), data=calib, anchors=3,
                              seed=0)
    log(f"  {trained.seconds:.1f} s: {list(trained.tables)}")
    norecal = compute_proxies(space, model=copy.deepcopy(model), weights=str(ck), data=calib, anchors=3,
                              seed=0, proxies=["projection_loss"], bn_recalibrate=False)
    torch.manual_seed(1)
    init = compute_proxies(space, model=build_module(net), data=calib, seed=0)
    log(f"proxies: init {init.seconds:.1f} s: {list(init.tables)}")

    plans = sample_plans(space, max(0, args.plans - len(sample_plans(space, 0, 0))), seed=0)
    log(f"{len(plans)} plans; fine-tuning each ({args.epochs} epochs, lambda {LAM:g})")
    rows = []
    for i, p in enumerate(plans):
        params = space.params_of(p)
        idx = [params[n] for n in space.param_names]
        t0 = time.perf_counter()
        acc, res = finetune(net, bundle, state, p, args.epochs, seed=0)
        row = {"plan": p.name, "acc": acc, "max_residual": res, "changed": len(p), "index": idx}
        for name, t in trained.tables.items():
            row[f"{name} [trained]" if name in ("synflow", "grad_norm", "snip", "naswot") else name] = \
                t.score(idx) * (1 if t.higher_is_better else -1)
        for name in ("synflow", "grad_norm", "snip", "naswot"):
            if name in init.tables:
                row[f"{name} [init]"] = init.tables[name].score(idx)
        row["projected_loss"] = -trained.projected_loss(idx)
        row["projection_loss [no BN recal]"] = -norecal.tables["projection_loss"].score(idx)
        row["projected_loss [no BN recal]"] = -norecal.projected_loss(idx)
        rows.append(row)
        log(f"  {i + 1}/{len(plans)} {p.name:22s} acc {acc:6.2f}%  res {res:.1e}  "
            f"({time.perf_counter() - t0:.1f} s)")

    acc = np.array([r["acc"] for r in rows])
    names = [k for k in rows[0] if k not in ("plan", "acc", "max_residual", "changed", "index")]
    corr = []
    for name in names:
        x = np.array([r[name] for r in rows], dtype=float)
        if np.ptp(x) == 0:
            corr.append((name, float("nan"), (float("nan"),) * 2, float("nan"), (float("nan"),) * 2))
            continue
        tau = kendalltau(x, acc).statistic
        rho = spearmanr(x, acc).statistic
        tci = boot_ci(x, acc, lambda a, b: kendalltau(a, b).statistic, args.boot)
        rci = boot_ci(x, acc, lambda a, b: spearmanr(a, b).statistic, args.boot, 1)
        corr.append((name, float(tau), tci, float(rho), rci))
    corr.sort(key=lambda c: -np.nan_to_num(c[1], nan=-9))

    # -- equal latency comparison --------------------------------------------------
    costs = build_costs(space, args.hw)
    searchable = set(trained.tables) | {"projected_loss"}
    best_proxy = next(c[0] for c in corr if c[0] in searchable and np.isfinite(c[1]))
    problem = Problem(space, costs, trained, best_proxy, ("proxy",), {"cycles_total": args.budget})
    log(f"equal-latency comparison: latency <= {args.budget} x dense on {args.hw}, proxy {best_proxy}")
    res_ws = run_search(problem, trials=args.trials, seed=0, population=50)
    res_nows = run_search(problem, trials=args.trials, seed=0, population=50, warm_start=False)
    g = greedy(problem)
    u, _ = uniform(problem)
    rnd = best_random(problem, args.trials, seed=0)
    contenders = [("search (NSGA-II + warm start)", res_ws.best),
                  ("search (NSGA-II, no warm start)", res_nows.best),
                  ("greedy (AIMET-style)", g), ("uniform (best feasible)", u), ("random (best of N)", rnd)]
    cmp_rows = []
    def pscore(idx):
        return problem.proxy_loss(best_proxy, idx)

    for label, member in contenders:
        if member is None:
            cmp_rows.append({"method": label, "feasible": False})
            continue
        idx = list(member.index)
        ev = problem.evaluate(idx)
        runs = [finetune(net, bundle, state, member.plan, args.epochs, seed=s) for s in range(args.seeds)]
        accs = [a for a, _ in runs]
        cmp_rows.append({"method": label, "feasible": ev.feasible, "proxy": pscore(idx),
                         "projected_loss": trained.projected_loss(idx), "latency": ev.ratios["cycles_total"],
                         "params": ev.ratios["params"], "acc_mean": float(np.mean(accs)),
                         "acc_std": float(np.std(accs)), "acc_median": median(accs), "accs": accs,
                         "residuals": [r for _, r in runs],
                         "plan": {k: v.to_dict() for k, v in member.plan.choices.items()}})
        log(f"  {label:34s} proxy {pscore(idx):.4f}  latency {ev.ratios['cycles_total']:.3f}  "
            f"acc {np.mean(accs):.2f} +- {np.std(accs):.2f} (median {median(accs):.2f})")
    total = time.perf_counter() - t_start
    write_report(args, dense_acc, rows, corr, cmp_rows, best_proxy, total, trained, init)
    log(f"done in {total / 60:.1f} min -> {args.out}")
    return 0


def write_report(args, dense_acc, rows, corr, cmp_rows, best_proxy, total, trained, init):
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    params_tau = next((c[1] for c in corr if c[0] == "params"), float("nan"))
    best = next((c for c in corr if c[0] not in ("params", "mults") and np.isfinite(c[1])), None)
    L = ["# Proxy validation: do pre-training proxies predict post-SR accuracy?", "",
         "Generated by `benchmarks/proxy_validation.py` "
         f"({'quick smoke settings' if args.quick else 'default settings'}); "
         f"{total / 60:.1f} min on this machine (2 shared cores, torch 1 thread).", "",
         "**Setup.** ResNet-20 (CIFAR layout, 20 conv/linear layers) at half width "
         f"({'/'.join(map(str, WIDTHS))} channels) on scikit-learn digits at 8x8x3 (898 train / 899 val "
         f"images). Dense pre-training: {args.pretrain_epochs} epochs, val accuracy "
         f"**{dense_acc:.2f}%**. {len(rows)} plans from the structure-only search space (uniform family + "
         "random plans stratified by aggressiveness, some layers left dense; sparse-kernel designs excluded "
         "because SR cannot derive them from weights, so they have no post-SR ground truth). Ground truth "
         f"per plan: SR fine-tune from the dense weights (lambda {LAM:g}, lr {LR} cosine, batch {BATCH}, "
         f"{args.epochs} epochs), `decompose`, val accuracy. Largest layer residual before decomposition: "
         f"median {median([r['max_residual'] for r in rows]):.1e}; "
         f"{sum(r['max_residual'] > 0.01 for r in rows)} of "
         f"{len(rows)} plans ended above 1e-2 (SR did not reach the structure in {args.epochs} epochs; their "
         "decomposition loses accuracy, which is part of the ground truth).", "",
         "Proxies are oriented so that a positive correlation means \"predicts higher accuracy\" "
         "(loss-type proxies are negated). `[trained]`: on the pre-trained checkpoint; `[init]`: at a seeded "
         "random initialisation (the weight-free mode). The loss proxies re-estimate BatchNorm statistics on "
         "the calibration batch (128 training images) after projecting; `[no BN recal]` is the ablation. "
         f"95% intervals: percentile bootstrap over plans ({args.boot} resamples).", "",
         "## Rank correlation with post-SR accuracy", "",
         "| proxy | Kendall tau [95% CI] | Spearman rho [95% CI] |", "|---|---|---|"]
    for name, tau, tci, rho, rci in corr:
        mark = " (baseline)" if name in ("params", "mults") else ""
        L.append(f"| {name}{mark} | {tau:.3f} [{tci[0]:.2f}, {tci[1]:.2f}] "
                 f"| {rho:.3f} [{rci[0]:.2f}, {rci[1]:.2f}] |")
    L += ["", "Accuracy range over the plans: "
          f"{min(r['acc'] for r in rows):.1f}% .. {max(r['acc'] for r in rows):.1f}%.", ""]
    if best is not None:
        ok = best[1] >= 0.6
        beats = best[1] > params_tau
        L.append(f"**Verdict.** Best proxy: `{best[0]}`, Kendall tau {best[1]:.3f} "
                 f"({'meets' if ok else 'does NOT meet'} the 0.6 target) vs #params {params_tau:.3f} "
                 f"({'beats' if beats else 'does NOT beat'} the baseline"
                 f"{'' if best[2][0] > params_tau else '; the intervals overlap'}).")
    L += ["", f"## Equal latency: search vs baselines (latency <= {args.budget} x dense on {args.hw})", "",
          f"All methods optimise the same proxy (`{best_proxy}`, the best-ranked searchable proxy above; "
          "greedy's per-layer sensitivity table is its additive per-layer form) under the same "
          f"constraint; search and random get {args.trials} trials. Accuracy: SR fine-tune + decompose as "
          f"above, {args.seeds} fine-tune seed(s): mean +- std, median, and every seed (a seed whose SR run "
          "does not reach the structure loses accuracy at decomposition: the spread is real).", "",
          "| method | feasible | proxy (loss, lower better) | projected loss | latency | params "
          "| post-SR acc % mean +- std | median | per seed |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in cmp_rows:
        if "proxy" not in r:
            L.append(f"| {r['method']} | no feasible plan | | | | | |")
            continue
        L.append(f"| {r['method']} | {'yes' if r['feasible'] else 'no'} | {r['proxy']:.4f} | "
                 f"{r['projected_loss']:.4f} | {r['latency']:.3f} | {r['params']:.3f} | "
                 f"{r['acc_mean']:.2f} +- {r['acc_std']:.2f} | {r['acc_median']:.2f} | "
                 f"{', '.join(f'{a:.1f}' for a in r['accs'])} |")
    L += ["", "## An earlier, saturated setting", "",
          "At full width (16/32/64 channels) with 20% of digits held out, 30 of 40 plans landed at 96-98.6% "
          "post-SR accuracy, inside the +-1% seed noise of a 360-image validation set; every proxy then had "
          "Kendall tau 0.31-0.38 (params 0.31, projection_loss without BN re-estimation 0.33, NASWOT 0.38) "
          "and projected_loss without BN re-estimation was negative (-0.33). A benchmark whose ground truth "
          "does not separate the plans cannot rank proxies, so the reported setting halves the width and the "
          "training set; the loss proxies re-estimate BatchNorm statistics since that run.", "",
          "## Per-plan data", "", "| plan | changed layers | post-SR acc % | params | projection_loss | "
          "kept_dof |", "|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['plan']} | {r['changed']} | {r['acc']:.2f} | {r['params']:.0f} | "
                 f"{-r['projection_loss']:.4f} | {r['kept_dof']:.3f} |")
    L += ["", "## Notes", ""]
    for n in sorted(set(trained.notes) | set(init.notes)):
        L.append(f"- {n}")
    out.write_text("\n".join(L) + "\n")
    out.with_suffix(".json").write_text(json.dumps({
        "dense_acc": dense_acc, "rows": rows, "correlations": [
            {"proxy": c[0], "kendall_tau": c[1], "tau_ci": c[2], "spearman_rho": c[3], "rho_ci": c[4]}
            for c in corr], "equal_latency": cmp_rows, "settings": vars(args)}, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
