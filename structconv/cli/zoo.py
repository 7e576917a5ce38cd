"""`structconv zoo`: list networks, presets and accelerators."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list zoo networks, plan presets and accelerator presets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _accelerators() -> dict:
    try:
        from structconv.sim import list_accelerators
    except ImportError:
        return {}
    return list_accelerators()


def run(args) -> int:
    from structconv.core.presets import list_presets
    from structconv.core.zoo import list_networks

    from ._common import print_json
    from ._table import render

    nets, presets, hws = list_networks(), list_presets(), _accelerators()
    if args.json:
        print_json({"networks": nets, "presets": presets, "accelerators": hws})
        return 0
    for title, d in (("networks", nets), ("presets", presets), ("accelerators", hws)):
        if d:
            print(render([title, "description"], [[k, v] for k, v in d.items()], "ll"))
            print()
    return 0
