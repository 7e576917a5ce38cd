"""Result objects and the energy model (event counts x energy table, in numpy)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import _kernels as K
from .accelerator import Accelerator

ENERGY_KEYS = ("mac", "add", "sram", "dram", "leakage", "total")
ENERGY = np.dtype([(k, np.float64) for k in ENERGY_KEYS])


def energy_records(counts: np.ndarray, hw: Accelerator) -> np.ndarray:
    """pJ per component (ENERGY records) of COUNTS records."""
    e, bpe, c = hw.energy, hw.bytes_per_element, K.columns(counts, np.float64)
    with np.errstate(over="ignore"):        # a huge pJ table overflows to inf: limits.check_energy names it
        return _energy(c, e, bpe, hw)


def _energy(c: dict, e, bpe: int, hw: Accelerator) -> np.ndarray:
    mac = c["macs"] * (e.mult_pj + e.add_pj)                         # multiply + accumulate
    add = c["spu_adds"] * e.add_pj                                   # sum-pool adds and subtracts
    sram = bpe * ((c["sram_ifmap_reads"] + c["sram_ifmap_writes"]) * e.ifmap_sram_pj_per_byte
                  + c["sram_filter_reads"] * e.filter_sram_pj_per_byte
                  + c["sram_ofmap_writes"] * e.ofmap_sram_pj_per_byte
                  + c["line_buffer_accesses"] * e.line_buffer_pj_per_byte)
    dram = c["dram_bytes"] * e.dram_pj_per_byte
    leakage = hw.leakage_mw * 1e9 * (c["cycles_compute"] + c["cycles_stall"]) / hw.clock_hz  # mW * s = 1e9 pJ
    cols = dict(mac=mac, add=add, sram=sram, dram=dram, leakage=leakage,
                total=mac + add + sram + dram + leakage)
    return K.as_records(np.stack([cols[k] for k in ENERGY_KEYS], axis=1), ENERGY)


@dataclass(frozen=True)
class Energy:
    """Energy in pJ by component."""

    mac: float = 0.0
    add: float = 0.0
    sram: float = 0.0
    dram: float = 0.0
    leakage: float = 0.0
    total: float = 0.0

    @classmethod
    def from_record(cls, record) -> Energy:
        return cls(**dict(zip(ENERGY_KEYS, record.item())))

    def __add__(self, other: Energy) -> Energy:
        return Energy(*(getattr(self, k) + getattr(other, k) for k in ENERGY_KEYS))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ENERGY_KEYS}


@dataclass(frozen=True)
class LayerResult:
    """What one layer costs under one choice on one accelerator.

    ``cycles_compute`` is busy time (for a dense layer: SCALE-Sim's "Total
    Cycles"); ``cycles_stall`` is time waiting on DRAM; ``spu_cycles`` and
    ``mac_cycles`` are each unit's own busy time (they overlap when fused).
    SRAM counts are elements accessed by the compute units (SCALE-Sim's convention:
    fills from DRAM are in ``dram_bytes``, not in the SRAM counts); sum-pool
    line-buffer traffic is ``line_buffer_accesses``, kept apart from ``sram_*``.
    ``fused`` is None for layers without a sum-pool, else whether the sum-pool unit
    and the MAC array ran pipelined through the line buffer. ``dram_<operand>_bytes``
    split ``dram_bytes`` by the link that carries it (the sum-pool input and a spilled
    intermediate map on the ifmap link, partial sums on the ofmap link).
    """

    name: str
    choice: str
    cycles_compute: int
    cycles_stall: int
    spu_cycles: int
    mac_cycles: int
    macs: int
    spu_adds: int
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_ifmap_writes: int
    line_buffer_accesses: int
    dram_bytes: int
    dram_ifmap_bytes: int
    dram_filter_bytes: int
    dram_ofmap_bytes: int
    fused: bool | None
    mac_utilization: float
    latency_s: float
    energy_pj: Energy

    @property
    def cycles_total(self) -> int:
        return self.cycles_compute + self.cycles_stall

    @property
    def dram_bandwidth_needed(self) -> dict[str, float]:
        """Bytes per cycle each operand's DRAM traffic needs to finish within ``cycles_total``
        (what SCALE-Sim's CALC mode reports instead of stalls; an average over the layer)."""
        t = max(self.cycles_total, 1)
        return {"ifmap": self.dram_ifmap_bytes / t, "filter": self.dram_filter_bytes / t,
                "ofmap": self.dram_ofmap_bytes / t}

    @property
    def sram_reads(self) -> int:
        return self.sram_ifmap_reads + self.sram_filter_reads

    @property
    def sram_writes(self) -> int:
        return self.sram_ofmap_writes + self.sram_ifmap_writes

    @classmethod
    def from_counts(cls, name: str, choice: str, counts, energy, hw: Accelerator,
                    has_spu: bool) -> LayerResult:
        """From one COUNTS record and its ENERGY record (``fused`` is None without a sum-pool)."""
        c = dict(zip(K.COUNT_FIELDS, counts.item()))
        fused = c.pop("fused")
        mac_cap = c["mac_cycles"] * hw.num_pes
        return cls(name=name, choice=choice, **c, fused=bool(fused) if has_spu else None,
                   mac_utilization=c["macs"] / mac_cap if mac_cap else 0.0,
                   latency_s=(c["cycles_compute"] + c["cycles_stall"]) / hw.clock_hz,
                   energy_pj=Energy.from_record(energy))

    def to_dict(self) -> dict:
        """The JSON contract of ``structconv simulate --json`` (one entry of "layers")."""
        return {"name": self.name, "cycles_compute": self.cycles_compute, "cycles_stall": self.cycles_stall,
                "cycles_total": self.cycles_total, "spu_cycles": self.spu_cycles,
                "mac_cycles": self.mac_cycles, "mac_utilization": self.mac_utilization,
                "energy_pj": self.energy_pj.to_dict(), "sram_reads": self.sram_reads,
                "sram_writes": self.sram_writes, "dram_bytes": self.dram_bytes,
                "dram_bandwidth_needed": self.dram_bandwidth_needed}

    def to_record(self) -> dict:
        """Every field, flat: one DataFrame row. Energy is ``energy_pj`` (the total) and
        ``energy_<component>_pj``."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "energy_pj"}
        d.update(cycles_total=self.cycles_total, sram_reads=self.sram_reads, sram_writes=self.sram_writes)
        d.update({_flat_energy(k): v for k, v in self.energy_pj.to_dict().items()})
        return d


def _flat_energy(key: str) -> str:
    return "energy_pj" if key == "total" else f"energy_{key}_pj"


@dataclass(frozen=True)
class NetworkResult:
    """Per-layer results of a network under a plan, and their totals."""

    model: str
    plan: str
    hw: str
    mode: str
    clock_hz: float
    layers: tuple[LayerResult, ...]

    @property
    def cycles_total(self) -> int:
        return sum(r.cycles_total for r in self.layers)

    @property
    def cycles_compute(self) -> int:
        return sum(r.cycles_compute for r in self.layers)

    @property
    def cycles_stall(self) -> int:
        return sum(r.cycles_stall for r in self.layers)

    @property
    def latency_s(self) -> float:
        return self.cycles_total / self.clock_hz

    @property
    def energy_pj(self) -> Energy:
        total = Energy()
        for r in self.layers:
            total = total + r.energy_pj
        return total

    def __getitem__(self, key):
        if isinstance(key, str):
            for r in self.layers:
                if r.name == key:
                    return r
            raise KeyError(f"no layer named {key!r} in this result")
        return self.layers[key]

    def __len__(self):
        return len(self.layers)

    def to_dict(self) -> dict:
        """The JSON contract of ``structconv simulate --json``."""
        return {"model": self.model, "plan": self.plan, "hw": self.hw,
                "layers": [r.to_dict() for r in self.layers],
                "totals": {"cycles_total": self.cycles_total, "latency_s": self.latency_s,
                           "energy_pj": self.energy_pj.to_dict()}}

    def to_frame(self):
        """One row per layer, every field (pandas DataFrame)."""
        import pandas as pd  # heavy to import: only this method needs it

        return pd.DataFrame([r.to_record() for r in self.layers])
