#!/usr/bin/env python3
"""Run CACTI 7 (as shipped in the ``zigzag-dse`` package) over a grid of SRAM sizes at 45 nm and
pin the result in tests/data/cacti_sram_45nm.json, the peer numbers behind
``structconv.sim.memory_cost`` (``sram_model: cacti-45nm``).

    python3 -m venv /tmp/cacti_venv && /tmp/cacti_venv/bin/pip install --no-deps zigzag-dse==3.9.1
    python3 benchmarks/cacti_sram_grid.py --zigzag /tmp/cacti_venv/lib/python3.11/site-packages/zigzag
    python3 benchmarks/cacti_sram_grid.py --emit-python      # the knots literal for memory_cost.py

CACTI is built from the package's C++ sources (``make opt``; g++ needed) in a temporary copy,
so no prebuilt binary is trusted. Each size is one CACTI run with ZigZag's own baseline
configuration (``CactiConfig.baseline_config`` of zigzag/cacti/cacti_master/cacti_config_creator.py:
itrs-hp cells and periphery, 360 K, ED^2-optimised UCA, ECC on) and these fields, chosen to be
comparable with Horowitz's ISSCC 2014 table (a 64-bit access of a single-ported SRAM):
``size`` = the grid size, ``block size`` 8 bytes, ``output/input bus width`` 64 bits,
``associativity`` 1, one read-write port, no exclusive ports, one bank, ``technology`` 0.045 um,
``cache type "ram"``. The grid is 4 points per octave (x1, x1.25, x1.5, x1.75) from 256 B to
64 MiB, which holds every shipped preset's SRAM sizes exactly.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "cacti_sram_45nm.json"
SIZES = sorted({int(m * 2 ** k) for k in range(8, 26) for m in (1.0, 1.25, 1.5, 1.75)} | {2 ** 26})
FIELDS = {"size (bytes)": None, "block size (bytes)": 8, "output/input bus width": 64, "associativity": 1,
          "read-write port": 1, "exclusive read port": 0, "exclusive write port": 0,
          "single ended read ports": 0, "UCA bank count": 1, "technology (u)": 0.045, "cache type": '"ram"'}
# CACTI's CSV columns -> our keys (energies nJ per 64-bit access, area mm^2, leakage mW, times ns)
COLUMNS = {"Dynamic read energy (nJ)": "read_nj", "Dynamic write energy (nJ)": "write_nj",
           "Area (mm2)": "area_mm2", "Standby leakage per bank(mW)": "leakage_mw",
           "Access time (ns)": "access_ns", "Random cycle time (ns)": "cycle_ns"}


def build_cacti(src: Path, work: Path) -> Path:
    shutil.copytree(src, work, ignore=shutil.ignore_patterns("obj_*", "cacti", "self_gen"))
    subprocess.run(["make", "opt", "NTHREADS=1"], cwd=work, check=True, capture_output=True)
    return work / "cacti"


def baseline(src: Path) -> str:
    spec = importlib.util.spec_from_file_location("cacti_config_creator", src / "cacti_config_creator.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return "".join(mod.CactiConfig().baseline_config)


def run_one(cacti: Path, base: str, size: int) -> dict:
    cfg = cacti.parent / f"sram_{size}.cfg"
    fields = dict(FIELDS, **{"size (bytes)": size})
    cfg.write_text(base + "".join(f"-{k} {v}\n" for k, v in fields.items()))
    # CACTI segfaults on absolute config paths (ZigZag's note): run it in its own folder
    subprocess.run([f"./{cacti.name}", "-infile", cfg.name], cwd=cacti.parent, check=True,
                   capture_output=True)
    head, *rows = Path(f"{cfg}.out").read_text().splitlines()
    row = dict(zip((h.strip() for h in head.split(",")), (v.strip() for v in rows[-1].split(","))))
    if int(row["Capacity (bytes)"]) != size or int(row["Tech node (nm)"]) != 45:
        raise RuntimeError(f"CACTI answered for another SRAM: {row}")
    return {"bytes": size, **{ours: float(row[theirs]) for theirs, ours in COLUMNS.items()}}


def emit_python(path: Path) -> str:
    """The knots (power-of-two sizes) of the pinned grid as memory_cost.py's literal, CACTI's units."""
    data = json.loads(path.read_text())
    lines = ["_CACTI_45NM = (  # (bytes, read nJ, write nJ, area mm^2) of a 64-bit access: tests/data/"
             + path.name]
    for r in data["grid"]:
        if r["bytes"] & (r["bytes"] - 1) == 0:
            lines.append(f"    ({r['bytes']}, {r['read_nj']!r}, {r['write_nj']!r}, {r['area_mm2']!r}),")
    return "\n".join(lines + [")"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zigzag", type=Path, help="the installed zigzag package folder (zigzag-dse)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--emit-python", action="store_true", help="print the table literal of --out and stop")
    args = ap.parse_args(argv)
    if args.emit_python:
        print(emit_python(args.out))
        return 0
    if args.zigzag is None:
        ap.error("--zigzag is required to run CACTI")
    src = args.zigzag / "cacti" / "cacti_master"
    infos = sorted(args.zigzag.parent.glob("zigzag_dse-*.dist-info"))
    version = infos[-1].name[len("zigzag_dse-"):-len(".dist-info")] if infos else "unknown"
    with tempfile.TemporaryDirectory() as tmp:
        cacti = build_cacti(src, Path(tmp) / "cacti_master")
        base = baseline(src)
        grid = []
        for size in SIZES:
            grid.append(run_one(cacti, base, size))
            print(f"{size:>10} B  read {grid[-1]['read_nj'] * 1e3:8.3f} pJ  "
                  f"area {grid[-1]['area_mm2']:9.5f} mm^2", file=sys.stderr)
    meta = {"tool": "CACTI 7.0 from zigzag-dse (zigzag/cacti/cacti_master), built with make opt",
            "zigzag_dse": version, "config": {k: v for k, v in FIELDS.items() if v is not None},
            "baseline": "zigzag CactiConfig.baseline_config (itrs-hp, 360 K, UCA, ED^2, ECC on)",
            "units": {"read_nj": "nJ per 64-bit read", "write_nj": "nJ per 64-bit write", "area_mm2": "mm^2",
                      "leakage_mw": "mW (standby, per bank)", "access_ns": "ns", "cycle_ns": "ns"},
            "made_by": "benchmarks/cacti_sram_grid.py"}
    args.out.write_text(json.dumps({"meta": meta, "grid": grid}, indent=1) + "\n")
    print(f"wrote {args.out} ({len(grid)} sizes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
