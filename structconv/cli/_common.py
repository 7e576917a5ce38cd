"""Helpers shared by CLI commands: the plan arguments and JSON output."""
from __future__ import annotations

import sys

from structconv.core import dumps_json


def add_plan_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a named plan (see `structconv zoo`); rule presets such as uniform-n2 "
                                    "fit any network")
    g.add_argument("--plan", help="a plan file (YAML or JSON)")


def plan_ref(args):
    """The plan reference --preset/--plan give (None: dense), for ``core.resolve_plan``."""
    return getattr(args, "preset", None) or getattr(args, "plan", None)


def print_json(obj) -> None:
    sys.stdout.write(dumps_json(obj) + "\n")
