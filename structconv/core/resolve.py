"""One way in: a model reference becomes a Network, a plan reference a Plan.

Every public entry point (count, simulate, search, report, train, decompose and
each CLI command) goes through ``resolve_network`` and ``resolve_plan``.

Model references: a Network, a zoo name, or anything an ``Importer`` claims. Importers are named
explicitly, in two places: the ``structconv.importers`` entry points of the installed packages
(structconv's own are listed in pyproject.toml), read once on the first reference that needs them,
and ``register_importer`` (scripts, tests), whose importers are tried first. An importer's
``matches`` runs on every reference, so it is cheap; its ``reader`` is called only for a reference
it claims, so torch, onnx or a plugin's own modules load only when such a reference is read.
"""
from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path

from .checks import shown
from .layer import Network
from .plan import Plan
from .presets import get_preset, list_presets
from .refs import same_model
from .zoo import get_network, list_networks

#: the entry point group whose objects are Importers (``name = "package.module:IMPORTER"``)
ENTRY_POINT_GROUP = "structconv.importers"


@dataclass(frozen=True)
class Importer:
    """Reads the model references ``matches`` accepts with the function ``reader()`` returns.

    ``reader`` takes no arguments and returns ``read(ref, **options) -> Network``, importing what
    reading needs when it is called, so that matching a reference imports nothing heavy.
    """

    name: str
    matches: Callable[[str], bool]
    reader: Callable[[], Callable[..., Network]]

    def load(self, ref: str, **options) -> Network:
        func = self.reader()
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


_IMPORTERS: list[Importer] = []                 # registered in this process, the latest first


def register_importer(importer: Importer) -> None:
    """Add (or replace, by name) an importer, tried before the installed ones; later registrations first."""
    if not isinstance(importer, Importer):
        raise TypeError(f"register_importer takes an Importer, got {type(importer).__name__}")
    _IMPORTERS[:] = [i for i in _IMPORTERS if i.name != importer.name]
    _IMPORTERS.insert(0, importer)


def importers() -> tuple[Importer, ...]:
    """Every importer in the order tried: the registered ones, then the installed ones by name."""
    mine = {i.name for i in _IMPORTERS}
    return tuple(_IMPORTERS) + tuple(i for i in installed_importers() if i.name not in mine)


@functools.cache
def installed_importers() -> tuple[Importer, ...]:
    """The Importers the installed packages name in the ``structconv.importers`` entry point group."""
    found = {}
    # Every copy of a package's metadata, not only the first: a stale egg-info of a source checkout on
    # sys.path shadows the installed dist-info in entry_points(); one package seen twice counts once.
    for dist in distributions():
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            found.setdefault((dist.metadata["Name"], ep.name), ep)
    by_name = sorted(found, key=lambda key: (key[1], str(key[0])))
    return tuple(i for i in (_loaded(found[key]) for key in by_name) if i is not None)


def _loaded(ep) -> Importer | None:
    """The entry point's Importer; a broken plugin is a warning, so the other references still resolve."""
    try:
        obj = ep.load()
    except Exception as e:
        why = f"failed to load ({type(e).__name__}: {e})"
    else:
        if isinstance(obj, Importer):
            return obj
        why = f"gives a {type(obj).__name__}, not a structconv.core.Importer"
    warnings.warn(f"model importer entry point {ep.name} = {ep.value} is skipped: it {why}", UserWarning,
                  stacklevel=3)
    return None


def resolve_network(ref, **options) -> Network:
    """A Network from a Network, a zoo name or a reference an importer reads.

    ``options`` go to the zoo builder or the importer (e.g. input_size, num_classes).
    """
    if isinstance(ref, Network):
        return ref
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str):
        raise TypeError("model must be a Network, a zoo name or a model file reference, "
                        f"got {type(ref).__name__}")
    found = importers()
    for importer in found:
        if importer.matches(ref):
            return importer.load(ref, **options)
    if ref in list_networks():
        return get_network(ref, **options)
    kinds = ", ".join(i.name for i in found)
    raise ValueError(f"model = {shown(ref)} is not a zoo network {sorted(list_networks())}"
                     + (f" nor a reference that an importer reads ({kinds})" if kinds else
                        f"; no model importers are installed (entry point group {ENTRY_POINT_GROUP}: "
                        "reinstall structconv, pip install -e .)"))


def _is_saved_plan(d: dict) -> bool:
    """A saved plan holds a 'layers' mapping of name -> choice; a layer *named* 'layers' maps to a choice."""
    if "layers" not in d:
        return False
    layers = d["layers"]
    return layers is None or (isinstance(layers, dict) and not {"c", "n", "design", "kind"} & set(layers))


def resolve_plan(ref, network: Network, force: bool = False) -> Plan:
    """A Plan validated against ``network`` from None (dense), a Plan, a mapping, a preset name or a plan
    file.

    A plan file whose ``model`` names another network is refused unless ``force`` (the CLI's --force):
    its layer names may well fit, its choices were made for another model. A Plan or a mapping is the
    caller's own (a checkpoint's plan, one a program built) and taken as it is.
    """
    plan = _plan(ref, network)
    if not force and isinstance(ref, (str, os.PathLike)):
        _check_model(plan, network, os.fspath(ref))
    plan.validate(network)
    return _shared_calls(plan, network)


def _check_model(plan: Plan, network: Network, path: str) -> None:
    if plan.model and not same_model(plan.model, network.name):
        name = shown(network.name)
        raise ValueError(f"plan file {shown(path)} is for model {shown(plan.model)}, not {name}: "
                         f"pass --force (force=True) to apply it to {name} anyway")


def _shared_calls(plan: Plan, network: Network) -> Plan:
    """A repeated call of a module takes the choice the plan gives the module (one set of weights)."""
    extra = {}
    for layer in network.layers:
        if layer.shares is None:
            continue
        own, first = plan.choices.get(layer.name), plan.choices.get(layer.shares)
        if own is not None and own != plan.choice_for(layer.shares):
            first_label = plan.choice_for(layer.shares).label
            raise ValueError(f"plan {shown(plan.name)} gives layer {shown(layer.name)} {own.label} but the "
                             f"layer it repeats, {shown(layer.shares)}, {first_label}: one set of weights "
                             "has one choice")
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
    raise TypeError("plan must be None, a Plan, a mapping, a preset name or a plan file, "
                    f"got {type(ref).__name__}")
