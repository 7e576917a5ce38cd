"""structconv.analysis: tables, figures, the one-file report and the end-to-end demo.

Data (pandas only, no plotly):
    tables    cost_frame, sim_frame, layer_frame, cycles_long_frame, energy_frame, roofline_frame,
              plan_comparison_frame, summary, paper_frame, preset_totals_frame, export_frame (CSV/Parquet)
    study     parse_study_spec, load_study, trials_frame, front_frame, history_frame, baselines_frame,
              load_front_yaml
    training  read_metrics, read_summary, find_runs, curves_frame, accuracy_frame
Figures (plotly; each takes one of the DataFrames above):
    figures   fig_layer_cycles, fig_energy, fig_layer_energy, fig_roofline, fig_pareto, fig_history,
              fig_training_curves, fig_accuracy
Report and demo:
    report    build_report(model, hw, plan, study=..., search_dir=..., runs=...) -> Report;
              write_report(report, path, fmt="html"|"md"); export_tables
    pipeline  run_demo(out, ...) -> DemoResult; verify_decomposition(module, plan, dataset)

Submodules are imported on use so ``import structconv.analysis`` stays light.
"""
from .tables import (cost_frame, cost_totals, cycles_long_frame, energy_frame, export_frame, layer_frame,
                     paper_frame, plan_comparison_frame, preset_totals_frame, roofline_frame, sim_frame, sim_totals,
                     summary)

__all__ = ["cost_frame", "cost_totals", "sim_frame", "sim_totals", "layer_frame", "cycles_long_frame",
           "energy_frame", "roofline_frame", "plan_comparison_frame", "summary", "paper_frame",
           "preset_totals_frame", "export_frame"]
