"""The end-to-end demo behind `structconv demo` (and ``make demo``): a list of named steps.

    res = run_demo(out="out")      # cost -> simulate -> search -> SR training -> decompose + verify -> report
    res.report, res.plan, res.stages

Each step uses only the public API of its subpackage (core, sim, search, nn,
analysis). A step whose subpackage is not installed or not importable says
"skipped: <why>" and the rest still runs; a step that fails says "failed: <why>"
and the steps that do not depend on it still run. Progress goes to ``log``
(default: print) all along.

Defaults keep it to a few minutes on a 2-core CPU: resnet20 (the CIFAR-10 ResNet,
32x32 inputs) costed, simulated and searched on the default accelerator; the SR
training uses scikit-learn's digits (8x8, repeated to 3 channels) as a stand-in
for CIFAR-10, so it needs no download.

The search (optuna) and the torch steps import their subpackage inside the step:
that is what lets the demo skip them where they are not installed.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from structconv.core import (
    FieldError,
    Network,
    Plan,
    count_network,
    printable,
    resolve_network,
    resolve_plan,
    shown,
    write_data_file,
)
from structconv.sim import DEFAULT_HW, load_accelerator, simulate

from .render import write_report
from .report import ReportSettings, build_report
from .study import baselines_frame
from .tables import cost_totals

FAST_PROXIES = ("params", "mults", "kept_dof", "field_ratio")


@dataclass
class Stage:
    name: str
    status: str = "pending"          # ok | skipped: ... | failed: ...
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class DemoResult:
    out: Path
    model: str
    hw: str
    plan: object = None
    plan_file: Path | None = None
    report: Path | None = None
    summary: dict = field(default_factory=dict)
    stages: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(not s.status.startswith("failed") for s in self.stages)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "model": self.model, "hw": self.hw,
                "plan": getattr(self.plan, "name", None),
                "plan_file": None if self.plan_file is None else str(self.plan_file),
                "report": None if self.report is None else str(self.report),
                "seconds": round(self.seconds, 2),
                "stages": [{"name": s.name, "status": s.status, "seconds": round(s.seconds, 2), **s.detail}
                           for s in self.stages],
                "summary": self.summary}


@dataclass(frozen=True)
class DemoSettings:
    """The knobs of ``run_demo``, checked here so a bad one fails before any stage runs or OUT is made.

    ``trials``: search trials; ``max_cycles_ratio``: the search's budget (cycles_total <= R x dense);
    ``lam``, ``epochs``, ``pretrain_epochs``, ``batch_size``, ``lr``, ``pretrain_lr``: the SR
    training; ``train_size``: the side of the digits images it uses (8 = native); ``train_samples``:
    use only that many training images (tests); ``fallback_plan``: the plan when the search finds
    none; ``report_name``: the report's file in OUT.
    """

    model: str = "resnet20"
    hw: str | None = None
    trials: int = 300
    max_cycles_ratio: float = 0.7
    proxies: tuple = FAST_PROXIES
    lam: float = 10.0
    epochs: int = 4
    pretrain_epochs: int = 1
    batch_size: int = 64
    lr: float = 0.05
    pretrain_lr: float = 0.1
    train_size: int = 8
    train_samples: int | None = None
    seed: int = 0
    fallback_plan: str = "uniform-n2"
    report_name: str = "report.html"
    quiet_train: bool = False

    def __post_init__(self):
        if self.trials < 1:
            raise FieldError(("trials", f" = {self.trials} is out of range [1, inf)"))
        e, p = self.epochs, self.pretrain_epochs
        if e < 0 or p < 0 or e + p < 1:
            raise FieldError(("epochs", f" = {e} and "),
                             ("pretrain_epochs", f" = {p} must be >= 0 with at least one epoch in total"))
        if not 0 < self.max_cycles_ratio < float("inf"):       # `not`: NaN fails too
            raise FieldError(("max_cycles_ratio", f" = {self.max_cycles_ratio} is out of range (0, inf)"))
        if not 0 <= self.lam < float("inf"):
            raise FieldError(("lam", f" = {self.lam} is out of range [0, inf)"))
        if not 4 <= self.train_size <= 128:              # 1797 digits x 3 x 128^2 floats: 350 MB already
            raise FieldError(("train_size", f" = {self.train_size} is out of range [4, 128]"))
        if self.train_samples is not None and self.train_samples < 1:
            raise FieldError(("train_samples", f" = {self.train_samples} is out of range [1, inf)"))


@dataclass
class DemoState:
    """What the steps hand on to each other."""

    out: Path
    cfg: DemoSettings
    net: Network
    log: object
    res: DemoResult
    plan: object = None
    baselines: object = None
    trained: dict = field(default_factory=dict)     # module, val (the data it is checked on)

    def say(self, msg: str) -> None:
        self.log(f"    {msg}")


class Skip(Exception):
    """A step that cannot run here (a subpackage is missing, an earlier step did not run)."""


def _first(e: BaseException) -> str:
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg.splitlines()[0]}" if msg else type(e).__name__


# -- steps --------------------------------------------------------------------------------------
def cost_step(st: Stage, s: DemoState) -> None:
    c = cost_totals(count_network(s.net, resolve_plan(s.cfg.fallback_plan, s.net)))
    st.detail.update(layers=len(s.net.layers), dense_mults=c["orig_mults"], dense_params=c["orig_params"])
    s.say(f"{printable(s.net.name)}: {len(s.net.layers)} conv/linear layers, {c['orig_mults']:,} mults, "
          f"{c['orig_params']:,} params (dense)")
    s.say(f"under {s.cfg.fallback_plan}: mults x{c['mults_ratio']:.3f}, params x{c['params_ratio']:.3f}, "
          f"{c['sumpool_adds']:,} sum-pool adds")


def simulate_step(st: Stage, s: DemoState) -> None:
    acc = load_accelerator(s.res.hw)
    d = simulate(s.net, None, acc)
    p = simulate(s.net, s.cfg.fallback_plan, acc)
    st.detail.update(dense_cycles_total=d.cycles_total, dense_energy_pj=d.energy_pj.total)
    s.say(f"{printable(acc.name)}: dense {d.cycles_total:,} cycles ({d.latency_s * 1e3:.3f} ms), "
          f"{d.energy_pj.total / 1e6:,.1f} uJ")
    s.say(f"{s.cfg.fallback_plan}: {p.cycles_total:,} cycles (x{p.cycles_total / d.cycles_total:.3f}), "
          f"{p.energy_pj.total / 1e6:,.1f} uJ (x{p.energy_pj.total / d.energy_pj.total:.3f})")


def search_step(st: Stage, s: DemoState) -> None:
    """Search, then the baselines on the same problem; the plan falls back to the preset either way."""
    try:
        problem = _search(st, s)
        _baselines(s, problem)
    finally:
        _settle_plan(s)


def _search(st: Stage, s: DemoState):
    try:
        from structconv.search import search, space_config_from_dict
    except ImportError as e:
        raise Skip(f"structconv.search is not available ({_first(e)}); "
                   f"using preset {shown(s.cfg.fallback_plan)}") from e
    cfg = s.cfg
    res, problem = search(s.net, s.res.hw, max_cycles_ratio=cfg.max_cycles_ratio, trials=cfg.trials,
                          out=s.out / "search",
                          space=space_config_from_dict({"designs": False}, source="demo space"),
                          proxies=list(cfg.proxies), seed=cfg.seed, log=s.say)   # decomposable choices only
    st.detail.update(trials=res.n_complete, feasible=res.n_feasible, front=len(res.front), proxy=res.proxy)
    s.say(f"{res.n_complete} trials ({res.n_feasible} feasible) in {res.wall_seconds:.1f} s; "
          f"front of {len(res.front)} plans; proxy {res.proxy}")
    for n in res.notes:
        s.say(f"note: {n}")
    if res.best is None:
        raise Skip(f"no plan met max_cycles_ratio={cfg.max_cycles_ratio}; "
                   f"using preset {shown(cfg.fallback_plan)}")
    b = res.best.to_dict()
    s.say(f"chosen: trial {b['trial']} ({b['origin']}), cycles x{b['ratios']['cycles_total']:.3f}, "
          f"energy x{b['ratios']['energy_pj']:.3f}, params x{b['ratios']['params']:.3f}, "
          f"{b['changed_layers']} layers structured")
    s.plan = Plan(res.best.plan.choices, name="demo-searched", model=s.net.name)
    return problem


def _baselines(s: DemoState, problem) -> None:
    """Greedy, uniform and random plans on the same problem and budget: extras, never fatal."""
    try:
        from structconv.search import best_random, greedy, uniform

        base = [greedy(problem), uniform(problem)[0], best_random(problem, s.cfg.trials, seed=s.cfg.seed)]
        bf = baselines_frame([b for b in base if b is not None], list(problem.objectives))
        bf["plan"] = bf["plan"].replace({"random": f"random ({s.cfg.trials} plans)"})
    except Exception as e:  # baselines are extras: never sink the search step
        s.say(f"baselines not available: {_first(e)}")
        return
    s.baselines = bf
    for _, r in bf.iterrows():
        s.say(f"baseline {r['plan']}: proxy {r.get('proxy', float('nan')):.4g}, "
              f"{r['cycles_total']:,.0f} cycles, feasible {r['feasible']}")


def _settle_plan(s: DemoState) -> None:
    if s.plan is None:
        s.plan = resolve_plan(s.cfg.fallback_plan, s.net)
        s.say(f"using preset {shown(s.cfg.fallback_plan)} as the plan")
    s.res.plan, s.res.plan_file = s.plan, s.plan.save(s.out / "plan.yaml")
    s.say(f"plan written to {s.res.plan_file}")


def train_step(st: Stage, s: DemoState) -> None:
    try:
        from structconv.nn import build_module, load_digits_data, train
    except ImportError as e:
        raise Skip(f"structconv.nn training is not available ({_first(e)})") from e
    cfg = s.cfg
    data = load_digits_data(size=cfg.train_size, channels=s.net.input_shape[0])
    train_ds, val_ds = _subsets(data.train, data.val, cfg.train_samples)
    module = build_module(s.net.name, num_classes=data.num_classes)
    s.say(f"digits {cfg.train_size}x{cfg.train_size}: {len(train_ds)} train / {len(val_ds)} val images; "
          f"{cfg.pretrain_epochs} plain + {cfg.epochs} SR epochs (lambda {cfg.lam:g})")
    r = train(module, (train_ds, val_ds), s.plan, lam=cfg.lam, epochs=cfg.epochs, lr=cfg.lr,
              pretrain_epochs=cfg.pretrain_epochs, pretrain_lr=cfg.pretrain_lr, batch_size=cfg.batch_size,
              seed=cfg.seed, out_dir=s.out / "run", model_name=s.net.name, quiet=cfg.quiet_train)
    s.trained.update(module=module, val=val_ds)
    st.detail.update(acc_before=r.acc_before, acc_after=r.acc_after, epochs=len(r.history))
    s.say(f"accuracy {r.acc_before:.2f} % trained, {r.acc_after:.2f} % after decomposition")


def _subsets(train_ds, val_ds, samples: int | None):
    """The first ``samples`` training images and a quarter as many (at least 64) validation images."""
    if not samples:
        return train_ds, val_ds
    from torch.utils.data import Subset  # torch is there: the training step imported nn

    return (Subset(train_ds, list(range(min(samples, len(train_ds))))),
            Subset(val_ds, list(range(min(max(samples // 4, 64), len(val_ds))))))


def verify_step(st: Stage, s: DemoState) -> None:
    if "module" not in s.trained:
        raise Skip("no trained model (the training stage did not run)")
    from structconv.nn import save_decomposed

    from .verify import verify_decomposition  # torch: imported only when a model was trained

    detail = verify_decomposition(s.trained["module"], s.plan, s.trained["val"])
    dec = detail.pop("_model")
    st.detail.update(detail)
    s.say(f"{detail['decomposed']} layers decomposed; max |decomposed - projected| / max |projected| "
          f"logits = {detail['max_rel_logit_diff']:.2e}; params {detail['params_decomposed']:,} "
          f"(core count {detail['params_counted']:,}); accuracy {detail['acc_decomposed']:.2f} %")
    problems = verification_problems(detail)
    if problems:
        raise ValueError("; ".join(problems))
    save_decomposed(dec, s.out / "run" / "decomposed.pt", s.net.name, s.plan)


def verification_problems(detail: dict) -> list[str]:
    problems = []
    if detail["max_rel_logit_diff"] > 1e-3:
        problems.append(f"logits differ by {detail['max_rel_logit_diff']:.2e} (> 1e-3)")
    if detail["params_decomposed"] != detail["params_counted"]:
        problems.append(f"decomposed params {detail['params_decomposed']} != "
                        f"core count {detail['params_counted']}")
    return problems


def report_step(st: Stage, s: DemoState) -> None:
    search_dir = s.out / "search" if (s.out / "search" / "front.yaml").is_file() else None
    runs = [s.out / "run"] if (s.out / "run").is_dir() else None
    settings = ReportSettings(hw=s.res.hw, plan=s.plan, search_dir=search_dir, runs=runs,
                              baselines=s.baselines)
    rep = build_report(s.net, settings=settings, log=s.say)
    for n in rep.notices:
        s.say(n)
    path = write_report(rep, s.out / s.cfg.report_name)
    s.res.report, s.res.summary = path, rep.summary
    st.detail.update(report=str(path), bytes=path.stat().st_size)
    s.say(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def summary_step(st: Stage, s: DemoState) -> None:
    m = s.res.summary
    if not m:
        raise Skip("no report summary")
    parts = [f"speedup {m['speedup']:.3f}x" if m.get("speedup") else None,
             (f"energy saving {100 * m['energy_saving']:+.1f} %"
              if m.get("energy_saving") is not None else None),
             f"params saving {100 * m['params_saving']:+.1f} %",
             (f"accuracy change {m['accuracy_change']:+.2f} pp"
              if m.get("accuracy_change") is not None else None)]
    s.say(", ".join(p for p in parts if p))


STEPS = (("cost (structconv.core)", cost_step), ("simulate (structconv.sim)", simulate_step),
         ("search (structconv.search)", search_step), ("SR training on digits (structconv.nn)", train_step),
         ("decompose and verify (structconv.nn)", verify_step), ("report (structconv.analysis)", report_step),
         ("summary", summary_step))


# -- running ----------------------------------------------------------------------------------------
def run_step(i: int, name: str, fn, s: DemoState) -> Stage:
    """One step, timed, with its start and end lines; its exception becomes its status."""
    st = Stage(name)
    s.log(f"[{i}/{len(STEPS)}] {name} ...")
    t0 = time.perf_counter()
    try:
        fn(st, s)
        st.status = "ok"
    except Skip as e:
        st.status = f"skipped: {e}"
    except ImportError as e:
        st.status = f"skipped: {name} needs {e.name or _first(e)}, which is not available ({_first(e)})"
    except Exception as e:  # a failed step must not stop the demo
        st.status = f"failed: {_first(e)}"
    st.seconds = time.perf_counter() - t0
    s.log(f"[{i}/{len(STEPS)}] {name}: {st.status} ({st.seconds:.1f} s)")
    return st


def run_demo(out="out", *, settings: DemoSettings | None = None, log=print, **options) -> DemoResult:
    """Run every step of ``STEPS`` in order; return what each did and where the report is.

    ``settings``, or its fields as keywords (``DemoSettings``: ``model``, ``hw``, ``trials``, ...);
    ``log``: the progress lines (default print).
    """
    t_start = time.perf_counter()
    out = Path(out)
    cfg = DemoSettings(**options) if settings is None else replace(settings, **options)
    net = resolve_network(cfg.model)                    # a bad name fails before OUT is created
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("search", "run"):                       # the demo's own outputs: start fresh
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    s = DemoState(out, cfg, net, log, DemoResult(out, cfg.model, cfg.hw or DEFAULT_HW))
    s.res.stages = [run_step(i, name, fn, s) for i, (name, fn) in enumerate(STEPS, start=1)]
    s.res.seconds = time.perf_counter() - t_start
    write_data_file(out / "demo.json", s.res.to_dict())
    return s.res
