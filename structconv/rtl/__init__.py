"""structconv.rtl: the sum-pool unit as Verilog, checked against the simulator.

    sumpool_verilog(hw) -> str                  the configured unit (``structconv rtl sumpool``)
    compile_sumpool(layer, structure, scheme)   one layer's micro-op schedule (+ inputs, expected sums)
    IcarusSpu(verilog, lanes).run(program)      Icarus Verilog simulation: cycles, adds, hand-off, outputs
    synth_lanes(lanes, width)                   Yosys cell counts of the adder lanes
"""
from .icarus import IcarusSpu, RtlRun, tools_missing
from .program import Program, compile_sumpool, reference_sums
from .synth import synth_lanes
from .verilog import sumpool_verilog

__all__ = ["sumpool_verilog", "compile_sumpool", "reference_sums", "Program", "IcarusSpu", "RtlRun",
           "tools_missing", "synth_lanes"]
