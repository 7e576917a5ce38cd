"""The accuracy benchmark in the HTML report: one table and one plotly figure (issue 12, "Reported").

Pure pandas / plotly functions over the benchmark's own output
(``benchmarks/results/accuracy_<scale>.json``), so the report code can call them as they are or
copy them into ``structconv/analysis``:

    data = load_results("benchmarks/results/accuracy_cpu.json")
    table = proxy_table(data)                  # held-out Kendall tau / Spearman rho / paired test vs #params
    fig = fig_accuracy_vs_cycles(plan_frame(data), dense_acc=data["analysis"]["spread"]["ref_mean"])
    accuracy_section(data, sec)                # fills a structconv.analysis Section (text, table, figure)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

# one marker per plan source (the issue: "each method its own marker")
SOURCE_MARKERS = {"preset": "star", "uniform": "square", "design": "diamond", "greedy": "triangle-up",
                  "front": "circle", "random": "x"}
SOURCE_COLORS = {"preset": "#e45756", "uniform": "#4c78a8", "design": "#b279a2", "greedy": "#f58518",
                 "front": "#54a24b", "random": "#9d9d9d"}


def load_results(path) -> dict:
    return json.loads(Path(path).read_text())


def plan_frame(data: dict) -> pd.DataFrame:
    """One row per plan: id, source, split, cycles/params ratio, accuracy mean and seed SD, design layers."""
    rows = [{"plan": r["id"], "source": r["source"], "split": r["split"], "cycles_ratio": r["cycles_ratio"],
             "params_ratio": r["params_ratio"], "design_layers": r["design_layers"], "acc_mean": r["acc_mean"],
             "acc_std": r["acc_std"], "acc_before_mean": r["acc_before_mean"]} for r in data["rows"]]
    return pd.DataFrame(rows)


def _ci(c) -> str:
    lo, hi = c
    return "" if lo is None or not (math.isfinite(lo) and math.isfinite(hi)) else f"[{lo:.2f}, {hi:.2f}]"


def proxy_table(data: dict) -> pd.DataFrame:
    """Held-out rank correlation of every proxy with accuracy, and its paired comparison with #params."""
    corr = data["analysis"]["held-out"]["corr"]
    rows = [{"proxy": name + (" (baseline)" if name == "params" else ""),
             "kendall_tau": c["tau"], "tau_95ci": _ci(c["tau_ci"]), "spearman_rho": c["rho"],
             "rho_95ci": _ci(c["rho_ci"]), "tau_minus_params": c["d_tau"], "diff_95ci": _ci(c["d_tau_ci"]),
             "p_vs_params": c["p_vs_baseline"], "p_holm": c["p_holm"]} for name, c in corr.items()]
    df = pd.DataFrame(rows)
    return df.sort_values("kendall_tau", ascending=False, na_position="last").reset_index(drop=True)


def fig_accuracy_vs_cycles(plans: pd.DataFrame, dense_acc: float | None = None,
                           title: str = "Accuracy after decomposition against cycles (edge-int8)"):
    """Each source its own marker; filled = held-out plan, open = calibration plan; error bars = seed SD."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for source in dict.fromkeys(plans["source"]):
        for split, fill in (("held-out", ""), ("calibration", "-open")):
            part = plans[(plans["source"] == source) & (plans["split"] == split)]
            if part.empty:
                continue
            fig.add_scatter(
                x=np.asarray(part["cycles_ratio"], float), y=np.asarray(part["acc_mean"], float), mode="markers",
                name=f"{source} ({split})", legendgroup=source,
                marker=dict(symbol=SOURCE_MARKERS.get(source, "circle") + fill, size=10,
                            color=SOURCE_COLORS.get(source), line=dict(width=1.5, color=SOURCE_COLORS.get(source))),
                error_y=dict(type="data", array=np.nan_to_num(np.asarray(part["acc_std"], float)), thickness=1,
                             width=2, color=SOURCE_COLORS.get(source)),
                text=list(part["plan"]), customdata=np.asarray(part[["params_ratio", "design_layers"]], float),
                hovertemplate="%{text}<br>cycles x %{x:.3f}<br>accuracy %{y:.2f} %<br>params x %{customdata[0]:.3f}"
                              "<br>design layers %{customdata[1]:.0f}<extra></extra>")
    if dense_acc is not None and math.isfinite(dense_acc):
        fig.add_hline(y=dense_acc, line_dash="dash", line_color="#333",
                      annotation_text=f"dense {dense_acc:.2f} %", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="cycles_total / dense", yaxis_title="top-1 after decomposition (%)",
                      template="plotly_white", margin=dict(l=60, r=20, t=90, b=40),
                      legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"), title_y=0.97)
    return fig


def summary_text(data: dict) -> list[str]:
    an, cfg = data["analysis"], data["config"]
    s, sel = an["spread"], an["selected"]
    held = an["held-out"]["corr"]
    out = [f"Pre-registered accuracy benchmark (protocol v{cfg['protocol_version']}, {cfg['name']} scale): "
           f"ResNet-20 widths {'/'.join(map(str, cfg['widths']))} on Fashion-MNIST {cfg['input_size']}x"
           f"{cfg['input_size']}, {an['n_plans']} plans x {len(cfg['seeds'])} seeds; dense "
           f"{s['ref_mean']:.2f} %, plans {s['min']:.2f}-{s['max']:.2f} % (median {s['median']:.2f})."]
    if sel and sel in held:
        h = held[sel]
        out.append(f"Proxy selected on calibration plans: {sel}; held-out Kendall tau {h['tau']:.3f} "
                   f"{_ci(h['tau_ci'])} vs #params {held['params']['tau']:.3f}, paired p = {h['p_vs_baseline']:.3g}.")
    return out


def accuracy_section(data: dict, sec) -> None:
    """Fill a report Section (``sec.text``, ``sec.table(title, df)``, ``sec.figures``)."""
    sec.text.extend(summary_text(data))
    sec.table("Accuracy proxies on held-out plans (rank correlation with accuracy after decomposition)",
              proxy_table(data))
    sec.figures.append(("accuracy_vs_cycles",
                        fig_accuracy_vs_cycles(plan_frame(data), data["analysis"]["spread"].get("ref_mean"))))
