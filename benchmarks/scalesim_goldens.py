#!/usr/bin/env python3
"""Golden reference numbers from the real SCALE-Sim 3.0.0 simulator.

For every case returned by :func:`cases` (one conv layer x one systolic-array
shape x one dataflow), this script writes a one-layer SCALE-Sim topology CSV,
a dummy layout CSV and a ``.cfg`` into a temporary directory, runs SCALE-Sim in
CALC ("estimate bandwidth") mode, parses ``COMPUTE_REPORT.csv``,
``DETAILED_ACCESS_REPORT.csv`` and ``BANDWIDTH_REPORT.csv`` and writes one row
per case to ``tests/data/scalesim_goldens.csv``.  The per-case SCALE-Sim wall
time (object construction + ``run_scale``; no trace files are written; the
``import scalesim`` itself is excluded) is stored in the ``scalesim_seconds``
column, and the CPU time of the same span (``time.process_time``, less sensitive
to other load on the machine) in ``scalesim_cpu_seconds``.

How to run (from the repository root)::

    python3 -m venv .venv-scalesim
    .venv-scalesim/bin/pip install scalesim==3.0.0 'numpy<2.4'   # SCALE-Sim crashes on numpy 2.4
    .venv-scalesim/bin/python benchmarks/scalesim_goldens.py

Options: ``--set wide`` (the second pinned set, below), ``--jobs N`` (worker processes,
default 2), ``--out PATH`` (default ``tests/data/scalesim_goldens.csv``, or
``tests/data/scalesim_goldens_wide.csv`` with ``--set wide``), ``--only SUBSTR`` (run only the cases
whose case_id contains SUBSTR; the output then holds only those rows),
``--list`` (print the case ids and exit).

The script is re-runnable and deterministic: the case list is fixed, every
case runs in a fresh worker process (``maxtasksperchild=1``) in its own
temporary directory, and rows are written in case-list order.  All simulated
numbers are bit-for-bit reproducible; only ``scalesim_seconds`` and
``scalesim_cpu_seconds`` (time measurements) vary from run to run.  Use
``--jobs 1`` on a quiet machine for the cleanest timings.

This module only needs the standard library at import time; ``scalesim`` is
imported lazily inside :func:`run_case`.

The wide set (``--set wide``, :func:`wide_cases`; tests/sim/test_scalesim_wide.py) widens the
goldens with layer shapes the first set lacks (odd sizes, stride 2/3/4 with hanging windows,
rectangular kernels, 1x1, FC rows), arrays 4x4, 32x32, 64x8, 128x128 and 12x20, several SRAM
sizes, GEMM topologies (SCALE-Sim's mnk input, ``Layer, M, N, K,``) and depthwise ``DP`` rows.
Its CSV has the same columns plus ``input_kind`` (after case_id):
  * conv: as above;
  * gemm: the topology row ``layer0, M, N, K,`` run with ``input_type_gemm=True``; the row holds
    M in ifmap_h, K in channels, N in num_filters and 1 in ifmap_w, filter_h, filter_w, stride
    (the 1x1 conv on an M x 1 input with K channels both tools derive from it);
  * dp: the conv row named ``layer0_DP``, which SCALE-Sim runs once per channel (Channels report
    rows, asserted identical): the additive columns (cycles, SRAM/DRAM accesses) hold the sum
    over the channels; percentages, start/stop cycles and bandwidths are one channel's.
The shapes were picked to be small enough for short SCALE-Sim runs (no 224x224 layers); the cap
``WIDE_MAX_COST`` on ``cost_guess`` (demand cells) guards that and drops none of the 153 cases.
The whole set took 56.5 s of SCALE-Sim CPU time (77 s wall, --jobs 1, on a loaded 2-core machine).
The list was fixed before any result was compared with structconv.

The case lists, CSV columns and input files are in tests/support/scalesim_inputs.py (the tests
check the pinned rows against the same lists); its docstring has the notes on SCALE-Sim's inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))    # the repository root: tests.support
from tests.support.scalesim_inputs import (
    ACCESS_KEYS,
    CASE_KEYS,
    COLUMNS,
    EXTRA_KEYS,
    WIDE_COLUMNS,
    cases,
    cost_guess,
    wide_cases,
    write_inputs,
)


def _read_report(path: str, n_rows: int = 1) -> list[list[str]]:
    """The values (as stripped strings, LayerID dropped) of the ``n_rows`` data rows of a
    SCALE-Sim report."""
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    assert len(lines) == 1 + n_rows, f"expected header + {n_rows} rows in {path}, got {len(lines)} lines"
    out = []
    for line in lines[1:]:
        vals = [v.strip() for v in line.split(",")]
        if vals and vals[-1] == "":
            vals = vals[:-1]      # trailing comma
        out.append(vals[1:])      # drop LayerID
    return out


def _as_int(s: str) -> int:
    v = float(s)
    assert v == int(v), s
    return int(v)


def _as_float(s: str) -> str:
    return repr(float(s))         # exact round-trip of SCALE-Sim's own str(float)


# DETAILED_ACCESS_REPORT / COMPUTE_REPORT columns that add up over a dp row's channel layers
_ADDITIVE = {"total_cycles", "stall_cycles", "total_cycles_incl_prefetch",
             "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
             "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes"}


def run_case(case: dict) -> dict:
    """Run one case through SCALE-Sim (imported lazily) and return a full CSV row."""
    from scalesim.scale_sim import scalesim  # lazy: keep this module importable without it

    kind = case.get("input_kind", "conv")
    n_layers = case["channels"] if kind == "dp" else 1
    with tempfile.TemporaryDirectory(prefix="scalesim_golden_") as tmp:
        topo, layout, cfg = write_inputs(case, tmp)
        outdir = os.path.join(tmp, "out")

        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            t0, c0 = time.perf_counter(), time.process_time()
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg,
                           topology=topo, layout=layout, input_type_gemm=kind == "gemm")
            sim.run_scale(top_path=outdir)
            seconds = time.perf_counter() - t0
            cpu_seconds = time.process_time() - c0

        rep = os.path.join(outdir, "golden")
        reports = [_read_report(os.path.join(rep, name), n_layers) for name in
                   ("COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "BANDWIDTH_REPORT.csv")]
    # a dp row's channel layers are the same layer: one report row, repeated
    assert all(r == rep_rows[0] for rep_rows in reports for r in rep_rows), reports
    comp, acc, bw = (rep_rows[0] for rep_rows in reports)

    # COMPUTE_REPORT: Total Cycles (incl. prefetch), Total Cycles, Stall Cycles,
    #                 Overall Util %, Mapping Efficiency %, Compute Util %
    assert len(comp) == 6 and len(acc) == 18 and len(bw) == 6, (comp, acc, bw)
    row = {k: case[k] for k in CASE_KEYS}
    if "input_kind" in case:
        row["input_kind"] = kind
    row["total_cycles"] = _as_int(comp[1])
    row["stall_cycles"] = _as_int(comp[2])
    row["overall_util_pct"] = _as_float(comp[3])
    row["mapping_eff_pct"] = _as_float(comp[4])
    row["compute_util_pct"] = _as_float(comp[5])
    for k, v in zip(ACCESS_KEYS, acc):
        row[k] = _as_int(v)
    row["total_cycles_incl_prefetch"] = _as_int(comp[0])
    for k in _ADDITIVE:
        row[k] *= n_layers
    for k, v in zip(EXTRA_KEYS[1:7], bw):
        row[k] = _as_float(v)
    row["scalesim_seconds"] = f"{seconds:.3f}"
    row["scalesim_cpu_seconds"] = f"{cpu_seconds:.3f}"
    return row


def _worker(case: dict) -> dict:
    try:
        return run_case(case)
    except Exception as exc:  # report, don't kill the whole pool
        raise RuntimeError(f"case {case['case_id']} failed: {exc!r}") from exc


def main(argv: list[str] | None = None) -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=("goldens", "wide"), default="goldens")
    ap.add_argument("--out", default=None, help="default: tests/data/scalesim_goldens.csv "
                    "(--set wide: tests/data/scalesim_goldens_wide.csv)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="only case_ids containing this substring")
    ap.add_argument("--list", action="store_true", help="print case ids and exit")
    args = ap.parse_args(argv)

    wide = args.set == "wide"
    if args.out is None:
        args.out = os.path.join(repo, "tests", "data",
                                "scalesim_goldens_wide.csv" if wide else "scalesim_goldens.csv")
    todo = wide_cases() if wide else cases()
    if args.only:
        todo = [c for c in todo if args.only in c["case_id"]]
    if args.list:
        for c in todo:
            print(c["case_id"], f"cost {cost_guess(c):,.0f}")
        print(f"{len(todo)} cases, cost {sum(map(cost_guess, todo)):,.0f}")
        return 0

    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(processes=max(1, args.jobs), maxtasksperchild=1)
    try:
        # submit the (probably) slowest cases first for better packing; output order is fixed
        order = sorted(todo, key=lambda c: -cost_guess(c))
        for i, row in enumerate(pool.imap_unordered(_worker, order, chunksize=1), 1):
            rows[row["case_id"]] = row
            print(f"[{i:3d}/{len(todo)}] {row['scalesim_seconds']:>8}s  {row['case_id']}  "
                  f"total_cycles={row['total_cycles']}", flush=True)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    wall = time.perf_counter() - t0

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=WIDE_COLUMNS if wide else COLUMNS, lineterminator="\n")
        wr.writeheader()
        for c in todo:
            wr.writerow(rows[c["case_id"]])
    sim_total = sum(float(r["scalesim_seconds"]) for r in rows.values())
    cpu_total = sum(float(r["scalesim_cpu_seconds"]) for r in rows.values())
    print(f"wrote {len(todo)} rows to {args.out}")
    print(f"sum of per-case SCALE-Sim seconds: wall {sim_total:.1f} s, cpu {cpu_total:.1f} s; "
          f"script wall time with {args.jobs} jobs: {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
