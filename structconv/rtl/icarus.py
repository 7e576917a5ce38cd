"""Run the SPU's Verilog under Icarus Verilog (``iverilog`` + ``vvp``) on a compiled program."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .program import Program

TESTBENCH = r"""`timescale 1ns/1ps
module tb;
  parameter LANES = 1, W = 32, AW = 16, PW = 16;
  reg clk = 0, rst = 1, start = 0;
  reg [PW-1:0] n_ops, n_out;
  reg [7:0] depth;
  wire done, out_valid;
  wire [W-1:0] out_data;
  wire [63:0] cycles, adds, handoff;
  wire [15:0] max_chain;
  spu #(.LANES(LANES), .W(W), .AW(AW), .PW(PW)) dut (
    .clk(clk), .rst(rst), .start(start), .n_ops(n_ops), .n_out(n_out), .depth(depth),
    .lb_we(1'b0), .lb_addr({AW{1'b0}}), .lb_wdata({W{1'b0}}),
    .prog_we(1'b0), .prog_addr({PW{1'b0}}), .prog_wdata({(3*AW+1){1'b0}}),
    .outs_we(1'b0), .outs_addr({PW{1'b0}}), .outs_wdata({AW{1'b0}}),
    .done(done), .out_valid(out_valid), .out_data(out_data),
    .cycles(cycles), .adds(adds), .handoff(handoff), .max_chain(max_chain));
  always #1 clk = ~clk;
  integer n, guard;
  initial begin
    if (!$value$plusargs("nops=%d", n)) $finish; n_ops = n;
    if (!$value$plusargs("nout=%d", n)) $finish; n_out = n;
    if (!$value$plusargs("depth=%d", n)) $finish; depth = n;
    $readmemh("lb.hex", dut.lb);
    if (n_ops != 0) $readmemh("prog.hex", dut.prog);
    if (n_out != 0) $readmemh("outs.hex", dut.outs);
    @(posedge clk); rst = 0; @(negedge clk); start = 1; @(negedge clk); start = 0;
    guard = 0;
    while (!done && guard < 10000000) begin @(posedge clk); guard = guard + 1; end
    $display("RESULT cycles=%0d adds=%0d handoff=%0d max_chain=%0d", cycles, adds, handoff, max_chain);
    $finish;
  end
  always @(posedge clk) if (out_valid) $display("OUT %0d", $signed(out_data));
endmodule
"""


@dataclass(frozen=True)
class RtlRun:
    cycles: int
    adds: int
    handoff: int
    max_chain: int
    outputs: np.ndarray


def tools_missing() -> str | None:
    """None when iverilog and vvp are on PATH, else a one-line reason."""
    missing = [t for t in ("iverilog", "vvp") if shutil.which(t) is None]
    return f"{' and '.join(missing)} not installed (Debian package iverilog)" if missing else None


def _hex(values, width_bits: int) -> str:
    mask = (1 << width_bits) - 1
    return "\n".join(format(int(v) & mask, "x") for v in values) + "\n"


class IcarusSpu:
    """The SPU compiled once per lane count; ``run(program)`` simulates one layer's schedule."""

    def __init__(self, verilog: str, lanes: int, aw: int = 16, pw: int = 16, workdir=None):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="spu_"))
        self.aw, self.pw = aw, pw
        (self.dir / "spu.v").write_text(verilog, encoding="utf-8")
        (self.dir / "tb.v").write_text(TESTBENCH, encoding="utf-8")
        subprocess.run(["iverilog", "-g2005", "-o", "sim.vvp", f"-Ptb.LANES={lanes}", f"-Ptb.AW={aw}",
                        f"-Ptb.PW={pw}", "-s", "tb", "tb.v", "spu.v"], cwd=self.dir, check=True,
                       capture_output=True, text=True, encoding="utf-8", errors="replace")

    def run(self, prog: Program) -> RtlRun:
        aw = self.aw
        if not 0 <= prog.depth <= 255:                     # the unit's depth port is 8 bits
            raise ValueError(f"pipeline depth = {prog.depth} is out of range [0, 255] (the depth port)")
        if len(prog.image) > 2**aw or len(prog.ops) >= 2**self.pw or len(prog.outputs) >= 2**self.pw:
            raise ValueError(f"program too large for aw={aw}, pw={self.pw}: {len(prog.image)} words, "
                             f"{len(prog.ops)} ops")
        (self.dir / "lb.hex").write_text(_hex(prog.image, 32), encoding="utf-8")
        words = [(sub << 3 * aw) | (d << 2 * aw) | (a << aw) | b for sub, d, a, b in prog.ops]
        (self.dir / "prog.hex").write_text(_hex(words, 3 * aw + 1), encoding="utf-8")
        (self.dir / "outs.hex").write_text(_hex(prog.outputs, aw), encoding="utf-8")
        res = subprocess.run(["vvp", "-n", "sim.vvp", f"+nops={len(prog.ops)}", f"+nout={len(prog.outputs)}",
                              f"+depth={prog.depth}"], cwd=self.dir, check=True, capture_output=True,
                             text=True, encoding="utf-8", errors="replace")
        lines = res.stdout.splitlines()
        fields = dict(kv.split("=") for kv in next(l for l in lines if l.startswith("RESULT")).split()[1:])
        outs = np.array([int(l.split()[1]) for l in lines if l.startswith("OUT ")], np.int64)
        return RtlRun(int(fields["cycles"]), int(fields["adds"]), int(fields["handoff"]),
                      int(fields["max_chain"]), outs)
