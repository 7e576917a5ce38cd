"""Arguments several commands share: the model, its input shape, the plan and the accelerator."""
from __future__ import annotations

import re

from structconv.core import shown

from ._errors import CLIError

MODEL_HELP = ("model: a zoo network (see `structconv zoo`), an ONNX file (model.onnx) or a Python reference "
              "(path/to/file.py:function or package.module:function returning a torch nn.Module)")
HW_HELP = "accelerator preset name or YAML file (default edge-int8)"


def add_plan_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a named plan (see `structconv zoo`); rule presets such as uniform-n2 "
                                    "fit any network")
    g.add_argument("--plan", help="a plan file (YAML or JSON)")
    add_force_arg(p)


def add_force_arg(p) -> None:
    p.add_argument("--force", action="store_true",
                   help="apply a plan file whose 'model' names another network to this one anyway")


def add_model_args(p, help: str = MODEL_HELP, nargs=None) -> None:
    p.add_argument("model", help=help, **({"nargs": nargs} if nargs else {}))
    add_input_shape_arg(p)


def add_input_shape_arg(p) -> None:
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="input shape a Python model reference is traced at (default 1,3,224,224), or the "
                        "dimensions of an ONNX file whose input has symbolic ones")


def add_hw_arg(p, help: str = HW_HELP) -> None:
    p.add_argument("--hw", default=None, help=help)


_ASCII_INT = re.compile(r"[0-9]{1,6}")     # str.isdigit() and int() also take '²' and other scripts' digits


def parse_input_shape(text) -> tuple[int, ...] | None:
    """--input-shape N,C,H,W: 2 to 5 integers in [1, 65536], written in ASCII digits."""
    if text is None:
        return None
    parts = [t.strip() for t in str(text).split(",")]
    if not 2 <= len(parts) <= 5 or not all(_ASCII_INT.fullmatch(t) and 1 <= int(t) <= 65536 for t in parts):
        raise CLIError(f"--input-shape = {shown(str(text))} must be 2 to 5 integers in [1, 65536], "
                       "such as 1,3,224,224")
    return tuple(int(t) for t in parts)


def given_plan(args):
    """What --preset/--plan name (None: dense): a preset name or a plan file."""
    return getattr(args, "preset", None) or getattr(args, "plan", None)


def plan_ref(args):
    """The plan reference --preset/--plan give, for the library's resolvers."""
    plan = getattr(args, "plan", None)
    return plan_file_ref(plan, getattr(args, "force", False)) if plan else getattr(args, "preset", None)


def plan_file_ref(path, force: bool):
    """A plan file for the library's resolvers, which refuse one made for another model. With --force it
    is read here and handed on as a mapping without its 'model' (checked against the network's layers
    like any plan, applied to whichever model is given)."""
    if not force:
        return path
    from structconv.core import Plan

    return {k: v for k, v in Plan.load(path).to_dict().items() if k != "model"}
