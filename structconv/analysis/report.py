"""The one-file report: read the inputs, measure, fill one section at a time.

    rep = build_report("resnet18", hw="edge-int8", plan="uniform-n2", study="out/study.db/resnet18",
                       runs=["runs/lam0.1"])       # or settings=ReportSettings(...)
    write_report(rep, "report.html")                # plotly.js embedded once: opens offline
    write_report(rep, "report.md", fmt="md")        # Markdown + PNGs (when a static exporter works)

Every input is optional except the network. An input that is missing or does not
fit (a study of another model, an empty study, a run directory without metrics)
becomes a "not available: ..." line in its section and in ``rep.notices``; the
rest of the report is still built. Inputs: ``inputs``; sections: ``sections``;
writing: ``render``; tables to files: ``export``.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path

from structconv.core import choice_field, count_network, int_field, printable, shown
from structconv.sim import MODES, simulate

from . import tables as T
from .document import Report
from .ground_truth import load_ground_truth
from .inputs import ReportContext, choose_plan, open_inputs, read_runs, read_search
from .sections import SECTIONS


@dataclass(frozen=True)
class ReportSettings:
    """What goes into a report besides the network; every input is optional.

    ``plan``: a plan reference (``core.resolve_plan``: a Plan, a mapping, a preset name or a
    plan file; default: the run's plan, else the search's best front member, else dense);
    ``hw``: an accelerator preset, file or Accelerator; ``study``: 'STORAGE[/NAME]' (or the
    storage, with the name in ``study_name``); ``search_dir``: a ``structconv search --out``
    directory; ``runs``: run directories (or a sweep directory); ``baselines``: a
    ``study.baselines_frame`` of baseline plans (greedy, random, ...) evaluated on the same
    search problem, marked on the Pareto front; ``ground_truth``: the accuracy benchmark's
    result JSON (``benchmarks/results/accuracy_<scale>.json``), shown as its own section (a
    table of proxies on held-out plans, accuracy against cycles); ``paper``: include the seed
    paper's tables; ``max_table_rows``: the per-layer table shows that many (most cycles first).
    """

    hw: object = None
    plan: object = None
    study: str | None = None
    study_name: str | None = None
    search_dir: object = None
    runs: tuple = ()
    baselines: object = None
    ground_truth: object = None
    mode: str = "analytical"
    paper: bool = True
    title: str | None = None
    max_table_rows: int = 400

    def __post_init__(self):
        choice_field("mode", self.mode, MODES, "report")
        int_field("max_table_rows", self.max_table_rows, 1, None, "report")
        runs = self.runs or ()
        object.__setattr__(self, "runs", (runs,) if isinstance(runs, (str, Path)) else tuple(runs))


def build_report(model, *, settings: ReportSettings | None = None, log=None, **options) -> Report:
    """Collect every section's DataFrames and figures for ``model`` (a reference ``core.resolve_network``
    reads). ``settings``, or its fields as keywords (``ReportSettings``); ``log``: progress lines."""
    s = ReportSettings(**options) if settings is None else replace(settings, **options)
    ctx = open_inputs(model, s, log)
    read_runs(ctx, s.runs)
    read_search(ctx, s.search_dir, s.study, s.study_name)
    ctx.ground_truth = None if s.ground_truth is None else load_ground_truth(s.ground_truth)
    choose_plan(ctx)
    measure(ctx)
    chosen = [(sid, fill) for sid, fill in SECTIONS
              if (s.paper or sid != "paper") and (sid != "ground_truth" or ctx.ground_truth is not None)]
    for sid, fill in chosen:
        fill(ctx, ctx.sections[sid])
    return _assemble(ctx, [ctx.sections[sid] for sid, _ in chosen], s.title)


def measure(ctx: ReportContext) -> None:
    """Count and simulate the network dense and under the plan; the summary numbers."""
    net, plan, accel = ctx.net, ctx.plan, ctx.accel
    ctx.notes(f"counting and simulating {printable(net.name)} ({len(net.layers)} layers) under "
              f"{shown(plan.name)} on {printable(accel.name)}")
    m = ctx.measured
    m["cost"] = count_network(net, plan)
    m["sim_o"] = simulate(net, None, accel, ctx.mode)
    m["sim_p"] = simulate(net, plan, accel, ctx.mode)
    ctx.frames["layers"] = T.layer_frame(m["cost"], m["sim_o"], m["sim_p"])
    m["summary"] = T.summary(m["cost"], m["sim_o"], m["sim_p"], ctx.run_summary)
    m["summary"].update(plan_source=ctx.plan_source, mode=ctx.mode, hw=accel.name, clock_hz=accel.clock_hz)


def _assemble(ctx: ReportContext, sections: list, title: str | None) -> Report:
    summary = ctx.sections["summary"]
    for s in sections:
        if s.missing and s is not summary:
            summary.missing.extend(f"{s.title}: {m}" for m in s.missing)
    frames = {k: ctx.frames[k] for k in ("layers", "plans", "roofline")}
    if ctx.trials is not None:
        frames["trials"] = ctx.trials
    return Report(title or f"structconv report: {ctx.net.name} on {ctx.accel.name}", ctx.measured["summary"],
                  sections, ctx.notes.notices, _inputs(ctx), frames)


def _inputs(ctx: ReportContext) -> dict:
    spec = ctx.storage_spec
    return {"model": ctx.net.name, "hw": ctx.accel.name, "plan": ctx.plan.name,
            "plan_source": ctx.plan_source,
            "study": None if spec is None else "/".join(str(x) for x in spec if x),
            "search_dir": None if ctx.search_dir is None else str(ctx.search_dir),
            "runs": [str(d) for d in ctx.run_dirs], "mode": ctx.mode,
            "created": _dt.datetime.now().isoformat(timespec="seconds")}
