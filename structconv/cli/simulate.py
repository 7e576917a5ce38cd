"""`structconv simulate`: cycles and energy of a network on an accelerator.

    structconv simulate MODEL [--hw PRESET|FILE] [--preset P | --plan FILE] [--mode analytical|cycle] [--json]
    structconv simulate --scalesim-topology CSV --scalesim-config CFG [--mode ...] [--json]
    structconv simulate --scalesim-topology CSV --scalesim-config USER.cfg --scalesim-compat [--no-double-count]

With SCALE-Sim input, layers keep SCALE-Sim's ceil() output size, so each layer's
cycles_compute is the number to compare with SCALE-Sim's "Total Cycles". --scalesim-compat
reproduces SCALE-Sim's USER-mode report instead (``scalesim_compat``).
"""
from __future__ import annotations

from structconv.core import read_topology, resolve_plan

from . import scalesim_compat
from ._common import MODEL_HELP, add_input_shape_arg, add_plan_args, resolve_model, plan_ref, plain, print_json, shown, user_input
from ._table import human, render


def register(sub) -> None:
    p = sub.add_parser("simulate", help="cycles, latency and energy of a network on an accelerator")
    p.add_argument("model", nargs="?", help=MODEL_HELP)
    add_input_shape_arg(p)
    p.add_argument("--hw", default=None, help="accelerator preset name or YAML file (default edge-int8)")
    add_plan_args(p)
    p.add_argument("--mode", default="analytical", choices=("analytical", "cycle"),
                   help="closed-form model (default) or the cycle-stepped check")
    p.add_argument("--scalesim-topology", metavar="CSV", help="a SCALE-Sim topology CSV instead of MODEL")
    p.add_argument("--scalesim-config", metavar="CFG", help="a SCALE-Sim .cfg instead of --hw")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    scalesim_compat.add_args(p)
    p.set_defaults(func=run)


def _check_scalesim_args(args) -> None:
    if args.model:
        raise ValueError("give either MODEL or --scalesim-topology, not both")
    if not args.scalesim_topology:
        raise ValueError("--scalesim-config needs --scalesim-topology CSV")
    if args.hw and args.scalesim_config:
        raise ValueError("give either --hw or --scalesim-config, not both")


def _inputs(args):
    """(network, plan, hw, scalesim_ofmap) from the arguments, with one-line errors."""
    from structconv.sim import DEFAULT_HW, load_accelerator, read_scalesim_config   # numba: only when simulating

    if args.scalesim_topology or args.scalesim_config:
        _check_scalesim_args(args)
        with user_input(f"--scalesim-topology {shown(args.scalesim_topology)}"):
            net = read_topology(args.scalesim_topology)
        with user_input(f"--scalesim-config {shown(args.scalesim_config)}" if args.scalesim_config
                        else f"--hw {shown(args.hw or DEFAULT_HW)}"):
            hw = (read_scalesim_config(args.scalesim_config) if args.scalesim_config
                  else load_accelerator(args.hw or DEFAULT_HW))
        return net, _plan(args, net), hw, True               # a rule preset fits a topology too
    if not args.model:
        raise ValueError("give a MODEL (see `structconv zoo`) or --scalesim-topology CSV")
    net = resolve_model(args.model, args.input_shape)
    with user_input(f"--hw {shown(args.hw or DEFAULT_HW)}"):
        hw = load_accelerator(args.hw or DEFAULT_HW)
    return net, _plan(args, net), hw, False


def _plan(args, net):
    with user_input(f"plan {shown(plan_ref(args))}"):
        return resolve_plan(plan_ref(args), net)


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


def run(args) -> int:
    from structconv.sim import simulate

    scalesim_compat.check(args)
    net, plan, hw, scalesim = _inputs(args)
    if args.scalesim_compat:
        return scalesim_compat.run(args, net, hw)
    result = simulate(net, plan, hw, args.mode, scalesim_ofmap=scalesim)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{plain(net.name)} under plan {shown(plan.name)} on {plain(hw.name)} ({hw.mac_array.rows}x{hw.mac_array.cols} "
              f"{hw.mac_array.dataflow}, {hw.dtype}, {hw.clock_hz / 1e6:g} MHz), {args.mode} mode\n")
        print(table(result))
    return 0
