"""The one-file report: build the sections from the inputs, render HTML or Markdown, write atomically.

    rep = build_report("resnet18", hw="edge-int8", plan="uniform-n2", study="out/study.db/resnet18",
                       runs=["runs/lam0.1"])
    write_report(rep, "report.html")                # plotly.js embedded once: opens offline
    write_report(rep, "report.md", fmt="md")        # Markdown + PNGs (when a static exporter works)

Every input is optional except the network. An input that is missing or does not
fit (a study of another model, an empty study, a run directory without metrics)
becomes a "not available: ..." line in its section and in ``rep.notices``; the
rest of the report is still built.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from structconv.core import atomic_write_text
from structconv.core.files import _umask

from . import study as S
from . import tables as T
from . import training as TR

SUMMARY_ID = "structconv-summary"
PLOTLYJS_ID = "plotlyjs"


@dataclass
class Table:
    caption: str
    frame: pd.DataFrame
    collapsed: bool = False            # HTML: inside <details>


@dataclass
class Section:
    id: str
    title: str
    text: list = field(default_factory=list)        # plain-text paragraphs
    tables: list = field(default_factory=list)      # Table
    figures: list = field(default_factory=list)     # (name, plotly Figure)
    missing: list = field(default_factory=list)     # "not available: ..." lines


@dataclass
class Report:
    title: str
    summary: dict
    sections: list
    notices: list
    inputs: dict
    frames: dict = field(default_factory=dict)     # the DataFrames behind the sections

    def to_dict(self) -> dict:
        """Summary, inputs, notices and each section's title, figures, tables and missing lines."""
        return {"title": self.title, "summary": _jsonable(self.summary), "inputs": self.inputs,
                "notices": list(self.notices),
                "sections": [{"id": s.id, "title": s.title, "figures": [n for n, _ in s.figures],
                              "tables": [t.caption for t in s.tables], "missing": list(s.missing)}
                             for s in self.sections]}

    def section(self, sid: str) -> Section:
        for s in self.sections:
            if s.id == sid:
                return s
        raise KeyError(f"no section {sid!r}")


class _Log:
    def __init__(self, log, notices):
        self.log, self.notices = log, notices

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


# -- inputs ---------------------------------------------------------------------------------
def _network(model):
    from structconv.core import Network
    from structconv.core.zoo import get_network

    return model if isinstance(model, Network) else get_network(model)


def _plan(plan, network):
    from structconv.core import Plan
    from structconv.core.presets import get_preset, list_presets

    if plan is None or isinstance(plan, Plan):
        return plan
    if isinstance(plan, dict):
        return Plan.coerce(plan)
    s = str(plan)
    if s in list_presets():
        return get_preset(s, network)
    if os.path.isfile(s):
        return Plan.load(s)
    raise ValueError(f"plan = {s!r} is neither a preset {sorted(list_presets())} nor a plan file")


def _preset_plans(network) -> dict:
    """Every shipped preset that fits ``network`` (the baselines of the comparison)."""
    from structconv.core.presets import get_preset, list_presets

    out = {}
    for name in list_presets():
        if name.endswith("-literal"):
            continue
        try:
            p = get_preset(name, network)
            p.validate(network)
        except ValueError:
            continue
        if len(p):
            out[name] = p
    return out


def find_study_file(search_dir) -> Path | None:
    """The Optuna storage file a search wrote under ``search_dir`` (None when there is none)."""
    d = Path(search_dir)
    cands = [p for p in sorted(d.iterdir()) if p.is_file() and (
        p.suffix in S.SQLITE_SUFFIXES or p.suffix in (".journal", ".log") or "journal" in p.name
        or p.name.startswith("study"))]
    cands = [p for p in cands if p.suffix not in (".yaml", ".yml", ".json", ".csv", ".lock")]
    return cands[0] if cands else None


# -- building -----------------------------------------------------------------------------------
def build_report(model, hw=None, plan=None, *, study=None, study_name=None, search_dir=None, runs=None,
                 baselines=None, mode: str = "analytical", paper: bool = True, title: str | None = None, log=None,
                 max_table_rows: int = 400) -> Report:
    """Collect every section's DataFrames and figures. ``model``: a zoo name or a core Network;
    ``plan``: a Plan, a preset name or a plan file (default: the run's plan, else the search's
    best front member, else dense); ``study``: 'STORAGE[/NAME]'; ``search_dir``: a
    ``structconv search --out`` directory; ``runs``: run directories (or a sweep directory);
    ``baselines``: a ``study.baselines_frame`` of baseline plans (greedy, random, ...) evaluated
    on the same search problem, marked on the Pareto front."""
    from structconv.core import Plan, count_network
    from structconv.sim import DEFAULT_HW, load_accelerator, simulate

    notices: list = []
    L = _Log(log, notices)
    net = _network(model)
    accel = load_accelerator(hw or DEFAULT_HW)
    plan = _plan(plan, net)
    plan_source = "given" if plan is not None else None
    sections: list = []

    # training runs first: they may name the plan
    sec_train = Section("training", "Structural Regularization training and decomposition")
    run_dirs, run_summary = [], None
    if runs:
        for r in ([runs] if isinstance(runs, (str, Path)) else runs):
            try:
                found = TR.find_runs(r)
            except ValueError as e:
                L.missing(sec_train, str(e))
                continue
            if not found:
                L.missing(sec_train, f"{str(r)!r} holds no training run (no metrics.jsonl or summary.json)")
            run_dirs += found
    if run_dirs:
        try:
            run_summary = TR.read_summary(run_dirs[0]) if len(run_dirs) == 1 else None
        except ValueError:
            run_summary = None
        if plan is None:
            for d in run_dirs:
                try:
                    p = TR.read_summary(d).get("plan")
                except ValueError:
                    continue
                if isinstance(p, dict) and p.get("layers"):
                    try:
                        cand = Plan.from_dict(p, source=f"{d}/summary.json")
                        cand.validate(net)
                    except ValueError as e:
                        L.missing(sec_train, f"the plan of run {str(d)!r} does not fit {net.name}: {e}")
                        continue
                    plan, plan_source = cand, f"training run {d}"
                    break

    # search
    sec_search = Section("search", "Search: Pareto front and history")
    trials = front = None
    front_yaml = None
    storage_spec = None
    if search_dir:
        d = Path(search_dir)
        if not d.is_dir():
            L.missing(sec_search, f"search directory {str(d)!r} does not exist")
        else:
            fy = d / "front.yaml"
            if fy.is_file():
                try:
                    front_yaml = S.load_front_yaml(fy)
                except ValueError as e:
                    L.missing(sec_search, str(e))
            else:
                L.missing(sec_search, f"{str(d)!r} has no front.yaml (the search did not finish)")
            sf = find_study_file(d)
            if sf is not None and study is None:
                storage_spec = (str(sf), study_name)
            elif study is None:
                L.missing(sec_search, f"no study storage file in {str(d)!r}: no trial history")
    if study is not None:
        try:
            storage_spec = S.parse_study_spec(study) if study_name is None else (study, study_name)
        except ValueError as e:
            L.missing(sec_search, str(e))
    if storage_spec is not None:
        try:
            st = S.load_study(*storage_spec)
            smodel = S.study_model(st)
            tr = S.trials_frame(st, params=True)
            layer_names = set(net.layer_names)
            pcols = [c[len("param_"):] for c in tr.columns if c.startswith("param_")]
            if smodel is not None and smodel != net.name:
                front_yaml = None                       # the front of another network's search
                raise ValueError(f"study {st.study_name!r} searched {smodel!r}, not {net.name!r}")
            if pcols and not set(pcols) <= layer_names:
                front_yaml = None
                bad = sorted(set(pcols) - layer_names)[:3]
                raise ValueError(f"study {st.study_name!r} has parameters {bad} that are not layers of "
                                 f"{net.name!r}: it searched another network")
            if not (tr["state"] == "COMPLETE").any():
                raise ValueError(f"study {st.study_name!r} has no completed trial "
                                 f"({len(tr)} trials in total)")
            trials = tr.drop(columns=[c for c in tr.columns if c.startswith("param_")])
            trials.attrs.update(tr.attrs)
            front = S.front_frame(trials)
            if front.empty:
                L.missing(sec_search, f"study {st.study_name!r} has no feasible trial: no Pareto front")
        except ValueError as e:
            L.missing(sec_search, str(e))
            trials = front = None
    if front_yaml is not None and trials is None and search_dir is not None:
        fm = _front_model(search_dir, front_yaml)
        if fm is not None and fm != net.name:
            L.missing(sec_search, f"the search in {str(search_dir)!r} is for {fm!r}, not {net.name!r}")
            front_yaml = None
    if plan is None and front_yaml is not None:
        cand = _front_plan(search_dir, front_yaml, net)
        if cand is not None:
            plan, plan_source = cand, f"search {Path(search_dir).name} ({cand.name})"
    if plan is None:
        plan, plan_source = Plan(name="dense"), "none given: dense"
        if trials is not None:
            sec_search.text.append("No plan was given, so the costs above are the dense network's: a study stores "
                                   "choice indices, not Plans; pass --plan SEARCH_DIR/best.yaml (or --search-dir "
                                   "SEARCH_DIR) to report on the searched plan.")

    # cost and simulation
    L(f"counting and simulating {net.name} ({len(net.layers)} layers) under {plan.name!r} on {accel.name}")
    cost = count_network(net, plan)
    sim_o = simulate(net, None, accel, mode)
    sim_p = simulate(net, plan, accel, mode)
    layers = T.layer_frame(cost, sim_o, sim_p)
    summ = T.summary(cost, sim_o, sim_p, run_summary)
    summ.update(plan_source=plan_source, mode=mode, hw=accel.name, clock_hz=accel.clock_hz)

    from . import figures as F

    sec_sum = Section("summary", "Summary")
    sections.append(sec_sum)
    sec_sum.text.append(f"{net.name} ({len(net.layers)} conv/linear layers) under plan {plan.name!r} "
                        f"({summ['layers_changed']} layers changed; plan from: {plan_source}) on accelerator "
                        f"{accel.name} ({accel.mac_array.rows}x{accel.mac_array.cols} {accel.mac_array.dataflow} "
                        f"array, {accel.sum_pool.adder_lanes}-lane {accel.sum_pool.scheme} sum-pool unit, "
                        f"{accel.dtype}, {accel.clock_hz / 1e6:g} MHz), {mode} simulation.")
    sec_sum.tables.append(Table("Totals: original vs plan", _totals_frame(summ)))

    sec_layers = Section("layers", "Per-layer cost: cycles, energy, roofline")
    sections.append(sec_layers)
    sec_layers.text.append("Cycles per layer split by the unit that is busy: the MAC array, the sum-pool unit "
                           "where it is not hidden behind the array (fused pipelines overlap the two), and "
                           "stalls waiting on DRAM. Energy is event counts x the accelerator's energy table.")
    sec_layers.figures.append(("layer_cycles", F.fig_layer_cycles(T.cycles_long_frame(layers))))
    sec_layers.figures.append(("energy", F.fig_energy(T.energy_frame({"original": sim_o, plan.name: sim_p}),
                                                      title="Energy by component: original vs plan")))
    sec_layers.figures.append(("layer_energy", F.fig_layer_energy(layers)))
    roof = T.roofline_frame(layers, accel)
    peak, bw = T.roofline_limits(accel)
    sec_layers.text.append(f"Roofline: peak {peak:.3g} MAC/s ({accel.num_pes} PEs x {accel.clock_hz:.3g} Hz), "
                           f"DRAM {bw:.3g} B/s; ridge at {peak / bw:.3g} MACs per byte.")
    sec_layers.figures.append(("roofline", F.fig_roofline(roof)))
    cols = ["layer", "kind", "shape", "choice", "orig_mults", "mults", "sumpool_adds", "orig_params", "params",
            "orig_cycles_total", "cycles_total", "speedup", "spu_cycles", "mac_cycles", "cycles_stall",
            "mac_utilization", "orig_energy_total_pj", "energy_total_pj", "dram_bytes"]
    tbl = layers[[c for c in cols if c in layers]]
    if len(tbl) > max_table_rows:
        sec_layers.text.append(f"Per-layer table: the {max_table_rows} layers with the most cycles "
                               f"of {len(tbl)} (the CSV export has them all).")
        tbl = tbl.sort_values("cycles_total", ascending=False).head(max_table_rows)
    sec_layers.tables.append(Table("Per-layer costs", tbl, collapsed=True))

    # plan comparison (baselines and presets)
    sec_cmp = Section("plans", "Plan comparison: dense, the plan, presets")
    sections.append(sec_cmp)
    L("comparing with the presets that fit the network")
    plans = {plan.name: plan}
    for k, p in _preset_plans(net).items():
        plans.setdefault(k, p)
    cmp = T.plan_comparison_frame(net, plans, accel, mode)
    sec_cmp.tables.append(Table("Totals per plan (ratios to dense)", cmp))
    sections.append(sec_search)
    if trials is not None:
        info = trials.attrs
        sec_search.text.append(f"Study {info.get('study')!r}: {len(trials)} trials "
                               f"({int((trials['state'] == 'COMPLETE').sum())} complete, "
                               f"{int(trials['feasible'].sum())} feasible); objectives "
                               + ", ".join(f"{m} ({d})" for m, d in zip(info.get("metrics", []),
                                                                        info.get("directions", []))) + ".")
        highlight = {}
        if front_yaml is not None and "best_trial" in front_yaml.attrs:
            highlight[int(front_yaml.attrs["best_trial"])] = "chosen (best)"
        budgets = {}
        cfgd = (info.get("user_attrs") or {}).get("structconv_config") or {}
        dense_row = cmp.iloc[0]
        for key, col, metric in (("latency", "cycles_total", "cycles"), ("energy", "energy_pj", "energy")):
            r = (cfgd.get("budgets") or {}).get(key)
            if r and metric in info.get("metrics", []) and cfgd.get("hw") in (None, accel.name):
                budgets[metric] = (float(r) * float(dense_row[col]), f"budget {r:g} x dense")
        sec_search.figures.append(("pareto", F.fig_pareto(trials, front if front is not None else trials.iloc[0:0],
                                                         baselines=baselines, highlight=highlight, budgets=budgets)))
        if baselines is not None and len(baselines):
            sec_search.tables.append(Table("Baselines on the same search problem", baselines))
        sec_search.figures.append(("history", F.fig_history(S.history_frame(trials))))
        if front is not None and not front.empty:
            keep = ["number", *info.get("metrics", []), "origin", "constraints"] + [
                c for c in front.columns if c.startswith("attr_") and (".ratios." in c or c.endswith(
                    (".params", ".mults", ".latency_s")) and ".proxies." not in c)]
            ft = front[[c for c in keep if c in front]]
            sec_search.tables.append(Table("Pareto front (feasible, non-dominated trials)", ft.rename(
                columns=lambda c: c.replace("attr_breakdown.", "").replace("attr_", ""))))
    if front_yaml is not None and not front_yaml.empty and trials is None:
        keep = [c for c in front_yaml.columns if not c.startswith("proxies.")]
        sec_search.tables.append(Table("front.yaml (no study storage: trial history not available)",
                                       front_yaml[keep]))
    if front_yaml is not None and front_yaml.attrs.get("best_plan_file"):
        sec_search.text.append(f"Best plan under the budgets (front.yaml 'best'): trial "
                               f"{front_yaml.attrs.get('best_trial')}, {front_yaml.attrs['best_plan_file']}.")
    if trials is None and front_yaml is None and not sec_search.missing:
        L.missing(sec_search, "no study given (use --study STORAGE/NAME or --search-dir DIR)", notice=False)

    # training
    sections.append(sec_train)
    if run_dirs:
        good = []
        for d in run_dirs:
            try:
                TR.read_metrics(d)
                good.append(d)
            except ValueError as e:
                L.missing(sec_train, str(e))
        if good:
            curves = TR.curves_frame(good)
            sec_train.figures.append(("training_curves", F.fig_training_curves(curves)))
        try:
            acc = TR.accuracy_frame(run_dirs)
            sec_train.figures.append(("accuracy", F.fig_accuracy(acc)))
            sec_train.tables.append(Table("Accuracy before / after decomposition", acc))
            for m in acc.attrs.get("missing", []):
                L.missing(sec_train, f"run {m!r} has no summary.json (not finished): no accuracy")
            other = [m for m in acc["model"].dropna().unique() if m != net.name]
            if other:
                sec_train.text.append(f"Note: the runs trained {', '.join(map(str, other))}; the costs above are "
                                      f"for {net.name}.")
        except ValueError as e:
            L.missing(sec_train, str(e))
    elif not sec_train.missing:
        L.missing(sec_train, "no training run given (use --run DIR)", notice=False)

    if paper:
        L("reproducing the seed paper tables")
        sec_paper = Section("paper", "Seed paper tables beside our counts")
        sections.append(sec_paper)
        try:
            sec_paper.text.append("Supplementary Tables 1-2 of the seed paper (HRNet, PSPNet): printed numbers, ours, "
                                  "and (ours - paper) / paper.")
            sec_paper.tables.append(Table("Tables 1-2", T.paper_frame()))
            sec_paper.text.append("MobileNetV2 / EfficientNet-B1 presets (Tables 6-8): the paper's totals for these "
                                  "are not in the seeds, so rel_* compare with the dense network; cycles_ratio is "
                                  f"our simulation on {accel.name}, paper_latency_ratio the paper's A.7 CPU "
                                  "latency estimate (a different platform: compare trends).")
            sec_paper.tables.append(Table("Preset totals", T.preset_totals_frame(hw=accel)))
        except Exception as e:  # noqa: BLE001 - a paper model missing from the zoo must not sink the report
            L.missing(sec_paper, f"paper tables: {e}")

    for s in sections:
        if s.missing and s.id != "summary":
            sec_sum.missing.extend(f"{s.title}: {m}" for m in s.missing)
    inputs = {"model": net.name, "hw": accel.name, "plan": plan.name, "plan_source": plan_source,
              "study": None if storage_spec is None else "/".join(str(x) for x in storage_spec if x),
              "search_dir": None if search_dir is None else str(search_dir),
              "runs": [str(d) for d in run_dirs], "mode": mode,
              "created": _dt.datetime.now().isoformat(timespec="seconds")}
    rep = Report(title or f"structconv report: {net.name} on {accel.name}", summ, sections, notices, inputs,
                 {"layers": layers, "plans": cmp, "roofline": roof})
    if trials is not None:
        rep.frames["trials"] = trials
    return rep


def _front_plan(search_dir, front_yaml, net):
    """The search's best plan under its budgets (front.yaml 'best'), else the first front member."""
    from structconv.core import Plan

    if front_yaml is None or front_yaml.empty:
        return None
    d = Path(search_dir)
    row = front_yaml.iloc[0]
    cands = [front_yaml.attrs.get("best_plan_file")] + [row.get(k) for k in ("plan_file", "file", "path", "plan")]
    for v in cands:
        if isinstance(v, str):
            p = Path(v) if Path(v).is_absolute() else d / v
            if p.is_file():
                try:
                    plan = Plan.load(p)
                    plan.validate(net)
                    return plan
                except ValueError:
                    return None
    return None


def _front_model(search_dir, front_yaml) -> str | None:
    """The network a front.yaml's plans were made for (from a plan file's 'model'), or None."""
    import yaml

    files = [front_yaml.attrs.get("best_plan_file")]
    if "plan_file" in front_yaml:
        files += list(front_yaml["plan_file"].dropna()[:1])
    for f in files:
        if isinstance(f, str) and (Path(search_dir) / f).is_file():
            try:
                d = yaml.safe_load((Path(search_dir) / f).read_text())
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(d, dict) and isinstance(d.get("model"), str):
                return d["model"]
    return None


def _totals_frame(s: dict) -> pd.DataFrame:
    rows = [("mults", s["orig_mults"], s["mults"]), ("adds", s["orig_adds"], s["adds"]),
            ("of which sum-pool adds", 0, s["sumpool_adds"]), ("params", s["orig_params"], s["params"])]
    if s.get("cycles_total") is not None:
        rows += [("cycles", s["orig_cycles_total"], s["cycles_total"]),
                 ("latency_s", s["orig_latency_s"], s["latency_s"]),
                 ("energy_pj", s["orig_energy_pj"], s["energy_pj"])]
    return pd.DataFrame([{"quantity": q, "original": o, "plan": p, "ratio": (p / o if o else None)}
                         for q, o, p in rows])


def summary_cards(s: dict) -> list[tuple[str, str, str]]:
    """(label, value, detail) for the boxes at the top."""
    def pct(x):
        return "n/a" if x is None else f"{100 * x:+.1f} %"

    cards = []
    if s.get("speedup") is not None:
        cards.append(("speedup", f"{s['speedup']:.3f}x",
                      f"{s['orig_cycles_total']:,} -> {s['cycles_total']:,} cycles"))
        cards.append(("energy saving", pct(s.get("energy_saving")),
                      f"{s['orig_energy_pj'] / 1e6:,.1f} -> {s['energy_pj'] / 1e6:,.1f} uJ"))
    cards.append(("params saving", pct(s["params_saving"]), f"{s['orig_params']:,} -> {s['params']:,}"))
    cards.append(("mults saving", pct(s["mults_saving"]), f"{s['orig_mults']:,} -> {s['mults']:,}"))
    if s.get("accuracy_change") is not None:
        cards.append(("accuracy change", f"{s['accuracy_change']:+.2f} pp",
                      f"{s['acc_before']:.2f} % -> {s['acc_after']:.2f} % (decomposition)"))
    else:
        cards.append(("accuracy change", "n/a", "no finished training run"))
    return cards


# -- formatting -----------------------------------------------------------------------------------
def _fmt(v, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int,)) or (hasattr(v, "dtype") and getattr(v, "dtype").kind in "iu"):
        return f"{int(v):,}"
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v, "dtype").kind == "f"):
        v = float(v)
        if math.isinf(v):
            return "inf"
        if col.startswith("rel_") or col.endswith("_saving"):
            return f"{100 * v:+.2f} %"
        if col.endswith(("ratio", "speedup", "utilization")):
            return f"{v:.4f}"
        if abs(v) >= 1000 and v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.4g}"
    if isinstance(v, (tuple, list)):
        return ", ".join(_fmt(x, col) for x in v)
    return str(v)


def _cells(df: pd.DataFrame) -> list[list[str]]:
    cols = list(df.columns)
    return [[_fmt(v, c) for v, c in zip(row, cols)] for row in df.itertuples(index=False, name=None)]


def table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in _cells(df))
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def table_md(df: pd.DataFrame) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in _cells(df)]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:16px 24px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
.meta{color:#666;font-size:.9em}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:170px;background:#fafafa}
.card .label{font-size:.8em;color:#666;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:1.6em;font-weight:600}
.card .detail{font-size:.8em;color:#555}
.missing{color:#a94442;background:#fdf1f0;border-left:4px solid #d9534f;padding:6px 10px;margin:6px 0}
table.data{border-collapse:collapse;font-size:.82em;margin:8px 0}
table.data th,table.data td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
table.data th{background:#f0f0f0;position:sticky;top:0}
table.data td:first-child,table.data th:first-child{text-align:left}
.tablewrap{max-height:480px;overflow:auto}
.figure{margin:12px 0;min-height:420px}
nav a{margin-right:14px}
"""


def render_html(rep: Report) -> str:
    """One self-contained HTML document: plotly.js inline once, no external resources."""
    import plotly.offline

    parts = []
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title.split(":")[0])}</a>' for s in rep.sections)
    for s in rep.sections:
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        if s.id == "summary":
            parts.append('<div class="cards">' + "".join(
                f'<div class="card"><div class="label">{html.escape(l)}</div><div class="value">{html.escape(v)}</div>'
                f'<div class="detail">{html.escape(d)}</div></div>' for l, v, d in summary_cards(rep.summary))
                + "</div>")
        for m in s.missing:
            parts.append(f'<p class="missing">{html.escape(m)}</p>')
        for t in s.text:
            parts.append(f"<p>{html.escape(t)}</p>")
        for name, fig in s.figures:
            div = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                              div_id=f"fig-{name}", default_width="100%",
                              config={"displaylogo": False, "responsive": True})
            parts.append(f'<div class="figure">{div}</div>')
        for t in s.tables:
            inner = f'<div class="tablewrap">{table_html(t.frame)}</div>'
            if t.collapsed:
                parts.append(f"<details><summary>{html.escape(t.caption)} ({len(t.frame)} rows)</summary>{inner}</details>")
            else:
                parts.append(f"<h3>{html.escape(t.caption)}</h3>{inner}")
        parts.append("</section>")
    summary_json = json.dumps({"summary": _jsonable(rep.summary), "inputs": rep.inputs, "notices": rep.notices})
    summary_json = summary_json.replace("</", "<\\/")
    meta = (f"model {rep.inputs['model']} &middot; hw {rep.inputs['hw']} &middot; plan "
            f"{html.escape(str(rep.inputs['plan']))} &middot; generated {rep.inputs['created']} by structconv")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{html.escape(rep.title)}</title>"
            f"<style>{_CSS}</style>"
            f'<script type="text/javascript" id="{PLOTLYJS_ID}">{plotly.offline.get_plotlyjs()}</script>'
            f'<script type="application/json" id="{SUMMARY_ID}">{summary_json}</script>'
            f"</head><body><h1>{html.escape(rep.title)}</h1><p class=\"meta\">{meta}</p><nav>{nav}</nav>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _jsonable(d):
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, float) and not math.isfinite(d):
        return None
    if hasattr(d, "item"):
        return d.item()
    return d


def static_export_available() -> tuple[bool, str]:
    """Whether plotly can write PNGs here (kaleido + a local Chrome/Chromium), and why not."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False, "kaleido is not installed (pip install kaleido)"
    return True, ""


def render_markdown(rep: Report, image_dir: Path | None, image_prefix: str = "") -> tuple[str, list]:
    """Markdown text and (when ``image_dir`` is given and an exporter works) PNGs written there.

    Returns (markdown, notes)."""
    notes: list = []
    images: dict = {}
    if image_dir is not None:
        ok, why = static_export_available()
        if ok:
            figs = [(name, fig) for s in rep.sections for name, fig in s.figures]
            try:
                import plotly.io as pio

                paths = [str(Path(image_dir) / f"{name}.png") for name, _ in figs]
                pio.write_images([f for _, f in figs], paths, format="png", width=1200, height=520)
                images = {name: f"{image_prefix}{name}.png" for name, _ in figs}
            except Exception as e:  # noqa: BLE001 - no browser, sandbox trouble, ...
                why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                ok = False
        if not ok:
            notes.append(f"figures are not included: no static image exporter works here ({why}); "
                         "use --format html for the interactive figures")
    out = [f"# {rep.title}", "", f"model {rep.inputs['model']} · hw {rep.inputs['hw']} · plan "
           f"{rep.inputs['plan']} · generated {rep.inputs['created']} by structconv", ""]
    for n in notes:
        out += [f"> Note: {n}", ""]
    for s in rep.sections:
        out += [f"## {s.title}", ""]
        if s.id == "summary":
            out += ["| " + " | ".join(l for l, _, _ in summary_cards(rep.summary)) + " |",
                    "|" + "---|" * len(summary_cards(rep.summary)),
                    "| " + " | ".join(f"**{v}** ({d})" for _, v, d in summary_cards(rep.summary)) + " |", ""]
        out += [f"> {m}" for m in s.missing] + ([""] if s.missing else [])
        for t in s.text:
            out += [t, ""]
        for name, _ in s.figures:
            if name in images:
                out += [f"![{name}]({images[name]})", ""]
        for t in s.tables:
            out += [f"**{t.caption}**", "", table_md(t.frame), ""]
    return "\n".join(out) + "\n", notes


def write_report(rep: Report, path, fmt: str | None = None) -> Path:
    """Write the report atomically (HTML, or Markdown with a ``<stem>_files/`` folder of PNGs)."""
    path = Path(path)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in ("html", "md"):
        raise ValueError(f"format = {fmt!r} is not one of ['html', 'md']")
    if path.exists() and path.is_dir():
        raise ValueError(f"output {str(path)!r} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        atomic_write_text(path, render_html(rep))
        return path
    img_dir = path.parent / f"{path.stem}_files"
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.stem}_files."))
    try:
        text, notes = render_markdown(rep, tmp, image_prefix=f"{img_dir.name}/")
        rep.notices.extend(notes)
        if any(tmp.iterdir()):
            os.chmod(tmp, 0o777 & ~_umask())
            if img_dir.exists():
                shutil.rmtree(img_dir)
            os.replace(tmp, img_dir)
        atomic_write_text(path, text)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def export_tables(rep: Report, out_dir, fmt: str = "csv") -> list[Path]:
    """Every DataFrame behind the report as CSV or Parquet files in ``out_dir``."""
    out = []
    for name, df in getattr(rep, "frames", {}).items():
        out.append(T.export_frame(df, Path(out_dir) / f"{name}.{fmt}"))
    return out
