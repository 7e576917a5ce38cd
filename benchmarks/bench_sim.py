#!/usr/bin/env python3
"""Benchmark structconv.sim: batch throughput, ResNet-50 x 10,000 plans, and SCALE-Sim vs us.

    .venv/bin/python benchmarks/bench_sim.py [--plans 10000] [--hw edge-int8] [--markdown]

Everything runs on one core (the kernels are serial; NUMBA_NUM_THREADS is pinned to 1)
after a JIT warm-up. SCALE-Sim's times are the ``scalesim_cpu_seconds`` column of
tests/data/scalesim_goldens.csv (CPU time, not wall time: the goldens were recorded on a
loaded shared machine, and CPU time is the conservative figure) (SCALE-Sim 3.0.0 in CALC mode, measured per case by
benchmarks/scalesim_goldens.py); our times are measured here on the same layers, and
every layer's compute cycles are checked equal to SCALE-Sim's "Total Cycles".
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from structconv.core import Dense, Layer, Network, Structure  # noqa: E402
from structconv.core.zoo import get_network  # noqa: E402
from structconv.sim import Accelerator, BatchSimulator, MacArray, Memory  # noqa: E402
from structconv.sim import _kernels as K  # noqa: E402
from structconv.sim import engine  # noqa: E402
from structconv.sim.mapping import dense_job, hw_record, jobs_for  # noqa: E402

GOLDENS = ROOT / "tests" / "data" / "scalesim_goldens.csv"


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def search_space(net):
    """Per layer: dense plus (c, n) structures, c in {C/8, C/4, C/2, C}, n in 1..k (the search's menu)."""
    out = []
    for layer in net.layers:
        C, (kh, kw) = layer.group_in_channels, layer.kernel
        opts = [Dense()]
        for c in sorted({max(1, C // 8), max(1, C // 4), max(1, C // 2), C}):
            for n in range(1, min(kh, kw) + 1):
                s = Structure(c, n)
                if not s.is_identity(layer):
                    opts.append(s)
        out.append(opts)
    return out


def bench_batch(hw: str, plans: int) -> dict:
    net = get_network("resnet50")
    choices = search_space(net)
    BatchSimulator(net, hw, choices).evaluate(np.zeros((2, len(net)), np.int64))     # JIT warm-up
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, len(c), plans) for c in choices], axis=1)

    def build_and_run():
        engine._CACHE.clear()                  # cold table: every (layer, choice) simulated
        b = BatchSimulator(net, hw, choices)
        return b.evaluate(idx)

    t_total = best_of(build_and_run, 3)
    engine._CACHE.clear()
    t0 = time.perf_counter()
    batch = BatchSimulator(net, hw, choices)
    t_build = time.perf_counter() - t0
    t_eval = best_of(lambda: batch.evaluate(idx))
    big = np.tile(idx, (max(1, 1_000_000 // plans), 1))
    t_big = best_of(lambda: batch.evaluate(big), 3)
    # raw simulation throughput: the analytical kernel on the table's job records, many at once
    jobs = np.concatenate([jobs_for(l, c) for l, cs in zip(net.layers, choices) for c in cs])
    many = np.tile(jobs, 200)
    rec = hw_record(batch.hw)
    t_kernel = best_of(lambda: K.run_jobs(many, rec), 3)
    return {"layers": len(net), "table_rows": int(batch.num_choices.sum()), "plans": plans,
            "kernel_rows_per_s": many.shape[0] / t_kernel,
            "t_total": t_total, "t_build": t_build, "t_eval": t_eval,
            "evals_per_s": big.shape[0] * big.shape[1] / t_big, "big_plans": big.shape[0]}


def golden_cases():
    with open(GOLDENS) as f:
        rows = list(csv.DictReader(f))
    cases = []
    for r in rows:
        i = lambda k: int(r[k])
        layer = Layer.conv2d("layer0", i("channels"), i("num_filters"), (i("filter_h"), i("filter_w")),
                             (i("ifmap_h"), i("ifmap_w")), stride=i("stride"))
        hw = Accelerator("golden", MacArray(i("array_rows"), i("array_cols"), r["dataflow"]),
                         memory=Memory(i("ifmap_sram_kb") * 1024, i("filter_sram_kb") * 1024,
                                       i("ofmap_sram_kb") * 1024, 10.0))
        cases.append((layer, hw, int(r["total_cycles"]), float(r["scalesim_cpu_seconds"])))
    return cases


def bench_scalesim() -> dict:
    cases = golden_cases()
    jobs = [dense_job(l, scalesim_ofmap=True) for l, _, _, _ in cases]
    vecs = [hw_record(hw) for _, hw, _, _ in cases]
    # warm-up and exactness: both modes, every case
    same = 0
    for job, v, (_, _, want, _) in zip(jobs, vecs, cases):
        a = K.run_jobs(job, v, "analytical")[0]["cycles_compute"]
        c = K.run_jobs(job, v, "cycle")[0]["cycles_compute"]
        same += int(a == want == c)
    scalesim_s = sum(c[3] for c in cases)

    def kernel_all():
        for job, v in zip(jobs, vecs):
            K.run_jobs(job, v, "analytical")

    def api_all():
        engine._CACHE.clear()
        for layer, hw, _, _ in cases:
            engine._CACHE.clear()
            engine.simulate(_net(layer), hw=hw, scalesim_ofmap=True)

    def cycle_all():
        for job, v in zip(jobs, vecs):
            K.run_jobs(job, v, "cycle")

    t_kernel = best_of(kernel_all)
    t_api = best_of(api_all, 3)
    t_cycle = best_of(cycle_all, 3)
    per_case = [best_of(lambda: K.run_jobs(job, v, "analytical"), 20) for job, v in zip(jobs, vecs)]
    ratios = [c[3] / t for c, t in zip(cases, per_case)]
    return {"cases": len(cases), "exact": same, "scalesim_s": scalesim_s, "kernel_s": t_kernel, "api_s": t_api,
            "cycle_s": t_cycle, "median_scalesim_s": statistics.median(c[3] for c in cases),
            "min_ratio_kernel": min(ratios)}


def _net(layer):
    return Network("golden", (layer.in_channels, *layer.input_size), (layer,))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", type=int, default=10_000)
    ap.add_argument("--hw", default="edge-int8")
    args = ap.parse_args(argv)

    b = bench_batch(args.hw, args.plans)
    print(f"batch API ({args.hw}, resnet50: {b['layers']} layers, {b['table_rows']} (layer, choice) rows)")
    print(f"  table build (cold cache):          {b['t_build'] * 1e3:8.1f} ms")
    print(f"  evaluate {b['plans']:,} plans:             {b['t_eval'] * 1e3:8.2f} ms")
    print(f"  build + evaluate {b['plans']:,} plans:     {b['t_total'] * 1e3:8.1f} ms")
    print(f"  layer evaluations per second:      {b['evals_per_s']:.3g} ({b['big_plans']:,} plans per call)")
    print(f"  uncached (layer, choice) simulations per second, analytical kernel: {b['kernel_rows_per_s']:.3g}")
    s = bench_scalesim() if GOLDENS.exists() else None
    if s:
        n = s["cases"]
        print(f"\nSCALE-Sim 3.0.0 vs structconv on the {n} golden (layer, array, dataflow) cases")
        print(f"  identical compute cycles (both modes): {s['exact']}/{n}")
        print(f"  SCALE-Sim total {s['scalesim_s']:.1f} s (median {s['median_scalesim_s'] * 1e3:.0f} ms per case)")
        print(f"  structconv kernel (analytical): {s['kernel_s'] * 1e3:.2f} ms total -> "
              f"{s['scalesim_s'] / s['kernel_s']:,.0f}x faster (per case: at least {s['min_ratio_kernel']:,.0f}x)")
        print(f"  structconv simulate() uncached: {s['api_s'] * 1e3:.1f} ms total -> "
              f"{s['scalesim_s'] / s['api_s']:,.0f}x faster")
        print(f"  structconv cycle mode:          {s['cycle_s'] * 1e3:.1f} ms total -> "
              f"{s['scalesim_s'] / s['cycle_s']:,.0f}x faster")
    print("\n| benchmark (one core) | result |\n|---|---|")
    print(f"| batch API, layer evaluations / s | {b['evals_per_s']:.3g} |")
    print(f"| analytical kernel, uncached (layer, choice) simulations / s | {b['kernel_rows_per_s']:.3g} |")
    print(f"| ResNet-50 x {b['plans']:,} random plans, evaluate | {b['t_eval'] * 1e3:.1f} ms |")
    print(f"| ResNet-50 x {b['plans']:,} random plans, incl. building the {b['table_rows']}-row table "
          f"| {b['t_total'] * 1e3:.0f} ms |")
    if s:
        print(f"| SCALE-Sim 3.0.0 exact compute-cycle matches | {s['exact']}/{s['cases']} |")
        print(f"| speed-up vs SCALE-Sim, analytical kernel ({s['cases']} layers) | "
              f"{s['scalesim_s'] / s['kernel_s']:,.0f}x |")
        print(f"| speed-up vs SCALE-Sim, `simulate()` uncached | {s['scalesim_s'] / s['api_s']:,.0f}x |")
        print(f"| speed-up vs SCALE-Sim, cycle mode | {s['scalesim_s'] / s['cycle_s']:,.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
