"""`structconv zoo`: list networks, plan presets (a rule from the layer list, or a table for one network), accelerators."""
from __future__ import annotations

from structconv.core import list_networks, list_presets, preset_kind

from ._common import print_json
from ._table import render


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list zoo networks, plan presets and accelerator presets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _accelerators() -> dict:
    try:
        from structconv.sim import list_accelerators      # numba: loaded only when listing
    except ImportError:
        return {}
    return list_accelerators()


def _preset_rows() -> list[list[str]]:
    return [[name, "rule (from the layer list)" if preset_kind(name) == "rule" else "table (one network)", text]
            for name, text in list_presets().items()]


def run(args) -> int:
    nets, presets, hws = list_networks(), list_presets(), _accelerators()
    if args.json:
        print_json({"networks": nets, "presets": presets, "preset_kinds": {k: preset_kind(k) for k in presets},
                    "accelerators": hws})
        return 0
    print(render(["networks", "description"], [[k, v] for k, v in nets.items()], "ll") + "\n")
    print(render(["presets", "kind", "description"], _preset_rows(), "lll") + "\n")
    if hws:
        print(render(["accelerators", "description"], [[k, v] for k, v in hws.items()], "ll") + "\n")
    return 0
