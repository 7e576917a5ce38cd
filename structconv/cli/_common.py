"""Helpers shared by CLI commands: loading a model and a plan, printing JSON."""
from __future__ import annotations

import json
import sys


def add_plan_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a named plan (see `structconv zoo`)")
    g.add_argument("--plan", help="a plan file (YAML or JSON)")


def load_network(name: str):
    from structconv.core.zoo import get_network

    return get_network(name)


def load_plan(args, network):
    """The Plan named by --preset/--plan (dense when neither), validated against ``network``."""
    from structconv.core import Plan
    from structconv.core.presets import get_preset

    if getattr(args, "preset", None):
        plan = get_preset(args.preset, network)
    elif getattr(args, "plan", None):
        plan = Plan.load(args.plan)
    else:
        plan = Plan(name="dense")
    plan.validate(network)
    return plan


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")
