"""BatchSimulator: many plans of one network, one Numba call.

The (layer, choice) table of total cycles and energy is built once (identical
layers share rows through the engine cache); ``evaluate`` then only sums table
entries, so a plan costs a few nanoseconds per layer.
"""
from __future__ import annotations

import numpy as np

from structconv.core.layer import Network

from . import _kernels as K
from .accelerator import DEFAULT_HW, load_accelerator
from .engine import _check_mode, counts_for
from .results import energy_matrix


class BatchSimulator:
    """``BatchSimulator(network, hw, choices_per_layer)``; ``evaluate(index) -> (cycles, energy_pj)``.

    ``choices_per_layer[l]`` is the ordered list of Choices for layer l; a plan is a
    row of ``index`` holding one position into each list.
    """

    def __init__(self, network: Network, hw=DEFAULT_HW, choices_per_layer=None, mode: str = "analytical"):
        if not isinstance(network, Network):
            raise ValueError(f"network must be a Network, got {type(network).__name__}")
        self.network = network
        self.hw = load_accelerator(hw)
        self.mode = _check_mode(mode)
        if choices_per_layer is None:
            from structconv.core.choice import Dense
            choices_per_layer = [[Dense()] for _ in network.layers]
        choices_per_layer = [list(c) for c in choices_per_layer]
        if len(choices_per_layer) != len(network):
            raise ValueError(f"choices_per_layer has {len(choices_per_layer)} entries; network "
                             f"{network.name!r} has {len(network)} layers")
        pairs = []
        for layer, choices in zip(network.layers, choices_per_layer):
            if not choices:
                raise ValueError(f"choices_per_layer for layer {layer.name!r} is empty")
            for c in choices:
                c.validate(layer)
                pairs.append((layer, c))
        self.choices_per_layer = choices_per_layer
        self.num_choices = np.array([len(c) for c in choices_per_layer], np.int64)
        counts, _ = counts_for(pairs, self.hw, self.mode)
        energy = energy_matrix(counts, self.hw)[:, -1]
        width = int(self.num_choices.max())
        self.cycles_table = np.zeros((len(network), width), np.int64)
        self.energy_table = np.zeros((len(network), width), np.float64)
        i = 0
        for l, n in enumerate(self.num_choices):
            self.cycles_table[l, :n] = counts[i:i + n, K.O_COMPUTE] + counts[i:i + n, K.O_STALL]
            self.energy_table[l, :n] = energy[i:i + n]
            i += n

    def evaluate(self, index) -> tuple[np.ndarray, np.ndarray]:
        """Total cycles (int64) and energy in pJ (float64) of each plan (row of ``index``)."""
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
        return K.evaluate_plans(idx, self.cycles_table, self.energy_table)

    def latency_s(self, cycles: np.ndarray) -> np.ndarray:
        return np.asarray(cycles) / self.hw.clock_hz
