"""The space, costs and proxies of the comparison, and how each method picks its one plan (PROTOCOL 1-2)."""
from __future__ import annotations

import copy
import hashlib
import json

import numpy as np

import jobs as J
from config import HW
from settings import BUDGET


def setup(scale, acc_runs):
    """(space, costs, suite): the benchmark's space, edge-int8 costs, proxies on dense-s0 (as its plans
    job)."""
    from structconv.nn import build_module
    from structconv.search import build_costs, build_space, compute_proxies

    J.set_root(acc_runs)
    network, data = J.net(scale), J.bundle(scale, 0)
    space = build_space(network)
    costs = build_costs(space, HW)
    suite = compute_proxies(space, model=copy.deepcopy(build_module(network)),
                            weights=str(J.dense_path(scale, 0)),
                            data=data, calib_size=scale.calib_size, seed=0)
    return space, costs, suite


def check_against_benchmark(suite, acc_runs, name: str = "projection_loss") -> int:
    """The suite's proxy of every benchmark plan equals the benchmark's recorded value (else stop)."""
    rec = json.loads((acc_runs / "plans" / "result.json").read_text())
    bad = []
    for p in rec["plans"]:
        have, want = suite.tables[name].score(p["index"]), p["proxies"][name]
        if not np.isclose(have, want, rtol=1e-6, atol=1e-9):
            bad.append((p["id"], have, want))
    if bad:
        raise SystemExit(f"search_compare: {name} differs from the accuracy benchmark's on {len(bad)} plans, "
                         f"e.g. {bad[:3]}: the proxies are not the benchmark's")
    return len(rec["plans"])


def plan_key(plan) -> str:
    text = json.dumps(plan.to_dict()["layers"], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def problem_for(space, costs, suite, proxy: str):
    from structconv.search import Problem

    return Problem(space, costs, suite, proxy, ("proxy", "cycles_total"), {"cycles_total": BUDGET})


def best_uniform(problem):
    from structconv.search import uniform_plans

    best = None
    for p in uniform_plans(problem.space):
        params = problem.space.params_of(p)
        idx = [params.get(n, 0) for n in problem.names]
        ev = problem.evaluate(idx)
        if ev.feasible and (best is None or ev.proxy_loss < best[2].proxy_loss):
            best = (p.name, idx, ev)
    return best


def best_random(problem, settings):
    """Uniformly random plans, rng(0), batches; the first N feasible; the least proxy loss among them."""
    ct = problem.costs
    rng = np.random.default_rng(0)
    sizes = np.asarray(problem.sizes)
    rows = np.arange(len(sizes))[None, :]
    limit = BUDGET * ct.dense["cycles_total"] - ct.base["cycles_total"]
    kept, draws = [], 0
    while len(kept) < settings.random_feasible and draws < settings.random_max_draws:
        M = rng.integers(0, sizes, size=(settings.random_batch, len(sizes)))
        draws += len(M)
        cyc = ct.values["cycles_total"][rows, M].sum(axis=1)
        for idx in M[cyc <= limit * (1 + 1e-9)]:
            if len(kept) < settings.random_feasible and problem.evaluate(idx).feasible:
                kept.append(idx)
    if not kept:
        return None, draws, 0
    loss = [problem.evaluate(i).proxy_loss for i in kept]
    return [int(v) for v in kept[int(np.argmin(loss))]], draws, len(kept)


def candidates(problem, settings) -> list:
    """K exact-front members with cycles ratio in the window, spread by cycles (exact's pick among them)."""
    from structconv.search import exact_result

    ex = exact_result(problem)
    lo, hi = settings.cand_window
    mem = sorted((m for m in ex.front if lo <= m.evaluation.ratios["cycles_total"] <= hi + 1e-12),
                 key=lambda m: (m.evaluation.ratios["cycles_total"], m.values))
    if len(mem) > settings.k_candidates:
        pos = np.unique(np.round(np.linspace(0, len(mem) - 1, settings.k_candidates)).astype(int))
        mem = [mem[i] for i in pos]
    return [list(m.index) for m in mem], len(ex.front)


def pick_all(problem, settings, with_secondary: bool = True) -> tuple[dict, dict]:
    """method -> index list (None: no feasible plan), and notes."""
    from structconv.search import compare

    cmp = compare(problem, trials=settings.sampler_trials, seed=0)
    out = {k: (None if cmp[k] is None else list(cmp[k].index)) for k in ("exact", "greedy", "rule_preset")}
    notes = {"rule_preset": None if cmp["rule_preset"] is None else cmp["rule_preset"].name,
             "library_random_1000_draws": None if cmp["random"] is None else list(cmp["random"].index)}
    u = best_uniform(problem)
    out["uniform"] = None if u is None else list(u[1])
    notes["uniform"] = None if u is None else u[0]
    out["random"], notes["random_draws"], notes["random_feasible"] = best_random(problem, settings)
    if with_secondary:
        for k in ("sampler", "greedy_lagrangian"):
            out[k] = None if cmp[k] is None else list(cmp[k].index)
    return out, notes


def describe(problem, idx, kinds) -> dict:
    ev = problem.evaluate(idx)
    plan = problem.space.plan(list(idx))
    return {"cycles_ratio": ev.ratios["cycles_total"], "params_ratio": ev.ratios["params"],
            "energy_ratio": ev.ratios["energy_pj"], "proxy_loss": ev.proxy_loss, "feasible": ev.feasible,
            "changed_layers": len(plan.choices),
            "design_layers": sum(ch.kind in kinds for ch in plan.choices.values())}
