"""The report's inputs, read and checked: network, accelerator, plan, training runs, search.

An input that is missing or does not fit the network (a study of another model, a
run directory without metrics) becomes a "not available: ..." line in its section
and a notice; the report is still built from the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from structconv.core import Network, Plan, load_data_file, printable, resolve_network, resolve_plan, shown
from structconv.sim import DEFAULT_HW, load_accelerator

from . import study as S
from . import training as TR
from .document import Section

SECTION_TITLES = {
    "summary": "Summary",
    "layers": "Per-layer cost: cycles, energy, roofline",
    "plans": "Plan comparison: dense, the plan, presets",
    "search": "Search: Pareto front and history",
    "training": "Structural Regularization training and decomposition",
    "paper": "Seed paper tables beside our counts",
    "ground_truth": "Accuracy ground truth: plans trained, decomposed and tested",
}


class Notes:
    """Progress lines (to ``log``) and the notices of inputs that were asked for but are unusable."""

    def __init__(self, log):
        self.log, self.notices = log, []

    def __call__(self, msg: str) -> None:
        if self.log:
            self.log(msg)

    def missing(self, sec: Section, msg: str, notice: bool = True) -> None:
        """A "not available" line in the section; ``notice``: also a notice (stderr) - for inputs
        that were asked for but are missing or do not fit, not for inputs never given."""
        line = f"not available: {msg}"
        sec.missing.append(line)
        if notice:
            self.notices.append(f"{sec.title}: {line}")


@dataclass
class ReportContext:
    """Everything the section builders share: the inputs, then the measurements."""

    net: Network
    accel: object
    mode: str
    notes: Notes
    baselines: pd.DataFrame | None = None
    max_table_rows: int = 400
    sections: dict = field(default_factory=lambda: {k: Section(k, t) for k, t in SECTION_TITLES.items()})
    plan: Plan | None = None
    plan_source: str | None = None
    run_dirs: list = field(default_factory=list)
    run_summary: dict | None = None
    search_dir: Path | None = None
    storage_spec: tuple | None = None
    trials: pd.DataFrame | None = None
    front: pd.DataFrame | None = None
    front_yaml: pd.DataFrame | None = None
    ground_truth: dict | None = None                # the accuracy benchmark's results
    measured: dict = field(default_factory=dict)    # cost, sim_o, sim_p, summary
    frames: dict = field(default_factory=dict)      # the DataFrames behind the sections


def open_inputs(model, settings, log) -> ReportContext:
    """The context with the network, accelerator and given plan resolved (errors raise)."""
    s, net = settings, resolve_network(model)
    ctx = ReportContext(net, load_accelerator(s.hw or DEFAULT_HW), s.mode, Notes(log), s.baselines,
                        s.max_table_rows)
    if s.plan is not None:
        ctx.plan, ctx.plan_source = resolve_plan(s.plan, net), "given"
    return ctx


# -- training runs --------------------------------------------------------------------------
def read_runs(ctx: ReportContext, runs: tuple) -> None:
    """The run directories under each of ``runs``; without a given plan, the first run's plan that fits."""
    for r in runs:
        ctx.run_dirs += _runs_at(ctx, r)
    if ctx.run_dirs:
        ctx.run_summary = _single_summary(ctx.run_dirs)
        if ctx.plan is None:
            _plan_from_runs(ctx)


def _runs_at(ctx: ReportContext, path) -> list:
    sec = ctx.sections["training"]
    try:
        found = TR.find_runs(path)
    except ValueError as e:
        ctx.notes.missing(sec, str(e))
        return []
    if not found:
        ctx.notes.missing(sec, f"{shown(str(path))} holds no training run (no metrics.jsonl or summary.json)")
    return found


def _single_summary(run_dirs) -> dict | None:
    """The summary of the only run (the accuracy card needs exactly one)."""
    if len(run_dirs) != 1:
        return None
    try:
        return TR.read_summary(run_dirs[0])
    except ValueError:
        return None


def _plan_from_runs(ctx: ReportContext) -> None:
    for d in ctx.run_dirs:
        plan = _run_plan(ctx, d)
        if plan is not None:
            ctx.plan, ctx.plan_source = plan, f"training run {d}"
            return


def _run_plan(ctx: ReportContext, run_dir) -> Plan | None:
    try:
        p = TR.read_summary(run_dir).get("plan")
    except ValueError:
        return None
    if not (isinstance(p, dict) and p.get("layers")):
        return None
    try:
        return resolve_plan(Plan.from_dict(p, source=f"{run_dir}/summary.json"), ctx.net)
    except ValueError as e:
        ctx.notes.missing(ctx.sections["training"], f"the plan of run {shown(str(run_dir))} does not fit "
                                                    f"{printable(ctx.net.name)}: {e}")
        return None


# -- the search -------------------------------------------------------------------------------
def find_study_file(search_dir) -> Path | None:
    """The Optuna storage file a search wrote under ``search_dir`` (None when there is none)."""
    cands = [p for p in sorted(Path(search_dir).iterdir()) if p.is_file() and (
        p.suffix in S.SQLITE_SUFFIXES or p.suffix in (".journal", ".log") or "journal" in p.name
        or p.name.startswith("study"))]
    cands = [p for p in cands if p.suffix not in (".yaml", ".yml", ".json", ".csv", ".lock")]
    return cands[0] if cands else None


def read_search(ctx: ReportContext, search_dir, study, study_name) -> None:
    """front.yaml and the study (from ``study`` or the storage file in ``search_dir``), checked."""
    sec = ctx.sections["search"]
    if search_dir:
        ctx.search_dir = Path(search_dir)
        _read_search_dir(ctx, want_storage=study is None, study_name=study_name)
    if study is not None:
        try:
            ctx.storage_spec = S.parse_study_spec(study) if study_name is None else (study, study_name)
        except ValueError as e:
            ctx.notes.missing(sec, str(e))
    if ctx.storage_spec is not None:
        _read_study(ctx)
    if ctx.front_yaml is not None and ctx.trials is None and ctx.search_dir is not None:
        _check_front_model(ctx)


def _read_search_dir(ctx: ReportContext, want_storage: bool, study_name) -> None:
    d, sec = ctx.search_dir, ctx.sections["search"]
    if not d.is_dir():
        ctx.notes.missing(sec, f"search directory {shown(str(d))} does not exist")
        return
    if (d / "front.yaml").is_file():
        try:
            ctx.front_yaml = S.load_front_yaml(d / "front.yaml")
        except ValueError as e:
            ctx.notes.missing(sec, str(e))
    else:
        ctx.notes.missing(sec, f"{shown(str(d))} has no front.yaml (the search did not finish)")
    exact = ctx.front_yaml is not None and ctx.front_yaml.attrs.get("mode") == "exact"
    if want_storage and not exact:                 # an exact front is the whole search: nothing was sampled
        sf = find_study_file(d)
        if sf is None:
            ctx.notes.missing(sec, f"no study storage file in {shown(str(d))}: no trial history")
        else:
            ctx.storage_spec = (str(sf), study_name)


def _read_study(ctx: ReportContext) -> None:
    sec = ctx.sections["search"]
    try:
        st = S.load_study(*ctx.storage_spec)
        trials = S.trials_frame(st, params=True)
        _check_study_fits(ctx, st, trials)
    except ValueError as e:
        ctx.notes.missing(sec, str(e))
        return
    ctx.trials = trials.drop(columns=[c for c in trials.columns if c.startswith("param_")])
    ctx.trials.attrs.update(trials.attrs)
    ctx.front = S.front_frame(ctx.trials)
    if ctx.front.empty:
        ctx.notes.missing(sec, f"study {shown(st.study_name)} has no feasible trial: no Pareto front")


def _check_study_fits(ctx: ReportContext, st, trials: pd.DataFrame) -> None:
    """ValueError when the study searched another network (its front.yaml is then dropped too)."""
    net, smodel = ctx.net, S.study_model(st)
    searched = {c[len("param_"):] for c in trials.columns if c.startswith("param_")}
    if smodel is not None and smodel != net.name:
        ctx.front_yaml = None
        raise ValueError(f"study {shown(st.study_name)} searched {shown(smodel)}, not {shown(net.name)}")
    if searched - set(net.layer_names):
        ctx.front_yaml = None
        bad = sorted(searched - set(net.layer_names))[:3]
        raise ValueError(f"study {shown(st.study_name)} has parameters {bad} that are not layers of "
                         f"{shown(net.name)}: it searched another network")
    if not (trials["state"] == "COMPLETE").any():
        raise ValueError(f"study {shown(st.study_name)} has no completed trial "
                         f"({len(trials)} trials in total)")


def _check_front_model(ctx: ReportContext) -> None:
    fm = front_model(ctx.search_dir, ctx.front_yaml)
    if fm is not None and fm != ctx.net.name:
        ctx.notes.missing(ctx.sections["search"],
                          f"the search in {shown(str(ctx.search_dir))} is for {shown(fm)}, "
                          f"not {shown(ctx.net.name)}")
        ctx.front_yaml = None


def _front_plan_files(search_dir: Path, front_yaml: pd.DataFrame) -> list[Path]:
    """front.yaml's 'best' plan file, then the first member's (relative to the search directory)."""
    row = front_yaml.iloc[0] if len(front_yaml) else {}
    names = ([front_yaml.attrs.get("best_plan_file")]
             + [row.get(k) for k in ("plan_file", "file", "path", "plan")])
    return [Path(v) if Path(v).is_absolute() else search_dir / v for v in names if isinstance(v, str)]


def front_plan(search_dir, front_yaml: pd.DataFrame | None, net: Network) -> Plan | None:
    """The search's best plan under its budgets (front.yaml 'best'), else the first front member."""
    if front_yaml is None or front_yaml.empty:
        return None
    for p in _front_plan_files(Path(search_dir), front_yaml):
        if p.is_file():
            try:
                return resolve_plan(p, net)
            except ValueError:
                return None
    return None


def front_model(search_dir, front_yaml: pd.DataFrame) -> str | None:
    """The network a front.yaml's plans were made for (from a plan file's 'model'), or None."""
    files = [front_yaml.attrs.get("best_plan_file")]
    if "plan_file" in front_yaml:
        files += list(front_yaml["plan_file"].dropna()[:1])
    for f in files:
        if isinstance(f, str) and (Path(search_dir) / f).is_file():
            try:
                d = load_data_file(Path(search_dir) / f, "plan file")
            except ValueError:
                continue
            if isinstance(d, dict) and isinstance(d.get("model"), str):
                return d["model"]
    return None


def choose_plan(ctx: ReportContext) -> None:
    """The plan to report on: given, else a run's, else the search's best, else dense."""
    if ctx.plan is None and ctx.front_yaml is not None:
        cand = front_plan(ctx.search_dir, ctx.front_yaml, ctx.net)
        if cand is not None:
            ctx.plan, ctx.plan_source = cand, f"search {ctx.search_dir.name} ({cand.name})"
    if ctx.plan is None:
        ctx.plan, ctx.plan_source = resolve_plan(None, ctx.net), "none given: dense"
        if ctx.trials is not None:
            ctx.sections["search"].text.append(
                "No plan was given, so the costs above are the dense network's: a study stores choice "
                "indices, not Plans; pass --plan SEARCH_DIR/best.yaml (or --search-dir SEARCH_DIR) to report "
                "on the searched plan.")
