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
imported lazily inside :func:`run_case`, so other scripts (e.g. the project's
benchmark) can ``from benchmarks.scalesim_goldens import cases`` without
SCALE-Sim installed.

The wide set (``--set wide``, :func:`wide_cases`; tests/test_scalesim_wide.py) widens the
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
``WIDE_MAX_COST`` on ``_cost_guess`` (demand cells) guards that and drops none of the 153 cases.
The whole set took 56.5 s of SCALE-Sim CPU time (77 s wall, --jobs 1, on a loaded 2-core machine).
The list was fixed before any result was compared with structconv.

Notes on SCALE-Sim 3.0.0 inputs (see benchmarks/SCALESIM_NOTES.md):
  * the topology ifmap is the *already padded* input; SCALE-Sim computes
    ofmap_h = ceil((ifmap_h - filter_h + stride) / stride) (same for w), which is
    one larger than the usual floor formula when (ifmap_h - filter_h) % stride != 0;
  * a layer name containing "DP" is treated as depthwise and split per channel,
    so case/layer names here never contain "DP";
  * the ``[layout]`` section and a layout CSV are mandatory in 3.0.0 even when
    custom layouts are off; sparsity and Ramulator are switched off.
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

# --------------------------------------------------------------------------------------
# Case list
# --------------------------------------------------------------------------------------

DATAFLOWS = ("os", "ws", "is")

# name: (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride)
LAYERS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    # plain 1x1 / 3x3 / 5x5 / 7x7 convolutions
    "conv1x1_14x14c64k32": (14, 14, 1, 1, 64, 32, 1),
    "conv3x3_16x16c16k24": (16, 16, 3, 3, 16, 24, 1),
    "conv5x5_20x20c8k16": (20, 20, 5, 5, 8, 16, 1),
    "conv7x7_22x22c3k16": (22, 22, 7, 7, 3, 16, 1),
    # strided layers; "_hang" = (ifmap - filter) % stride != 0, so SCALE-Sim's ceil()
    # ofmap formula adds a row/col of windows hanging off the input (-1 addresses)
    "conv3x3s2_17x17c16k32": (17, 17, 3, 3, 16, 32, 2),
    "conv3x3s2_hang_16x16c8k16": (16, 16, 3, 3, 8, 16, 2),
    "conv7x7s4_27x27c3k8": (27, 27, 7, 7, 3, 8, 4),
    "conv11x11s4_hang_32x32c3k8": (32, 32, 11, 11, 3, 8, 4),
    # FC-like layer: 1x1 ifmap, 1x1 filter
    "fc_1x1c512k1000": (1, 1, 1, 1, 512, 1000, 1),
    # channels / filters not multiples of any array dimension
    "conv3x3_12x12c37k19": (12, 12, 3, 3, 37, 19, 1),
    # tiny layers, smaller than the array
    "tiny3x3_3x3c2k3": (3, 3, 3, 3, 2, 3, 1),
    "tiny2x2_4x5c1k2": (4, 5, 2, 2, 1, 2, 1),
    # rectangular kernels / ifmaps
    "rect3x1_12x10c16k20": (12, 10, 3, 1, 16, 20, 1),
    "rect1x7_9x17c8k12": (9, 17, 1, 7, 8, 12, 1),
    "rectifmap3x3_10x24c4k10": (10, 24, 3, 3, 4, 10, 1),
    "rectifmap3x3s2_9x20c6k10": (9, 20, 3, 3, 6, 10, 2),
    "rect5x3s2_hang_14x11c5k7": (14, 11, 5, 3, 5, 7, 2),
    # single-channel single-filter (depthwise-like; K = 1)
    "single3x3_16x16c1k1": (16, 16, 3, 3, 1, 1, 1),
    # real ResNet / MobileNet layers (ifmap already padded)
    "resnet_conv2x_58x58c64k64": (58, 58, 3, 3, 64, 64, 1),
    "resnet_conv3x_30x30c128k128": (30, 30, 3, 3, 128, 128, 1),
    "resnet_conv4x_16x16c256k256": (16, 16, 3, 3, 256, 256, 1),
    "resnet_down1x1s2_28x28c128k256": (28, 28, 1, 1, 128, 256, 2),
    "mobilenet_stem_225x225c3k32s2": (225, 225, 3, 3, 3, 32, 2),
    "mobilenet_pw_14x14c512k512": (14, 14, 1, 1, 512, 512, 1),
}

# SRAM presets (ifmap_kb, filter_kb, ofmap_kb)
SRAM_DEFAULT = (64, 64, 64)
SRAM_TINY = (1, 1, 1)
SRAM_SMALL = (2, 2, 2)
SRAM_BIG = (512, 512, 256)

# (layer name, array_rows, array_cols, sram preset)
COMBOS: list[tuple[str, int, int, tuple[int, int, int]]] = [
    ("conv1x1_14x14c64k32", 8, 32, SRAM_DEFAULT),
    ("conv1x1_14x14c64k32", 32, 8, SRAM_DEFAULT),
    ("conv1x1_14x14c64k32", 16, 16, SRAM_TINY),
    ("conv3x3_16x16c16k24", 16, 16, SRAM_DEFAULT),
    ("conv3x3_16x16c16k24", 4, 4, SRAM_DEFAULT),
    ("conv3x3_16x16c16k24", 12, 14, SRAM_DEFAULT),
    ("conv3x3_16x16c16k24", 16, 16, SRAM_TINY),
    ("conv5x5_20x20c8k16", 8, 32, SRAM_DEFAULT),
    ("conv5x5_20x20c8k16", 32, 8, SRAM_SMALL),
    ("conv7x7_22x22c3k16", 16, 16, SRAM_DEFAULT),
    ("conv7x7_22x22c3k16", 128, 128, SRAM_DEFAULT),
    ("conv7x7_22x22c3k16", 8, 8, SRAM_TINY),
    ("conv3x3s2_17x17c16k32", 12, 14, SRAM_DEFAULT),
    ("conv3x3s2_17x17c16k32", 8, 8, SRAM_DEFAULT),
    ("conv3x3s2_hang_16x16c8k16", 16, 16, SRAM_DEFAULT),
    ("conv3x3s2_hang_16x16c8k16", 4, 4, SRAM_DEFAULT),
    ("conv7x7s4_27x27c3k8", 8, 32, SRAM_DEFAULT),
    ("conv11x11s4_hang_32x32c3k8", 32, 8, SRAM_DEFAULT),
    ("conv11x11s4_hang_32x32c3k8", 16, 16, SRAM_DEFAULT),
    ("fc_1x1c512k1000", 16, 16, SRAM_DEFAULT),
    ("fc_1x1c512k1000", 128, 128, SRAM_DEFAULT),
    ("fc_1x1c512k1000", 256, 256, SRAM_BIG),
    ("conv3x3_12x12c37k19", 16, 16, SRAM_DEFAULT),
    ("conv3x3_12x12c37k19", 8, 32, SRAM_DEFAULT),
    ("conv3x3_12x12c37k19", 12, 14, SRAM_SMALL),
    ("tiny3x3_3x3c2k3", 16, 16, SRAM_DEFAULT),
    ("tiny3x3_3x3c2k3", 4, 4, SRAM_DEFAULT),
    ("tiny3x3_3x3c2k3", 256, 256, SRAM_DEFAULT),
    ("tiny2x2_4x5c1k2", 8, 8, SRAM_DEFAULT),
    ("tiny2x2_4x5c1k2", 128, 128, SRAM_DEFAULT),
    ("rect3x1_12x10c16k20", 12, 14, SRAM_DEFAULT),
    ("rect3x1_12x10c16k20", 32, 8, SRAM_DEFAULT),
    ("rect1x7_9x17c8k12", 8, 32, SRAM_DEFAULT),
    ("rect1x7_9x17c8k12", 16, 16, SRAM_DEFAULT),
    ("rectifmap3x3_10x24c4k10", 16, 16, SRAM_DEFAULT),
    ("rectifmap3x3_10x24c4k10", 4, 4, SRAM_DEFAULT),
    ("rectifmap3x3s2_9x20c6k10", 12, 14, SRAM_DEFAULT),
    ("rect5x3s2_hang_14x11c5k7", 8, 8, SRAM_DEFAULT),
    ("single3x3_16x16c1k1", 8, 8, SRAM_DEFAULT),
    ("single3x3_16x16c1k1", 16, 16, SRAM_DEFAULT),
    ("resnet_conv2x_58x58c64k64", 128, 128, SRAM_BIG),
    ("resnet_conv3x_30x30c128k128", 32, 32, SRAM_DEFAULT),
    ("resnet_conv3x_30x30c128k128", 128, 128, SRAM_BIG),
    ("resnet_conv4x_16x16c256k256", 128, 128, SRAM_BIG),
    ("resnet_conv4x_16x16c256k256", 256, 256, SRAM_BIG),
    ("resnet_down1x1s2_28x28c128k256", 16, 16, SRAM_DEFAULT),
    ("mobilenet_stem_225x225c3k32s2", 32, 32, SRAM_DEFAULT),
    ("mobilenet_pw_14x14c512k512", 64, 64, SRAM_BIG),
]

CASE_KEYS = [
    "case_id", "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters",
    "stride", "array_rows", "array_cols", "dataflow", "ifmap_sram_kb", "filter_sram_kb",
    "ofmap_sram_kb",
]

COMPUTE_KEYS = [
    "total_cycles", "stall_cycles", "overall_util_pct", "mapping_eff_pct", "compute_util_pct",
]

# DETAILED_ACCESS_REPORT.csv columns, in report order
ACCESS_KEYS = [
    "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle", "sram_ifmap_reads",
    "sram_filter_start_cycle", "sram_filter_stop_cycle", "sram_filter_reads",
    "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle", "sram_ofmap_writes",
    "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_ifmap_reads",
    "dram_filter_start_cycle", "dram_filter_stop_cycle", "dram_filter_reads",
    "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle", "dram_ofmap_writes",
]

# extra columns: COMPUTE_REPORT "Total Cycles (incl. prefetch)" and BANDWIDTH_REPORT
EXTRA_KEYS = [
    "total_cycles_incl_prefetch",
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw",
    "scalesim_seconds", "scalesim_cpu_seconds",
]

COLUMNS = CASE_KEYS + COMPUTE_KEYS + ACCESS_KEYS + EXTRA_KEYS
WIDE_COLUMNS = COLUMNS[:1] + ["input_kind"] + COLUMNS[1:]


def cases() -> list[dict]:
    """The fixed, ordered list of golden cases (layer x array x dataflow).

    Each dict has the keys in ``CASE_KEYS`` (all ints except case_id/dataflow).
    ``stride`` is applied to both height and width (SCALE-Sim's conv topology
    format has a single stride column).
    """
    out = []
    for name, rows, cols, sram in COMBOS:
        h, w, fh, fw, ch, nf, s = LAYERS[name]
        for df in DATAFLOWS:
            out.append({
                "case_id": f"{name}__a{rows}x{cols}__sram{sram[0]}-{sram[1]}-{sram[2]}__{df}",
                "ifmap_h": h, "ifmap_w": w, "filter_h": fh, "filter_w": fw,
                "channels": ch, "num_filters": nf, "stride": s,
                "array_rows": rows, "array_cols": cols, "dataflow": df,
                "ifmap_sram_kb": sram[0], "filter_sram_kb": sram[1], "ofmap_sram_kb": sram[2],
            })
    ids = [c["case_id"] for c in out]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert not any("DP" in i for i in ids), "'DP' in a layer name means depthwise to SCALE-Sim"
    return out


# The wide set: layers not in LAYERS. name: (ifmap_h, ifmap_w, filter_h, filter_w, channels,
# num_filters, stride); "_hang": (ifmap - filter) % stride != 0 in h and/or w.
WIDE_LAYERS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "odd5x5_13x13c7k9": (13, 13, 5, 5, 7, 9, 1),
    "conv3x3s3_hang_20x20c5k11": (20, 20, 3, 3, 5, 11, 3),
    "conv5x5s2_hang_18x15c4k6": (18, 15, 5, 5, 4, 6, 2),          # hangs in h only
    "rect1x5_11x19c6k10": (11, 19, 1, 5, 6, 10, 1),
    "rect7x2s3_hang_23x14c3k5": (23, 14, 7, 2, 3, 5, 3),          # hangs in h only
    "conv1x1_9x9c96k40": (9, 9, 1, 1, 96, 40, 1),
    "conv1x1s3_hang_11x11c12k20": (11, 11, 1, 1, 12, 20, 3),
    "fc_1x1c300k77": (1, 1, 1, 1, 300, 77, 1),
    "conv3x3_7x7c64k96": (7, 7, 3, 3, 64, 96, 1),
    "conv2x2s2_8x12c16k8": (8, 12, 2, 2, 16, 8, 2),
    "conv4x4s4_hang_17x19c3k12": (17, 19, 4, 4, 3, 12, 4),
    "wide3x3_5x31c9k33": (5, 31, 3, 3, 9, 33, 1),
    "pw1x1_28x28c32k144": (28, 28, 1, 1, 32, 144, 1),            # MobileNetV2-like expand
}
WIDE_ARRAYS = ((4, 4), (32, 32), (64, 8), (128, 128), (12, 20))
WIDE_SRAMS = ((64, 64, 64), (1, 1, 1), (2, 4, 8), (512, 512, 256))
# name: (M, N, K) of SCALE-Sim's GEMM input
WIDE_GEMMS = {"gemm_m37n53k29": (37, 53, 29), "gemm_m1n300k128": (1, 300, 128),
              "gemm_m200n17k64": (200, 17, 64), "gemm_m64n64k9": (64, 64, 9)}
# name: (ifmap_h, ifmap_w, filter_h, filter_w, channels, filters per channel, stride)
WIDE_DPS = {"dw3x3_10x10c8": (10, 10, 3, 3, 8, 1, 1), "dw3x3s2_hang_12x12c6": (12, 12, 3, 3, 6, 1, 2),
            "dw5x5_9x11c4k2": (9, 11, 5, 5, 4, 2, 1), "dw7x7s3_16x16c3": (16, 16, 7, 7, 3, 1, 3)}
WIDE_MAX_COST = 4_000_000     # _cost_guess cap (demand cells): keeps each SCALE-Sim run short


def _wide_case(kind, name, dims, rows, cols, sram, df):
    h, w, fh, fw, ch, nf, s = dims
    return {"case_id": f"{name}__a{rows}x{cols}__sram{sram[0]}-{sram[1]}-{sram[2]}__{df}",
            "input_kind": kind, "ifmap_h": h, "ifmap_w": w, "filter_h": fh, "filter_w": fw,
            "channels": ch, "num_filters": nf, "stride": s, "array_rows": rows, "array_cols": cols,
            "dataflow": df, "ifmap_sram_kb": sram[0], "filter_sram_kb": sram[1], "ofmap_sram_kb": sram[2]}


def wide_cases() -> list[dict]:
    """The wide set: layer i of WIDE_LAYERS on arrays i, i+1, i+3 of WIDE_ARRAYS (cyclic), each
    GEMM on two arrays, DP row i on array i, the SRAM sizes taken in turn, x os/ws/is; cases over
    WIDE_MAX_COST dropped."""
    out, k, na = [], 0, len(WIDE_ARRAYS)
    specs = [("conv", n, d, [WIDE_ARRAYS[(i + j) % na] for j in (0, 1, 3)])
             for i, (n, d) in enumerate(WIDE_LAYERS.items())]
    specs += [("gemm", n, (m, 1, 1, 1, kk, nn, 1), WIDE_ARRAYS[2 * (i % 2):2 * (i % 2) + 2])
              for i, (n, (m, nn, kk)) in enumerate(WIDE_GEMMS.items())]
    specs += [("dp", n, d, [WIDE_ARRAYS[i % na]]) for i, (n, d) in enumerate(WIDE_DPS.items())]
    for kind, name, dims, arrays in specs:
        for rows, cols in arrays:
            sram, k = WIDE_SRAMS[k % len(WIDE_SRAMS)], k + 1
            for df in DATAFLOWS:
                c = _wide_case(kind, name, dims, rows, cols, sram, df)
                if _cost_guess(c) <= WIDE_MAX_COST:
                    out.append(c)
    ids = [c["case_id"] for c in out]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert not any("DP" in i for i in ids), "'DP' in a layer name means depthwise to SCALE-Sim"
    return out


# --------------------------------------------------------------------------------------
# Running SCALE-Sim
# --------------------------------------------------------------------------------------

TOPO_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
               "Channels, Num Filter, Strides,\n")

# SCALE-Sim 3.0.0 always opens a layout CSV (layout_utils.load_layout_conv); its
# values are only used when [layout] IfmapCustomLayout/FilterCustomLayout = True.
LAYOUT_CSV = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, "
    "Num Filter Intraline Factor, IFMAP Height Intraline Order, IFMAP Width Intraline Order, "
    "Channel Intraline Order, IFMAP Height Interline Order, IFMAP Width Interline Order, "
    "Channel Interline Order, Num Filter Intraline Order, Channel Intraline Order, "
    "Filter Height Intraline Order, Filter Width Intraline Order, Num Filter Interline Order, "
    "Channel Interline Order, Filter Height Interline Order, Filter Width Interline Order,\n"
    "layer0, 1, 1, 1, 1, 1, 1, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7,\n"
)

CFG_TEMPLATE = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight = {array_rows}
ArrayWidth = {array_cols}
IfmapSramSzkB = {ifmap_sram_kb}
FilterSramSzkB = {filter_sram_kb}
OfmapSramSzkB = {ofmap_sram_kb}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
Bandwidth = 10
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
FilterCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""


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


GEMM_HEADER = "Layer, M, N, K,\n"


def _write_inputs(case: dict, tmp: str) -> tuple[str, str, str]:
    """topology, layout and cfg files of one case (conv, gemm or dp row)."""
    kind = case.get("input_kind", "conv")
    topo, layout, cfg = (os.path.join(tmp, n) for n in ("topo.csv", "layout.csv", "scale.cfg"))
    with open(topo, "w") as f:
        if kind == "gemm":
            f.write(GEMM_HEADER + "layer0, {ifmap_h}, {num_filters}, {channels},\n".format(**case))
        else:
            f.write(TOPO_HEADER)
            f.write("{name}, {ifmap_h}, {ifmap_w}, {filter_h}, {filter_w}, {channels}, "
                    "{num_filters}, {stride},\n".format(name="layer0_DP" if kind == "dp" else "layer0", **case))
    with open(layout, "w") as f:      # a dp row's layout row is split per channel too
        f.write(LAYOUT_CSV if kind != "dp" else
                LAYOUT_CSV.replace("layer0, 1, 1, 1, 1, 1,", f"layer0_DP, 1, 1, 1, 1, {case['channels']},"))
    with open(cfg, "w") as f:
        f.write(CFG_TEMPLATE.format(run_name="golden", **case))
    return topo, layout, cfg


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
        topo, layout, cfg = _write_inputs(case, tmp)
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
        args.out = os.path.join(repo, "tests", "data", "scalesim_goldens_wide.csv" if wide else "scalesim_goldens.csv")
    todo = wide_cases() if wide else cases()
    if args.only:
        todo = [c for c in todo if args.only in c["case_id"]]
    if args.list:
        for c in todo:
            print(c["case_id"], f"cost {_cost_guess(c):,.0f}")
        print(f"{len(todo)} cases, cost {sum(map(_cost_guess, todo)):,.0f}")
        return 0

    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(processes=max(1, args.jobs), maxtasksperchild=1)
    try:
        # submit the (probably) slowest cases first for better packing; output order is fixed
        order = sorted(todo, key=lambda c: -_cost_guess(c))
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


def _cost_guess(c: dict) -> float:
    """Rough relative SCALE-Sim cost (demand-matrix elements), used for scheduling (and to keep
    the wide set's runs short). A dp row is Channels one-channel layers."""
    if c.get("input_kind") == "dp":
        return c["channels"] * _cost_guess(dict(c, input_kind="conv", channels=1))
    s = c["stride"]
    eh = -(-(c["ifmap_h"] - c["filter_h"] + s) // s)
    ew = -(-(c["ifmap_w"] - c["filter_w"] + s) // s)
    p = eh * ew
    win = c["filter_h"] * c["filter_w"] * c["channels"]
    k = c["num_filters"]
    r, q = c["array_rows"], c["array_cols"]
    sr, sc, t = {"os": (p, k, win), "ws": (win, k, p), "is": (win, p, k)}[c["dataflow"]]
    folds = -(-sr // r) * -(-sc // q)
    per = t + r + q if c["dataflow"] == "os" else t + 2 * r + q
    return folds * per * (2 * r + q)


if __name__ == "__main__":
    sys.exit(main())
