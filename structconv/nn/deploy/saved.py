"""Decomposed models on disk: a ``weights_only``-loadable dict of the model reference, the plan, the
sum-pool method and the weights; rebuilt by building the model, decomposing its architecture and
loading the weights.

A file that records a Python model reference (``file.py:fn``) is never run by loading it: the
caller names the same reference (``model=``) to confirm.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from ...core import Plan, resolve_network, resolve_plan, shown
from ..model_refs import confirmed_reference, is_module_ref, load_module_ref
from ..rebuild import build_for_weights, first_line
from ..weights import check_fields, save_atomic, torch_load
from .convert import decompose

FORMAT = "structconv.decomposed/1"


def _saved_plan(model_name: str, plan) -> Plan:
    if isinstance(plan, Plan):
        return plan
    try:
        network = resolve_network(model_name)
    except (TypeError, ValueError):
        raise ValueError(f"model {model_name!r} is not a zoo network nor small_cnn, so a plan reference "
                         f"cannot be resolved for it: pass the plan as a Plan") from None
    return resolve_plan(plan, network)


def save_decomposed(model: nn.Module, path, model_name: str, plan, method: str = "auto",
                    meta: dict | None = None) -> Path:
    """Save a decomposed zoo model atomically as a ``weights_only``-loadable dict.

    ``plan`` is a Plan, or any plan reference resolved against the zoo network ``model_name``.
    """
    blob = {"format": FORMAT, "model": model_name, "plan": _saved_plan(model_name, plan).to_dict(),
            "method": method, "state_dict": model.state_dict(), "meta": dict(meta or {})}
    return save_atomic(blob, path)


def load_decomposed(path, build=None, *, model: str | None = None) -> nn.Module:
    """Rebuild a model saved by ``save_decomposed``: build it (a zoo model or small_cnn with the
    ``num_classes`` and ``in_channels`` of its meta; ``build(name)``; or the Python reference the file
    records, run only when ``model`` names it too), decompose it with the saved plan (architecture
    only), then load the weights. Anything in the file that does not fit is a one-line ValueError naming
    the file; a zoo model's size is checked on the meta device before it is built."""
    blob = torch_load(path, "decomposed model")
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or not isinstance(blob.get("model"), str):
        raise ValueError(f"{str(path)!r} is not a decomposed model saved by structconv")
    where = f"decomposed model {str(path)!r}"
    check_fields(blob, path, "decomposed model")
    name = blob["model"]
    if model is not None and model != name:
        raise ValueError(f"model = {shown(model)} does not match the decomposed model's {shown(name)}")
    meta = blob.get("meta") or {}
    if build is not None:
        module = build(name)
    elif is_module_ref(confirmed_reference(name, model, f"decomposed model {shown(str(path))}")):
        module = load_module_ref(name)
    else:
        module = build_for_weights(name, blob["state_dict"], where, num_classes=meta.get("num_classes"),
                                   in_channels=meta.get("in_channels"))
    try:
        module, _ = decompose(module, blob.get("plan") or {}, method=blob.get("method", "auto"), inplace=True,
                              distill=False)
        module.load_state_dict(blob["state_dict"])
    except (TypeError, ValueError, RuntimeError) as e:  # a plan, method or weights that do not fit
        raise ValueError(f"{where}: {first_line(e)}") from None
    return module
