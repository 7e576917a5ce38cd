"""Every rtl parameter is checked against what synthesis can build before any Verilog is written
(issue 21): one line naming the field, its value and the range; the presets still generate."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from structconv.core import Layer, Structure
from structconv.rtl import IcarusSpu, Program, compile_sumpool, sumpool_verilog, synth_lanes
from structconv.rtl.verilog import MAX_LANES
from structconv.sim import Accelerator, MacArray, SumPoolUnit


def _hw(lanes=16, line_buffer=32768):
    return Accelerator("big", MacArray(8, 8), SumPoolUnit(lanes, "separable", line_buffer))


CASES = [   # (id, call, what the one-line message must say)
    ("lanes-2**40", lambda: sumpool_verilog(_hw(lanes=2**40)),
     r"^sum_pool\.adder_lanes = 1099511627776 is out of range \[1, 1024\] \(in accelerator 'big'"),
    ("lanes-over-2**pw", lambda: sumpool_verilog(_hw(lanes=512), pw=8),
     r"^sum_pool\.adder_lanes = 512 is out of range \[1, 256\]"),
    ("line-buffer-1TB", lambda: sumpool_verilog(_hw(line_buffer=2**40)),
     r"^sum_pool\.line_buffer_bytes = 1099511627776 is out of range \[0, 16777216\]"),
    ("aw", lambda: sumpool_verilog(_hw(), aw=40), r"^aw = 40 is out of range \[1, 24\]"),
    ("pw", lambda: sumpool_verilog(_hw(), pw=30), r"^pw = 30 is out of range \[1, 20\]"),
    ("pw-not-int", lambda: sumpool_verilog(_hw(), pw="8"), r"^pw must be an integer in \[1, 20\], got '8'"),
    ("synth-lanes", lambda: synth_lanes(2**40, 32), r"^lanes = 1099511627776 is out of range \[1, 1024\]"),
    ("synth-width", lambda: synth_lanes(1, 1 << 20), r"^width = 1048576 is out of range \[1, 64\]"),
    ("compile-huge-layer",
     lambda: compile_sumpool(Layer.conv2d("l", 2**20, 2**20, 3, (64, 64)), Structure(2, (2, 2)), "tree"),
     r"^layer 'l': its padded input of 4,294,967,296 words does not fit .* \(2\*\*24 words\)"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rtl_parameters_out_of_reach_are_refused(case):
    _, call, needle = case
    t = time.perf_counter()
    with pytest.raises(ValueError) as info:
        call()
    assert time.perf_counter() - t < 5
    msg = str(info.value)
    assert "\n" not in msg and re.search(needle, msg), msg


def test_a_depth_past_the_port_is_refused(tmp_path):
    spu = IcarusSpu.__new__(IcarusSpu)              # run() checks before it touches the tools
    spu.dir, spu.aw, spu.pw = tmp_path, 16, 16
    prog = Program([], [], np.zeros(1, np.int64), 300, np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"pipeline depth = 300 is out of range \[0, 255\]"):
        spu.run(prog)


@pytest.mark.parametrize("hw,lanes", [("edge-int8", 16), ("tpu-like", 256), ("small-os-168pe", 14)])
def test_the_presets_still_generate(hw, lanes):
    text = sumpool_verilog(hw)
    assert f"parameter LANES = {lanes}," in text and lanes <= MAX_LANES
