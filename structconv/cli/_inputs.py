"""The model, plan and accelerator a command's arguments name, resolved by the library, errors as one line."""
from __future__ import annotations

import sys
import warnings

from structconv.core import shown

from ._args import given_plan, parse_input_shape
from ._errors import CLIError, as_flags, one_line, printable, user_input


def is_zoo_name(ref) -> bool:
    from structconv.core import list_networks  # at call time, like every resolver here: a test may wrap it

    return isinstance(ref, str) and ref in list_networks()


def resolve_model(ref, input_shape=None):
    """``core.resolve_network(ref)`` with --input-shape for a file or Python reference; the importer's
    warnings (compute it cannot count) as one 'structconv: warning:' line each on stderr."""
    from structconv.core import resolve_network

    shape = parse_input_shape(input_shape)
    options = {}
    if shape is not None:
        if is_zoo_name(ref):
            raise CLIError(f"--input-shape applies to ONNX files and Python references, "
                           f"not to zoo network {shown(ref)}")
        options["input_shape"] = shape
    with warnings.catch_warnings(record=True) as seen, as_flags():   # "input_shape" is --input-shape here
        warnings.simplefilter("always")
        net = resolve_network(ref, **options)
    said = set()
    for w in seen:
        msg = one_line(w.message) if isinstance(w.message, BaseException) else str(w.message)
        if issubclass(w.category, UserWarning) and msg not in said:
            said.add(msg)
            print(f"structconv: warning: {printable(msg)}", file=sys.stderr)
    return net


def resolve_plan_arg(args, net):
    """The plan --preset/--plan name, fitted to ``net`` (dense without either)."""
    from structconv.core import resolve_plan

    with user_input(f"plan {shown(given_plan(args))}"):
        return resolve_plan(given_plan(args), net, force=getattr(args, "force", False))


def load_hw_arg(hw):
    """The accelerator --hw names (default edge-int8)."""
    from structconv.sim import DEFAULT_HW, load_accelerator  # numba: only when an accelerator is needed

    with user_input(f"--hw {shown(hw or DEFAULT_HW)}"):
        return load_accelerator(hw or DEFAULT_HW)


def import_info(net) -> dict:
    """What an imported model's counts leave out (``uncounted_ops``, notes), for --json; {} for the zoo's."""
    spec = getattr(net, "spec", None)
    if spec is None or not hasattr(spec, "uncounted_ops"):
        return {}
    return {"uncounted_ops": {k: list(v) for k, v in spec.uncounted_ops.items()},
            "import_notes": list(spec.notes)}
