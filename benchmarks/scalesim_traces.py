#!/usr/bin/env python3
"""Pin digests of SCALE-Sim 3.0.0's SRAM demand traces (CALC mode) for the trace-reference tests.

Two case sets (``--set``):

``small`` (default; tests/sim/test_sim_trace.py): 72 small conv layer x array x dataflow cases. For
each, SCALE-Sim runs with trace files on (``save_disk_space=False``); IFMAP_SRAM_TRACE.csv,
FILTER_SRAM_TRACE.csv and OFMAP_SRAM_TRACE.csv (column 0: the cycle the row is served; then one
address or -1 per array row/column port) are read and stored per operand as

  rows, ports      the demand matrix's shape (cycle column dropped)
  latency          cycle column - row index (one value for every row: SCALE-Sim reports no stall)
  valid            number of addresses that are not -1
  sha_exact        sha256 of the matrix as text ("a,b,c\\n" per row, -1 kept): which port reads
                   which address in which cycle
  sha_sets         sha256 of the rows as sorted sets of valid addresses ("a,b\\n" per row)

into tests/data/scalesim_traces/digests.json (a few kB).

``goldens`` (tests/sim/test_sim_trace_goldens.py): the 144 pinned golden cases of
tests/data/scalesim_goldens.csv (``scalesim_goldens.cases()``, same topology, cfg and SRAM
sizes). These traces are large (up to 199,800 rows, ~2e8 cells in all), so no CSV is written:
SCALE-Sim runs with ``save_disk_space=True`` and the digest is taken from the trace matrices its
memory system holds (``memory_system.<op>_trace_matrix``, the very arrays ``save_traces`` would
write with ``np.savetxt(fmt='%i')``; ``--verify-files`` checks that claim on a case by also
writing the CSVs and digesting them). Per operand:

  rows, ports, latency, valid   as above
  sha_int64        sha256 of the demand matrix (cycle column dropped) as little-endian int64,
                   row-major bytes (``int64_digest``)

into tests/data/scalesim_traces/goldens_int64.json.

Addresses are SCALE-Sim's, with its offsets (ifmap 0, filter 10,000,000, ofmap 20,000,000);
tests/support/trace_reference.py uses the same.

Run (from the repository root)::

    python3 -m venv benchmarks/scalesim_venv
    benchmarks/scalesim_venv/bin/pip install scalesim==3.0.0 'numpy<2.4'
    nice benchmarks/scalesim_venv/bin/python benchmarks/scalesim_traces.py               # small
    nice benchmarks/scalesim_venv/bin/python benchmarks/scalesim_traces.py --set goldens

``--dump DIR`` also keeps the raw trace CSVs (for debugging a mismatch; with ``--only``: the
golden CSVs are large). This module needs only the standard library at import (numpy and
scalesim are imported where used); the digests are tests/support/trace_digests.py's.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))    # the repository root: tests.support
from tests.support.scalesim_inputs import CFG_TEMPLATE, LAYOUT_CSV, TOPO_HEADER
from tests.support.scalesim_inputs import cases as golden_cases
from tests.support.trace_digests import Int64Digest, digest

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "scalesim_traces"
OUT = DATA / "digests.json"
OUT_GOLDENS = DATA / "goldens_int64.json"
OPS = ("ifmap", "filter", "ofmap")

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


def int64_digest(trace) -> dict:
    """(latency, digest) of a SCALE-Sim trace matrix (cycle column first), as a numpy array."""
    import numpy as np

    t = np.asarray(trace)
    m = t.astype("<i8")
    assert np.array_equal(m, t), "non-integer entries in a trace"
    lat = np.unique(m[:, 0] - np.arange(len(m)))
    assert len(lat) == 1, f"stalls in the trace ({lat[:5]})"
    d = Int64Digest()
    d.update(m[:, 1:])
    return int(lat[0]), d.result()


def read_trace(path: str) -> tuple[list[int], list[list[int]]]:
    cycles, rows = [], []
    with open(path) as f:
        for rec in csv.reader(f):
            vals = [int(float(v)) for v in rec if v.strip() != ""]
            cycles.append(vals[0])
            rows.append(vals[1:])
    return cycles, rows


def _write_inputs(case: dict, tmp: str) -> tuple[str, str, str]:
    topo, layout, cfg = (os.path.join(tmp, n) for n in ("topo.csv", "layout.csv", "scale.cfg"))
    with open(topo, "w") as f:
        f.write(TOPO_HEADER + "layer0, {ifmap_h}, {ifmap_w}, {filter_h}, {filter_w}, {channels}, "
                "{num_filters}, {stride},\n".format(**case))
    with open(layout, "w") as f:
        f.write(LAYOUT_CSV)
    with open(cfg, "w") as f:
        f.write(CFG_TEMPLATE.format(run_name="trace", **case))
    return topo, layout, cfg


def _run_scalesim(case: dict, tmp: str, files: bool):
    """Run one case; returns the layer's memory system (its trace matrices)."""
    from scalesim.scale_sim import scalesim

    topo, layout, cfg = _write_inputs(case, tmp)
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=not files, verbose=False, config=cfg, topology=topo, layout=layout)
        sim.run_scale(top_path=os.path.join(tmp, "out"))
    return sim.runner.single_layer_sim_object_list[0].memory_system


def _dump(case: dict, tmp: str, dump: str | None) -> None:
    if dump:
        os.makedirs(dump, exist_ok=True)
        for op in OPS:
            shutil.copy(os.path.join(tmp, "out", "trace", "layer0", f"{op.upper()}_SRAM_TRACE.csv"),
                        os.path.join(dump, f"{case['case_id']}__{op}.csv"))


def run_case(case: dict, dump: str | None = None) -> dict:
    """Text digests of the trace CSVs (the ``small`` set)."""
    with tempfile.TemporaryDirectory(prefix="scalesim_trace_") as tmp:
        _run_scalesim(case, tmp, files=True)
        layer_dir = os.path.join(tmp, "out", "trace", "layer0")
        out = {}
        for op in OPS:
            cycles, rows = read_trace(os.path.join(layer_dir, f"{op.upper()}_SRAM_TRACE.csv"))
            lat = {c - r for r, c in enumerate(cycles)}
            assert len(lat) == 1, f"{case['case_id']} {op}: stalls in the trace ({sorted(lat)[:5]})"
            out[op] = dict(digest(rows), latency=lat.pop())
        _dump(case, tmp, dump)
    return out


def run_case_int64(case: dict, dump: str | None = None, verify_files: bool = False) -> dict:
    """int64 digests of the trace matrices (the ``goldens`` set); with ``verify_files`` the CSVs
    are written too and must give the same digests."""
    import numpy as np

    files = bool(dump or verify_files)
    with tempfile.TemporaryDirectory(prefix="scalesim_trace_") as tmp:
        mem = _run_scalesim(case, tmp, files)
        out = {}
        for op in OPS:
            lat, d = int64_digest(getattr(mem, f"{op}_trace_matrix"))
            out[op] = dict(d, latency=lat)
            if verify_files:
                path = os.path.join(tmp, "out", "trace", "layer0", f"{op.upper()}_SRAM_TRACE.csv")
                lat_f, d_f = int64_digest(np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2))
                assert (lat_f, d_f) == (lat, d), f"{case['case_id']} {op}: the CSV differs from the matrix"
        _dump(case, tmp, dump)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("small", "goldens"), default="small")
    ap.add_argument("--out", default=None,
                    help="default: digests.json (small) / goldens_int64.json (goldens)")
    ap.add_argument("--dump", default=None, help="also copy the raw trace CSVs here")
    ap.add_argument("--only", default=None, help="only cases whose id contains this")
    ap.add_argument("--verify-files", action="store_true",
                    help="(goldens, int64) also write the CSVs and check they digest the same")
    ap.add_argument("--int64", action="store_true", help="the small set with the goldens' int64 digests "
                    "(to stdout; with --verify-files: checks the matrix and CSV digests agree)")
    args = ap.parse_args(argv)
    goldens = args.set == "goldens"
    todo = golden_cases() if goldens else cases()
    todo = [c for c in todo if not args.only or args.only in c["case_id"]]
    keys = ("case_id", "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride",
            "array_rows", "array_cols", "dataflow", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")
    res, cpu0 = {}, time.process_time()
    for case in todo:
        c0 = time.process_time()
        if goldens or args.int64:
            traces = run_case_int64(case, args.dump, args.verify_files)
        else:
            traces = run_case(case, args.dump)
        res[case["case_id"]] = dict(case={k: case[k] for k in keys}, traces=traces)
        print(f"{time.process_time() - c0:7.2f}s cpu", case["case_id"],
              {op: v["rows"] for op, v in traces.items()}, flush=True)
    print(f"{len(res)} cases, "
          f"{sum(v['traces'][op]['rows'] * v['traces'][op]['ports'] for v in res.values() for op in OPS):,} "
          f"trace cells, {time.process_time() - cpu0:.1f} s cpu (SCALE-Sim + digests)", flush=True)
    if args.int64 and not goldens:
        return 0
    doc = {"tool": "scalesim==3.0.0 (PyPI), InterfaceBandwidth CALC",
           "made_by": "benchmarks/scalesim_traces.py" + (" --set goldens" if goldens else ""), "cases": res}
    if goldens:
        doc["digest"] = ("per operand: rows x ports demand matrix (trace without its cycle column); valid = "
                         "entries >= 0; sha_int64 = sha256 of its little-endian int64 row-major bytes; "
                         "latency = cycle column - row index")
    out = Path(args.out or (OUT_GOLDENS if goldens else OUT))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
