"""The end-to-end demo pipeline behind `structconv demo` (and ``make demo``).

    res = run_demo(out="out")      # cost -> simulate -> search -> SR training -> decompose + verify -> report
    res.report, res.plan, res.stages

Each stage uses only the public API of its subpackage (core, sim, search, nn,
analysis). A stage whose subpackage is not installed or not importable says
"skipped: <why>" and the rest still runs; a stage that fails says "failed: <why>"
and the stages that do not depend on it still run. Progress goes to ``log``
(default: print) all along.

Defaults keep it to a few minutes on a 2-core CPU: resnet20 (the CIFAR-10 ResNet,
32x32 inputs) costed, simulated and searched on the default accelerator; the SR
training uses scikit-learn's digits (8x8, repeated to 3 channels) as a stand-in
for CIFAR-10, so it needs no download.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

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
                "report": None if self.report is None else str(self.report), "seconds": round(self.seconds, 2),
                "stages": [{"name": s.name, "status": s.status, "seconds": round(s.seconds, 2), **s.detail}
                           for s in self.stages],
                "summary": self.summary}


def _first(e: BaseException) -> str:
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg.splitlines()[0]}" if msg else type(e).__name__


class _Runner:
    def __init__(self, log, total):
        self.log, self.total, self.stages = log, total, []

    def run(self, name: str, fn, *args, **kw):
        st = Stage(name)
        self.stages.append(st)
        i = len(self.stages)
        self.log(f"[{i}/{self.total}] {name} ...")
        t0 = time.perf_counter()
        try:
            out = fn(st, *args, **kw)
            if st.status == "pending":
                st.status = "ok"
        except _Skip as e:
            st.status, out = f"skipped: {e}", None
        except ImportError as e:
            st.status, out = f"skipped: {name} needs {e.name or _first(e)}, which is not available ({_first(e)})", None
        except Exception as e:  # noqa: BLE001 - a failed stage must not stop the demo
            st.status, out = f"failed: {_first(e)}", None
        st.seconds = time.perf_counter() - t0
        self.log(f"[{i}/{self.total}] {name}: {st.status} ({st.seconds:.1f} s)")
        return out


class _Skip(Exception):
    pass


def run_demo(out="out", model: str = "resnet20", hw: str | None = None, *, trials: int = 300,
             max_latency_ratio: float = 0.7, proxies=FAST_PROXIES, lam: float = 10.0, epochs: int = 4,
             pretrain_epochs: int = 1, batch_size: int = 64, lr: float = 0.05, pretrain_lr: float = 0.1,
             train_size: int = 8, train_samples: int | None = None, seed: int = 0, fallback_plan: str = "uniform-n2",
             report_name: str = "report.html", log=print, quiet_train: bool = False) -> DemoResult:
    """Run every stage; return what each did and where the report is.

    ``train_size``: side of the digits images the SR training uses (8 = native);
    ``train_samples``: use only that many training images (tests); ``trials``: search trials.
    """
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("search", "run"):                       # the demo's own outputs: start fresh
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    from structconv.core import Plan, count_network
    from structconv.core.presets import get_preset
    from structconv.core.zoo import get_network

    net = get_network(model)
    hw_name = hw or "edge-int8"
    res = DemoResult(out, model, hw_name)
    R = _Runner(log, 7)
    ctx: dict = {"plan": None}

    # 1. cost ------------------------------------------------------------------------
    def cost(st):
        from structconv.analysis.tables import cost_totals

        base = get_preset(fallback_plan, net)
        c = count_network(net, base)
        t = cost_totals(c)
        st.detail.update(layers=len(net.layers), dense_mults=t["orig_mults"], dense_params=t["orig_params"])
        log(f"    {model}: {len(net.layers)} conv/linear layers, {t['orig_mults']:,} mults, "
            f"{t['orig_params']:,} params (dense)")
        log(f"    under {fallback_plan}: mults x{t['mults_ratio']:.3f}, params x{t['params_ratio']:.3f}, "
            f"{t['sumpool_adds']:,} sum-pool adds")
    R.run("cost (structconv.core)", cost)

    # 2. simulate ----------------------------------------------------------------------
    def simulate_stage(st):
        from structconv.sim import load_accelerator, simulate

        acc = load_accelerator(hw_name)
        ctx["hw"] = acc
        d = simulate(net, None, acc)
        p = simulate(net, get_preset(fallback_plan, net), acc)
        st.detail.update(dense_cycles=d.cycles_total, dense_energy_pj=d.energy_pj.total)
        log(f"    {acc.name}: dense {d.cycles_total:,} cycles ({d.latency_s * 1e3:.3f} ms), "
            f"{d.energy_pj.total / 1e6:,.1f} uJ")
        log(f"    {fallback_plan}: {p.cycles_total:,} cycles (x{p.cycles_total / d.cycles_total:.3f}), "
            f"{p.energy_pj.total / 1e6:,.1f} uJ (x{p.energy_pj.total / d.energy_pj.total:.3f})")
    R.run("simulate (structconv.sim)", simulate_stage)

    # 3. search -------------------------------------------------------------------------
    def search_stage(st):
        try:
            from structconv.search.api import search
            from structconv.search.space import space_config_from_dict
        except ImportError as e:
            raise _Skip(f"structconv.search is not available ({_first(e)}); using preset {fallback_plan!r}")
        cfg = space_config_from_dict({"designs": False}, source="demo space")   # decomposable choices only
        sres, problem = search(model, hw_name, max_latency_ratio=max_latency_ratio, trials=trials,
                         out=out / "search", space=cfg, proxies=list(proxies), seed=seed,
                         log=lambda m: log(f"    {m}"))
        st.detail.update(trials=sres.n_complete, feasible=sres.n_feasible, front=len(sres.front),
                         proxy=sres.proxy)
        log(f"    {sres.n_complete} trials ({sres.n_feasible} feasible) in {sres.wall_seconds:.1f} s; "
            f"front of {len(sres.front)} plans; proxy {sres.proxy}")
        for n in sres.notes:
            log(f"    note: {n}")
        if sres.best is None:
            raise _Skip(f"no plan met max_latency_ratio={max_latency_ratio}; using preset {fallback_plan!r}")
        b = sres.best.to_dict()
        log(f"    chosen: trial {b['trial']} ({b['origin']}), latency x{b['ratios']['latency']:.3f}, "
            f"energy x{b['ratios']['energy']:.3f}, params x{b['ratios']['params']:.3f}, "
            f"{b['changed_layers']} layers structured")
        ctx["plan"] = Plan(sres.best.plan.choices, name="demo-searched", model=model)
        try:                                              # the baselines, on the same problem and budget
            from structconv.analysis.study import baselines_frame
            from structconv.search import best_random, greedy, uniform

            base = [greedy(problem), uniform(problem)[0], best_random(problem, trials, seed=seed)]
            bf = baselines_frame([b for b in base if b is not None], list(problem.objectives))
            bf["plan"] = bf["plan"].replace({"random": f"random ({trials} plans)"})
            ctx["baselines"] = bf
            for _, r in ctx["baselines"].iterrows():
                log(f"    baseline {r['plan']}: proxy {r.get('proxy', float('nan')):.4g}, "
                    f"{r['cycles_total']:,.0f} cycles, feasible {r['feasible']}")
        except Exception as e:  # noqa: BLE001 - baselines are extras: never sink the search stage
            log(f"    baselines not available: {_first(e)}")
    R.run("search (structconv.search)", search_stage)
    if ctx["plan"] is None:
        ctx["plan"] = get_preset(fallback_plan, net)
        log(f"    using preset {fallback_plan!r} as the plan")
    plan = ctx["plan"]
    res.plan = plan
    res.plan_file = plan.save(out / "plan.yaml")
    log(f"    plan written to {res.plan_file}")

    # 4. SR training --------------------------------------------------------------------
    def train_stage(st):
        try:
            import torch  # noqa: F401

            from structconv.nn.data import load_digits_data
            from structconv.nn.train import train
            from structconv.nn.zoo import build_module
        except ImportError as e:
            raise _Skip(f"structconv.nn training is not available ({_first(e)})")
        data = load_digits_data(size=train_size, channels=net.input_shape[0] if hasattr(net, "input_shape") else 3)
        train_ds, val_ds = data.train, data.val
        if train_samples:
            from torch.utils.data import Subset

            train_ds = Subset(train_ds, list(range(min(train_samples, len(train_ds)))))
            val_ds = Subset(val_ds, list(range(min(max(train_samples // 4, 64), len(val_ds)))))
        module = build_module(model, num_classes=data.num_classes)
        log(f"    digits {train_size}x{train_size}: {len(train_ds)} train / {len(val_ds)} val images; "
            f"{pretrain_epochs} plain + {epochs} SR epochs (lambda {lam:g})")
        r = train(module, (train_ds, val_ds), plan, lam=lam, epochs=epochs, lr=lr, pretrain_epochs=pretrain_epochs,
                  pretrain_lr=pretrain_lr, batch_size=batch_size, seed=seed, out_dir=out / "run",
                  model_name=model, quiet=quiet_train)
        ctx.update(module=module, val=val_ds, train_result=r)
        st.detail.update(acc_before=r.acc_before, acc_after=r.acc_after, epochs=len(r.history))
        log(f"    accuracy {r.acc_before:.2f} % trained, {r.acc_after:.2f} % after decomposition")
    R.run("SR training on digits (structconv.nn)", train_stage)

    # 5. decompose and verify -----------------------------------------------------------
    def verify_stage(st):
        if "module" not in ctx:
            raise _Skip("no trained model (the training stage did not run)")
        detail = verify_decomposition(ctx["module"], plan, ctx["val"])
        dec = detail.pop("_model")
        st.detail.update(detail)
        log(f"    {detail['decomposed']} layers decomposed; max |decomposed - projected| / max |projected| "
            f"logits = {detail['max_rel_logit_diff']:.2e}; params {detail['params_decomposed']:,} "
            f"(core count {detail['params_counted']:,}); accuracy {detail['acc_decomposed']:.2f} %")
        problems = []
        if detail["max_rel_logit_diff"] > 1e-3:
            problems.append(f"logits differ by {detail['max_rel_logit_diff']:.2e} (> 1e-3)")
        if detail["params_decomposed"] != detail["params_counted"]:
            problems.append(f"decomposed params {detail['params_decomposed']} != core count "
                            f"{detail['params_counted']}")
        if problems:
            raise ValueError("; ".join(problems))
        from structconv.nn import save_decomposed

        save_decomposed(dec, out / "run" / "decomposed.pt", model, plan)
    R.run("decompose and verify (structconv.nn)", verify_stage)

    # 6. report --------------------------------------------------------------------------
    def report_stage(st):
        from structconv.analysis.report import build_report, write_report

        search_dir = out / "search" if (out / "search" / "front.yaml").is_file() else None
        runs = [out / "run"] if (out / "run").is_dir() else None
        rep = build_report(model, hw=hw_name, plan=plan, search_dir=search_dir, runs=runs,
                           baselines=ctx.get("baselines"), log=lambda m: log(f"    {m}"))
        for n in rep.notices:
            log(f"    {n}")
        path = write_report(rep, out / report_name)
        res.report, res.summary = path, rep.summary
        st.detail.update(report=str(path), bytes=path.stat().st_size)
        log(f"    wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    R.run("report (structconv.analysis)", report_stage)

    # 7. summary ---------------------------------------------------------------------------
    def summary_stage(st):
        s = res.summary
        if not s:
            raise _Skip("no report summary")
        parts = [f"speedup {s['speedup']:.3f}x" if s.get("speedup") else None,
                 f"energy saving {100 * s['energy_saving']:+.1f} %" if s.get("energy_saving") is not None else None,
                 f"params saving {100 * s['params_saving']:+.1f} %",
                 f"accuracy change {s['accuracy_change']:+.2f} pp" if s.get("accuracy_change") is not None else None]
        log("    " + ", ".join(p for p in parts if p))
    R.run("summary", summary_stage)

    res.stages = R.stages
    res.seconds = time.perf_counter() - t_start
    from structconv.core import atomic_write_text

    atomic_write_text(out / "demo.json", json.dumps(res.to_dict(), indent=2, default=str) + "\n")
    return res


def verify_decomposition(module, plan, dataset, batch: int = 128) -> dict:
    """Decompose ``module`` under ``plan`` and check it against the projected model.

    The projected model has each planned layer's weight replaced by its projection
    onto the (c, n) structure; the decomposed model (sum-pool + small conv) must give
    the same logits, and its parameter count must equal core's count of the traced
    network under the plan. Returns the numbers (and the decomposed model as ``_model``).
    """
    import copy

    import torch

    from structconv.core import Structure, count_network
    from structconv.nn import decompose, network_from_module, project
    from structconv.nn.train import evaluate

    module = module.eval()
    dec, report = decompose(module, plan)
    dec.eval()
    ref = copy.deepcopy(module).eval()
    with torch.no_grad():
        for name, choice in plan.choices.items():
            if not isinstance(choice, Structure):
                continue
            mod = ref.get_submodule(name)
            W = mod.weight.data
            W4 = W if W.dim() == 4 else W[:, :, None, None]
            P = project(W4.double(), choice.c, choice.nh, choice.nw).to(W.dtype)
            mod.weight.data.copy_(P.reshape(W.shape))
    xs = torch.stack([dataset[i][0] for i in range(min(batch, len(dataset)))])
    with torch.no_grad():
        a, b = ref(xs), dec(xs)
    rel = float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))
    traced = network_from_module(module, xs[:1])
    counted = count_network(traced, plan).structured.params
    ev = evaluate(dec, dataset)
    return {"decomposed": len(report.decomposed), "skipped": len(report.skipped),
            "max_residual": report.max_residual, "max_rel_logit_diff": rel,
            "params_decomposed": sum(p.numel() for p in dec.parameters()), "params_counted": counted,
            "params_dense": sum(p.numel() for p in module.parameters()), "acc_decomposed": ev["acc"],
            "_model": dec}
