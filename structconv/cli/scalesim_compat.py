"""`structconv simulate` on SCALE-Sim's own files, and `--scalesim-compat`: its USER-mode numbers, reproduced.

--scalesim-topology/--scalesim-config read SCALE-Sim's inputs into this project's model.
--scalesim-compat is a compatibility port (``sim.simulate_scalesim_user``), quirks included, for
a designer who must reproduce a USER-mode SCALE-Sim run; the project's own memory model
(``memory.links``) is what `structconv simulate` reports without the flag.
"""
from __future__ import annotations

from dataclasses import asdict

from structconv.core import read_topology, shown

from ._errors import user_input
from ._inputs import load_hw_arg
from ._output import plain, print_json
from ._table import render

COLUMNS = ("cycles_total", "cycles_stall", "cycles_compute", "dram_ifmap_reads", "dram_filter_reads",
           "dram_ofmap_writes", "ifmap_new_prefetches", "filter_new_prefetches")


def add_input_args(p) -> None:
    p.add_argument("--scalesim-topology", metavar="CSV", help="a SCALE-Sim topology CSV instead of MODEL")
    p.add_argument("--scalesim-config", metavar="CFG", help="a SCALE-Sim .cfg instead of --hw")


def add_args(p) -> None:
    p.add_argument("--scalesim-compat", action="store_true",
                   help="with --scalesim-config USER.cfg: SCALE-Sim 3.0.0's own USER-mode numbers (its "
                        "read/write buffer policy replayed, quirks included) instead of this project's "
                        "memory model")
    p.add_argument("--no-double-count", action="store_true",
                   help="with --scalesim-compat: add a positive prefetch stall once (SCALE-Sim 3.0.0 adds it "
                        "twice, read_buffer.py:361-364)")


def check(args) -> None:
    if args.no_double_count and not args.scalesim_compat:
        raise ValueError("--no-double-count applies to --scalesim-compat only")
    if args.scalesim_compat and not (args.scalesim_topology and args.scalesim_config):
        raise ValueError("--scalesim-compat needs --scalesim-topology CSV and --scalesim-config CFG")
    if args.scalesim_compat and (args.plan or args.preset or args.mode != "analytical"):
        raise ValueError("--scalesim-compat reproduces SCALE-Sim's dense run: no --plan/--preset/--mode")


def inputs(args):
    """(network, accelerator) from --scalesim-topology and --scalesim-config (or --hw)."""
    from structconv.sim import read_scalesim_config  # numba: only when simulating

    if args.model:
        raise ValueError("give either MODEL or --scalesim-topology, not both")
    if not args.scalesim_topology:
        raise ValueError("--scalesim-config needs --scalesim-topology CSV")
    if args.hw and args.scalesim_config:
        raise ValueError("give either --hw or --scalesim-config, not both")
    with user_input(f"--scalesim-topology {shown(args.scalesim_topology)}"):
        net = read_topology(args.scalesim_topology)
    if not args.scalesim_config:
        return net, load_hw_arg(args.hw)
    with user_input(f"--scalesim-config {shown(args.scalesim_config)}"):
        return net, read_scalesim_config(args.scalesim_config)


def run(args, net, hw) -> int:
    from structconv.sim import simulate_scalesim_user

    results = simulate_scalesim_user(net, hw, double_count=not args.no_double_count)
    if args.json:
        print_json({"scalesim_compat": True, "double_count": not args.no_double_count,
                    "layers": [asdict(r) for r in results]})
        return 0
    print(f"{plain(net.name)} as SCALE-Sim 3.0.0's USER mode reports it (compatibility port"
          f"{'' if not args.no_double_count else ', double count removed'}); words = bytes\n")
    rows = [[plain(r.name), *(f"{getattr(r, c):,}" for c in COLUMNS)] for r in results]
    print(render(["layer", "cycles", "stall", "compute", "dram ifmap", "dram filter", "dram ofmap",
                  "ifmap moves", "filter moves"], rows, "l" + "r" * len(COLUMNS)))
    return 0
