"""structconv.analysis: tables, figures, the one-file report and the end-to-end demo.

Data (pandas only, no plotly):
    tables    cost_frame, sim_frame, layer_frame, cycles_long_frame, energy_frame, roofline_frame,
              plan_comparison_frame, summary, paper_frame, preset_totals_frame
    study     parse_study_spec, load_study, trials_frame, front_frame, history_frame, baselines_frame,
              load_front_yaml
    training  read_metrics, read_summary, find_runs, curves_frame, accuracy_frame
    ground_truth  load_ground_truth, plan_accuracy_frame, proxy_validation_frame (the accuracy benchmark)
    export    export_frame (CSV/Parquet), export_tables (every table of a report)
Figures (plotly; each takes one of the DataFrames above):
    figures   fig_layer_cycles, fig_energy, fig_layer_energy, fig_roofline, fig_pareto, fig_history,
              fig_training_curves, fig_accuracy, fig_accuracy_vs_cycles
Report (document: what it holds; inputs: reading them; sections: one function per section;
render: HTML/Markdown):
    build_report(model, settings=ReportSettings(hw=..., plan=..., study=..., runs=...)) -> Report
    (or the settings' fields as keywords);
    write_report(report, path, fmt="html"|"md"); export_tables(report, dir)
Demo: run_demo(out, settings=DemoSettings(...)) -> DemoResult (a list of named steps);
    verify_decomposition(module, plan, dataset).

The plotly and torch parts load on first use (``__getattr__`` below), so the data
tables stay importable, and quick, without them.
"""
from __future__ import annotations

import importlib

from .export import export_frame, export_tables
from .ground_truth import load_ground_truth, plan_accuracy_frame, proxy_validation_frame
from .study import (
    baselines_frame,
    front_frame,
    history_frame,
    load_front_yaml,
    load_study,
    parse_study_spec,
    trials_frame,
)
from .tables import (
    cost_frame,
    cost_totals,
    cycles_long_frame,
    energy_frame,
    layer_frame,
    paper_frame,
    plan_comparison_frame,
    preset_totals_frame,
    roofline_frame,
    sim_frame,
    sim_totals,
    summary,
)
from .training import accuracy_frame, curves_frame, find_runs, read_metrics, read_summary

# name -> the submodule that defines it; these need plotly (report, figures) or torch (verify)
_LAZY = {
    "build_report": "report", "ReportSettings": "report", "Report": "document", "Section": "document",
    "Table": "document", "write_report": "render", "render_html": "render", "render_markdown": "render",
    "run_demo": "demo", "DemoSettings": "demo", "DemoResult": "demo", "STEPS": "demo",
    "verify_decomposition": "verify",
    **{name: "figures" for name in ("fig_layer_cycles", "fig_energy", "fig_layer_energy", "fig_roofline",
                                    "fig_pareto", "fig_history", "fig_training_curves", "fig_accuracy",
                                    "fig_accuracy_vs_cycles")},
}

__all__ = ["cost_frame", "cost_totals", "sim_frame", "sim_totals", "layer_frame", "cycles_long_frame",
           "energy_frame", "roofline_frame", "plan_comparison_frame", "summary", "paper_frame",
           "preset_totals_frame", "export_frame", "export_tables", "parse_study_spec", "load_study",
           "trials_frame", "front_frame", "history_frame", "baselines_frame", "load_front_yaml",
           "read_metrics", "read_summary", "find_runs", "curves_frame", "accuracy_frame", "load_ground_truth",
           "plan_accuracy_frame", "proxy_validation_frame", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
