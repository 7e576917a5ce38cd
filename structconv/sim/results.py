"""Result objects and the energy model (event counts x energy table, in numpy)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import _kernels as K
from .accelerator import Accelerator

ENERGY_KEYS = ("mac", "add", "sram", "dram", "leakage", "total")


def energy_matrix(counts: np.ndarray, hw: Accelerator) -> np.ndarray:
    """(n x 6) pJ per component for n rows of kernel counts; columns as ENERGY_KEYS."""
    e, bpe = hw.energy, hw.bytes_per_element
    c = counts.astype(np.float64)
    out = np.empty((c.shape[0], len(ENERGY_KEYS)))
    out[:, 0] = c[:, K.O_MACS] * (e.mult_pj + e.add_pj)          # multiply + accumulate
    out[:, 1] = c[:, K.O_ADDS] * e.add_pj                        # sum-pool adds and subtracts
    out[:, 2] = bpe * ((c[:, K.O_IF_R] + c[:, K.O_IF_W]) * e.ifmap_sram_pj_per_byte
                       + c[:, K.O_FI_R] * e.filter_sram_pj_per_byte
                       + c[:, K.O_OF_W] * e.ofmap_sram_pj_per_byte
                       + c[:, K.O_LB] * e.line_buffer_pj_per_byte)
    out[:, 3] = c[:, K.O_DRAM] * e.dram_pj_per_byte
    cycles = c[:, K.O_COMPUTE] + c[:, K.O_STALL]
    out[:, 4] = hw.leakage_mw * 1e9 * cycles / hw.clock_hz     # mW * s = 1e9 pJ
    out[:, 5] = out[:, :5].sum(axis=1)
    return out


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
    def from_row(cls, row) -> "Energy":
        return cls(*(float(v) for v in row))

    def __add__(self, other: "Energy") -> "Energy":
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
    and the MAC array ran pipelined through the line buffer.
    """

    name: str
    choice: str
    cycles_compute: int
    cycles_stall: int
    spu_cycles: int
    mac_cycles: int
    macs: int
    sumpool_adds: int
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_ifmap_writes: int
    line_buffer_accesses: int
    dram_bytes: int
    fused: bool | None
    mac_utilization: float
    latency_s: float
    energy_pj: Energy

    @property
    def cycles_total(self) -> int:
        return self.cycles_compute + self.cycles_stall

    @property
    def sram_reads(self) -> int:
        return self.sram_ifmap_reads + self.sram_filter_reads

    @property
    def sram_writes(self) -> int:
        return self.sram_ofmap_writes + self.sram_ifmap_writes

    @classmethod
    def from_counts(cls, name: str, choice: str, counts: np.ndarray, energy_row, hw: Accelerator,
                    has_spu: bool) -> "LayerResult":
        c = [int(v) for v in counts]
        mac_cap = c[K.O_MAC] * hw.num_pes
        return cls(name=name, choice=choice, cycles_compute=c[K.O_COMPUTE], cycles_stall=c[K.O_STALL],
                   spu_cycles=c[K.O_SPU], mac_cycles=c[K.O_MAC], macs=c[K.O_MACS],
                   sumpool_adds=c[K.O_ADDS], sram_ifmap_reads=c[K.O_IF_R], sram_filter_reads=c[K.O_FI_R],
                   sram_ofmap_writes=c[K.O_OF_W], sram_ifmap_writes=c[K.O_IF_W],
                   line_buffer_accesses=c[K.O_LB], dram_bytes=c[K.O_DRAM],
                   fused=bool(c[K.O_FUSED]) if has_spu else None,
                   mac_utilization=c[K.O_MACS] / mac_cap if mac_cap else 0.0,
                   latency_s=(c[K.O_COMPUTE] + c[K.O_STALL]) / hw.clock_hz,
                   energy_pj=Energy.from_row(energy_row))

    def to_dict(self) -> dict:
        """The JSON contract of ``structconv simulate --json`` (one entry of "layers")."""
        return {"name": self.name, "cycles_compute": self.cycles_compute, "cycles_stall": self.cycles_stall,
                "cycles_total": self.cycles_total, "spu_cycles": self.spu_cycles,
                "mac_cycles": self.mac_cycles, "mac_utilization": self.mac_utilization,
                "energy_pj": self.energy_pj.to_dict(), "sram_reads": self.sram_reads,
                "sram_writes": self.sram_writes, "dram_bytes": self.dram_bytes}

    def to_record(self) -> dict:
        """Every field, flat (energy as energy_<component>_pj): one DataFrame row."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "energy_pj"}
        d.update(cycles_total=self.cycles_total, sram_reads=self.sram_reads, sram_writes=self.sram_writes)
        d.update({f"energy_{k}_pj": v for k, v in self.energy_pj.to_dict().items()})
        return d


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
        import pandas as pd

        return pd.DataFrame([r.to_record() for r in self.layers])
