"""BatchSimulator: many plans of one network, one Numba call.

The (layer, choice) table of total cycles and energy is built once (identical
layers share rows through the engine cache); ``evaluate`` then only sums table
entries, so a plan costs a few nanoseconds per layer.
"""
from __future__ import annotations

import numpy as np

from structconv.core import Dense, Network, choice_from_dict, resolve_network

from . import _tier
from .accelerator import DEFAULT_HW, load_accelerator
from .engine import check_mode, counts_for
from .limits import check_energy, check_plan_sum
from .results import energy_records


def _choice_lists(network: Network, choices_per_layer) -> list[list]:
    """Per layer, its choices parsed and checked against the layer."""
    if choices_per_layer is None:
        return [[Dense()] for _ in network.layers]
    lists = [list(c) for c in choices_per_layer]
    if len(lists) != len(network):
        raise ValueError(f"choices_per_layer has {len(lists)} entries; network "
                         f"{network.name!r} has {len(network)} layers")
    for l, (layer, choices) in enumerate(zip(network.layers, lists)):
        if not choices:
            raise ValueError(f"choices_per_layer for layer {layer.name!r} is empty")
        where = f"layer {layer.name!r}"
        lists[l] = [choice_from_dict(c, where) for c in choices]
        for c in lists[l]:
            c.validate(layer)
    return lists


class BatchSimulator:
    """``BatchSimulator(network, hw, choices_per_layer)``; ``evaluate(index) -> (cycles, energy_pj)``.

    ``network`` is a Network or a zoo name (``structconv.core.resolve_network``).
    ``choices_per_layer[l]`` is the ordered list of Choices for layer l; a plan is a
    row of ``index`` holding one position into each list.
    """

    def __init__(self, network, hw=DEFAULT_HW, choices_per_layer=None, mode: str = "analytical"):
        self.network = resolve_network(network)
        self.hw = load_accelerator(hw)
        self.mode = check_mode(mode)
        self.choices_per_layer = _choice_lists(self.network, choices_per_layer)
        self.num_choices = np.array([len(c) for c in self.choices_per_layer], np.int64)
        self.cycles_table, self.energy_table = self._tables()

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(layers x widest menu) tables of total cycles and energy; unused slots are 0."""
        pairs = [(layer, c) for layer, cs in zip(self.network.layers, self.choices_per_layer) for c in cs]
        counts, _ = counts_for(pairs, self.hw, self.mode)
        cycles = counts["cycles_compute"] + counts["cycles_stall"]
        energy = energy_records(counts, self.hw)
        check_energy(energy, [layer.name for layer, _ in pairs])
        energy = energy["total"]
        used = np.arange(self.num_choices.max())[None, :] < self.num_choices[:, None]
        cycles_table = np.zeros(used.shape, np.int64)
        energy_table = np.zeros(used.shape, np.float64)
        cycles_table[used], energy_table[used] = cycles, energy      # row-major: layer by layer
        check_plan_sum(cycles_table, self.network.name)
        return cycles_table, energy_table

    def _check_index(self, index) -> np.ndarray:
        idx = np.asarray(index)
        if idx.ndim == 1:
            idx = idx[None, :]
        if idx.ndim != 2 or idx.shape[1] != len(self.network):
            raise ValueError(f"index must have shape (num_plans, {len(self.network)}), got {np.shape(index)}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"index must hold integers, got dtype {idx.dtype}")
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        bad = (idx < 0) | (idx >= self.num_choices[None, :])
        if bad.any():
            p, l = np.argwhere(bad)[0]
            raise ValueError(f"index[{p}, {l}] = {idx[p, l]} is out of range [0, {self.num_choices[l] - 1}] "
                             f"(layer {self.network.layers[l].name!r})")
        return idx

    def evaluate(self, index) -> tuple[np.ndarray, np.ndarray]:
        """Total cycles (int64) and energy in pJ (float64) of each plan (row of ``index``)."""
        evaluate = _tier.compiled("evaluate_plans")
        return evaluate(self._check_index(index), self.cycles_table, self.energy_table)

    def latency_s(self, cycles: np.ndarray) -> np.ndarray:
        return np.asarray(cycles) / self.hw.clock_hz
