"""The pinned SCALE-Sim 3.0.0 CALC runs: the golden and wide case lists, their CSV columns and the
input files each case is run from.

benchmarks/scalesim_goldens.py runs these cases through SCALE-Sim and pins the results in
tests/data/scalesim_goldens.csv and scalesim_goldens_wide.csv; benchmarks/scalesim_traces.py and
scalesim_user_mode.py write the same input files; the tests check the pinned rows are these cases.
Standard library only: SCALE-Sim's own venv imports this module.

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

import os

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
WIDE_MAX_COST = 4_000_000     # cost_guess cap (demand cells): keeps each SCALE-Sim run short


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
                if cost_guess(c) <= WIDE_MAX_COST:
                    out.append(c)
    ids = [c["case_id"] for c in out]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert not any("DP" in i for i in ids), "'DP' in a layer name means depthwise to SCALE-Sim"
    return out


# --------------------------------------------------------------------------------------
# SCALE-Sim's input files
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


GEMM_HEADER = "Layer, M, N, K,\n"


def write_inputs(case: dict, tmp: str) -> tuple[str, str, str]:
    """topology, layout and cfg files of one case (conv, gemm or dp row)."""
    kind = case.get("input_kind", "conv")
    topo, layout, cfg = (os.path.join(tmp, n) for n in ("topo.csv", "layout.csv", "scale.cfg"))
    with open(topo, "w") as f:
        if kind == "gemm":
            f.write(GEMM_HEADER + "layer0, {ifmap_h}, {num_filters}, {channels},\n".format(**case))
        else:
            f.write(TOPO_HEADER)
            f.write("{name}, {ifmap_h}, {ifmap_w}, {filter_h}, {filter_w}, {channels}, "
                    "{num_filters}, {stride},\n".format(name="layer0_DP" if kind == "dp" else "layer0",
                                                        **case))
    with open(layout, "w") as f:      # a dp row's layout row is split per channel too
        f.write(LAYOUT_CSV if kind != "dp" else
                LAYOUT_CSV.replace("layer0, 1, 1, 1, 1, 1,", f"layer0_DP, 1, 1, 1, 1, {case['channels']},"))
    with open(cfg, "w") as f:
        f.write(CFG_TEMPLATE.format(run_name="golden", **case))
    return topo, layout, cfg


def cost_guess(c: dict) -> float:
    """Rough relative SCALE-Sim cost (demand-matrix elements), used for scheduling (and to keep
    the wide set's runs short). A dp row is Channels one-channel layers."""
    if c.get("input_kind") == "dp":
        return c["channels"] * cost_guess(dict(c, input_kind="conv", channels=1))
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



# --------------------------------------------------------------------------------------
# USER-bandwidth (stall) mode: benchmarks/scalesim_user_mode.py, tests/data/scalesim_user_mode*.csv
# --------------------------------------------------------------------------------------

USER_CFG = """\
[general]
run_name = user

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {kb_i}
FilterSramSzkB: {kb_f}
OfmapSramSzkB: {kb_o}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bw_o}
Dataflow: {df}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw_i}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw_f}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""

# (structconv result field, pinned column): SCALE-Sim as shipped, and with the double-counted prefetch
# stall removed
PINNED = [("cycles_total", "total_cycles"), ("cycles_stall", "stall_cycles"),
          ("cycles_compute", "compute_cycles"), ("cycles_total_incl_prefetch", "total_cycles_incl_prefetch"),
          ("sram_ifmap_reads", "sram_ifmap_reads"), ("sram_filter_reads", "sram_filter_reads"),
          ("sram_ofmap_writes", "sram_ofmap_writes"), ("dram_ifmap_reads", "dram_ifmap_reads"),
          ("dram_filter_reads", "dram_filter_reads"), ("dram_ofmap_writes", "dram_ofmap_writes"),
          ("ifmap_new_prefetches", "ifmap_new_prefetches"),
          ("filter_new_prefetches", "filter_new_prefetches")]
PINNED_FIXED = [("cycles_total", "fixed_total_cycles"), ("cycles_stall", "fixed_stall_cycles"),
                ("dram_ifmap_reads", "fixed_dram_ifmap_reads"),
                ("dram_filter_reads", "fixed_dram_filter_reads"),
                ("dram_ofmap_writes", "fixed_dram_ofmap_writes")]
