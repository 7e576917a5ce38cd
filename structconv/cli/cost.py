"""`structconv cost MODEL`: exact adds, mults and params, dense vs a plan."""
from __future__ import annotations

from structconv.core import count_network, shown

from ._args import add_model_args, add_plan_args
from ._inputs import import_info, resolve_model, resolve_plan_arg
from ._output import plain, print_json
from ._table import human, render


def register(sub) -> None:
    p = sub.add_parser("cost", help="count mults, adds and params of a network under a plan")
    add_model_args(p)
    add_plan_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--totals-only", action="store_true", help="skip the per-layer table")
    p.set_defaults(func=run)


def run(args) -> int:
    net = resolve_model(args.model, args.input_shape)
    plan = resolve_plan_arg(args, net)
    cost = count_network(net, plan)
    if args.json:
        print_json({**cost.to_dict(), **import_info(net)})
        return 0
    print(f"{plain(net.name)} under plan {shown(plan.name)} ({len(plan)} layers changed)\n")
    print(cost_table(cost, args.totals_only))
    uncounted = import_info(net).get("uncounted_ops")
    if uncounted:
        print(f"\nnot counted (no MACs): {', '.join(f'{k} x{len(v)}' for k, v in uncounted.items())}")
    return 0


def layer_table(cost) -> str:
    rows = []
    for r in cost.layers:
        l, o, s = r.layer, r.original, r.structured
        shape = f"{l.out_channels}x{l.group_in_channels}x{l.kernel[0]}x{l.kernel[1]}"
        rows.append([l.name, l.kind, shape, r.choice.label, human(o.mults), human(s.mults),
                     f"{s.mults / o.mults:.3f}", human(o.adds), human(s.adds), human(s.sumpool_adds),
                     human(o.params), human(s.params)])
    return render(["layer", "kind", "CoutxCxkhxkw", "choice", "mults", "->mults", "ratio",
                   "adds", "->adds", "sumpool", "params", "->params"], rows, "lllr" + "r" * 8)


def cost_table(cost, totals_only: bool = False) -> str:
    lines = [] if totals_only else [layer_table(cost), ""]
    o, s = cost.original, cost.structured
    lines.append(render(
        ["total", "original", "structured", "ratio"],
        [["mults", f"{o.mults:,}", f"{s.mults:,}", f"{s.mults / o.mults:.4f}"],
         ["adds", f"{o.adds:,}", f"{s.adds:,}", f"{s.adds / o.adds:.4f}"],
         ["  of which sum-pool", "0", f"{s.sumpool_adds:,}", ""],
         ["params", f"{o.params:,}", f"{s.params:,}", f"{s.params / o.params:.4f}"]]))
    return "\n".join(lines)
