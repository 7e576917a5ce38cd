"""The accuracy benchmark's results as report data (pandas only; the figure is in ``figures``).

Reads the JSON that ``benchmarks/accuracy/analyze.py`` writes (``benchmarks/results/accuracy_<scale>.json``):
per plan its source, calibration/held-out split, cycles ratio and accuracy after decomposition; and
the held-out analysis (each proxy's Kendall tau / Spearman rho with bootstrap intervals and its
paired comparison with #params).
"""
from __future__ import annotations

import math

import pandas as pd

from structconv.core import load_data_file, shown


def load_ground_truth(path) -> dict:
    """The benchmark's result JSON, checked for the parts the report reads."""
    data = load_data_file(path, "accuracy results file")
    for key in ("rows", "analysis", "config"):
        if not isinstance(data, dict) or key not in data:
            raise ValueError(f"accuracy results file {shown(str(path))} has no {key!r} "
                             "(expected the JSON that benchmarks/accuracy/analyze.py writes)")
    return data


def plan_accuracy_frame(data: dict) -> pd.DataFrame:
    """One row per plan: id, source, split, cycles and params ratio, design layers, accuracy mean and
    seed SD."""
    keys = ("source", "split", "cycles_ratio", "params_ratio", "design_layers", "acc_mean", "acc_std")
    return pd.DataFrame([{"plan": r["id"], **{k: r[k] for k in keys}} for r in data["rows"]])


def proxy_validation_frame(data: dict) -> pd.DataFrame:
    """Held-out rank correlation of every proxy with accuracy and its paired comparison with #params."""
    rows = [{"proxy": name + (" (baseline)" if name == "params" else ""), "kendall_tau": c["tau"],
             "tau_95ci": _ci(c["tau_ci"]), "spearman_rho": c["rho"], "rho_95ci": _ci(c["rho_ci"]),
             "tau_minus_params": c["d_tau"], "diff_95ci": _ci(c["d_tau_ci"]),
             "p_vs_params": c["p_vs_baseline"],
             "p_holm": c["p_holm"]} for name, c in data["analysis"]["held-out"]["corr"].items()]
    return (pd.DataFrame(rows).sort_values("kendall_tau", ascending=False, na_position="last")
            .reset_index(drop=True))


def ground_truth_text(data: dict) -> list[str]:
    an, cfg = data["analysis"], data["config"]
    s, sel, held = an["spread"], an["selected"], an["held-out"]["corr"]
    out = [f"Pre-registered accuracy benchmark (protocol v{cfg['protocol_version']}, {cfg['name']} scale): "
           f"ResNet-20 widths {'/'.join(map(str, cfg['widths']))} on Fashion-MNIST {cfg['input_size']}x"
           f"{cfg['input_size']}, {an['n_plans']} plans x {len(cfg['seeds'])} seeds; "
           f"dense {s['ref_mean']:.2f} %, plans {s['min']:.2f}-{s['max']:.2f} % (median {s['median']:.2f})."]
    if sel and sel in held:
        h = held[sel]
        out.append(f"Proxy selected on calibration plans: {sel}; held-out Kendall tau {h['tau']:.3f} "
                   f"{_ci(h['tau_ci'])} vs #params {held['params']['tau']:.3f}, "
                   f"paired p = {h['p_vs_baseline']:.3g}.")
    return out


def _ci(c) -> str:
    lo, hi = c
    return "" if lo is None or not (math.isfinite(lo) and math.isfinite(hi)) else f"[{lo:.2f}, {hi:.2f}]"
