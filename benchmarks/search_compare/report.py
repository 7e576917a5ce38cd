"""Statistics and outputs of part (b): search_compare_cpu.md/.csv/.json and the picked plans."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np

import jobs as J
import methods as M
from settings import BUDGET

LABEL = {"in_loop": "accuracy-in-the-loop", "exact": "exact front (least proxy)", "greedy": "greedy",
         "uniform": "uniform", "rule_preset": "best rule preset", "random": "random (best of 1,000 feasible)",
         "sampler": "NSGA-II sampler (secondary)", "greedy_lagrangian": "greedy, Lagrangian rule (secondary)"}


def table2_suite(spec: str, suite, space, scale):
    """(proxy name, suite holding it) for table 2: a dense-s0 table, an '[init]' table, or calib.py's
    model."""
    from structconv.search import Calibrated, ProxySuite, compute_proxies

    if spec in suite.tables:
        return spec, suite
    if spec.endswith(" [init]"):
        import torch

        base = spec[: -len(" [init]")]
        torch.manual_seed(0)
        init = compute_proxies(space, data=J.bundle(scale, 0), calib_size=scale.calib_size, seed=0)
        t = dataclasses.replace(init.tables[base], name=spec)
        return spec, ProxySuite(space, {**suite.tables, spec: t}, suite.weights, list(suite.notes))
    d = json.loads(Path(spec).read_text())["table2_model"]
    model = Calibrated(tuple(d["names"]), np.array(d["weights"]), np.array(d["mean"]), np.array(d["std"]),
                       d["intercept"], d["signs"])
    return "calibrated", ProxySuite(space, {**suite.tables, "calibrated": model.table(suite.tables)},
                                    suite.weights, list(suite.notes))


def benchmark_seed0(acc_runs: Path, tables) -> list:
    """Picked plans that are also benchmark plans: our seed-0 accuracy beside the benchmark's (same
    computation)."""
    from config import SCALES
    from structconv.core import resolve_plan

    rec = json.loads((acc_runs / "plans" / "result.json").read_text())
    net = J.net(SCALES["cpu"])
    keys = {M.plan_key(resolve_plan(str(acc_runs / "plans" / p["plan_file"]), net)): p["id"]
            for p in rec["plans"]}
    out = []
    for t in tables:
        for m, r in t["runs"].items():
            pid = keys.get(r["key"])
            if pid is None or r["runs"][0]["seed"] != 0:
                continue
            res = acc_runs / f"run-{pid}-s0" / "result.json"
            theirs = json.loads(res.read_text())["acc"] if res.exists() else None
            out.append({"table": t["table"], "method": m, "benchmark_plan": pid,
                        "ours_seed0": r["runs"][0]["acc"], "benchmark_seed0": theirs})
    return out


def accuracies(t) -> dict:
    return {m: [r["acc"] for r in t["runs"][m]["runs"]] for m in t["order"] if m in t["runs"]}


def tests(t) -> dict:
    from structconv.search import paired_test

    acc = accuracies(t)
    out = {}
    for ref in ("exact", "greedy"):
        if ref in acc:
            out[ref] = paired_test(acc, ref)
    return out


def pair_p(acc, a, b) -> tuple[float, float]:
    from structconv.search import paired_test

    r = paired_test({a: acc[a], b: acc[b]}, b)[a]
    return r["p_ttest"], r["mean_diff"]


def verdict(t) -> list[str]:
    acc = accuracies(t)
    lines = []
    for m in ("exact", "in_loop"):
        if m not in acc:
            continue
        rivals = [b for b in ("greedy", "uniform", "random") if b in acc]
        res = {b: pair_p(acc, m, b) for b in rivals}
        wins = [b for b, (p, d) in res.items() if d > 0 and p < 0.05]
        txt = ", ".join(f"{b}: {d:+.2f} points, t-test p = {p:.3g}" for b, (p, d) in res.items())
        if len(wins) == len(rivals) and rivals:
            lines.append(f"**{LABEL[m]} wins** against {', '.join(rivals)} ({txt}).")
        else:
            lines.append(f"**{LABEL[m]} does not win** against every baseline (significant and higher: "
                         f"{', '.join(wins) or 'none'}; {txt}).")
    return lines


def _f(v, nd=2):
    return "" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def table_md(t) -> list[str]:
    acc = accuracies(t)
    te = tests(t)
    seeds = len(next(iter(acc.values()))) if acc else 0
    L = [f"### {t['table']}: plans chosen with proxy `{t['proxy']}`, "
         f"budget cycles_total <= {BUDGET}x dense (edge-int8)",
         "", "| method | plan | cycles ratio | params ratio | proxy loss | design layers | " +
         " | ".join(f"acc s{s}" for s in range(seeds)) + " | mean ± std | vs exact: diff, p_t, p_W | "
         "vs greedy: diff, p_t, p_W |", "|---" * (9 + seeds) + "|"]
    for m in t["order"]:
        p = t["picks"].get(m)
        if p is None or m not in acc:
            L.append(f"| {LABEL[m]} | none feasible | | | | | " + " | " * seeds + " | | |")
            continue
        a = np.array(acc[m])
        cells = []
        for ref in ("exact", "greedy"):
            r = te.get(ref, {}).get(m, {})
            cells.append("(reference)" if m == ref else
                         f"{r.get('mean_diff', float('nan')):+.2f}, {r.get('p_ttest', float('nan')):.3g}, "
                         f"{r.get('p_wilcoxon', float('nan')):.3g}")
        L.append(f"| {LABEL[m]} | `{p['key']}` | {p['cycles_ratio']:.3f} | {p['params_ratio']:.3f} | "
                 f"{p['proxy_loss']:.4g} | {p['design_layers']}/{p['changed_layers']} | " +
                 " | ".join(f"{v:.2f}" for v in a) + f" | {a.mean():.2f} ± {a.std(ddof=1):.2f} | " +
                 " | ".join(cells) + " |")
    same = {}
    for m in acc:
        same.setdefault(t["runs"][m]["key"], []).append(m)
    shared = [v for v in same.values() if len(v) > 1]
    L += ["",
          f"p_t: paired t-test, p_W: Wilcoxon signed-rank, both two-sided over the {seeds} fine-tune seeds "
          f"(with {seeds} pairs the smallest possible p_W is 2/2^{seeds} = {2 / 2 ** seeds:.4g})."]
    if shared:
        L.append("Methods that picked the same plan (shared runs, difference 0): " +
                 "; ".join(" = ".join(v) for v in shared) + ".")
    L += [""] + verdict(t)
    n = t["notes"]
    L += ["",
          f"Picks: uniform = {n.get('uniform')}, rule preset = {n.get('rule_preset') or 'none feasible'}, "
          f"random = best of {n.get('random_feasible')} feasible plans out of {n.get('random_draws')} draws; "
          f"picking took {n.get('pick_seconds', 0):.1f} s."]
    if t.get("in_loop"):
        il = t["in_loop"]
        L += ["", f"Accuracy-in-the-loop: {len(il['candidates'])} candidates from the exact front "
              f"({il['front_size']} feasible points), successive halving over 1/2/3 epochs, scored on the "
              f"selection split (never the test set); {il['epochs_spent']} epochs spent vs "
              f"{il['epochs_without_pruning']} without pruning, "
              f"{il.get('compute_seconds', il['seconds']):.0f} s of training and evaluation.", "",
              "| candidate | key | cycles ratio | proxy loss | state | epochs reached | selection acc |",
              "|---|---|---|---|---|---|---|"]
        cand = {c["name"]: c for c in il["candidates"]}
        for r in il["ranking"]:
            c = cand[r["plan"]]
            L.append(f"| {r['plan']} | `{c['key']}` | {c['cycles_ratio']:.3f} | {c['proxy_loss']:.4g} | "
                     f"{r['state']} | {r['budget_reached']} | {_f(r['accuracy'])} |")
    return L


def _job_minutes(data) -> float:
    seen, total = set(), 0.0
    for t in data["tables"]:
        for r in t["runs"].values():
            if r["key"] not in seen:
                seen.add(r["key"])
                total += sum(x["seconds"] for x in r["runs"])
        if t.get("in_loop"):
            total += t["in_loop"].get("compute_seconds", 0.0)
    return total / 60


def markdown(data) -> str:
    s = data["scale"]
    L = (["**SMOKE RUN: not the protocol's settings, not a result.**", ""] if data["smoke"] else []) + [
        "# Search methods at 0.5x dense cycles: post-decomposition accuracy (issue 13)", "",
        "Protocol: benchmarks/search_compare/PROTOCOL.md (version 1, committed before any run). "
        f"Network, data, recipe: the accuracy benchmark's CPU scale (ResNet-20 widths {s['widths']}, "
        f"Fashion-MNIST {s['input_size']}x{s['input_size']}, {s['train_per_class']} training images per "
        f"class, SR fine-tune E = {s['epochs']} epochs, lam {s['lam']}, lr {s['lr']}) from the dense seed-0 "
        f"checkpoint; fine-tune seeds {list(data['settings']['seeds'])}; metric: top-1 (%) on the "
        f"10,000-image test set after decompose(strict=True). Compute: {_job_minutes(data):.1f} min of "
        f"training and evaluation over all jobs (one process, one thread; this invocation "
        f"{data['wall_seconds'] / 60:.1f} min of wall time, reusing the result.json of jobs an earlier "
        f"invocation finished), finished {data['finished']}.", ""]
    for t in data["tables"]:
        L += table_md(t) + [""]
    if data["benchmark_seed0"]:
        L += ["Reproducibility check (not a result): picked plans that are also accuracy-benchmark plans, "
              "seed 0 (the same computation):", ""] + [
            f"- {r['table']} {r['method']} = benchmark `{r['benchmark_plan']}`: "
            f"ours {r['ours_seed0']:.2f} %, benchmark {_f(r['benchmark_seed0'])} %"
            for r in data["benchmark_seed0"]] + [""]
    return "\n".join(L) + "\n"


def write(results: Path, data: dict, space) -> None:
    from structconv.core import atomic_write_text, write_data_file

    results.mkdir(parents=True, exist_ok=True)
    pdir = results / "search_compare_cpu_plans"
    pdir.mkdir(exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "proxy", "method", "plan_key", "plan_file", "cycles_ratio", "params_ratio",
                "proxy_loss", "seed", "acc", "acc_before", "diverged"])
    for t in data["tables"]:
        for m in t["order"]:
            p = t["picks"].get(m)
            if p is None:
                w.writerow([t["table"], t["proxy"], m, "", "", "", "", "", "", "", "", ""])
                continue
            f = pdir / f"{t['table']}-{m}.yaml"
            space.plan(p["index"], name=f"{t['table']}-{m}").save(f)
            for r in t["runs"][m]["runs"]:
                w.writerow([t["table"], t["proxy"], m, p["key"], f"search_compare_cpu_plans/{f.name}",
                            f"{p['cycles_ratio']:.6g}", f"{p['params_ratio']:.6g}", f"{p['proxy_loss']:.6g}",
                            r["seed"], f"{r['acc']:.4f}", "" if r.get("acc_before") is None else
                            f"{r['acc_before']:.4f}", str(bool(r.get("diverged"))).lower()])
    atomic_write_text(results / "search_compare_cpu.csv", buf.getvalue())
    for t in data["tables"]:
        t["tests"] = tests(t)
        t["verdict"] = verdict(t)
    write_data_file(results / "search_compare_cpu.json", data)
    atomic_write_text(results / "search_compare_cpu.md", markdown(data))
