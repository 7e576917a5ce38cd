"""simulate / simulate_layer: cost layers and networks, with a per-(layer, choice) cache."""
from __future__ import annotations

import numpy as np

from structconv.core import Choice, Layer, choice_from_dict, resolve_network, resolve_plan

from . import _kernels as K
from ._algebra import generation
from .accelerator import DEFAULT_HW, Accelerator, load_accelerator
from .limits import check_energy, check_jobs, layer_where
from .mapping import as_jobs, hw_record, job_fields, layer_key
from .results import LayerResult, NetworkResult, energy_records

MODES = K.MODES
_CACHE: dict = {}
_HW_IDS: dict = {}
_CACHE_MAX = 500_000
_HW_IDS_MAX = 10_000


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r} is not one of {list(MODES)}")
    return mode


def _choice_key(choice):
    try:
        hash(choice)
        return choice
    except TypeError:          # a choice with unhashable fields: its repr identifies it
        return repr(choice)


def _hw_id(hw: Accelerator) -> int:
    """A small id per accelerator: one hash of the (nested, frozen) dataclass per call, not per key;
    a new one when a dataflow or scheme was registered or removed since (names may mean anew)."""
    if len(_HW_IDS) > _HW_IDS_MAX:              # e.g. a co-design sweep over many accelerators
        _HW_IDS.clear()
        _CACHE.clear()
    return _HW_IDS.setdefault((hw, generation()), len(_HW_IDS))


def _combine(counts: np.ndarray) -> np.ndarray:
    """One COUNTS record for a choice's parts, which run one after the other: counts add up,
    and the choice ran fused when any part did."""
    if len(counts) == 1:
        return counts.copy()
    total = K.as_records(K.as_plain(counts).sum(axis=0), K.COUNTS)
    total["fused"] = counts["fused"].max()
    return total


def _fill_cache(todo: dict, hw: Accelerator, mode: str) -> None:
    """Simulate every key's jobs in one kernel call and cache (counts, has a sum-pool)."""
    counts = K.run_jobs(K.concat(list(todo.values())), hw_record(hw), mode)
    if len(_CACHE) + len(todo) > _CACHE_MAX:
        _CACHE.clear()                           # simple bound; rebuilding is cheap
    i = 0
    for key, jobs in todo.items():
        _CACHE[key] = (_combine(counts[i:i + len(jobs)]), bool(jobs["spu"].any()))
        i += len(jobs)


def counts_for(pairs, hw: Accelerator, mode: str = "analytical", scalesim_ofmap: bool = False):
    """COUNTS records (one per pair) and has-sum-pool flags for (layer, choice) pairs.

    Identical (layer geometry, choice) pairs are simulated once and then served
    from a module-level cache keyed by the accelerator and the mode.
    """
    check_mode(mode)
    hw_id = _hw_id(hw)
    keys = [(hw_id, mode, scalesim_ofmap, layer_key(l), _choice_key(c)) for l, c in pairs]
    todo = {}
    for key, (layer, choice) in zip(keys, pairs):
        if key not in _CACHE and key not in todo:
            fields = job_fields(layer, choice, scalesim_ofmap)
            check_jobs(fields, hw, mode, layer_where(layer.name))     # before int64 records
            todo[key] = as_jobs(fields)
    if todo:
        _fill_cache(todo, hw, mode)
    counts = K.concat([_CACHE[k][0] for k in keys])
    return counts, [_CACHE[k][1] for k in keys]


def _results(pairs, hw: Accelerator, mode: str, scalesim_ofmap: bool = False) -> tuple[LayerResult, ...]:
    counts, spu = counts_for(pairs, hw, mode, scalesim_ofmap)
    energy = energy_records(counts, hw)
    check_energy(energy, [layer.name for layer, _ in pairs])
    return tuple(LayerResult.from_counts(layer.name, choice.label, counts[i], energy[i], hw, spu[i])
                 for i, (layer, choice) in enumerate(pairs))


def simulate_layer(layer: Layer, choice: Choice | None = None, hw=DEFAULT_HW,
                   mode: str = "analytical") -> LayerResult:
    """Cycles, counts and energy of one layer under ``choice`` (a Choice, its saved form, or None = dense)."""
    if not isinstance(layer, Layer):
        raise ValueError(f"layer must be a Layer, got {type(layer).__name__}")
    hw = load_accelerator(hw)
    choice = choice_from_dict(choice, where=f"layer {layer.name!r}")
    choice.validate(layer)
    return _results([(layer, choice)], hw, check_mode(mode))[0]


def simulate(model, plan=None, hw=DEFAULT_HW, mode: str = "analytical", *,
             scalesim_ofmap: bool = False) -> NetworkResult:
    """Simulate every layer of ``model`` under ``plan``.

    ``model`` is a Network or a reference ``structconv.core.resolve_network`` reads (a zoo
    name); ``plan`` anything ``resolve_plan`` reads (None = dense, a Plan, a mapping, a preset
    name such as "uniform-n2", a plan file). ``hw`` is a preset name, a YAML path, a mapping
    or an Accelerator. With ``scalesim_ofmap`` dense layers use SCALE-Sim's ceil() output
    size (what a SCALE-Sim topology means), so cycles_compute equals its "Total Cycles".
    """
    network = resolve_network(model)
    hw = load_accelerator(hw)
    check_mode(mode)
    plan = resolve_plan(plan, network)
    pairs = [(layer, plan.choice_for(layer.name)) for layer in network.layers]
    return NetworkResult(network.name, plan.name, hw.name, mode, hw.clock_hz,
                         _results(pairs, hw, mode, scalesim_ofmap))
