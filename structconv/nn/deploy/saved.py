"""Decomposed models on disk: a ``weights_only``-loadable dict of the model reference, the plan, the
sum-pool method and the weights; rebuilt by building the model, decomposing its architecture and
loading the weights.

A file that records a Python model reference (``file.py:fn``) is never run by loading it: the
caller names the same reference (``model=``) to confirm.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...core import Plan, resolve_network, resolve_plan, shown
from ..devices import available_memory, human_bytes
from ..model_refs import confirmed_reference, is_module_ref, load_module_ref
from ..weights import check_fields, save_atomic, torch_load
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
        module = _build_zoo(name, meta, blob["state_dict"], where)
    try:
        module, _ = decompose(module, blob.get("plan") or {}, method=blob.get("method", "auto"), inplace=True,
                              distill=False)
        module.load_state_dict(blob["state_dict"])
    except (TypeError, ValueError, RuntimeError) as e:  # a plan, method or weights that do not fit
        raise ValueError(f"{where}: {_first_line(e)}") from None
    return module


def _build_zoo(name: str, meta: dict, state_dict: dict, where: str) -> nn.Module:
    """The zoo model (or small_cnn) the meta describes, once a meta-device twin shows it agrees with the
    saved weights wherever both have a tensor and fits in memory (a forged ``num_classes`` of 10**9 would
    otherwise allocate a 256 GB classifier before the weights could disagree)."""
    kwargs = {"num_classes": meta.get("num_classes"), "in_channels": meta.get("in_channels")}
    try:
        with torch.device("meta"):
            twin = build_module(name, **kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {_first_line(e)}") from None
    for key, t in twin.state_dict().items():
        saved = state_dict.get(key)
        if saved is not None and tuple(saved.shape) != tuple(t.shape):
            raise ValueError(f"{where}: meta {kwargs} builds {key} of shape {list(t.shape)}, the file "
                             f"holds {list(saved.shape)}")
    need = sum(t.numel() * t.element_size() for t in twin.state_dict().values())
    free = available_memory("cpu")
    if free is not None and need > free // 2:
        raise ValueError(f"{where}: meta {kwargs} builds a {name} of {human_bytes(need)}, more than half "
                         f"the {human_bytes(free)} of free memory")
    return build_module(name, **kwargs)


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else type(e).__name__
