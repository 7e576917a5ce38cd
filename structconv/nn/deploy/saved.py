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
from ..weights import save_atomic, torch_load
from ..zoo import build_module
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
    only), then load the weights."""
    blob = torch_load(path, "decomposed model")
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or not isinstance(blob.get("model"), str):
        raise ValueError(f"{str(path)!r} is not a decomposed model saved by structconv")
    name = blob["model"]
    if model is not None and model != name:
        raise ValueError(f"model = {shown(model)} does not match the decomposed model's {shown(name)}")
    meta = blob.get("meta") if isinstance(blob.get("meta"), dict) else {}
    if build is not None:
        module = build(name)
    elif is_module_ref(confirmed_reference(name, model, f"decomposed model {shown(str(path))}")):
        module = load_module_ref(name)
    else:
        module = build_module(name, num_classes=meta.get("num_classes"), in_channels=meta.get("in_channels"))
    method = blob.get("method", "auto")
    module, _ = decompose(module, blob["plan"], method=method, inplace=True, distill=False)
    module.load_state_dict(blob["state_dict"])
    return module
