"""Hardware co-design: search accelerator knobs jointly with the plan, under an area budget.

A hardware space file lists the values each knob may take; knobs left out keep
the base accelerator's (``--hw``) value::

    area_budget_mm2: 1.5
    mac_array:
      rows: [8, 16, 32]
      cols: [8, 16, 32]
      dataflow: [os, ws, is]
    sum_pool:
      lanes_per_mac: [0.0625, 0.125, 0.25, 0.5, 1.0]   # or adder_lanes: [4, 8, 16, 32]
      scheme: [tree, separable, sliding]
      line_buffer_bytes: [8192, 32768]
    memory:
      ifmap_sram_bytes: [32768, 65536, 131072]
      filter_sram_bytes: [32768, 65536, 131072]
      ofmap_sram_bytes: [16384, 32768]

Numeric knobs are ordered integers (``suggest_int`` over the sorted values),
dataflow and scheme are categorical. Area comes from the accelerator's area
table (``Accelerator.area_mm2()``: PEs, sum-pool lanes, SRAMs; 45 nm figures).
The summary (``codesign_summary.py``) answers the designer's questions at the best
design found: how many sum-pool adder lanes per MAC are worth their area, and which dataflow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..core import load_data_file
from ..sim import DATAFLOWS, SCHEMES

KNOBS = {
    "mac_array": ("rows", "cols", "dataflow"),
    "sum_pool": ("adder_lanes", "lanes_per_mac", "scheme", "line_buffer_bytes"),
    "memory": ("ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes"),
}
CATEGORICAL = {"mac_array.dataflow": DATAFLOWS, "sum_pool.scheme": SCHEMES}


@dataclass(frozen=True)
class HwSpace:
    """Knob -> allowed values (sorted for numeric knobs), plus the area budget."""

    knobs: tuple                         # ((knob, (values...)), ...)
    area_budget_mm2: float | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"hw.{k}" for k, _ in self.knobs)

    def values(self, knob: str) -> tuple:
        return dict(self.knobs)[knob]

    def suggest(self, trial) -> dict:
        out = {}
        for k, vals in self.knobs:
            if k in CATEGORICAL:
                out[k] = trial.suggest_categorical(f"hw.{k}", list(vals))
            else:
                out[k] = vals[trial.suggest_int(f"hw.{k}", 0, len(vals) - 1)]
        return out

    def decode(self, params: dict) -> dict:
        """Knob values from trial params {hw.knob: index or category}."""
        out = {}
        for k, vals in self.knobs:
            v = params[f"hw.{k}"]
            out[k] = v if k in CATEGORICAL else vals[int(v)]
        return out

    def default_params(self, base) -> dict:
        """Trial params closest to the base accelerator (used for the enqueued seeds)."""
        cur = _current(base)
        out = {}
        for k, vals in self.knobs:
            v = cur.get(k)
            if k in CATEGORICAL:
                out[f"hw.{k}"] = v if v in vals else vals[0]
            else:
                out[f"hw.{k}"] = int(np.argmin([abs(math.log(max(x, 1e-9) / max(v, 1e-9))) for x in vals]))
        return out

    def accelerator(self, base, knob_values: dict):
        """The base accelerator with the knob values applied (energy/area tables recomputed)."""
        mac = dict(rows=base.mac_array.rows, cols=base.mac_array.cols, dataflow=base.mac_array.dataflow)
        spu = dict(adder_lanes=base.sum_pool.adder_lanes, scheme=base.sum_pool.scheme,
                   line_buffer_bytes=base.sum_pool.line_buffer_bytes)
        mem = dict(ifmap_sram_bytes=base.memory.ifmap_sram_bytes,
                   filter_sram_bytes=base.memory.filter_sram_bytes,
                   ofmap_sram_bytes=base.memory.ofmap_sram_bytes)
        lpm = None
        for k, v in knob_values.items():
            sec, name = k.split(".")
            if name == "lanes_per_mac":
                lpm = float(v)
            else:
                {"mac_array": mac, "sum_pool": spu, "memory": mem}[sec][name] = v
        if lpm is not None:
            spu["adder_lanes"] = max(1, int(round(lpm * mac["rows"] * mac["cols"])))
        name = base.name + "+" + ",".join(f"{k.split('.')[1]}={v}" for k, v in sorted(knob_values.items()))
        return base.with_(name=name, mac_array=replace(base.mac_array, **mac),
                          sum_pool=replace(base.sum_pool, **spu), memory=replace(base.memory, **mem))

    def min_area_mm2(self, base) -> float:
        """Smallest area in the space (area grows with every knob value)."""
        small = {}
        for k, vals in self.knobs:
            small[k] = vals[0] if k not in CATEGORICAL else vals[0]
        return float(self.accelerator(base, small).area_mm2())

    def to_dict(self) -> dict:
        d: dict = {"area_budget_mm2": self.area_budget_mm2}
        for k, vals in self.knobs:
            sec, name = k.split(".")
            d.setdefault(sec, {})[name] = list(vals)
        return d


def _current(base) -> dict:
    return {"mac_array.rows": base.mac_array.rows, "mac_array.cols": base.mac_array.cols,
            "mac_array.dataflow": base.mac_array.dataflow, "sum_pool.adder_lanes": base.sum_pool.adder_lanes,
            "sum_pool.lanes_per_mac": base.sum_pool.adder_lanes / (base.mac_array.rows * base.mac_array.cols),
            "sum_pool.scheme": base.sum_pool.scheme,
            "sum_pool.line_buffer_bytes": base.sum_pool.line_buffer_bytes,
            "memory.ifmap_sram_bytes": base.memory.ifmap_sram_bytes,
            "memory.filter_sram_bytes": base.memory.filter_sram_bytes,
            "memory.ofmap_sram_bytes": base.memory.ofmap_sram_bytes}


def _budget(d, source):
    budget = d.get("area_budget_mm2")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not budget > 0 or not math.isfinite(budget)):
        raise ValueError(f"{source}: area_budget_mm2 = {budget!r} must be a number > 0")
    return float(budget) if budget is not None else None


def _section(d, sec: str, names, source):
    sd = d.get(sec)
    if sd is None:
        return {}
    if not isinstance(sd, dict):
        raise ValueError(f"{source}: field {sec!r} must be a mapping of knob -> list of values")
    bad = sorted(set(sd) - set(names))
    if bad:
        raise ValueError(f"{source}: unknown knob(s) {[f'{sec}.{b}' for b in bad]}; allowed: "
                         f"{[f'{sec}.{n}' for n in names]}")
    if "adder_lanes" in sd and "lanes_per_mac" in sd:
        raise ValueError(f"{source}: give sum_pool.adder_lanes or sum_pool.lanes_per_mac, not both")
    return sd


def _categorical(key, vals, source) -> tuple:
    for v in vals:
        if v not in CATEGORICAL[key]:
            raise ValueError(f"{source}: {key} = {v!r} is not one of {list(CATEGORICAL[key])}")
    return tuple(dict.fromkeys(vals))


def _numeric(key, name, vals, source) -> tuple:
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
            raise ValueError(f"{source}: {key} values must be numbers > 0, got {v!r}")
        if name != "lanes_per_mac" and not float(v).is_integer():
            raise ValueError(f"{source}: {key} values must be integers, got {v!r}")
    return tuple(sorted(set(v if name == "lanes_per_mac" else int(v) for v in vals)))


def _knob_values(key, name, vals, source) -> tuple:
    if not isinstance(vals, list) or not vals:
        vals = [vals]
    return _categorical(key, vals, source) if key in CATEGORICAL else _numeric(key, name, vals, source)


def hw_space_from_dict(d, source: str = "hardware space") -> HwSpace:
    if not isinstance(d, dict):
        raise ValueError(f"{source}: a hardware space is a mapping, got {type(d).__name__}")
    allowed = set(KNOBS) | {"area_budget_mm2"}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    budget = _budget(d, source)
    knobs = []
    for sec, names in KNOBS.items():
        sd = _section(d, sec, names, source)
        knobs += [(f"{sec}.{n}", _knob_values(f"{sec}.{n}", n, sd[n], source)) for n in names if n in sd]
    if not knobs:
        raise ValueError(f"{source}: no hardware knob to search (give mac_array, sum_pool or memory lists)")
    return HwSpace(tuple(knobs), budget)


def load_hw_space(path) -> HwSpace:
    data = load_data_file(path, "hardware space file")
    return hw_space_from_dict(data, f"hardware space file {str(path)!r}")
