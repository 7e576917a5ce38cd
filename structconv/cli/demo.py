"""`structconv demo`: the main job on built-in defaults."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on built-in defaults")
    p.add_argument("--out", default="out", help="output directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from structconv.core import count_network
    from structconv.core.presets import get_preset
    from structconv.core.zoo import get_network

    from .cost import cost_table

    net = get_network("resnet18")
    plan = get_preset("uniform-n2", net)
    print(f"== structconv cost resnet18 --preset uniform-n2\n")
    print(cost_table(count_network(net, plan)))
    return 0
