"""One way in: a model reference becomes a Network, a plan reference a Plan.

Every public entry point (count, simulate, search, report, train, decompose and
each CLI command) goes through ``resolve_network`` and ``resolve_plan``.

Model references: a Network, a zoo name, or anything a registered importer
claims (``register_importer``). Importers are named by "module:function"
strings and imported on first use, so core stays free of torch and onnx.
"""
from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .checks import shown
from .layer import Network
from .plan import Plan
from .presets import get_preset, list_presets
from .zoo import get_network, list_networks


@dataclass(frozen=True)
class Importer:
    """Reads model references that ``matches`` accepts with the function at ``target``."""

    name: str
    matches: Callable[[str], bool]
    target: str                     # "package.module:function"(ref: str, **options) -> Network

    def load(self, ref: str, **options) -> Network:
        module, _, fn = self.target.partition(":")
        func = getattr(importlib.import_module(module), fn)
        _check_options(self.name, func, options)
        net = func(ref, **options)
        if not isinstance(net, Network):
            raise TypeError(f"importer {shown(self.name)} returned {type(net).__name__}, not a Network")
        return net


def _check_options(name: str, func, options: dict) -> None:
    """An option the importer does not take is a one-line error, not a TypeError from inside it."""
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    extra = sorted(set(options) - set(params))
    if extra:
        taken = sorted(k for k in params if k != "ref")
        raise ValueError(f"model importer {shown(name)} does not take {', '.join(extra)} (it takes {taken})")


_IMPORTERS: list[Importer] = []


def register_importer(name: str, matches: Callable[[str], bool], target: str) -> None:
    """Add (or replace, by name) a model importer; later registrations are tried first."""
    _IMPORTERS[:] = [i for i in _IMPORTERS if i.name != name]
    _IMPORTERS.insert(0, Importer(name, matches, target))


def importers() -> tuple[Importer, ...]:
    return tuple(_IMPORTERS)


def resolve_network(ref, **options) -> Network:
    """A Network from a Network, a zoo name or a reference a registered importer reads.

    ``options`` go to the zoo builder or the importer (e.g. input_size, num_classes).
    """
    if isinstance(ref, Network):
        return ref
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str):
        raise TypeError(f"model must be a Network, a zoo name or a model file reference, got {type(ref).__name__}")
    for importer in _IMPORTERS:
        if importer.matches(ref):
            return importer.load(ref, **options)
    if ref in list_networks():
        return get_network(ref, **options)
    kinds = ", ".join(i.name for i in _IMPORTERS)
    raise ValueError(f"model = {shown(ref)} is not a zoo network {sorted(list_networks())}"
                     + (f" nor a reference that an importer reads ({kinds})" if kinds else ""))


def _is_saved_plan(d: dict) -> bool:
    """A saved plan holds a 'layers' mapping of name -> choice; a layer *named* 'layers' maps to a choice."""
    if "layers" not in d:
        return False
    layers = d["layers"]
    return layers is None or (isinstance(layers, dict) and not {"c", "n", "design", "kind"} & set(layers))


def resolve_plan(ref, network: Network) -> Plan:
    """A Plan validated against ``network`` from None (dense), a Plan, a mapping, a preset name or a plan file."""
    plan = _plan(ref, network)
    plan.validate(network)
    return _shared_calls(plan, network)


def _shared_calls(plan: Plan, network: Network) -> Plan:
    """A repeated call of a module takes the choice the plan gives the module (one set of weights)."""
    extra = {}
    for layer in network.layers:
        if layer.shares is None:
            continue
        own, first = plan.choices.get(layer.name), plan.choices.get(layer.shares)
        if own is not None and own != plan.choice_for(layer.shares):
            raise ValueError(f"plan {shown(plan.name)} gives layer {shown(layer.name)} {own.label} but the layer "
                             f"it repeats, {shown(layer.shares)}, {plan.choice_for(layer.shares).label}: one set "
                             "of weights has one choice")
        if own is None and first is not None:
            extra[layer.name] = first
    return Plan({**plan.choices, **extra}, name=plan.name, model=plan.model) if extra else plan


def _plan(ref, network: Network) -> Plan:
    if ref is None:
        return Plan(name="dense")
    if isinstance(ref, Plan):
        return ref
    if isinstance(ref, dict):
        return Plan.from_dict(ref) if _is_saved_plan(ref) else Plan(ref)
    if isinstance(ref, (str, os.PathLike)):
        text = os.fspath(ref)
        if text in list_presets():
            return get_preset(text, network)
        if Path(text).suffix.lower() in (".yaml", ".yml", ".json") or Path(text).exists():
            return Plan.load(text)
        raise ValueError(f"plan = {shown(text)} is not a preset {sorted(list_presets())} nor a plan file "
                         "(.yaml, .yml or .json)")
    raise TypeError(f"plan must be None, a Plan, a mapping, a preset name or a plan file, got {type(ref).__name__}")


# The built-in importers. Another package's importer is one line here (a "module:function"
# string, so nothing heavy is imported until a reference needs it).
register_importer("scalesim-topology", lambda ref: ref.lower().endswith(".csv"),
                  "structconv.core.scalesim_csv:read_topology")
# Your own model (nn, torch/onnx loaded only when a reference needs them): an ONNX file, or a Python
# function that builds a torch module, "path/to/file.py:build" or "package.module:build".
register_importer("onnx", lambda ref: ref.lower().endswith(".onnx"), "structconv.nn.onnx_import:load_onnx")
register_importer("python", lambda ref: ref.rpartition(":")[2].isidentifier() and (
    ref.rpartition(":")[0].lower().endswith(".py")
    or all(p.isidentifier() for p in ref.rpartition(":")[0].split("."))), "structconv.nn.model_refs:network_from_ref")
