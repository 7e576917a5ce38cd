"""`structconv rtl`: hardware descriptions of the accelerator's units.

    structconv rtl sumpool [--hw PRESET|FILE] -o spu.v

Writes the configured sum-pool unit (adder lanes, line buffer, micro-op sequencer, hand-off
port to the MAC array) as Verilog-2005 (structconv.rtl.sumpool_verilog). The unit is checked
against the simulator under Icarus Verilog in tests/test_rtl_sumpool.py.
"""
from __future__ import annotations

from structconv.core import atomic_write_text

from ._common import check_out_file, shown, user_input


def register(sub) -> None:
    p = sub.add_parser("rtl", help="write an accelerator unit as Verilog")
    units = p.add_subparsers(dest="unit", metavar="UNIT", required=True)
    s = units.add_parser("sumpool", help="the sum-pool unit (adder lanes, line buffer, sequencer, hand-off)")
    s.add_argument("--hw", default=None, help="accelerator preset name or YAML file (default edge-int8)")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="Verilog file to write (e.g. spu.v)")
    s.set_defaults(func=run)


def run(args) -> int:
    from structconv.rtl import sumpool_verilog          # sim's numba: only when used
    from structconv.sim import DEFAULT_HW, load_accelerator

    check_out_file("-o", args.output)
    with user_input(f"--hw {shown(args.hw or DEFAULT_HW)}"):
        hw = load_accelerator(args.hw or DEFAULT_HW)
    atomic_write_text(args.output, sumpool_verilog(hw))
    spu = hw.sum_pool
    print(f"wrote {args.output}: sum-pool unit of {hw.name} ({spu.adder_lanes} lanes, {spu.scheme}, "
          f"{spu.line_buffer_bytes} B line buffer)")
    return 0
