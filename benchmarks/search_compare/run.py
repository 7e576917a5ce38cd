"""Part (b) of the search comparison (PROTOCOL.md, version 1): every method's one plan at 0.5x dense cycles
on edge-int8, trained with the accuracy benchmark's recipe over 5 fine-tune seeds, paired tests.

    .venv/bin/python benchmarks/search_compare/run.py                    # the protocol's run (CPU scale)
    .venv/bin/python benchmarks/search_compare/run.py --table2 <proxy>   # adds table 2 (part a's default)
    .venv/bin/python benchmarks/search_compare/run.py --toy --runs-dir /tmp/x --results-dir /tmp/y   # smoke

Resumable: each (plan, seed) run and each in-the-loop evaluation keeps its result.json under the runs dir.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import settings as S  # first: puts benchmarks/accuracy on sys.path for the imports below

# isort: split
import methods as M
import training as T
from config import DESIGN_KINDS

T0 = time.time()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def in_loop(problem, st, scale, root, device, table: str):
    from structconv.search import run_in_loop

    t0 = time.perf_counter()
    cands, front_size = M.candidates(problem, st)
    plans = [problem.space.plan(list(idx), name=f"cand-{i}") for i, idx in enumerate(cands)]
    keys = {p.name: M.plan_key(p) for p in plans}
    ev = T.SelectionEval(scale, st, root, device, keys, log)
    res = run_in_loop(plans, ev, budgets=st.budgets, pruner="sha", study_name=f"in-loop-{table}")
    best = res.best
    info = {"front_size": front_size, "candidates": [{"name": p.name, "key": keys[p.name],
            **M.describe(problem, idx, DESIGN_KINDS)} for p, idx in zip(plans, cands)],
            "ranking": res.ranking, "best": best, "epochs_spent": ev.epochs_spent,
            "epochs_without_pruning": len(plans) * sum(st.budgets), "seconds": time.perf_counter() - t0,
            "compute_seconds": ev.compute_seconds}
    return (None if best is None else cands[best["candidate"]]), info


def final_runs(problem, picks, st, scale, root, device, order) -> dict:
    """method -> [per-seed result]; methods with equal plans share runs."""
    out = {}
    for m in order:
        idx = picks.get(m)
        if idx is None:
            continue
        plan = problem.space.plan(list(idx), name=m)
        key = M.plan_key(plan)
        rows = []
        for s in st.seeds:
            d = root / f"run-{key}-s{s}"
            fresh = not (d / "result.json").exists()
            r = T.cached(d, partial(T.fine_tune, scale, plan, s, scale.epochs, d, device))
            rows.append(r)
            log(f"{m} ({key}) seed {s}: test acc {r['acc']:.2f}%{'' if fresh else ' (done before)'}")
        out[m] = {"key": key, "runs": rows}
    return out


def one_table(name, proxy, suite, space, costs, st, scale, root, device, with_in_loop: bool) -> dict:
    problem = M.problem_for(space, costs, suite, proxy)
    t0 = time.perf_counter()
    picks, notes = M.pick_all(problem, st)
    notes["pick_seconds"] = time.perf_counter() - t0
    log(f"[{name}] picks: " + ", ".join(f"{k}={'none' if v is None else M.plan_key(space.plan(v))}"
                                        for k, v in picks.items()))
    loop = None
    if with_in_loop:
        picks["in_loop"], loop = in_loop(problem, st, scale, root, device, name)
    order = [m for m in S.PRIMARY if m in picks] + [m for m in S.SECONDARY if m in picks]
    runs = final_runs(problem, picks, st, scale, root, device, order)
    desc = {m: (None if picks.get(m) is None else {**M.describe(problem, picks[m], DESIGN_KINDS),
                                                   "key": M.plan_key(space.plan(picks[m])),
                                                   "index": picks[m]})
            for m in order}
    return {"table": name, "proxy": proxy, "picks": desc, "notes": notes, "in_loop": loop, "runs": runs,
            "order": order}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", default=None, help="default benchmarks/search_compare/runs/cpu")
    ap.add_argument("--results-dir", default=None, help="default benchmarks/results")
    ap.add_argument("--acc-runs", default=str(S.ACC_RUNS), help="the accuracy benchmark's runs (dense-s0)")
    ap.add_argument("--table2", default=None, help="proxy of table 2 (part a's default), or a .json with a "
                    "'calibrated' table written by calib.py")
    ap.add_argument("--skip-table1-runs", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--toy", action="store_true", help="smoke test: tiny settings; needs other dirs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.toy and (args.runs_dir is None or args.results_dir is None
                     or Path(args.results_dir).resolve() == S.RESULTS.resolve()):
        ap.error("--toy needs --runs-dir and a --results-dir other than benchmarks/results")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    import report

    st = S.TOY if args.toy else S.PROTOCOL
    scale = st.scale()
    root = Path(args.runs_dir) if args.runs_dir else S.RUNS / "cpu"
    results = Path(args.results_dir) if args.results_dir else S.RESULTS
    acc_runs = Path(args.acc_runs)
    if not (acc_runs / "dense-s0" / "dense.pt").exists():
        raise SystemExit(f"search_compare: {acc_runs}/dense-s0/dense.pt does not exist yet")
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    space, costs, suite = M.setup(scale, acc_runs)
    checked = M.check_against_benchmark(suite, acc_runs) if not args.toy else 0
    log(f"setup: proxies on dense-s0 in {time.perf_counter() - t0:.1f} s; projection_loss matches the "
        f"benchmark on {checked} plans")
    tables = [one_table("table1", S.PRIMARY_PROXY, suite, space, costs, st, scale, root, args.device, True)]
    if args.table2:
        proxy, suite2 = report.table2_suite(args.table2, suite, space, scale)
        tables.append(one_table("table2", proxy, suite2, space, costs, st, scale, root, args.device, False))
    data = {"settings": st.to_dict(), "scale": scale.to_dict(), "smoke": st.toy, "tables": tables,
            "benchmark_seed0": report.benchmark_seed0(acc_runs, tables),
            "wall_seconds": time.perf_counter() - t0,
            "checked_plans": checked, "pid": os.getpid(), "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                  time.gmtime())}
    report.write(results, data, space)
    log(f"done in {time.perf_counter() - t0:.0f} s -> {results}/search_compare_cpu.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
