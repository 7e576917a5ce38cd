#!/usr/bin/env python3
"""SCALE-Sim 3.0.0 in USER-bandwidth (stall) mode: the 90-run grid, pinned, and what it shows.

Grid: 5 layers (``LAYERS``) x 16x16 array x os/ws/is x bandwidth 1/4/10 words/cycle x SRAM
2/8 kB (all three SRAMs the same size) = 90 runs, configured as
/work/shared/peers/scalesim-user-mode.md says: ``InterfaceBandwidth: USER``; the ifmap and filter
DRAM rates come from ``[layout] IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` (one bank),
the ofmap drain from ``[architecture_presets] Bandwidth``; all three set to the same N.

Step 1 (SCALE-Sim's venv; stdlib + scalesim only)::

    nice benchmarks/scalesim_venv/bin/python benchmarks/scalesim_user_mode.py \\
        run [grid|extra|arrays|mixed|gemm]

runs every case twice in a forked child (fresh SCALE-Sim state each time): as shipped, and with
``read_buffer.service_reads`` patched so that a positive prefetch stall is added to the offset
once (as its layout branch does, read_buffer.py:315-318) instead of twice (read_buffer.py:361-364).
It records SCALE-Sim's per-layer numbers, the operand and SRAM sizes, and the read buffers'
internal state (prefetch-order entries, hash lines, window, number of ``new_prefetch`` calls = window
moves). Sets (``cases``): grid (the 90 runs) -> tests/data/scalesim_user_mode.csv; extra (layers where
8 kB is slower than 2 kB even without the double count, chosen after the grid) ->
scalesim_user_mode_extra.csv; arrays (other array shapes, bandwidths, SRAM sizes) and mixed (unequal
per-operand SRAMs and links) check the compatibility port beyond the grid. SCALE-Sim CPU (shipped runs):
16.8 s, 3.6 s, 15.5 s, 3.4 s.

Step 2 (the project's venv)::

    .venv/bin/python benchmarks/scalesim_user_mode.py report
    .venv/bin/python benchmarks/scalesim_user_mode.py search [N]

``report`` prints the departures (DRAM reads vs operand size and vs SRAM reads, the DRAM-read identity,
larger SRAM giving more cycles, the double count, the free first fill), structconv's own per-operand-link
totals on the same runs, and the compatibility option's (``structconv.sim.scalesim_user``) exact-match
counts and time. ``search`` runs N (300) random small layers through the port (no SCALE-Sim needed).

Step 3, the mechanism on one case (SCALE-Sim's venv, as shipped)::

    benchmarks/scalesim_venv/bin/python benchmarks/scalesim_user_mode.py trace CASE_ID [N]

logs every demand row that moved a read buffer's window: the hash lines of the first word that missed,
the window start before/after, the moves, their DRAM words, the last-prefetch cycle before/after and the
row's delay. The explanation drawn from it is in the README (simulator section).
"""
from __future__ import annotations

import contextlib
import csv
import io
import itertools
import math
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))    # the repository root: tests.support
# the same topology and layout files as the goldens; the USER cfg and the pinned column maps the tests use
from tests.support.scalesim_inputs import LAYOUT_CSV, PINNED, PINNED_FIXED, TOPO_HEADER
from tests.support.scalesim_inputs import USER_CFG as CFG

ROOT = Path(__file__).resolve().parent.parent
OUT_CSV = ROOT / "tests" / "data" / "scalesim_user_mode.csv"

# name: (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride); ifmap already padded.
# Small on purpose (SCALE-Sim's USER mode is per-element Python); the operands straddle the SRAM
# halves (1024 / 4096 words) so that both "fits" and "does not fit" occur.
LAYERS = {
    "conv3x3_10x10c8k16": (10, 10, 3, 3, 8, 16, 1),
    "conv1x1_8x8c32k32": (8, 8, 1, 1, 32, 32, 1),
    "conv3x3s2_hang_12x12c4k8": (12, 12, 3, 3, 4, 8, 2),
    "fc_1x1c256k48": (1, 1, 1, 1, 256, 48, 1),
    "conv5x5_12x12c3k20": (12, 12, 5, 5, 3, 20, 1),
}
# Chosen AFTER the grid, with the compatibility port (``search`` below: 300 random small layers,
# seed 1): layers where a 4x larger SRAM is slower even with the double count removed.
# Pinned in tests/data/scalesim_user_mode_extra.csv (``run --extra``).
EXTRA = {
    "conv1x1_16x16c18k36": ((16, 16, 1, 1, 18, 36, 1), "ws"),
    "conv5x5_7x7c23k32": ((7, 7, 5, 5, 23, 32, 1), "is"),
}
EXTRA_CSV = OUT_CSV.with_name("scalesim_user_mode_extra.csv")
ARRAY = (16, 16)
DATAFLOWS = ("os", "ws", "is")
BANDWIDTHS = (1, 4, 10)
SRAM_KB = (2, 8)

CASE_KEYS = ["case_id", "layer", "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels",
             "num_filters", "stride", "array_rows", "array_cols", "dataflow", "bandwidth", "sram_kb"]
# SCALE-Sim as shipped
SIM_KEYS = ["total_cycles", "stall_cycles", "compute_cycles", "total_cycles_incl_prefetch",
            "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
            "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
            "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_filter_start_cycle",
            "dram_filter_stop_cycle", "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle"]
# sizes: operand (distinct addresses), SCALE-Sim's prefetch matrix (all entries / valid ones),
# the read buffers' hash lines (total / active window / prefetch step) and new_prefetch calls
SIZE_KEYS = ["sram_half_words", "ifmap_words", "filter_words", "ofmap_words",
             "ifmap_fetch_entries", "ifmap_fetch_valid", "filter_fetch_entries", "filter_fetch_valid",
             "ifmap_hash_lines", "ifmap_active_lines", "ifmap_prefetch_lines", "ifmap_new_prefetches",
             "filter_hash_lines", "filter_active_lines", "filter_prefetch_lines",
             "filter_new_prefetches"]
# the same run with the double count removed
FIX_KEYS = ["fixed_total_cycles", "fixed_stall_cycles", "fixed_dram_ifmap_reads",
            "fixed_dram_filter_reads", "fixed_dram_ofmap_writes"]
COLUMNS = CASE_KEYS + SIM_KEYS + SIZE_KEYS + FIX_KEYS + ["scalesim_cpu_seconds"]


def _grid(layers: dict, arrays, bandwidths, sram_kb) -> list[dict]:
    """layers: name -> (topology row, dataflows)."""
    out = []
    for name, ((h, w, fh, fw, c, k, s), dataflows) in layers.items():
        for (rows, cols), df, bw, kb in itertools.product(arrays, dataflows, bandwidths, sram_kb):
            arr = "" if (rows, cols) == ARRAY else f"__a{rows}x{cols}"
            out.append({"case_id": f"{name}{arr}__{df}__bw{bw}__sram{kb}kB", "layer": name,
                        "ifmap_h": h, "ifmap_w": w, "filter_h": fh, "filter_w": fw,
                        "channels": c, "num_filters": k, "stride": s, "array_rows": rows,
                        "array_cols": cols, "dataflow": df, "bandwidth": bw, "sram_kb": kb})
    return out


def cases(which: str = "grid") -> list[dict]:
    """grid: the 90 runs; extra: EXTRA; arrays: other array shapes, bandwidths that do not divide
    the SRAM halves and odd SRAM sizes; mixed: unequal per-operand SRAM sizes and bandwidths; gemm:
    SCALE-Sim's M, N, K topology rows (these three check the port beyond the grid)."""
    if which == "grid":
        return _grid({n: (g, DATAFLOWS) for n, g in LAYERS.items()}, [ARRAY], BANDWIDTHS, SRAM_KB)
    if which == "extra":
        return _grid({n: (g, (df,)) for n, (g, df) in EXTRA.items()}, [ARRAY], BANDWIDTHS, SRAM_KB)
    if which == "mixed":
        return _mixed()
    if which == "gemm":
        return _gemms()
    pick = {n: (LAYERS[n], DATAFLOWS) for n in ("conv3x3_10x10c8k16", "conv3x3s2_hang_12x12c4k8")}
    return _grid(pick, [(4, 4), (8, 32), (32, 8)], (3, 7), (1, 3))


def per_operand(case: dict) -> dict:
    """{kb,bw}_{i,f,o}: the per-operand SRAM kB and words/cycle (the 'mixed' set's own columns, else
    sram_kb and bandwidth for all three)."""
    return {f"{q}_{o}": case.get(f"{name}_{col}", case[dflt])
            for q, col, dflt in (("kb", "sram_kb", "sram_kb"), ("bw", "bw", "bandwidth"))
            for o, name in (("i", "ifmap"), ("f", "filter"), ("o", "ofmap"))}


def cfg_text(case: dict) -> str:
    return CFG.format(rows=case["array_rows"], cols=case["array_cols"], df=case["dataflow"],
                      **per_operand(case))


MIXED_KEYS = ["ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "ifmap_bw", "filter_bw", "ofmap_bw"]
# (ifmap, filter, ofmap) kB and words/cycle: unequal, to catch an operand's setting used for another
MIXED = [((1, 3, 2), (3, 7, 2)), ((8, 1, 1), (10, 1, 4)), ((2, 8, 1), (1, 4, 10))]


def _mixed() -> list[dict]:
    out = []
    for case in _grid({n: (LAYERS[n], DATAFLOWS) for n in ("conv3x3_10x10c8k16", "conv5x5_12x12c3k20")},
                      [ARRAY], (0,), (0,)):
        for kbs, bws in MIXED:
            c = dict(case, **dict(zip(MIXED_KEYS, kbs + bws)))
            c["case_id"] = case["case_id"].replace("__bw0__sram0kB",
                                                   "__sram{}-{}-{}kB__bw{}-{}-{}".format(*kbs, *bws))
            out.append(c)
    return out


GEMM_KEYS = ["gemm_m", "gemm_n", "gemm_k"]
# SCALE-Sim's GEMM topology (``Layer, M, N, K,``, input_type_gemm): it runs an M x K by K x N product as
# a conv with ifmap M x K, filter 1 x K, 1 channel, N filters (topology_utils.py:73-110)
GEMMS = {"gemm_m40n24k50": (40, 24, 50), "gemm_m7n70k33": (7, 70, 33), "gemm_m64n16k16": (64, 16, 16)}


def _gemms() -> list[dict]:
    out = []
    for name, (m, n, k) in GEMMS.items():
        for case in _grid({name: ((m, k, 1, k, 1, n, 1), DATAFLOWS)}, [ARRAY], (1, 4), (2, 8)):
            out.append(dict(case, gemm_m=m, gemm_n=n, gemm_k=k))
    return out


SETS = {"grid": OUT_CSV, "extra": EXTRA_CSV, "arrays": OUT_CSV.with_name("scalesim_user_mode_arrays.csv"),
        "mixed": OUT_CSV.with_name("scalesim_user_mode_mixed.csv"),
        "gemm": OUT_CSV.with_name("scalesim_user_mode_gemm.csv")}


# ------------------------------------------------------------------ running SCALE-Sim (its venv)
def _fixed_service_reads(self, incoming_requests_arr_np, incoming_cycles_arr):
    """read_buffer.service_reads (non-layout branch, read_buffer.py:345-374) with a positive
    prefetch stall added to the offset once, as the layout branch (read_buffer.py:315-318) does."""
    import numpy as np
    if not self.active_buf_full_flag:
        self.prefetch_active_buffer(start_cycle=incoming_cycles_arr[0][0])
    out = []
    offset = self.hit_latency
    for i in range(incoming_requests_arr_np.shape[0]):
        cycle = incoming_cycles_arr[i]
        for addr in incoming_requests_arr_np[i]:
            if addr == -1:
                continue
            while not self.active_buffer_hit(addr):
                self.new_prefetch()
                potential_stall_cycles = self.last_prefetch_cycle - (cycle + offset)
                if potential_stall_cycles > 0:
                    offset += potential_stall_cycles
        out.append(cycle + offset)
    return np.asarray(out).reshape((len(out), 1))


def _write_inputs(case: dict, tmp: str) -> tuple[str, str, str]:
    topo, layout, cfg = (os.path.join(tmp, n) for n in ("topo.csv", "layout.csv", "user.cfg"))
    with open(topo, "w") as f:
        if "gemm_m" in case:
            f.write("Layer, M, N, K,\nlayer0, {gemm_m}, {gemm_n}, {gemm_k},\n".format(**case))
        else:
            f.write(TOPO_HEADER + "layer0, {ifmap_h}, {ifmap_w}, {filter_h}, {filter_w}, {channels}, "
                    "{num_filters}, {stride},\n".format(**case))
    with open(layout, "w") as f:
        f.write(LAYOUT_CSV)
    with open(cfg, "w") as f:
        f.write(cfg_text(case))
    return topo, layout, cfg


def _count_prefetches():
    """Wrap read_buffer.new_prefetch to count calls per buffer object (no change to results)."""
    from scalesim.memory.read_buffer import read_buffer
    orig = read_buffer.new_prefetch

    def counted(self):
        self._n_new_prefetch = getattr(self, "_n_new_prefetch", 0) + 1
        return orig(self)
    read_buffer.new_prefetch = counted


def simulate_case(case: dict, fixed: bool = False):
    """Run one case in this process; return (SCALE-Sim's single-layer object, its memory system)."""
    from scalesim.memory.read_buffer import read_buffer
    from scalesim.scale_sim import scalesim
    if fixed:
        read_buffer.service_reads = _fixed_service_reads
    _count_prefetches()
    with tempfile.TemporaryDirectory(prefix="scalesim_user_") as tmp:
        topo, layout, cfg = _write_inputs(case, tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                           layout=layout, input_type_gemm="gemm_m" in case)
            sim.run_scale(top_path=os.path.join(tmp, "out"))
    layer = sim.runner.single_layer_sim_object_list[0]
    return layer, layer.memory_system


def _report_items(layer) -> dict:
    overall, total, stall = layer.get_compute_report_items()[:3]
    d = layer.get_detail_report_items()
    return {"total_cycles": int(total), "stall_cycles": int(stall),
            "compute_cycles": int(total) - int(stall), "total_cycles_incl_prefetch": int(overall),
            "sram_ifmap_reads": int(d[2]), "sram_filter_reads": int(d[5]),
            "sram_ofmap_writes": int(d[8]),
            "dram_ifmap_start_cycle": int(d[9]), "dram_ifmap_stop_cycle": int(d[10]),
            "dram_ifmap_reads": int(d[11]),
            "dram_filter_start_cycle": int(d[12]), "dram_filter_stop_cycle": int(d[13]),
            "dram_filter_reads": int(d[14]),
            "dram_ofmap_start_cycle": int(d[15]), "dram_ofmap_stop_cycle": int(d[16]),
            "dram_ofmap_writes": int(d[17])}


def _sizes(layer, mem, case: dict) -> dict:
    import numpy as np
    op = layer.op_mat_obj
    def words(m):
        return int(np.unique(m[m != -1]).size)
    out = {"sram_half_words": per_operand(case)["kb_i"] * 1024 // 2,     # the ifmap SRAM's
           "ifmap_words": words(op.ifmap_addr_matrix), "filter_words": words(op.filter_addr_matrix),
           "ofmap_words": words(op.ofmap_addr_matrix)}
    # the compute system keeps its prefetch matrices; the read buffers' copies are chomped in place
    prefetch = dict(zip(("ifmap", "filter"), layer.compute_system.get_prefetch_matrices()))
    for name, buf in (("ifmap", mem.ifmap_buf), ("filter", mem.filter_buf)):
        out[f"{name}_fetch_entries"] = int(prefetch[name].size)
        out[f"{name}_fetch_valid"] = int((prefetch[name] != -1).sum())
        out[f"{name}_hash_lines"] = int(buf.num_lines)
        out[f"{name}_active_lines"] = int(buf.num_active_buf_lines)
        out[f"{name}_prefetch_lines"] = int(buf.num_prefetch_buf_lines)
        out[f"{name}_new_prefetches"] = int(getattr(buf, "_n_new_prefetch", 0))
    return out


def _shipped(case: dict) -> dict:
    c0 = time.process_time()
    layer, mem = simulate_case(case)
    row = dict(case, **_report_items(layer), **_sizes(layer, mem, case))
    row["scalesim_cpu_seconds"] = round(time.process_time() - c0, 3)
    return row


def _fixed(case: dict) -> dict:
    items = _report_items(simulate_case(case, fixed=True)[0])
    return {f"fixed_{k}": items[k] for k in ("total_cycles", "stall_cycles", "dram_ifmap_reads",
                                            "dram_filter_reads", "dram_ofmap_writes")}


def _in_child(fn, case):
    with mp.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, (case,))


def run(argv) -> None:
    which = argv[0] if argv and argv[0] in SETS else "grid"
    argv = argv[1:] if argv and argv[0] in SETS else argv
    only = argv[0] if argv else ""
    todo = [c for c in cases(which) if only in c["case_id"]]
    rows, t0 = [], time.perf_counter()
    for i, case in enumerate(todo):
        row = _in_child(_shipped, case)
        row.update(_in_child(_fixed, case))
        rows.append(row)
        print(f"[{i + 1}/{len(todo)}] {case['case_id']}: total {row['total_cycles']} "
              f"stall {row['stall_cycles']} ({row['scalesim_cpu_seconds']} s)", flush=True)
    out = SETS[which] if not only else OUT_CSV.with_name("scalesim_user_partial.csv")
    with open(out, "w", newline="") as f:
        own = {"mixed": MIXED_KEYS, "gemm": GEMM_KEYS}.get(which, [])
        cols = COLUMNS[:len(CASE_KEYS)] + own + COLUMNS[len(CASE_KEYS):]
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows({k: r[k] for k in cols} for r in rows)
    cpu = sum(r["scalesim_cpu_seconds"] for r in rows)
    print(f"wrote {out}: {len(rows)} runs, SCALE-Sim CPU {cpu:.1f} s (shipped runs only), "
          f"wall {time.perf_counter() - t0:.1f} s (both variants + process start-up)")


# ------------------------------------------------------------------ tracing the mechanism
def trace(argv) -> None:
    """Log every demand row that moved a read buffer's window (SCALE-Sim as shipped): operand, row,
    its issue cycle, the hash lines holding the first address that missed, window start before and
    after, window moves, DRAM words they fetched, last-prefetch cycle before/after, the row's delay."""
    case = next(c for w in SETS for c in cases(w) if c["case_id"] == argv[0])
    from scalesim.memory.read_buffer import read_buffer
    orig = read_buffer.service_reads
    log, rows_seen = [], {}

    def service_reads(self, incoming_requests_arr_np, incoming_cycles_arr):
        rows_seen[id(self)] = rows_seen.get(id(self), -1) + 1
        before = (list(self.active_buffer_set_limits), getattr(self, "_n_new_prefetch", 0),
                  float(self.last_prefetch_cycle), self.num_access)
        first_miss = None
        if self.active_buf_full_flag:
            for addr in incoming_requests_arr_np[0]:
                if addr != -1 and not self.active_buffer_hit(addr):
                    first_miss = sorted(l for l, st in self.hashed_buffer.items() if addr in st)
                    break
        out = orig(self, incoming_requests_arr_np, incoming_cycles_arr)
        moves = getattr(self, "_n_new_prefetch", 0) - before[1]
        if moves:
            cyc = float(incoming_cycles_arr[0][0])
            log.append((self._tag, rows_seen[id(self)], cyc, first_miss, before[0][0],
                        self.active_buffer_set_limits[0], moves, self.num_access - before[3],
                        before[2], float(self.last_prefetch_cycle), float(out[0][0]) - cyc - 1))
        return out
    read_buffer.service_reads = service_reads
    from scalesim.memory import double_buffered_scratchpad_mem as dbsp
    orig_set = dbsp.double_buffered_scratchpad.set_read_buf_prefetch_matrices

    def tag(self, **kw):
        self.ifmap_buf._tag, self.filter_buf._tag = "ifmap", "filter"
        return orig_set(self, **kw)
    dbsp.double_buffered_scratchpad.set_read_buf_prefetch_matrices = tag
    layer, mem = simulate_case(case)
    print(case["case_id"], _report_items(layer))
    print(_sizes(layer, mem, case))
    b = mem.ifmap_buf
    print(f"words per hash line {math.ceil(b.total_size_elems / 100)}, "
          f"active half {b.active_buf_size} words, DRAM words per window move "
          f"{math.ceil(b.prefetch_buf_size / b.req_gen_bandwidth) * b.req_gen_bandwidth}"
          f" taking {math.ceil(b.prefetch_buf_size / b.req_gen_bandwidth) + 1} cycles")
    print("operand row issue_cycle first_miss_lines win_start_before win_start_after moves dram_words "
          "last_prefetch_before last_prefetch_after row_delay")
    for entry in log[:int(argv[1]) if len(argv) > 1 else 60]:
        print(*entry)


# ------------------------------------------------------------------ the report (project venv)
def load_rows(path=OUT_CSV) -> list[dict]:
    with open(path) as f:
        return [{k: (v if k in ("case_id", "layer", "dataflow")
                     else int(float(v)) if k != "scalesim_cpu_seconds"
                     else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def _hw(r: dict, tmp: str):
    """The run's USER cfg, read by the project's own cfg reader."""
    from structconv.sim import read_scalesim_config
    path = os.path.join(tmp, f"{r['case_id']}.cfg")
    with open(path, "w") as f:
        f.write(cfg_text(r))
    return read_scalesim_config(path)


def _layer(r: dict):
    """The structconv Layer of a row: a conv topology row, or a GEMM read as structconv's
    read_topology reads it (a 1x1 conv with K channels and N filters on an M x 1 input)."""
    from structconv.core import Layer
    if r.get("gemm_m"):
        return Layer.conv2d("layer0", r["gemm_k"], r["gemm_n"], (1, 1), (r["gemm_m"], 1))
    return Layer.conv2d("layer0", r["channels"], r["num_filters"], (r["filter_h"], r["filter_w"]),
                        (r["ifmap_h"], r["ifmap_w"]), stride=r["stride"])


def compat_mismatches(r: dict, hw) -> list:
    """Fields where structconv.sim.scalesim_user differs from the pinned SCALE-Sim row (both variants)."""
    from structconv.sim.scalesim_user import simulate_scalesim_user
    layer, out = _layer(r), []
    for double, pairs in ((True, PINNED), (False, PINNED_FIXED)):
        res = simulate_scalesim_user(layer, hw, double_count=double)
        out += [(double, a, getattr(res, a), r[c]) for a, c in pairs if getattr(res, a) != r[c]]
    return out


def _pct(xs) -> str:
    return f"median {statistics.median(xs):.2f}%, max {max(xs):.2f}%"


def departures(rows: list[dict]) -> None:
    print(f"{len(rows)} runs; SCALE-Sim CPU {sum(r['scalesim_cpu_seconds'] for r in rows):.1f} s")
    over_sram = [r for r in rows if r["dram_ifmap_reads"] > r["sram_ifmap_reads"]
                 or r["dram_filter_reads"] > r["sram_filter_reads"]]
    def ratio(r, op, by):
        return r[f"dram_{op}_reads"] / r[by.format(op)]
    print(f"DRAM reads > SRAM reads (ifmap or filter): {len(over_sram)}/{len(rows)}; DRAM/SRAM reads "
          f"up to {max(max(ratio(r, o, 'sram_{}_reads') for o in ('ifmap', 'filter')) for r in rows):.2f}x")
    for op in ("ifmap", "filter"):
        rs = [ratio(r, op, "{}_words") for r in rows]
        print(f"{op} DRAM reads / distinct {op} words: {min(rs):.2f}-{max(rs):.2f}x, > 1 in "
              f"{sum(x > 1 for x in rs)}/{len(rows)}; prefetch-order entries / distinct words "
              f"{min(r[f'{op}_fetch_valid'] / r[f'{op}_words'] for r in rows):.2f}-"
              f"{max(r[f'{op}_fetch_valid'] / r[f'{op}_words'] for r in rows):.2f}x")
    ow = [r["dram_ofmap_writes"] / r["ofmap_words"] for r in rows]
    print(f"ofmap DRAM writes / ofmap words: {min(ow):.2f}-{max(ow):.2f}x")
    quiet = [r for r in rows if r["ifmap_new_prefetches"] == 0 and r["filter_new_prefetches"] == 0]
    print(f"runs with no read-buffer window move (both operands fit their active half, fetched once): "
          f"{len(quiet)}/{len(rows)}; their stall comes from the ofmap drain only: "
          f"{sum(r['stall_cycles'] == 0 for r in quiet)} with 0 stall")
    _identities(rows, quiet)
    _inversions(rows)
    dc = [100 * (r["total_cycles"] - r["fixed_total_cycles"]) / r["fixed_total_cycles"] for r in rows]
    print(f"double count: total cycles change in {sum(x != 0 for x in dc)}/{len(rows)} runs, "
          f"{_pct(dc)} (of the fixed total); never lower: {all(x >= 0 for x in dc)}")
    zero = [r for r in rows if r["stall_cycles"] == 0]
    fill = [r for r in zero if max(r["dram_ifmap_reads"], r["dram_filter_reads"]) / r["bandwidth"]
            > r["total_cycles"]]
    print(f"zero-stall runs: {len(zero)}; in {len(fill)} of them the first fill alone needs more time on "
          f"its own link than Total Cycles (the fill is issued before cycle 0, read_buffer.py:411-414, "
          f"and only 'incl. prefetch' counts it)")


def _identities(rows: list[dict], quiet: list[dict]) -> None:
    """DRAM reads = first fill + window moves x one whole half (read_buffer.py:385-390, :476-479)."""
    def fill(r, op):
        return min(math.ceil(r["sram_half_words"] / r["bandwidth"]),
                   math.ceil(r[f"{op}_fetch_entries"] / r["bandwidth"])) * r["bandwidth"]
    def move(r):
        return math.ceil(r["sram_half_words"] / r["bandwidth"]) * r["bandwidth"]
    ok = sum(all(r[f"dram_{op}_reads"] == fill(r, op) + r[f"{op}_new_prefetches"] * move(r)
                 for op in ("ifmap", "filter")) for r in rows)
    print(f"DRAM reads = first fill (min(half, prefetch-order entries incl. -1 padding), rounded up to "
          f"bw) + window moves x half (rounded up to bw): {ok}/{len(rows)} runs")
    once = sum(all(r[f"dram_{op}_reads"] == math.ceil(r[f"{op}_fetch_entries"] / r["bandwidth"])
                   * r["bandwidth"] for op in ("ifmap", "filter")) for r in quiet)
    print(f"  no window move: each prefetch-order entry fetched once, in {once}/{len(quiet)}")
    moves = [r for r in rows if r["ifmap_new_prefetches"] + r["filter_new_prefetches"]]
    adv = [r for r in moves if min(r[f"{op}_prefetch_lines"] for op in ("ifmap", "filter")
                                   if r[f"{op}_new_prefetches"]) < r["ifmap_active_lines"] // 2]
    print(f"  runs with window moves: {len(moves)}; in {len(adv)} of them a move advances the window "
          f"by less than half its lines while still fetching a whole half")


def _inversions(rows: list[dict]) -> None:
    by = {(r["layer"], r["dataflow"], r["bandwidth"], r["sram_kb"]): r for r in rows}
    for key, label in (("total_cycles", "as shipped"), ("fixed_total_cycles", "double count removed")):
        inv = [(k, by[k + (2,)][key], by[k + (8,)][key]) for k in {k[:3] for k in by}
               if by[k + (8,)][key] > by[k + (2,)][key]]
        print(f"8 kB slower than 2 kB ({label}): {len(inv)}/{len(by) // 2} pairs "
              f"{sorted(inv)[:6]}")


def comparison(rows: list[dict]) -> None:
    """structconv's own model (per-operand links, cycle mode) and the compatibility option."""
    from structconv.core import Network
    from structconv.sim import simulate
    diffs, lower, bad, t0, split = [], 0, [], time.perf_counter(), {True: [0, 0], False: [0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        for r in rows:
            hw = _hw(r, tmp)
            net = Network("layer0", (r["channels"], r["ifmap_h"], r["ifmap_w"]), (_layer(r),))
            res = simulate(net, hw=hw, mode="cycle", scalesim_ofmap=True)[0]
            assert res.cycles_compute == r["compute_cycles"], r["case_id"]
            diffs.append(100 * abs(res.cycles_total - r["total_cycles"]) / r["total_cycles"])
            lower += res.cycles_total < r["total_cycles"]
            quiet = r["ifmap_new_prefetches"] + r["filter_new_prefetches"] == 0
            split[quiet][0] += 1
            split[quiet][1] += res.cycles_total > r["total_cycles"]
            bad += [(r["case_id"], m) for m in compat_mismatches(r, hw)]
    print(f"structconv (per-operand links, cycle mode) vs SCALE-Sim Total Cycles: compute cycles equal "
          f"{len(rows)}/{len(rows)}; |diff| {_pct(diffs)}; structconv lower in {lower}/{len(rows)}")
    print(f"  structconv higher in {split[True][1]}/{split[True][0]} runs without window moves (it "
          f"charges the first fill, SCALE-Sim issues it before cycle 0) and {split[False][1]}/"
          f"{split[False][0]} with moves")
    from structconv.sim.scalesim_user import simulate_scalesim_user
    with tempfile.TemporaryDirectory() as tmp:
        # like for like with SCALE-Sim's column (construction + run, CPU s): the layer and the
        # accelerator (cfg written and read) are built inside the timed region; Numba is warm
        simulate_scalesim_user(_layer(rows[0]), _hw(rows[0], tmp))
        c1 = time.process_time()
        for r in rows:
            simulate_scalesim_user(_layer(r), _hw(r, tmp))
        port_cpu = time.process_time() - c1
    print(f"compatibility option: {port_cpu:.2f} s CPU for {len(rows)} runs, "
          "inputs built in the timed region "
          f"(SCALE-Sim: {sum(r['scalesim_cpu_seconds'] for r in rows):.1f} s CPU, construction + run)")
    n_bad = len({c for c, _ in bad})
    print(f"compatibility option (structconv.sim.scalesim_user): every pinned field equal in "
          f"{len(rows) - n_bad}/{len(rows)} runs, as shipped and with the double count removed "
          f"({time.perf_counter() - t0:.1f} s incl. the structconv runs)")
    for b in bad[:10]:
        print("  mismatch", b)


def report(argv) -> None:
    rows = load_rows(Path(argv[0]) if argv else OUT_CSV)
    departures(rows)
    comparison(rows)
    for which in ("extra", "arrays", "mixed", "gemm"):
        if argv or not SETS[which].exists():
            continue
        print(f"\n-- {SETS[which].name} --")
        extra = load_rows(SETS[which])
        if which == "extra":
            _inversions(extra)
        comparison(extra)


def search(argv) -> None:
    """Random small layers through the compatibility port (no SCALE-Sim needed): how often is the
    8 kB SRAM slower than the 2 kB one with the double count removed? (How EXTRA was found.)"""
    import random

    from structconv.core import Layer
    from structconv.sim.scalesim_user import simulate_scalesim_user
    rng, n, found, tried = random.Random(1), int(argv[0]) if argv else 300, [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(n):
            H, f = rng.randint(4, 16), rng.choice([1, 3, 5])
            C, K, s = rng.randint(1, 24), rng.randint(1, 40), rng.choice([1, 1, 2])
            if f > H:
                continue
            layer = Layer.conv2d("l", C, K, (f, f), (H, H), stride=s)
            for df in DATAFLOWS:
                for bw in BANDWIDTHS:
                    cyc = [simulate_scalesim_user(layer, _hw(dict(array_rows=16, array_cols=16, sram_kb=kb,
                                                                  bandwidth=bw, dataflow=df, case_id="s"),
                                                             tmp), double_count=False).cycles_total
                           for kb in SRAM_KB]
                    found += [((H, H, f, f, C, K, s), df, bw, cyc)] if cyc[1] > cyc[0] else []
                    tried += 1
    print(f"{len(found)}/{tried} (layer, dataflow, bandwidth) triples where 8 kB is slower than 2 kB "
          f"(double count removed); largest ratios:")
    for f in sorted(found, key=lambda x: -x[3][1] / x[3][0])[:8]:
        print(" ", f)


if __name__ == "__main__":
    cmd, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("run", [])
    if cmd == "run":
        run(rest)
    elif cmd == "trace":
        trace(rest)
    elif cmd == "report":
        report(rest)
    elif cmd == "search":
        search(rest)
    else:
        sys.exit(f"unknown command {cmd!r}: "
                 "run [grid|extra|arrays|mixed|gemm] [SUBSTR] | trace CASE_ID [N] | report | search [N]")
