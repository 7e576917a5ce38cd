"""The co-design answer: how many sum-pool adder lanes per MAC are worth their area, and which dataflow.

Each structured front member (up to ``max_members``; dense plans do no sum-pooling)
is re-simulated with every lanes-per-MAC value and every dataflow at its own
accelerator; "worth it" is the fewest lanes per MAC whose median slowdown over
those plans is within 2% of the most lanes tried.
"""
from __future__ import annotations

import numpy as np

from ..sim import DATAFLOWS

LANES_PER_MAC = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)   # swept when the space does not list them
WITHIN = 1.02                                                      # "worth it": within 2% of the most lanes
LANE_KNOBS = ("sum_pool.lanes_per_mac", "sum_pool.adder_lanes")


def _knobs(m) -> dict:
    return dict(m.evaluation.hw or {})


def _structured(result, max_members: int):
    """(members, reference): the structured front plans, the best one (or the first) leading."""
    members = [m for m in result.front if len(m.plan) > 0]
    best = result.best
    ref = best if (best is not None and len(best.plan) > 0) else (members[0] if members else None)
    if ref is not None and ref not in members:
        members = [ref] + members
    return members[:max_members], ref


def _lane_values(hs) -> list:
    key = LANE_KNOBS[0]
    return list(hs.values(key)) if key in dict(hs.knobs) else list(LANES_PER_MAC)


def _lane_entry(hs, base, kv, ev, v) -> dict:
    hw = hs.accelerator(base, kv)
    return {"lanes_per_mac": v, "adder_lanes": hw.sum_pool.adder_lanes, "macs": hw.num_pes,
            "cycles_total": int(ev.cycles_total), "energy_pj": ev.energy_pj,
            "area_mm2": round(ev.area_mm2, 4),
            "within_area": hs.area_budget_mm2 is None or ev.area_mm2 <= hs.area_budget_mm2}


def _lane_sweep(problem, m, lpm_vals) -> tuple[np.ndarray, list]:
    """Cycles of ``m`` at every lanes-per-MAC value (its other knobs kept), and the sweep entries."""
    hs, base = problem.hw_space, problem.costs.hw
    kv0 = {k: v for k, v in _knobs(m).items() if k not in LANE_KNOBS}
    cycles, entries = [], []
    for v in lpm_vals:
        kv = dict(kv0, **{LANE_KNOBS[0]: v})
        ev = problem.evaluate(list(m.index), kv)
        cycles.append(ev.cycles_total)
        entries.append(_lane_entry(hs, base, kv, ev, v))
    return np.asarray(cycles, float), entries


def _flow_sweep(problem, m) -> tuple[list, list]:
    evs = [problem.evaluate(list(m.index), dict(_knobs(m), **{"mac_array.dataflow": df})) for df in DATAFLOWS]
    return [ev.cycles_total for ev in evs], [ev.energy_pj for ev in evs]


def _front_hardware(problem, front) -> tuple[dict, list]:
    """Dataflow counts and lanes per MAC of the accelerators on the front."""
    flows, lpm = {}, []
    for m in front:
        a = problem.hw_space.accelerator(problem.costs.hw, _knobs(m))
        flows[a.mac_array.dataflow] = flows.get(a.mac_array.dataflow, 0) + 1
        lpm.append(a.sum_pool.adder_lanes / a.num_pes)
    return flows, lpm


def _answer(ref, ref_lanes, lpm_vals, worth, n, fastest, cheapest) -> tuple[str, float]:
    rc = np.array([r["cycles_total"] for r in ref_lanes], float)
    i = int(np.argmax(rc <= WITHIN * rc[-1]))
    best_flow, best_flow_e = DATAFLOWS[int(fastest.argmax())], DATAFLOWS[int(cheapest.argmax())]
    energy = (f", {best_flow_e!r} uses the least energy for {cheapest.max()}/{n}" if best_flow_e != best_flow
              else f" and uses the least energy for {cheapest.max()}/{n}")
    text = (f"at the best plan ({ref.plan.name}, {ref_lanes[0]['macs']} MACs): "
            f"{lpm_vals[i]:g} sum-pool adder lanes per MAC ({ref_lanes[i]['adder_lanes']} lanes) "
            f"get within 2% of the cycles with {lpm_vals[-1]:g} lanes/MAC "
            f"({lpm_vals[0]:g}: +{100 * (rc[0] / rc[-1] - 1):.0f}% cycles) "
            f"for +{100 * (ref_lanes[i]['area_mm2'] / ref_lanes[0]['area_mm2'] - 1):.1f}% area; "
            f"over {n} structured front plans the median needs {worth:g} lanes/MAC. "
            f"Dataflow {best_flow!r} is fastest for {fastest.max()}/{n} plans" + energy)
    return text, lpm_vals[i]


def codesign_summary(problem, result, max_members: int = 24) -> dict:
    """Lanes-per-MAC and dataflow sweeps over the structured plans of the front."""
    members, ref = _structured(result, max_members)
    if ref is None:
        return {"note": "no feasible structured design: no co-design answer"}
    lpm_vals = _lane_values(problem.hw_space)
    sweeps = [_lane_sweep(problem, m, lpm_vals) for m in members]
    slow = np.array([cyc / cyc[-1] for cyc, _ in sweeps])
    ref_lanes = sweeps[members.index(ref)][1]
    flows = [_flow_sweep(problem, m) for m in members]
    flow_cycles, flow_energy = np.array([f[0] for f in flows]), np.array([f[1] for f in flows])
    med = np.median(slow, axis=0)
    worth = next(v for v, s in zip(lpm_vals, med) if s <= WITHIN)
    fastest = np.bincount(flow_cycles.argmin(axis=1), minlength=len(DATAFLOWS))
    cheapest = np.bincount(flow_energy.argmin(axis=1), minlength=len(DATAFLOWS))
    answer, ref_worth = _answer(ref, ref_lanes, lpm_vals, worth, len(members), fastest, cheapest)
    r = members.index(ref)
    front_flows, lpm = _front_hardware(problem, result.front)
    return {"answer": answer, "reference": ref.plan.name, "reference_hw": _knobs(ref),
            "plans_analysed": len(members), "lanes_per_mac": list(lpm_vals),
            "median_slowdown": [round(float(x), 4) for x in med],
            "lanes_per_mac_worth_it": ref_worth, "median_lanes_per_mac_worth_it": worth,
            "lanes_sweep": ref_lanes,
            "dataflow_sweep": [{"dataflow": df, "cycles_total": int(flow_cycles[r, j]),
                                "energy_pj": float(flow_energy[r, j])} for j, df in enumerate(DATAFLOWS)],
            "dataflow_fastest_counts": dict(zip(DATAFLOWS, map(int, fastest))),
            "dataflow_least_energy_counts": dict(zip(DATAFLOWS, map(int, cheapest))),
            "best_dataflow_cycles": DATAFLOWS[int(fastest.argmax())],
            "best_dataflow_energy": DATAFLOWS[int(cheapest.argmax())],
            "front_dataflows": front_flows,
            "front_lanes_per_mac": ({"min": min(lpm), "median": float(np.median(lpm)), "max": max(lpm)}
                                    if lpm else None),
            "area_budget_mm2": problem.hw_space.area_budget_mm2}
