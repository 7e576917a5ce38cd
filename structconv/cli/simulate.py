"""`structconv simulate`: cycles and energy of a network on an accelerator.

    structconv simulate MODEL [--hw PRESET|FILE] [--preset P | --plan FILE] [--mode analytical|cycle] [--json]
    structconv simulate --scalesim-topology CSV --scalesim-config CFG [--mode ...] [--json]
    structconv simulate --scalesim-topology CSV --scalesim-config USER.cfg --scalesim-compat [...]

With SCALE-Sim input, layers keep SCALE-Sim's ceil() output size, so each layer's
cycles_compute is the number to compare with SCALE-Sim's "Total Cycles". --scalesim-compat
reproduces SCALE-Sim's USER-mode report instead (``scalesim_compat``).
"""
from __future__ import annotations

from structconv.core import shown

from . import scalesim_compat
from ._args import MODEL_HELP, add_hw_arg, add_input_shape_arg, add_plan_args
from ._inputs import load_hw_arg, resolve_model, resolve_plan_arg
from ._output import plain, print_json
from ._table import human, render


def register(sub) -> None:
    p = sub.add_parser("simulate", help="cycles, latency and energy of a network on an accelerator")
    p.add_argument("model", nargs="?", help=MODEL_HELP)
    add_input_shape_arg(p)
    add_hw_arg(p)
    add_plan_args(p)
    p.add_argument("--mode", default="analytical", choices=("analytical", "cycle"),
                   help="closed-form model (default) or the cycle-stepped check")
    scalesim_compat.add_input_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    scalesim_compat.add_args(p)
    p.set_defaults(func=run)


def _inputs(args):
    """(network, plan, hw, scalesim_ofmap) from the arguments, with one-line errors."""
    if args.scalesim_topology or args.scalesim_config:
        net, hw = scalesim_compat.inputs(args)
        return net, resolve_plan_arg(args, net), hw, True      # a rule preset fits a topology too
    if not args.model:
        raise ValueError("give a MODEL (see `structconv zoo`) or --scalesim-topology CSV")
    net = resolve_model(args.model, args.input_shape)
    hw = load_hw_arg(args.hw)
    return net, resolve_plan_arg(args, net), hw, False


def run(args) -> int:
    from structconv.sim import simulate  # numba: only when simulating

    scalesim_compat.check(args)
    net, plan, hw, scalesim = _inputs(args)
    if args.scalesim_compat:
        return scalesim_compat.run(args, net, hw)
    result = simulate(net, plan, hw, args.mode, scalesim_ofmap=scalesim)
    if args.json:
        print_json(result.to_dict())
        return 0
    a = hw.mac_array
    print(f"{plain(net.name)} under plan {shown(plan.name)} on {plain(hw.name)} ({a.rows}x{a.cols} "
          f"{a.dataflow}, {hw.dtype}, {hw.clock_hz / 1e6:g} MHz), {args.mode} mode\n")
    print(table(result))
    return 0


def table(result) -> str:
    rows = []
    for r in result.layers:
        e = r.energy_pj
        rows.append([r.name, r.choice, f"{r.cycles_total:,}", f"{r.cycles_stall:,}", f"{r.spu_cycles:,}",
                     f"{r.mac_cycles:,}", f"{100 * r.mac_utilization:.1f}", human(e.total / 1e6),
                     human(e.mac / 1e6), human(e.add / 1e6), human(e.sram / 1e6), human(e.dram / 1e6),
                     human(r.dram_bytes)])
    head = ["layer", "choice", "cycles", "stall", "spu", "mac", "util%", "uJ", "mac uJ", "add uJ",
            "sram uJ", "dram uJ", "dram B"]
    e = result.energy_pj
    total = (f"total: {result.cycles_total:,} cycles ({result.cycles_stall:,} stalled), "
             f"{result.latency_s * 1e3:.4g} ms, {e.total / 1e6:.4g} uJ "
             f"(mac {e.mac / 1e6:.3g}, add {e.add / 1e6:.3g}, sram {e.sram / 1e6:.3g}, "
             f"dram {e.dram / 1e6:.3g}, leakage {e.leakage / 1e6:.3g})")
    return render(head, rows, "ll" + "r" * (len(head) - 2)) + "\n\n" + total
