#!/usr/bin/env python3
"""Benchmark structconv.sim: batch throughput, and SCALE-Sim vs us measured three honest ways.

    .venv/bin/python benchmarks/bench_sim.py [--plans 10000] [--hw edge-int8] [--skip-batch]
                                             [--scalesim-python benchmarks/scalesim_venv/bin/python]

The SCALE-Sim comparison, on the 144 pinned golden layers (every layer's cycles_total is
checked equal to SCALE-Sim's Total Cycles first), reports three figures, each labelled:
1. whole process vs whole process, same files: `structconv simulate --scalesim-topology
   --scalesim-config` against `python -m scalesim.scale -c -t -l` (needs a SCALE-Sim
   interpreter: `python3 -m venv benchmarks/scalesim_venv && benchmarks/scalesim_venv/bin/pip
   install scalesim==3.0.0 'numpy<2.4'`, then --scalesim-python benchmarks/scalesim_venv/bin/python;
   without it our side runs and SCALE-Sim's is reported as not run);
2. in-process per configuration, inputs (Layer, Network, Accelerator) built inside the timed
   region with a cold cache, against SCALE-Sim's in-process time for the same layer (the
   ``scalesim_cpu_seconds`` column of tests/data/scalesim_goldens.csv: object construction +
   run_scale, import excluded, CPU time, measured by benchmarks/scalesim_goldens.py);
3. the kernel alone on prebuilt records -- labelled KERNEL ONLY: it is not like for like.
Everything runs on one core (NUMBA_NUM_THREADS=1) after a JIT warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
# in this process the kernels run compiled (the figures below are the compiled kernels'); the whole-process
# comparison runs `structconv` as users do, its tier chosen per call (structconv/sim/_tier.py)
os.environ.setdefault("STRUCTCONV_KERNELS", "compiled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: structconv, tests.support

import numpy as np

from structconv.core.zoo import get_network
from structconv.sim import BatchSimulator, engine
from structconv.sim import _kernels as K
from structconv.sim.mapping import dense_job, hw_record, jobs_for
from tests.support.goldens import golden_case, golden_groups, golden_network, golden_rows
from tests.support.menus import search_space

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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


def bench_kernel_only(rows) -> dict:
    """KERNEL ONLY: the closed-form kernel on JOB/HW records built BEFORE the timer. Not a
    like-for-like comparison with SCALE-Sim (whose time includes building its inputs)."""
    cases = [golden_case(r) for r in rows]
    jobs = [dense_job(l, scalesim_ofmap=True) for l, _ in cases]
    vecs = [hw_record(hw) for _, hw in cases]
    same = 0
    for job, v, r in zip(jobs, vecs, rows):        # warm-up and exactness, both modes
        a = K.run_jobs(job, v, "analytical")[0]
        c = K.run_jobs(job, v, "cycle")[0]
        same += int(a["cycles_compute"] + a["cycles_stall"] == int(r["total_cycles"]) == c["cycles_compute"])

    def kernel_all(mode):
        for job, v in zip(jobs, vecs):
            K.run_jobs(job, v, mode)
    return {"exact": same, "kernel_s": best_of(lambda: kernel_all("analytical")),
            "cycle_kernel_s": best_of(lambda: kernel_all("cycle"), 3)}


def bench_in_process(rows) -> dict:
    """IN-PROCESS, per configuration, inputs built inside the timed region: Layer, Network and
    Accelerator objects, a cold simulator cache, simulate(). SCALE-Sim's figure is the same
    span on its side (object construction + run_scale, import excluded; goldens' CPU seconds)."""
    def one(r):
        engine._CACHE.clear()
        net, hw = golden_network(r)
        return engine.simulate(net, hw=hw, scalesim_ofmap=True)[0].cycles_total
    assert all(one(r) == int(r["total_cycles"]) for r in rows)          # warm-up and exactness
    ours = [best_of(partial(one, r), 5) for r in rows]
    theirs = [float(r["scalesim_cpu_seconds"]) for r in rows]
    ratios = [t / o for t, o in zip(theirs, ours)]
    return {"ours_s": sum(ours), "scalesim_s": sum(theirs), "median_ratio": statistics.median(ratios),
            "min_ratio": min(ratios)}


def _write_inputs(d: Path, g: int, key, rows) -> tuple[Path, Path, Path]:
    rows_, cols, df, i, f, o = key
    topo, cfg, layout = d / f"topo{g}.csv", d / f"calc{g}.cfg", d / f"layout{g}.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                    "Num Filter, Strides,\n"
                    + "".join(f"l{k}, {r['ifmap_h']}, {r['ifmap_w']}, {r['filter_h']}, {r['filter_w']}, "
                              f"{r['channels']}, {r['num_filters']}, {r['stride']},\n"
                              for k, r in enumerate(rows)))
    cfg.write_text(f"[general]\nrun_name = golden{g}\n\n[architecture_presets]\nArrayHeight: {rows_}\n"
                   f"ArrayWidth: {cols}\nIfmapSramSzkB: {i}\nFilterSramSzkB: {f}\nOfmapSramSzkB: {o}\n"
                   f"IfmapOffset: 0\nFilterOffset: 10000000\nOfmapOffset: 20000000\nBandwidth: 10\n"
                   f"Dataflow: {df}\nReadRequestBuffer: 32\nWriteRequestBuffer: 32\n\n[layout]\n"
                   "IfmapCustomLayout: False\nIfmapSRAMBankBandwidth: 10\nIfmapSRAMBankNum: 1\n"
                   "IfmapSRAMBankPort: 2\nFilterCustomLayout: False\nFilterSRAMBankBandwidth: 10\n"
                   "FilterSRAMBankNum: 1\nFilterSRAMBankPort: 2\n\n[sparsity]\nSparsitySupport: false\n"
                   "SparseRep: ellpack_block\nOptimizedMapping: false\nBlockSize: 8\n"
                   "RandomNumberGeneratorSeed: 40\n\n[run_presets]\nInterfaceBandwidth: CALC\n"
                   "UseRamulatorTrace: False\n")
    layout.write_text("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
                      "Filter Height Intraline Factor, Filter Width Intraline Factor, "
                      "Channel Intraline Factor, Num Filter Intraline Factor, IFMAP Height Intraline Order, "
                      "IFMAP Width Intraline Order, Channel Intraline Order, IFMAP Height Interline Order, "
                      "IFMAP Width Interline Order, Channel Interline Order, Filter Height Intraline Order, "
                      "Filter Width Intraline Order,\n"
                      + "".join(f"l{k}, 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1,\n"
                                for k in range(len(rows))))
    return topo, cfg, layout


def bench_whole_process(rows, scalesim_python: str | None) -> dict:
    """WHOLE PROCESS vs WHOLE PROCESS on the same files: one topology + CALC cfg per golden
    configuration; wall time of `structconv simulate --scalesim-topology T --scalesim-config C
    --json` (interpreter start, imports, Numba cache load included) and, when a SCALE-Sim
    interpreter is given, of `python -m scalesim.scale -c C -t T -l L -p OUT` on the same files."""
    groups = golden_groups(rows)
    ours = theirs = 0.0
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmp:
        d = Path(tmp)
        for g, (key, grp) in enumerate(sorted(groups.items())):
            topo, cfg, layout = _write_inputs(d, g, key, grp)
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "structconv", "simulate",
                                  "--scalesim-topology", str(topo), "--scalesim-config", str(cfg), "--json"],
                                 check=True, capture_output=True, text=True,
                                 env={**os.environ, "STRUCTCONV_KERNELS": "auto"}).stdout
            ours += time.perf_counter() - t
            got = [l["cycles_total"] for l in json.loads(out)["layers"]]
            assert got == [int(r["total_cycles"]) for r in grp], key
            if scalesim_python:
                t = time.perf_counter()
                subprocess.run([scalesim_python, "-m", "scalesim.scale", "-c", str(cfg), "-t", str(topo),
                                "-l", str(layout), "-p", str(d / f"out{g}")], check=True, capture_output=True)
                theirs += time.perf_counter() - t
    return {"configs": len(groups), "layers": len(rows), "ours_s": ours, "scalesim_s": theirs or None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", type=int, default=10_000)
    ap.add_argument("--hw", default="edge-int8")
    ap.add_argument("--scalesim-python", metavar="PYTHON", default=None,
                    help="an interpreter with scalesim==3.0.0 installed: "
                         "times SCALE-Sim's CLI on the same files")
    ap.add_argument("--skip-batch", action="store_true", help="only the SCALE-Sim comparisons")
    args = ap.parse_args(argv)
    if not args.skip_batch:
        print_batch(args)
    rows = golden_rows()
    k, ip = bench_kernel_only(rows), bench_in_process(rows)
    wp = bench_whole_process(rows, args.scalesim_python)
    n = len(rows)
    print(f"\nSCALE-Sim 3.0.0 (CALC) vs structconv on the {n} golden layers; cycles_total == Total Cycles: "
          f"{k['exact']}/{n}")
    print("| comparison (one core) | structconv | SCALE-Sim | ratio |\n|---|---|---|---|")
    if wp["scalesim_s"]:
        print(f"| whole process vs whole process, {wp['configs']} cfg+topology pairs ({n} layers), wall | "
              f"{wp['ours_s']:.1f} s | {wp['scalesim_s']:.1f} s | {wp['scalesim_s'] / wp['ours_s']:,.1f}x |")
    else:
        print(f"| whole process, {wp['configs']} cfg+topology pairs ({n} layers), wall "
              f"| {wp['ours_s']:.1f} s | not run (give --scalesim-python) | - |")
    print(f"| in-process per configuration, inputs built in the timed region ({n} layers; SCALE-Sim: "
          f"construction + run_scale, CPU s) | {ip['ours_s'] * 1e3:.1f} ms | {ip['scalesim_s']:.1f} s | "
          f"{ip['scalesim_s'] / ip['ours_s']:,.0f}x total, median {ip['median_ratio']:,.0f}x, "
          f"min {ip['min_ratio']:,.0f}x per layer |")
    print(f"| KERNEL ONLY (prebuilt records; not like for like) analytical / cycle | "
          f"{k['kernel_s'] * 1e3:.2f} / {k['cycle_kernel_s'] * 1e3:.1f} ms | - | - |")
    return 0


def print_batch(args) -> None:
    b = bench_batch(args.hw, args.plans)
    print(f"batch API ({args.hw}, resnet50: {b['layers']} layers, {b['table_rows']} (layer, choice) rows)")
    print("| benchmark (one core) | result |\n|---|---|")
    print(f"| batch API, layer evaluations / s | {b['evals_per_s']:.3g} |")
    print("| analytical kernel, uncached (layer, choice) simulations / s (KERNEL ONLY) "
          f"| {b['kernel_rows_per_s']:.3g} |")
    print(f"| ResNet-50 x {b['plans']:,} random plans, evaluate | {b['t_eval'] * 1e3:.1f} ms |")
    print(f"| ResNet-50 x {b['plans']:,} random plans, incl. building the {b['table_rows']}-row table "
          f"| {b['t_total'] * 1e3:.0f} ms |")


if __name__ == "__main__":
    sys.exit(main())
