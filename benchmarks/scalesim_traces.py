#!/usr/bin/env python3
"""Pin digests of SCALE-Sim 3.0.0's SRAM demand traces (CALC mode) for tests/test_sim_trace.py.

For each case (a small conv layer x array shape x dataflow) this writes a one-layer topology,
layout CSV and cfg (the templates of benchmarks/scalesim_goldens.py), runs SCALE-Sim with trace
files on (``save_disk_space=False``), reads IFMAP_SRAM_TRACE.csv, FILTER_SRAM_TRACE.csv and
OFMAP_SRAM_TRACE.csv (column 0: the cycle the row is served; then one address or -1 per array
row/column port) and stores per operand:

  rows, ports      the demand matrix's shape (cycle column dropped)
  latency          cycle column - row index (one value for every row: SCALE-Sim reports no stall)
  valid            number of addresses that are not -1
  sha_exact        sha256 of the matrix as text ("a,b,c\\n" per row, -1 kept): which port reads
                   which address in which cycle
  sha_sets         sha256 of the rows as sorted sets of valid addresses ("a,b\\n" per row)

into tests/data/scalesim_traces/digests.json (a few kB). Addresses are SCALE-Sim's, with its
offsets (ifmap 0, filter 10,000,000, ofmap 20,000,000); tests/trace_reference.py uses the same.

Run (from the repository root)::

    python3 -m venv benchmarks/scalesim_venv
    benchmarks/scalesim_venv/bin/pip install scalesim==3.0.0 'numpy<2.4'
    benchmarks/scalesim_venv/bin/python benchmarks/scalesim_traces.py

``--dump DIR`` also keeps the raw trace CSVs (for debugging a mismatch).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scalesim_goldens import CFG_TEMPLATE, LAYOUT_CSV, TOPO_HEADER  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "scalesim_traces" / "digests.json"

# name: (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride) -- small layers
LAYERS = {
    "conv3x3_8x8c4k6": (8, 8, 3, 3, 4, 6, 1),              # plain 3x3
    "conv3x3s2_hang_9x8c3k5": (9, 8, 3, 3, 3, 5, 2),       # stride 2, hanging windows (-1) in w
    "rect5x3s2_hang_14x11c5k7": (14, 11, 5, 3, 5, 7, 2),   # from the goldens
    "conv1x1s2_hang_7x7c6k9": (7, 7, 1, 1, 6, 9, 2),       # stride > filter: skipped rows
    "tiny2x2_4x5c1k2": (4, 5, 2, 2, 1, 2, 1),              # from the goldens; smaller than the array
    "fc_1x1c20k11": (1, 1, 1, 1, 20, 11, 1),               # FC-like
    "conv7x7s4_15x15c2k3": (15, 15, 7, 7, 2, 3, 4),        # big kernel, stride 4
    "single3x3_10x10c1k1": (10, 10, 3, 3, 1, 1, 1),        # K = 1
}
ARRAYS = ((4, 4), (8, 8), (8, 4))
DATAFLOWS = ("os", "ws", "is")


def cases() -> list[dict]:
    out = []
    for name, (h, w, fh, fw, ch, nf, s) in LAYERS.items():
        for rows, cols in ARRAYS:
            for df in DATAFLOWS:
                out.append(dict(case_id=f"{name}__a{rows}x{cols}__{df}", ifmap_h=h, ifmap_w=w, filter_h=fh,
                                filter_w=fw, channels=ch, num_filters=nf, stride=s, array_rows=rows,
                                array_cols=cols, dataflow=df, ifmap_sram_kb=64, filter_sram_kb=64,
                                ofmap_sram_kb=64))
    return out


def digest(rows: list[list[int]]) -> dict:
    """The digest of one trace's demand rows (cycle column already split off)."""
    exact = "".join(",".join(map(str, r)) + "\n" for r in rows)
    sets = "".join(",".join(map(str, sorted(a for a in r if a >= 0))) + "\n" for r in rows)
    return dict(rows=len(rows), ports=len(rows[0]) if rows else 0,
                valid=sum(1 for r in rows for a in r if a >= 0),
                sha_exact=hashlib.sha256(exact.encode()).hexdigest(),
                sha_sets=hashlib.sha256(sets.encode()).hexdigest())


def read_trace(path: str) -> tuple[list[int], list[list[int]]]:
    cycles, rows = [], []
    with open(path) as f:
        for rec in csv.reader(f):
            vals = [int(float(v)) for v in rec if v.strip() != ""]
            cycles.append(vals[0])
            rows.append(vals[1:])
    return cycles, rows


def run_case(case: dict, dump: str | None = None) -> dict:
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="scalesim_trace_") as tmp:
        topo, layout, cfg = (os.path.join(tmp, n) for n in ("topo.csv", "layout.csv", "scale.cfg"))
        with open(topo, "w") as f:
            f.write(TOPO_HEADER + "layer0, {ifmap_h}, {ifmap_w}, {filter_h}, {filter_w}, {channels}, "
                    "{num_filters}, {stride},\n".format(**case))
        with open(layout, "w") as f:
            f.write(LAYOUT_CSV)
        with open(cfg, "w") as f:
            f.write(CFG_TEMPLATE.format(run_name="trace", **case))
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=False, verbose=False, config=cfg, topology=topo, layout=layout)
            sim.run_scale(top_path=os.path.join(tmp, "out"))
        layer_dir = os.path.join(tmp, "out", "trace", "layer0")
        out = {}
        for op in ("ifmap", "filter", "ofmap"):
            path = os.path.join(layer_dir, f"{op.upper()}_SRAM_TRACE.csv")
            cycles, rows = read_trace(path)
            lat = {c - r for r, c in enumerate(cycles)}
            assert len(lat) == 1, f"{case['case_id']} {op}: stalls in the trace ({sorted(lat)[:5]})"
            out[op] = dict(digest(rows), latency=lat.pop())
            if dump:
                os.makedirs(dump, exist_ok=True)
                shutil.copy(path, os.path.join(dump, f"{case['case_id']}__{op}.csv"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--dump", default=None, help="also copy the raw trace CSVs here")
    ap.add_argument("--only", default=None, help="only cases whose id contains this")
    args = ap.parse_args(argv)
    res = {}
    for case in cases():
        if args.only and args.only not in case["case_id"]:
            continue
        res[case["case_id"]] = dict(case=case, traces=run_case(case, args.dump))
        print(case["case_id"], {op: v["rows"] for op, v in res[case["case_id"]]["traces"].items()}, flush=True)
    doc = {"tool": "scalesim==3.0.0 (PyPI), InterfaceBandwidth CALC",
           "made_by": "benchmarks/scalesim_traces.py", "cases": res}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
