"""Plotly figures; each takes a DataFrame from ``tables``/``study``/``training``.

Figures carry numeric data as numpy arrays (plotly stores those as compact typed
arrays in HTML), so even a report of a 200+ layer network stays small. Plotly reads a
subset of HTML in every title, legend, tick and hover label, so each string shown from the
data (a layer, plan, run, metric or source name) goes through ``markup.html_text``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .markup import html_text as _t

UNIT_COLORS = {"sum-pool unit": "#f58518", "MAC array": "#4c78a8", "stall": "#b0b0b0"}
ENERGY_COLORS = {"mac": "#4c78a8", "add": "#f58518", "sram": "#54a24b", "dram": "#e45756",
                 "leakage": "#9d755d"}
_GROUP_COLORS = ["#b279a2", "#ff9da6", "#72b7b2", "#9d755d", "#eeca3b", "#54a24b"]
VARIANT_SHORT = {"original": "orig", "structured": "struct"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=90, b=40),
               legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"), title_y=0.97)


def _labels(values) -> list[str]:
    return [_t(v) for v in values]


def _arr(s) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(s), errors="coerce"), dtype=np.float64)


def fig_layer_cycles(cycles: pd.DataFrame,
                     title: str = "Cycles per layer: original vs structured") -> go.Figure:
    """Stacked per-layer cycles (sum-pool unit / MAC array / stall), original and structured
    side by side. ``cycles`` is ``tables.cycles_long_frame(layer_frame(...))``."""
    fig = go.Figure()
    layers = list(dict.fromkeys(cycles["layer"]))
    variants = [v for v in ("original", "structured") if v in set(cycles["variant"])]
    for unit in ("MAC array", "sum-pool unit", "stall"):
        part = cycles[cycles["unit"] == unit]
        if part.empty:
            continue
        xs0, xs1, ys = [], [], []
        for v in variants:
            pv = part[part["variant"] == v].set_index("layer").reindex(layers)
            xs0 += _labels(layers)
            xs1 += [_t(VARIANT_SHORT.get(v, v))] * len(layers)
            ys.append(_arr(pv["cycles"]))
        fig.add_bar(x=[xs0, xs1], y=np.concatenate(ys), name=unit, marker_color=UNIT_COLORS[unit],
                    hovertemplate="%{x}<br>" + unit + ": %{y:,.0f} cycles<extra></extra>")
    fig.update_layout(barmode="stack", title=_t(title), yaxis_title="cycles", **_LAYOUT)
    fig.update_xaxes(tickfont=dict(size=8))
    return fig


def fig_energy(energy: pd.DataFrame, title: str = "Energy by component") -> go.Figure:
    """Stacked energy totals per variant (``tables.energy_frame``), in microjoules."""
    fig = go.Figure()
    variants = list(dict.fromkeys(energy["variant"]))
    for comp in dict.fromkeys(energy["component"]):
        part = energy[energy["component"] == comp].set_index("variant").reindex(variants)
        fig.add_bar(x=_labels(variants), y=_arr(part["energy_pj"]) / 1e6, name=_t(comp),
                    marker_color=ENERGY_COLORS.get(comp),
                    hovertemplate="%{x}<br>" + _t(comp) + ": %{y:,.1f} uJ<extra></extra>")
    fig.update_layout(barmode="stack", title=_t(title), yaxis_title="energy (uJ)", **_LAYOUT)
    return fig


def fig_layer_energy(layers: pd.DataFrame, title: str = "Energy per layer under the plan") -> go.Figure:
    """Stacked per-layer energy by component of the planned network (``tables.layer_frame``)."""
    fig = go.Figure()
    for comp in ("mac", "add", "sram", "dram", "leakage"):
        col = f"energy_{comp}_pj"
        if col in layers:
            fig.add_bar(x=_labels(layers["layer"]), y=_arr(layers[col]) / 1e6, name=comp,
                        marker_color=ENERGY_COLORS[comp],
                        hovertemplate="%{x}<br>" + comp + ": %{y:,.2f} uJ<extra></extra>")
    if "orig_energy_pj" in layers:
        fig.add_scatter(x=_labels(layers["layer"]), y=_arr(layers["orig_energy_pj"]) / 1e6, mode="markers",
                        name="original total", marker=dict(symbol="line-ew-open", size=10, color="black"),
                        hovertemplate="%{x}<br>original: %{y:,.2f} uJ<extra></extra>")
    fig.update_layout(barmode="stack", title=_t(title), yaxis_title="energy (uJ)", **_LAYOUT)
    fig.update_xaxes(tickfont=dict(size=8))
    return fig


def fig_roofline(roof: pd.DataFrame, title: str = "Roofline of each layer (MAC array, DRAM)") -> go.Figure:
    """Layers as (MACs per DRAM byte, attained MAC/s) against the accelerator's roofline
    (``tables.roofline_frame``). Layers with no DRAM traffic sit at the right edge."""
    fig = go.Figure()
    if roof.empty:
        return fig
    peak, bw = float(roof["peak_macs_per_s"].iloc[0]), float(roof["dram_bytes_per_s"].iloc[0])
    inten = _arr(roof["intensity_macs_per_byte"])
    fin = inten[np.isfinite(inten) & (inten > 0)]
    lo = min(fin.min() if fin.size else 1.0, peak / bw) / 4
    hi = max(fin.max() if fin.size else 1.0, peak / bw) * 4
    inten = np.where(np.isfinite(inten), inten, hi)
    xs = np.geomspace(lo, hi, 64)
    fig.add_scatter(x=xs, y=np.minimum(peak, bw * xs), mode="lines", name="roofline",
                    line=dict(color="black", width=2), hoverinfo="skip")
    for v, sym, color in (("original", "circle-open", "#4c78a8"), ("structured", "circle", "#f58518")):
        m = (roof["variant"] == v).to_numpy()
        if not m.any():
            continue
        fig.add_scatter(x=inten[m], y=_arr(roof["attained_macs_per_s"])[m], mode="markers", name=v,
                        text=_labels(roof["layer"][m]), marker=dict(symbol=sym, size=7, color=color),
                        hovertemplate="%{text}<br>%{x:.3g} MAC/B, %{y:.3g} MAC/s<extra>" + v + "</extra>")
    fig.update_layout(title=_t(title), xaxis_title="operational intensity (MACs per DRAM byte)",
                      yaxis_title="attained MAC/s", **_LAYOUT)
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log", tickformat=".2s")
    return fig


def _pick(metrics, *needles):
    for m in metrics:
        if any(n in m.lower() for n in needles):
            return m
    return None


def objective_axes(metrics) -> dict:
    """Which metric is the proxy, the cycles and the energy (by name; None when absent)."""
    metrics = list(metrics)
    cyc = _pick(metrics, "cycle", "latency")
    en = _pick(metrics, "energy")
    rest = [m for m in metrics if m not in (cyc, en)]
    return {"proxy": rest[0] if rest else None, "cycles": cyc, "energy": en}


def _hover(x: str, y: str, extra: str = "") -> str:
    return "%{text}<br>" + _t(x) + " %{x:.4g}<br>" + _t(y) + " %{y:.4g}<extra>" + _t(extra) + "</extra>"


def _pareto_axes(trials: pd.DataFrame) -> tuple[str, list[str]]:
    """(y, [x, ...]): the proxy against cycles and energy; a lone objective against the trial number."""
    metrics = trials.attrs.get("metrics") or [c for c in trials.columns if c.startswith("value_")]
    ax = objective_axes(metrics)
    y = ax["proxy"] or metrics[0]
    xs = [m for m in (ax["cycles"], ax["energy"]) if m and m != y] or [m for m in metrics if m != y][:1]
    return y, xs or ["number"]


def _trial_points(fig, done, x, y, col, show) -> None:
    feasible = done["feasible"].astype(bool)
    for part, name, color in ((done[~feasible], "infeasible", "#d0d0d0"),
                              (done[feasible], "feasible trial", "#9ecae9")):
        if len(part):
            fig.add_scatter(x=_arr(part[x]), y=_arr(part[y]), mode="markers", name=name, legendgroup=name,
                            showlegend=show, marker=dict(size=5, color=color),
                            text=list(part["number"].astype(str)),
                            hovertemplate="trial " + _hover(x, y), row=1, col=col)


def _front_points(fig, front, x, y, col, show) -> None:
    if len(front):
        f = front.sort_values(x)
        fig.add_scatter(x=_arr(f[x]), y=_arr(f[y]), mode="markers", name="Pareto front (all objectives)",
                        legendgroup="front", showlegend=show,
                        marker=dict(size=9, color="rgba(0,0,0,0)", line=dict(color="#e45756", width=2)),
                        text=list(f["number"].astype(str)), hovertemplate="trial " + _hover(x, y, "front"),
                        row=1, col=col)


def _source_points(fig, done, x, y, col, show) -> None:
    """Enqueued trials (presets, uniform plans, warm starts), one symbol per source."""
    symbols = ["diamond", "square", "triangle-up", "cross", "x", "pentagon"]
    for j, src in enumerate(s for s in dict.fromkeys(done["source"]) if s != "search"):
        part = done[done["source"] == src]
        fig.add_scatter(x=_arr(part[x]), y=_arr(part[y]), mode="markers", name=_t(src),
                        legendgroup=_t(f"s{src}"), showlegend=show,
                        marker=dict(size=11, symbol=symbols[j % len(symbols)], line=dict(width=1),
                                    color=_GROUP_COLORS[j % len(_GROUP_COLORS)]),
                        text=_labels(part.get("origin", part["number"])),
                        hovertemplate=_hover(x, y, str(src)), row=1, col=col)


def _highlight_points(fig, done, highlight, x, y, col, show) -> None:
    part = done[done["number"].isin(list(highlight or ()))]
    if len(part):
        fig.add_scatter(x=_arr(part[x]), y=_arr(part[y]), mode="markers+text", name="chosen plan",
                        legendgroup="chosen", showlegend=show, textposition="top center",
                        text=[_t(highlight[n]) for n in part["number"]],
                        marker=dict(size=16, symbol="star", color="#f2c744",
                                    line=dict(width=1.5, color="black")),
                        row=1, col=col)


def _baseline_points(fig, baselines, x, y, col, show) -> None:
    if baselines is None or not len(baselines) or x not in baselines or y not in baselines:
        return
    symbols = ["star-triangle-up", "star-square", "star-diamond", "hexagram", "star"]
    for k, (_, b) in enumerate(baselines.iterrows()):
        name = _t(f"baseline: {b['plan']}")
        fig.add_scatter(x=_arr([b[x]]), y=_arr([b[y]]), mode="markers", name=name, legendgroup=name,
                        showlegend=show,
                        marker=dict(size=14, symbol=symbols[k % len(symbols)], color="#54a24b",
                                    line=dict(width=1, color="black")),
                        text=[_t(b["plan"])], hovertemplate=_hover(x, y, "baseline"), row=1, col=col)


def _budget_line(fig, budgets, x, col) -> None:
    if budgets and x in budgets:
        v, label = budgets[x]
        fig.add_vline(x=v, line=dict(color="#e45756", dash="dash", width=1), row=1, col=col)
        fig.add_annotation(x=v, y=1, yref="paper", xref=f"x{col if col > 1 else ''}", text=_t(label),
                           showarrow=False, xanchor="right", font=dict(size=10, color="#e45756"))


def fig_pareto(trials: pd.DataFrame, front: pd.DataFrame, baselines: pd.DataFrame | None = None,
               highlight: dict | None = None, budgets: dict | None = None,
               title: str = "Search: Pareto front") -> go.Figure:
    """Proxy vs cycles (and vs energy when the study has it): every completed trial, the
    feasible front (non-dominated in all objectives, so not a staircase in each 2-D view),
    enqueued trials (presets, uniform plans, warm starts) by symbol, ``highlight``
    (trial number -> label, e.g. the chosen plan) as a star, and optional ``baselines``
    rows (columns plan plus the metric columns) as labelled stars; ``budgets`` maps an axis
    column to (value, label) and draws it as a dashed line."""
    y, xs = _pareto_axes(trials)
    fig = make_subplots(rows=1, cols=len(xs), shared_yaxes=True, horizontal_spacing=0.06)
    done = trials[trials["state"] == "COMPLETE"]
    for col, x in enumerate(xs, start=1):
        show = col == 1                       # one legend entry per trace group
        _trial_points(fig, done, x, y, col, show)
        _front_points(fig, front, x, y, col, show)
        _source_points(fig, done, x, y, col, show)
        _highlight_points(fig, done, highlight, x, y, col, show)
        _baseline_points(fig, baselines, x, y, col, show)
        _budget_line(fig, budgets, x, col)
        fig.update_xaxes(title_text=_t(x), row=1, col=col)
    fig.update_yaxes(title_text=_t(y), row=1, col=1)
    fig.update_layout(title=_t(title), **_LAYOUT)
    return fig


def fig_history(history: pd.DataFrame, title: str = "Search history") -> go.Figure:
    """Each objective per trial and its best feasible value so far (``study.history_frame``)."""
    metrics = history.attrs.get("metrics") or [c for c in history.columns if c.startswith("value_")]
    fig = make_subplots(rows=len(metrics) or 1, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for i, m in enumerate(metrics, start=1):
        fig.add_scatter(x=_arr(history["number"]), y=_arr(history[m]), mode="markers", name=_t(m),
                        marker=dict(size=4, color="#9ecae9"), showlegend=False, row=i, col=1)
        if f"best_{m}" in history:
            fig.add_scatter(x=_arr(history["number"]), y=_arr(history[f"best_{m}"]), mode="lines",
                            name=_t(f"best {m}"), line=dict(color="#e45756", shape="hv"), showlegend=i == 1,
                            legendgroup="best", row=i, col=1)
        fig.update_yaxes(title_text=_t(m), row=i, col=1)
    fig.update_xaxes(title_text="trial", row=len(metrics) or 1, col=1)
    fig.update_layout(title=_t(title), height=max(300, 220 * len(metrics)), **_LAYOUT)
    return fig


def fig_training_curves(curves: pd.DataFrame, title: str = "Structural Regularization training") -> go.Figure:
    """Loss (task, SR) and accuracy (train, val) per epoch, one colour per run (``training.curves_frame``)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy (%)"))
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d"]
    runs = list(dict.fromkeys(curves["run"])) if "run" in curves else [None]
    for i, run in enumerate(runs):
        c = curves if run is None else curves[curves["run"] == run]
        col = palette[i % len(palette)]
        ep = _arr(c["epoch"]) + 1
        tag = "" if len(runs) == 1 else f"{run}: "
        for key, dash in (("task_loss", "solid"), ("sr_loss", "dot")):
            if c[key].notna().any():
                fig.add_scatter(x=ep, y=_arr(c[key]), mode="lines+markers", name=_t(f"{tag}{key}"),
                                line=dict(color=col, dash=dash), row=1, col=1)
        for key, dash in (("train_acc", "dot"), ("val_acc", "solid")):
            if c[key].notna().any():
                fig.add_scatter(x=ep, y=_arr(c[key]), mode="lines+markers", name=_t(f"{tag}{key}"),
                                line=dict(color=col, dash=dash), row=1, col=2)
        if "phase" in c and (c["phase"] == 1).any() and (c["phase"] == 2).any():
            x0 = float(c.loc[c["phase"] == 2, "epoch"].min()) + 0.5
            for col_i in (1, 2):
                fig.add_vline(x=x0, line=dict(color="#999", dash="dash", width=1), row=1, col=col_i)
            fig.add_annotation(x=x0, y=1, yref="paper", text="SR starts", showarrow=False, xanchor="left",
                               font=dict(size=10, color="#666"))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(title=_t(title),
                      **{**_LAYOUT, "legend": dict(orientation="v", x=1.02, y=1, yanchor="top")})
    return fig


def fig_accuracy(acc: pd.DataFrame, title: str = "Accuracy before / after decomposition") -> go.Figure:
    """Grouped bars per lambda (``training.accuracy_frame``)."""
    labels = [_t("run " + str(r)) if (lam is None or (isinstance(lam, float) and math.isnan(lam)))
              else _t(f"lambda={lam:g}" + ("" if (acc["lam"] == lam).sum() == 1 else f" ({r})"))
              for lam, r in zip(acc["lam"], acc["run"])]
    fig = go.Figure()
    fig.add_bar(x=labels, y=_arr(acc["acc_before"]), name="before decomposition", marker_color="#4c78a8",
                hovertemplate="%{x}<br>%{y:.2f} %<extra>before</extra>")
    fig.add_bar(x=labels, y=_arr(acc["acc_after"]), name="after decomposition", marker_color="#f58518",
                hovertemplate="%{x}<br>%{y:.2f} %<extra>after</extra>")
    lo = np.nanmin(np.concatenate([_arr(acc["acc_before"]), _arr(acc["acc_after"])]))
    fig.update_layout(barmode="group", title=_t(title), yaxis_title="validation accuracy (%)",
                      bargap=0.5 if len(labels) < 3 else 0.2,
                      yaxis_range=[max(0.0, (lo if np.isfinite(lo) else 0) - 10), 100.5], **_LAYOUT)
    return fig


# one marker per plan source of the accuracy benchmark (filled: held-out plan, open: calibration plan)
SOURCE_MARKERS = {"preset": "star", "uniform": "square", "design": "diamond", "greedy": "triangle-up",
                  "front": "circle", "random": "x"}


def fig_accuracy_vs_cycles(plans: pd.DataFrame, dense_acc: float | None = None,
                           title: str = "Accuracy after decomposition against cycles") -> go.Figure:
    """``ground_truth.plan_accuracy_frame`` rows; error bars are the seed standard deviation."""
    fig = go.Figure()
    for source in dict.fromkeys(plans["source"]):
        for split, fill in (("held-out", ""), ("calibration", "-open")):
            part = plans[(plans["source"] == source) & (plans["split"] == split)]
            if not part.empty:
                fig.add_scatter(x=part["cycles_ratio"].astype(float), y=part["acc_mean"].astype(float),
                                mode="markers", name=_t(f"{source} ({split})"), legendgroup=_t(source),
                                text=_labels(part["plan"]),
                                marker=dict(symbol=SOURCE_MARKERS.get(source, "circle") + fill, size=10),
                                error_y=dict(type="data", array=np.nan_to_num(part["acc_std"].astype(float)),
                                             thickness=1, width=2),
                                hovertemplate="%{text}<br>cycles x %{x:.3f}<br>accuracy %{y:.2f} %"
                                              "<extra></extra>")
    if dense_acc is not None and math.isfinite(dense_acc):
        fig.add_hline(y=dense_acc, line_dash="dash", annotation_text=f"dense {dense_acc:.2f} %")
    fig.update_layout(title=_t(title), xaxis_title="cycles_total / dense",
                      yaxis_title="top-1 after decomposition (%)", template="plotly_white")
    return fig
