"""Data step of every report section: pandas DataFrames, no plotting.

Each function takes library results (or their ``to_dict()`` form) and returns a
DataFrame whose columns carry units in their names; ``figures`` draws them and
``report`` lays them out. Nothing here imports plotly.

Column conventions: a dense-network value is prefixed ``orig_``; the value under
the plan has no prefix. Simulator columns come from the ``structconv simulate
--json`` contract (``cycles_*``, ``spu_cycles``, ``mac_cycles``,
``mac_utilization``, ``energy_<component>_pj``, ``sram_reads``, ``sram_writes``,
``dram_bytes``); the total energy is ``energy_pj`` (the breakdown's ``total``), as in
the summary and the search. ``sumpool_adds`` is core's paper-convention count.
"""
from __future__ import annotations

import math

import pandas as pd

from structconv.core import compare_paper_tables, count_network, resolve_network, resolve_plan
from structconv.sim import simulate

ENERGY_COMPONENTS = ("mac", "add", "sram", "dram", "leakage")
SIM_COLUMNS = ("cycles_compute", "cycles_stall", "cycles_total", "spu_cycles", "mac_cycles",
               "mac_utilization", "sram_reads", "sram_writes", "dram_bytes")


# -- op counts (core) ---------------------------------------------------------------------
def cost_frame(cost) -> pd.DataFrame:
    """Per-layer op counts of a ``core.NetworkCost``: original vs plan."""
    rows = []
    for r in cost.layers:
        l, o, s = r.layer, r.original, r.structured
        rows.append({"layer": l.name, "kind": _kind(l), "choice": r.choice.label,
                     "shape": f"{l.out_channels}x{l.group_in_channels}x{l.kernel[0]}x{l.kernel[1]}",
                     "orig_mults": o.mults, "mults": s.mults, "orig_adds": o.adds, "adds": s.adds,
                     "sumpool_adds": s.sumpool_adds, "orig_params": o.params, "params": s.params})
    df = pd.DataFrame(rows, columns=["layer", "kind", "choice", "shape", "orig_mults", "mults", "orig_adds",
                                     "adds", "sumpool_adds", "orig_params", "params"])
    df["mults_ratio"] = df["mults"] / df["orig_mults"]
    return df


def _kind(layer) -> str:
    k = getattr(layer, "kind", None)
    if k is not None:
        return k
    if layer.op == "linear":
        return "linear"
    if layer.groups == layer.in_channels and layer.groups > 1:
        return "depthwise"
    if layer.groups > 1:
        return "grouped"
    return "pointwise" if layer.kernel == (1, 1) else "conv"


def cost_totals(cost) -> dict:
    """Totals of a NetworkCost with the savings a summary shows."""
    o, s = cost.original, cost.structured
    return {"orig_mults": o.mults, "mults": s.mults, "orig_adds": o.adds, "adds": s.adds,
            "sumpool_adds": s.sumpool_adds, "orig_params": o.params, "params": s.params,
            "mults_ratio": s.mults / o.mults, "params_ratio": s.params / o.params}


# -- simulator results --------------------------------------------------------------------
def _sim_dict(result) -> dict:
    if isinstance(result, dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    raise ValueError(f"sim result must be a NetworkResult or its to_dict(), got {type(result).__name__}")


def sim_frame(result) -> pd.DataFrame:
    """Per-layer simulator results (a ``sim.NetworkResult`` or its ``to_dict()``), flat.

    Columns: layer, the SIM_COLUMNS, energy_<component>_pj for mac/add/sram/dram/leakage
    and energy_pj (the total).
    """
    rows = [{"layer": r["name"], **{k: r.get(k) for k in SIM_COLUMNS}, **_energy_columns(r.get("energy_pj"))}
            for r in _sim_dict(result).get("layers", [])]
    cols = ["layer", *SIM_COLUMNS, *(f"energy_{k}_pj" for k in ENERGY_COMPONENTS), "energy_pj"]
    return pd.DataFrame(rows, columns=cols)


def _energy_columns(energy) -> dict:
    """The sim's energy breakdown {mac, ..., total} as energy_<component>_pj columns and energy_pj."""
    if not isinstance(energy, dict):
        return {"energy_pj": energy}
    out = {f"energy_{k}_pj": v for k, v in energy.items() if k != "total"}
    out["energy_pj"] = energy.get("total")
    return out


def sim_totals(result) -> dict:
    """Totals of a simulation: cycles_total, latency_s, energy_<component>_pj, energy_pj (total)."""
    d = _sim_dict(result)
    t = d.get("totals", {})
    e = t.get("energy_pj", {})
    out = {"cycles_total": t.get("cycles_total"), "latency_s": t.get("latency_s"), **_energy_columns(e)}
    layers = d.get("layers", [])
    out["cycles_compute"] = sum(r.get("cycles_compute", 0) for r in layers)
    out["cycles_stall"] = sum(r.get("cycles_stall", 0) for r in layers)
    return out


def layer_frame(cost, sim_orig=None, sim_plan=None) -> pd.DataFrame:
    """One row per layer: op counts original vs plan, and (when given) both simulations.

    ``sim_orig``/``sim_plan`` are the dense and planned simulations of the same network;
    their columns get the ``orig_`` prefix and no prefix. Derived columns:
    ``mac_array_cycles`` (MAC-array busy time inside the compute time),
    ``spu_exposed_cycles`` (sum-pool time not hidden behind the array), so that
    mac_array_cycles + spu_exposed_cycles + cycles_stall == cycles_total, and
    ``speedup`` = orig_cycles_total / cycles_total.
    """
    df = cost_frame(cost)
    for prefix, sim in (("orig_", sim_orig), ("", sim_plan)):
        if sim is None:
            continue
        s = sim_frame(sim)
        if list(s["layer"]) != list(df["layer"]):
            raise ValueError("simulation and cost cover different layers "
                             f"({len(s)} vs {len(df)} rows); simulate the same network")
        s = s.drop(columns="layer").add_prefix(prefix)
        df = pd.concat([df, s.reset_index(drop=True)], axis=1)
        mac = df[f"{prefix}mac_cycles"].clip(upper=df[f"{prefix}cycles_compute"])
        df[f"{prefix}mac_array_cycles"] = mac
        df[f"{prefix}spu_exposed_cycles"] = df[f"{prefix}cycles_compute"] - mac
    if sim_orig is not None and sim_plan is not None:
        df["speedup"] = df["orig_cycles_total"] / df["cycles_total"]
        df["energy_ratio"] = df["energy_pj"] / df["orig_energy_pj"]
    return df


def cycles_long_frame(layers: pd.DataFrame) -> pd.DataFrame:
    """Long form of the per-layer cycle breakdown: (layer, variant, unit, cycles).

    ``unit`` is 'sum-pool unit' (exposed), 'MAC array' or 'stall'; ``variant`` is
    'original' or 'structured'. Needs the columns ``layer_frame`` adds with both sims.
    """
    rows = []
    for variant, p in (("original", "orig_"), ("structured", "")):
        if f"{p}cycles_total" not in layers:
            continue
        for unit, col in (("sum-pool unit", "spu_exposed_cycles"), ("MAC array", "mac_array_cycles"),
                          ("stall", "cycles_stall")):
            part = pd.DataFrame({"layer": layers["layer"], "variant": variant, "unit": unit,
                                 "cycles": layers[f"{p}{col}"]})
            rows.append(part)
    if not rows:
        return pd.DataFrame(columns=["layer", "variant", "unit", "cycles"])
    return pd.concat(rows, ignore_index=True)


def energy_frame(named_sims: dict) -> pd.DataFrame:
    """Energy totals by component for several simulations: one row per (variant, component)."""
    rows = []
    for name, sim in named_sims.items():
        t = sim_totals(sim)
        for k in ENERGY_COMPONENTS:
            rows.append({"variant": name, "component": k, "energy_pj": t.get(f"energy_{k}_pj", 0.0)})
    return pd.DataFrame(rows, columns=["variant", "component", "energy_pj"])


def roofline_frame(layers: pd.DataFrame, hw) -> pd.DataFrame:
    """Each layer as a point on the accelerator's MAC-array roofline, original and planned.

    ``hw`` is an ``sim.Accelerator``. Work is MACs (the core ``mults``), traffic is the
    simulated DRAM bytes, time is cycles_total / clock. Columns: layer, variant,
    macs, dram_bytes, intensity_macs_per_byte (inf when no DRAM traffic),
    attained_macs_per_s, peak_macs_per_s, dram_bytes_per_s, ridge_macs_per_byte, bound.
    """
    peak, bw = roofline_limits(hw)
    rows = []
    for variant, p in (("original", "orig_"), ("structured", "")):
        if f"{p}cycles_total" not in layers:
            continue
        for _, r in layers.iterrows():
            macs, dram, cyc = r[f"{p}mults"], r[f"{p}dram_bytes"], r[f"{p}cycles_total"]
            t = cyc / hw.clock_hz if cyc else float("nan")
            inten = macs / dram if dram else math.inf
            rows.append({"layer": r["layer"], "variant": variant, "macs": macs, "dram_bytes": dram,
                         "intensity_macs_per_byte": inten,
                         "attained_macs_per_s": macs / t if t and t == t else float("nan"),
                         "peak_macs_per_s": peak, "dram_bytes_per_s": bw, "ridge_macs_per_byte": peak / bw,
                         "bound": "compute" if inten >= peak / bw else "memory"})
    return pd.DataFrame(rows)


def roofline_limits(hw) -> tuple[float, float]:
    """(peak MAC/s, DRAM bytes/s) of an Accelerator."""
    peak = hw.mac_array.rows * hw.mac_array.cols * hw.clock_hz
    bw = hw.memory.dram_bytes_per_cycle * hw.clock_hz
    return float(peak), float(bw)


# -- whole-plan comparisons ------------------------------------------------------------------
def plan_row(cost, sim=None, **extra) -> dict:
    """One comparison row: totals and ratios to the dense network."""
    t = cost_totals(cost)
    row = {"plan": cost.plan_name, **extra, "mults": t["mults"], "adds": t["adds"],
           "sumpool_adds": t["sumpool_adds"], "params": t["params"],
           "mults_ratio": t["mults_ratio"], "params_ratio": t["params_ratio"]}
    if sim is not None:
        s = sim_totals(sim)
        row.update(cycles_total=s["cycles_total"], latency_s=s["latency_s"], energy_pj=s["energy_pj"])
    return row


def plan_comparison_frame(network, plans, hw=None, mode: str = "analytical") -> pd.DataFrame:
    """Dense network and each plan side by side: counts, cycles, latency, energy, ratios.

    ``network``: a model reference; ``plans``: a mapping name -> plan reference (a Plan,
    a preset name, a plan file, a mapping) or an iterable of Plans. With ``hw`` (a preset
    name, path or Accelerator) every plan is simulated; ratios are to the dense row.
    """
    network = resolve_network(network)
    items = list(plans.items()) if isinstance(plans, dict) else [(p.name, p) for p in plans]
    items = [("dense", None)] + [(n, p) for n, p in items if n != "dense"]
    rows = []
    for name, ref in items:
        plan = resolve_plan(ref, network)
        sim = None if hw is None else simulate(network, plan, hw, mode)
        rows.append(plan_row(count_network(network, plan), sim, plan=name))
    df = pd.DataFrame(rows)
    if hw is not None:
        base = df.iloc[0]
        df["cycles_ratio"] = df["cycles_total"] / base["cycles_total"]
        df["speedup"] = base["cycles_total"] / df["cycles_total"]
        df["energy_ratio"] = df["energy_pj"] / base["energy_pj"]
    return df


def summary(cost, sim_orig=None, sim_plan=None, run_summary: dict | None = None) -> dict:
    """The numbers at the top of a report, with the raw totals they come from.

    speedup = dense cycles / planned cycles; energy_saving = 1 - planned / dense energy;
    params_saving = 1 - planned / dense params; accuracy_change = acc_after - acc_before
    (percentage points) of the training run's decomposition.
    """
    t = cost_totals(cost)
    out = {"model": cost.network.name, "plan": cost.plan_name, "layers": len(cost.layers),
           "layers_changed": sum(1 for r in cost.layers if r.choice.label != "dense"),
           **t, "mults_saving": 1 - t["mults_ratio"], "params_saving": 1 - t["params_ratio"]}
    if sim_orig is not None and sim_plan is not None:
        so, sp = sim_totals(sim_orig), sim_totals(sim_plan)
        out.update({"hw": _sim_dict(sim_plan).get("hw"),
                    "orig_cycles_total": so["cycles_total"], "cycles_total": sp["cycles_total"],
                    "orig_latency_s": so["latency_s"], "latency_s": sp["latency_s"],
                    "orig_energy_pj": so["energy_pj"], "energy_pj": sp["energy_pj"],
                    "speedup": so["cycles_total"] / sp["cycles_total"] if sp["cycles_total"] else None,
                    "energy_saving": 1 - sp["energy_pj"] / so["energy_pj"] if so["energy_pj"] else None})
    if run_summary:
        b, a = run_summary.get("acc_before"), run_summary.get("acc_after")
        out.update(acc_before=b, acc_after=a,
                   accuracy_change=(a - b) if (a is not None and b is not None) else None)
    return out


# -- the seed paper ----------------------------------------------------------------------------
# Seed 002, A.7: the paper's latency *estimates* on an Intel Xeon W-2123 CPU (seconds).
PAPER_LATENCY_S = (
    ("resnet18", None, "ResNet18", 0.039), ("mobilenet_v2", None, "MobilenetV2", 0.088),
    ("efficientnet_b1", None, "EfficientNet-B1", 0.114),
    ("mobilenet_v2", "struct-mv2-a", "Struct-MV2-A", 0.078),
    ("efficientnet_b1", "struct-effnet", "Struct-EffNet", 0.101),
)


def paper_frame() -> pd.DataFrame:
    """Seed supplementary Tables 1-2 beside our counts, with relative differences."""
    return pd.DataFrame(compare_paper_tables())


def preset_totals_frame(pairs=(("mobilenet_v2", "struct-mv2-a"), ("mobilenet_v2", "struct-mv2-b"),
                               ("efficientnet_b1", "struct-effnet")), hw=None) -> pd.DataFrame:
    """Totals of the seed presets beside the dense network, with relative differences.

    The paper's own totals for these presets are not in the seeds, so the relative
    differences are to the dense network (``rel_*`` = plan / dense - 1). With ``hw`` the
    simulated latency ratio is added, and beside it the paper's A.7 CPU latency-estimate
    ratio where the seed has one (``paper_latency_ratio``; a CPU estimate, not our
    accelerator: compare trends, not values).
    """
    return pd.DataFrame([_preset_row(model, preset, hw) for model, preset in pairs])


def _preset_row(model: str, preset: str, hw) -> dict:
    net = resolve_network(model)
    plan = resolve_plan(preset, net)
    cost = count_network(net, plan)
    o, s = cost.original, cost.structured
    row = {"model": model, "plan": preset, "orig_adds": o.adds, "adds": s.adds,
           "rel_adds": s.adds / o.adds - 1,
           "orig_mults": o.mults, "mults": s.mults, "rel_mults": s.mults / o.mults - 1,
           "orig_params": o.params, "params": s.params, "rel_params": s.params / o.params - 1,
           "sumpool_adds": s.sumpool_adds}
    if hw is not None:
        row["cycles_ratio"] = simulate(net, plan, hw).cycles_total / simulate(net, None, hw).cycles_total
        row.update(_paper_latency(model, preset, row["cycles_ratio"]))
    return row


def _paper_latency(model: str, preset: str, cycles_ratio: float) -> dict:
    """The paper's A.7 latency ratio of ``preset`` to dense, where the seed has both estimates."""
    paper_lat = {(m, p): s for m, p, _, s in PAPER_LATENCY_S}
    if (model, preset) not in paper_lat or (model, None) not in paper_lat:
        return {}
    pr = paper_lat[(model, preset)] / paper_lat[(model, None)]
    return {"paper_latency_ratio": pr, "rel_latency_ratio": cycles_ratio / pr - 1}
