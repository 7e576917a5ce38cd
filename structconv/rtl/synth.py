"""Yosys synthesis of the SPU's adder lanes: generic gate counts for the area comparison."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from structconv.core import int_field

from .verilog import MAX_LANES, MAX_WIDTH, VERILOG


def synth_lanes(lanes: int = 1, width: int = 32) -> dict[str, int]:
    """Cell counts of ``spu_adder_lanes`` (lanes x width-bit add/sub, registered) after Yosys
    ``synth -flatten`` and ``abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX`` (2-input gates): {cell type: count}."""
    lanes = int_field("lanes", lanes, 1, MAX_LANES, "synth_lanes")
    width = int_field("width", width, 1, MAX_WIDTH, "synth_lanes")
    if shutil.which("yosys") is None:
        raise RuntimeError("yosys not installed (Debian package yosys)")
    with tempfile.TemporaryDirectory(prefix="spu_synth_") as d:
        src = Path(d) / "spu.v"
        src.write_text(VERILOG.format(lanes=lanes, scheme="any", w=width, aw=8, pw=8), encoding="utf-8")
        script = (f"read_verilog {src}; chparam -set LANES {lanes} -set W {width} spu_adder_lanes; "
                  "synth -flatten -top spu_adder_lanes; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat")
        subprocess.run(["yosys", "-q", "-p", script.replace("stat", "tee -o stat.txt stat")], cwd=d,
                       check=True, capture_output=True, text=True, encoding="utf-8", errors="replace")
        text = (Path(d) / "stat.txt").read_text(encoding="utf-8", errors="replace")
    cells = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+(\$_\w+_)\s*$", text, re.M)}
    if not cells:
        cells = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\$_\w+_)\s+(\d+)\s*$", text, re.M)}
    return cells
