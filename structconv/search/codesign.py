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
The summary answers the designer's questions at the best design found: how many
sum-pool adder lanes per MAC are worth their area, and which dataflow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..core.files import load_data_file

KNOBS = {
    "mac_array": ("rows", "cols", "dataflow"),
    "sum_pool": ("adder_lanes", "lanes_per_mac", "scheme", "line_buffer_bytes"),
    "memory": ("ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes"),
}
CATEGORICAL = {"mac_array.dataflow": ("os", "ws", "is"), "sum_pool.scheme": ("tree", "separable", "sliding")}


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
        mem = dict(ifmap_sram_bytes=base.memory.ifmap_sram_bytes, filter_sram_bytes=base.memory.filter_sram_bytes,
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
            "sum_pool.scheme": base.sum_pool.scheme, "sum_pool.line_buffer_bytes": base.sum_pool.line_buffer_bytes,
            "memory.ifmap_sram_bytes": base.memory.ifmap_sram_bytes,
            "memory.filter_sram_bytes": base.memory.filter_sram_bytes,
            "memory.ofmap_sram_bytes": base.memory.ofmap_sram_bytes}


def hw_space_from_dict(d, source: str = "hardware space") -> HwSpace:
    if not isinstance(d, dict):
        raise ValueError(f"{source}: a hardware space is a mapping, got {type(d).__name__}")
    allowed = set(KNOBS) | {"area_budget_mm2"}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    budget = d.get("area_budget_mm2")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not budget > 0 or not math.isfinite(budget)):
        raise ValueError(f"{source}: area_budget_mm2 = {budget!r} must be a number > 0")
    knobs = []
    for sec, names in KNOBS.items():
        sd = d.get(sec)
        if sd is None:
            continue
        if not isinstance(sd, dict):
            raise ValueError(f"{source}: field {sec!r} must be a mapping of knob -> list of values")
        bad = sorted(set(sd) - set(names))
        if bad:
            raise ValueError(f"{source}: unknown knob(s) {[f'{sec}.{b}' for b in bad]}; allowed: "
                             f"{[f'{sec}.{n}' for n in names]}")
        if "adder_lanes" in sd and "lanes_per_mac" in sd:
            raise ValueError(f"{source}: give sum_pool.adder_lanes or sum_pool.lanes_per_mac, not both")
        for name in names:
            if name not in sd:
                continue
            key = f"{sec}.{name}"
            vals = sd[name]
            if not isinstance(vals, list) or not vals:
                vals = [vals]
            if key in CATEGORICAL:
                for v in vals:
                    if v not in CATEGORICAL[key]:
                        raise ValueError(f"{source}: {key} = {v!r} is not one of {list(CATEGORICAL[key])}")
                vals = tuple(dict.fromkeys(vals))
            else:
                for v in vals:
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
                        raise ValueError(f"{source}: {key} values must be numbers > 0, got {v!r}")
                    if name != "lanes_per_mac" and not float(v).is_integer():
                        raise ValueError(f"{source}: {key} values must be integers, got {v!r}")
                vals = tuple(sorted(set(v if name == "lanes_per_mac" else int(v) for v in vals)))
            knobs.append((key, vals))
    if not knobs:
        raise ValueError(f"{source}: no hardware knob to search (give mac_array, sum_pool or memory lists)")
    return HwSpace(tuple(knobs), float(budget) if budget is not None else None)


def load_hw_space(path) -> HwSpace:
    data = load_data_file(path, "hardware space file")
    return hw_space_from_dict(data, f"hardware space file {str(path)!r}")


def codesign_summary(problem, result, max_members: int = 24) -> dict:
    """Lanes-per-MAC and dataflow sweeps over the structured plans of the front.

    Each front member (up to ``max_members``, dense plans skipped: they do no
    sum-pooling) is re-simulated with every lanes-per-MAC value and every dataflow
    at its own accelerator; "worth it" is the fewest lanes per MAC whose median
    slowdown over those plans is within 2% of the most lanes tried.
    """
    hs = problem.hw_space
    base = problem.costs.hw
    members = [m for m in result.front if len(m.plan) > 0]
    ref = result.best if (result.best is not None and len(result.best.plan) > 0) else (members[0] if members
                                                                                        else None)
    if ref is None:
        return {"note": "no feasible structured design: no co-design answer"}
    if ref not in members:
        members = [ref] + members
    members = members[:max_members]
    knobs_of = lambda m: dict(m.breakdown.get("hw") or {})            # noqa: E731
    lane_key = "sum_pool.lanes_per_mac" if "sum_pool.lanes_per_mac" in dict(hs.knobs) else None
    lpm_vals = list(hs.values(lane_key)) if lane_key else [1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0]

    def evaluate(m, kv):
        ev = problem.evaluate(list(m.index), kv)
        hw = hs.accelerator(base, kv)
        return ev, hw

    slow = np.zeros((len(members), len(lpm_vals)))
    ref_lanes = []
    flows = ("os", "ws", "is")
    flow_cycles = np.zeros((len(members), 3))
    flow_energy = np.zeros((len(members), 3))
    for i, m in enumerate(members):
        kv0 = {k: v for k, v in knobs_of(m).items() if k not in ("sum_pool.lanes_per_mac", "sum_pool.adder_lanes")}
        cyc = []
        for v in lpm_vals:
            kv = dict(kv0, **{"sum_pool.lanes_per_mac": v})
            ev, hw = evaluate(m, kv)
            cyc.append(ev["cycles"])
            if m is ref:
                ref_lanes.append({"lanes_per_mac": v, "adder_lanes": hw.sum_pool.adder_lanes, "macs": hw.num_pes,
                                  "cycles": int(ev["cycles"]), "energy_pj": ev["energy_pj"],
                                  "area_mm2": round(ev["area_mm2"], 4),
                                  "within_area": hs.area_budget_mm2 is None or ev["area_mm2"] <= hs.area_budget_mm2})
        cyc = np.asarray(cyc, float)
        slow[i] = cyc / cyc[-1]
        for j, df in enumerate(flows):
            ev, _ = evaluate(m, dict(knobs_of(m), **{"mac_array.dataflow": df}))
            flow_cycles[i, j], flow_energy[i, j] = ev["cycles"], ev["energy_pj"]
    med = np.median(slow, axis=0)
    worth = next(v for v, s in zip(lpm_vals, med) if s <= 1.02)
    fastest = np.bincount(flow_cycles.argmin(axis=1), minlength=3)
    cheapest = np.bincount(flow_energy.argmin(axis=1), minlength=3)
    best_flow = flows[int(fastest.argmax())]
    best_flow_e = flows[int(cheapest.argmax())]
    ref_flow = [{"dataflow": df, "cycles": int(flow_cycles[members.index(ref), j]),
                 "energy_pj": float(flow_energy[members.index(ref), j])} for j, df in enumerate(flows)]
    front_flows: dict = {}
    lpm = []
    for m in result.front:
        a = hs.accelerator(base, knobs_of(m))
        front_flows[a.mac_array.dataflow] = front_flows.get(a.mac_array.dataflow, 0) + 1
        lpm.append(a.sum_pool.adder_lanes / a.num_pes)
    n = len(members)
    rc = np.array([r["cycles"] for r in ref_lanes], float)
    ref_worth_i = int(np.argmax(rc <= 1.02 * rc[-1]))
    ref_worth = lpm_vals[ref_worth_i]
    area0 = ref_lanes[0]["area_mm2"]
    answer = (f"at the best plan ({ref.plan.name}, {ref_lanes[0]['macs']} MACs): {ref_worth:g} sum-pool adder lanes "
              f"per MAC ({ref_lanes[ref_worth_i]['adder_lanes']} lanes) get within 2% of the cycles with "
              f"{lpm_vals[-1]:g} lanes/MAC ({lpm_vals[0]:g}: +{100 * (rc[0] / rc[-1] - 1):.0f}% cycles) for "
              f"+{100 * (ref_lanes[ref_worth_i]['area_mm2'] / area0 - 1):.1f}% area; over {n} structured front "
              f"plans the median needs {worth:g} lanes/MAC. Dataflow {best_flow!r} is fastest for "
              f"{fastest.max()}/{n} plans"
              + (f", {best_flow_e!r} uses the least energy for {cheapest.max()}/{n}" if best_flow_e != best_flow
                 else f" and uses the least energy for {cheapest.max()}/{n}"))
    return {"answer": answer, "reference": ref.plan.name, "reference_hw": knobs_of(ref),
            "plans_analysed": n, "lanes_per_mac": list(lpm_vals),
            "median_slowdown": [round(float(x), 4) for x in med],
            "lanes_per_mac_worth_it": ref_worth, "median_lanes_per_mac_worth_it": worth, "lanes_sweep": ref_lanes, "dataflow_sweep": ref_flow,
            "dataflow_fastest_counts": dict(zip(flows, map(int, fastest))),
            "dataflow_least_energy_counts": dict(zip(flows, map(int, cheapest))),
            "best_dataflow_cycles": best_flow, "best_dataflow_energy": best_flow_e,
            "front_dataflows": front_flows,
            "front_lanes_per_mac": ({"min": min(lpm), "median": float(np.median(lpm)), "max": max(lpm)}
                                    if lpm else None),
            "area_budget_mm2": hs.area_budget_mm2}
