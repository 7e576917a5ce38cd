"""`structconv rtl`: hardware descriptions of the accelerator's units.

    structconv rtl sumpool [--hw PRESET|FILE] -o spu.v

Writes the configured sum-pool unit (adder lanes, line buffer, micro-op sequencer, hand-off
port to the MAC array) as Verilog-2005 (structconv.rtl.sumpool_verilog). The unit is checked
against the simulator under Icarus Verilog in tests/test_rtl_sumpool.py.
"""
from __future__ import annotations

from structconv.core import atomic_write_text

from ._args import add_hw_arg
from ._inputs import load_hw_arg
from ._paths import check_out_file


def register(sub) -> None:
    p = sub.add_parser("rtl", help="write an accelerator unit as Verilog")
    units = p.add_subparsers(dest="unit", metavar="UNIT", required=True)
    s = units.add_parser("sumpool", help="the sum-pool unit (adder lanes, line buffer, sequencer, hand-off)")
    add_hw_arg(s)
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="Verilog file to write (e.g. spu.v)")
    s.set_defaults(func=run)


def run(args) -> int:
    from structconv.rtl import sumpool_verilog  # sim's numba: only when used

    check_out_file("-o", args.output)
    hw = load_hw_arg(args.hw)
    atomic_write_text(args.output, sumpool_verilog(hw))
    spu = hw.sum_pool
    print(f"wrote {args.output}: sum-pool unit of {hw.name} ({spu.adder_lanes} lanes, {spu.scheme}, "
          f"{spu.line_buffer_bytes} B line buffer)")
    return 0
