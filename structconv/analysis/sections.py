"""One function per report section: each fills its Section from the shared ReportContext.

The order of ``SECTIONS`` is the order in the report; the plan comparison comes
before the search because the search's budget lines are ratios of its dense row.
"""
from __future__ import annotations

import pandas as pd

from structconv.core import is_module_ref, presets_for, shown

from . import figures as F
from . import ground_truth as G
from . import study as S
from . import tables as T
from . import training as TR
from .document import Section
from .inputs import ReportContext

LAYER_COLUMNS = ("layer", "kind", "shape", "choice", "orig_mults", "mults", "sumpool_adds", "orig_params",
                 "params", "orig_cycles_total", "cycles_total", "speedup", "spu_cycles", "mac_cycles",
                 "cycles_stall", "mac_utilization", "orig_energy_pj", "energy_pj", "dram_bytes")
# the searched metrics whose budgets (ratios to dense) are drawn as lines on the Pareto front
BUDGET_METRICS = ("cycles_total", "energy_pj")


# -- summary -----------------------------------------------------------------------------------
def summary_section(ctx: ReportContext, sec: Section) -> None:
    net, plan, a, s = ctx.net, ctx.plan, ctx.accel, ctx.measured["summary"]
    sec.text.append(f"{net.name} ({len(net.layers)} conv/linear layers) under plan {shown(plan.name)} "
                    f"({s['layers_changed']} layers changed; plan from: {ctx.plan_source}) on accelerator "
                    f"{a.name} ({a.mac_array.rows}x{a.mac_array.cols} {a.mac_array.dataflow} array, "
                    f"{a.sum_pool.adder_lanes}-lane {a.sum_pool.scheme} sum-pool unit, {a.dtype}, "
                    f"{a.clock_hz / 1e6:g} MHz), {ctx.mode} simulation.")
    sec.table("Totals: original vs plan", totals_frame(s))


def totals_frame(s: dict) -> pd.DataFrame:
    """Original vs plan of the report's summary numbers, with their ratio."""
    rows = [("mults", s["orig_mults"], s["mults"]), ("adds", s["orig_adds"], s["adds"]),
            ("of which sum-pool adds", 0, s["sumpool_adds"]), ("params", s["orig_params"], s["params"])]
    if s.get("cycles_total") is not None:
        rows += [("cycles", s["orig_cycles_total"], s["cycles_total"]),
                 ("latency_s", s["orig_latency_s"], s["latency_s"]),
                 ("energy_pj", s["orig_energy_pj"], s["energy_pj"])]
    return pd.DataFrame([{"quantity": q, "original": o, "plan": p, "ratio": (p / o if o else None)}
                         for q, o, p in rows])


# -- per-layer cost -------------------------------------------------------------------------------
def layers_section(ctx: ReportContext, sec: Section) -> None:
    sec.text.append("Cycles per layer split by the unit that is busy: the MAC array, the sum-pool unit "
                    "where it is not hidden behind the array (fused pipelines overlap the two), and "
                    "stalls waiting on DRAM. Energy is event counts x the accelerator's energy table.")
    layers, m = ctx.frames["layers"], ctx.measured
    sec.figures.append(("layer_cycles", F.fig_layer_cycles(T.cycles_long_frame(layers))))
    sec.figures.append(("energy",
                        F.fig_energy(T.energy_frame({"original": m["sim_o"], ctx.plan.name: m["sim_p"]}),
                                     title="Energy by component: original vs plan")))
    sec.figures.append(("layer_energy", F.fig_layer_energy(layers)))
    _roofline(ctx, sec)
    _layer_table(ctx, sec)


def _roofline(ctx: ReportContext, sec: Section) -> None:
    a = ctx.accel
    ctx.frames["roofline"] = T.roofline_frame(ctx.frames["layers"], a)
    peak, bw = T.roofline_limits(a)
    sec.text.append(f"Roofline: peak {peak:.3g} MAC/s ({a.num_pes} PEs x {a.clock_hz:.3g} Hz), "
                    f"DRAM {bw:.3g} B/s; ridge at {peak / bw:.3g} MACs per byte.")
    sec.figures.append(("roofline", F.fig_roofline(ctx.frames["roofline"])))


def _layer_table(ctx: ReportContext, sec: Section) -> None:
    layers, limit = ctx.frames["layers"], ctx.max_table_rows
    tbl = layers[[c for c in LAYER_COLUMNS if c in layers]]
    if len(tbl) > limit:
        sec.text.append(f"Per-layer table: the {limit} layers with the most cycles "
                        f"of {len(tbl)} (the CSV export has them all).")
        tbl = tbl.sort_values("cycles_total", ascending=False).head(limit)
    sec.table("Per-layer costs", tbl, collapsed=True)


# -- plan comparison ----------------------------------------------------------------------------
def comparison_presets(network) -> dict:
    """The presets that fit ``network`` and change it; the paper's '-literal' readings are left out."""
    return {k: p for k, p in presets_for(network).items() if not k.endswith("-literal") and len(p)}


def plans_section(ctx: ReportContext, sec: Section) -> None:
    ctx.notes("comparing with the presets that fit the network")
    plans = {ctx.plan.name: ctx.plan}
    for k, p in comparison_presets(ctx.net).items():
        plans.setdefault(k, p)
    ctx.frames["plans"] = T.plan_comparison_frame(ctx.net, plans, ctx.accel, ctx.mode)
    sec.table("Totals per plan (ratios to dense)", ctx.frames["plans"])


# -- search ---------------------------------------------------------------------------------------
def search_section(ctx: ReportContext, sec: Section) -> None:
    fy = ctx.front_yaml
    if ctx.trials is not None:
        _study_part(ctx, sec)
    elif fy is not None and not fy.empty:
        caption = ("Exact Pareto front (multiple-choice knapsack DP over the layers; nothing sampled)"
                   if fy.attrs.get("mode") == "exact"
                   else "front.yaml (no study storage: trial history not available)")
        sec.table(caption, fy[[c for c in fy.columns if not c.startswith("proxies.")]])
    if fy is not None and fy.attrs.get("best_plan_file"):
        sec.text.append(f"Best plan under the budgets (front.yaml 'best'): trial "
                        f"{fy.attrs.get('best_trial')}, {fy.attrs['best_plan_file']}.")
    if ctx.trials is None and fy is None and not sec.missing:
        ctx.notes.missing(sec, "no study given (use --study STORAGE/NAME or --search-dir DIR)", notice=False)


def _study_part(ctx: ReportContext, sec: Section) -> None:
    trials, front = ctx.trials, ctx.front
    sec.text.append(_study_line(trials))
    sec.figures.append(("pareto", F.fig_pareto(trials, front if front is not None else trials.iloc[0:0],
                                               baselines=ctx.baselines, highlight=_highlight(ctx.front_yaml),
                                               budgets=_budget_lines(ctx))))
    if ctx.baselines is not None and len(ctx.baselines):
        sec.table("Baselines on the same search problem", ctx.baselines)
    sec.figures.append(("history", F.fig_history(S.history_frame(trials))))
    if front is not None and not front.empty:
        sec.table("Pareto front (feasible, non-dominated trials)", _front_table(front))


def _study_line(trials: pd.DataFrame) -> str:
    info = trials.attrs
    objectives = ", ".join(f"{m} ({d})" for m, d in zip(info.get("metrics", []), info.get("directions", [])))
    return (f"Study {shown(info.get('study'))}: {len(trials)} trials "
            f"({int((trials['state'] == 'COMPLETE').sum())} complete, "
            f"{int(trials['feasible'].sum())} feasible); objectives {objectives}.")


def _highlight(front_yaml) -> dict:
    if front_yaml is not None and "best_trial" in front_yaml.attrs:
        return {int(front_yaml.attrs["best_trial"]): "chosen (best)"}
    return {}


def _budget_lines(ctx: ReportContext) -> dict:
    """metric -> (budget in absolute units, label), for the searched metrics with a budget on this hw."""
    info = ctx.trials.attrs
    cfg = (info.get("user_attrs") or {}).get("structconv_config") or {}
    if cfg.get("hw") not in (None, ctx.accel.name):
        return {}
    dense, budgets = ctx.frames["plans"].iloc[0], cfg.get("budgets") or {}
    return {m: (float(budgets[m]) * float(dense[m]), f"budget {budgets[m]:g} x dense")
            for m in BUDGET_METRICS if budgets.get(m) and m in info.get("metrics", [])}


def _front_table(front: pd.DataFrame) -> pd.DataFrame:
    """The front's objectives, origin, constraints and the breakdown's ratios and totals."""
    keep = ["number", *front.attrs.get("metrics", []), "origin", "constraints"] + [
        c for c in front.columns if c.startswith("attr_") and (".ratios." in c or c.endswith(
            (".params", ".mults", ".latency_s")) and ".proxies." not in c)]
    ft = front[[c for c in keep if c in front]]
    return ft.rename(columns=lambda c: c.replace("attr_breakdown.", "").replace("attr_", ""))


# -- training -------------------------------------------------------------------------------------
def training_section(ctx: ReportContext, sec: Section) -> None:
    if not ctx.run_dirs:
        if not sec.missing:
            ctx.notes.missing(sec, "no training run given (use --run DIR)", notice=False)
        return
    with_metrics = [d for d in ctx.run_dirs if _has_metrics(ctx, sec, d)]
    if with_metrics:
        sec.figures.append(("training_curves", F.fig_training_curves(TR.curves_frame(with_metrics))))
    try:
        _accuracy_part(ctx, sec)
    except ValueError as e:
        ctx.notes.missing(sec, str(e))


def _has_metrics(ctx: ReportContext, sec: Section, run_dir) -> bool:
    try:
        TR.read_metrics(run_dir)
    except ValueError as e:
        ctx.notes.missing(sec, str(e))
        return False
    return True


def _accuracy_part(ctx: ReportContext, sec: Section) -> None:
    acc = TR.accuracy_frame(ctx.run_dirs)
    sec.figures.append(("accuracy", F.fig_accuracy(acc)))
    sec.table("Accuracy before / after decomposition", acc)
    for m in acc.attrs.get("missing", []):
        ctx.notes.missing(sec, f"run {shown(m)} has no summary.json (not finished): no accuracy")
    this = (ctx.net.name, getattr(ctx.net.spec, "source", None))
    other = [m for m in acc["model"].dropna().unique() if m not in this]
    if other:
        sec.text.append(f"Note: the runs trained {', '.join(map(str, other))}; the costs above are "
                        f"for {ctx.net.name}.")
    refs = [shown(m) for m in other if is_module_ref(m)]
    if refs:                                # a file's reference is data: the report never runs it
        sec.text.append(f"The runs record model reference {', '.join(refs)}; a report does not run a "
                        "reference a file records: give it as the report's MODEL to report on that network.")


# -- the seed paper ---------------------------------------------------------------------------------
def paper_section(ctx: ReportContext, sec: Section) -> None:
    ctx.notes("reproducing the seed paper tables")
    try:
        _paper_tables(ctx, sec)
    except Exception as e:  # a paper model missing from the zoo must not sink the report
        ctx.notes.missing(sec, f"paper tables: {e}")


def _paper_tables(ctx: ReportContext, sec: Section) -> None:
    sec.text.append("Supplementary Tables 1-2 of the seed paper (HRNet, PSPNet): printed numbers, ours, "
                    "and (ours - paper) / paper.")
    sec.table("Tables 1-2", T.paper_frame())
    sec.text.append("MobileNetV2 / EfficientNet-B1 presets (Tables 6-8): the paper's totals for these "
                    "are not in the seeds, so rel_* compare with the dense network; cycles_ratio is "
                    f"our simulation on {ctx.accel.name}, paper_latency_ratio the paper's A.7 CPU "
                    "latency estimate (a different platform: compare trends).")
    sec.table("Preset totals", T.preset_totals_frame(hw=ctx.accel))


def ground_truth_section(ctx: ReportContext, sec: Section) -> None:
    data = ctx.ground_truth
    if data is None:
        return
    sec.text.extend(G.ground_truth_text(data))
    sec.table("Accuracy proxies on the held-out plans (rank correlation with accuracy after decomposition)",
              G.proxy_validation_frame(data))
    plans = G.plan_accuracy_frame(data)
    sec.figures.append(("accuracy_vs_cycles",
                        F.fig_accuracy_vs_cycles(plans, data["analysis"]["spread"].get("ref_mean"))))
    sec.table("Plans: accuracy after decomposition (mean over seeds)", plans)


SECTIONS = (("summary", summary_section), ("layers", layers_section), ("plans", plans_section),
            ("search", search_section), ("ground_truth", ground_truth_section),
            ("training", training_section), ("paper", paper_section))
