"""The plans of the benchmark and their proxies (PROTOCOL.md sections 4-6): the ``plans`` job."""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from config import DESIGN_KINDS, HW, SELECTION_PROXY, SPLIT_SALT, Scale


def plan_key(plan) -> str:
    """Canonical JSON of the per-layer choices (dense layers omitted): equal plans, equal keys."""
    return json.dumps(plan.to_dict()["layers"], sort_keys=True, default=str)


class Drawer:
    """Collects plans in priority order; a plan already held becomes an alias."""

    def __init__(self, space, costs, scale: Scale):
        self.space, self.costs, self.scale = space, costs, scale
        self.plans, self.seen, self.excluded = [], {}, []

    def index(self, plan) -> list[int]:
        p = self.space.params_of(plan)
        return [int(p[n]) for n in self.space.param_names]

    def ratio(self, idx) -> float:
        tot = self.costs.totals(np.asarray(idx, dtype=np.int64))
        return float(tot["cycles_total"] / self.costs.dense["cycles_total"])

    def in_window(self, r: float) -> bool:
        lo, hi = self.scale.window
        return lo <= r <= hi + 1e-12

    def add(self, plan, source: str, name: str) -> bool:
        from structconv.core import Plan

        key = plan_key(plan)
        if not plan.choices or not key.strip("{}"):
            self.excluded.append({"id": name, "source": source, "reason": "dense (changes no layer)"})
            return False
        if key in self.seen:
            self.seen[key]["aliases"].append(name)
            return False
        idx = self.index(plan)
        r = self.ratio(idx)
        if not self.in_window(r):
            self.excluded.append({"id": name, "source": source, "cycles_ratio": r,
                                  "reason": f"cycles ratio outside {list(self.scale.window)}"})
            return False
        rec = {"id": name, "source": source, "plan": Plan(plan.choices, name=name, model=plan.model),
               "key": key, "index": idx, "cycles_ratio": r, "aliases": []}
        self.seen[key] = rec
        self.plans.append(rec)
        return True


def design_plans(space, costs):
    """Per design kind, <kind>-max / <kind>-min: every searched layer where an option of the kind
    takes fewer cycles than the dense layer takes the most expensive such option (menu order) / the
    one with the fewest cycles; the other layers stay dense. No plan when no layer qualifies."""
    from structconv.core import Plan

    V = costs.values["cycles_total"]
    out = []
    for kind in DESIGN_KINDS:
        for end in ("max", "min"):
            choices = {}
            for li, ls in enumerate(space.searched):
                js = [j for j, c in enumerate(ls.choices) if c.kind == kind and V[li, j] < V[li, 0]]
                if js:
                    j = js[0] if end == "max" else min(js, key=lambda j: (V[li, j], j))
                    choices[ls.name] = ls.choices[j]
            if choices:
                out.append(Plan(choices, name=f"{kind}-{end}", model=space.network.name))
    return out


def greedy_plans(space, costs, suite, scale: Scale):
    from structconv.search import Problem, greedy

    out = []
    for b in scale.greedy_budgets:
        problem = Problem(space, costs, suite, SELECTION_PROXY, ("proxy",), {"cycles_total": float(b)})
        out.append((greedy(problem).plan, f"greedy-{b:g}"))
    return out


def front_plans(space, costs, suite, scale: Scale, info: dict):
    """Front members of the search nearest to each target cycles ratio (each at most once)."""
    from structconv.search import Problem, run_search

    problem = Problem(space, costs, suite, SELECTION_PROXY, ("proxy", "cycles_total"))
    res = run_search(problem, trials=scale.search_trials, seed=0)
    info.update({"front_size": len(res.front), "trials": res.n_complete, "wall_seconds": res.wall_seconds,
                 "mode": getattr(res, "mode", None) or "nsga2 (run_search default)",
                 "notes": list(res.notes)})
    used, out = set(), []
    for t in scale.front_targets:
        cands = [(abs(m.evaluation.ratios["cycles_total"] - t), i)
                 for i, m in enumerate(res.front) if i not in used]
        if not cands:
            break
        _, i = min(cands)
        used.add(i)
        out.append((res.front[i].plan, f"front-{t:g}"))
    return out


def random_pool(space, scale: Scale):
    """The protocol's pool of random plan indices, in draw order."""
    rng = np.random.default_rng(scale.random_seed)
    sizes = space.sizes
    for _ in range(scale.random_pool):
        a = rng.uniform(0.0, 1.0)
        q = rng.uniform(0.0, 0.4)
        idx = []
        for k in sizes:
            if rng.random() < q:
                idx.append(0)
            else:
                hi = max(1, int(math.ceil(a * (k - 1))))
                idx.append(int(rng.integers(1, hi + 1)))
        yield idx


def fill_random(drawer: Drawer, scale: Scale, target: int | None = None,
                name: str = "random-{n:02d}") -> None:
    """Round-robin over the cycles-ratio bins until the set holds ``target`` plans (``scale.n_plans``)."""
    target = scale.n_plans if target is None else target
    edges = scale.random_bins
    nb = len(edges) - 1
    bins = [[] for _ in range(nb)]
    for idx in random_pool(drawer.space, scale):
        r = drawer.ratio(idx)
        for b in range(nb):
            if edges[b] <= r < edges[b + 1] or (b == nb - 1 and r == edges[-1]):
                bins[b].append(idx)
                break
    ptr, n = [0] * nb, 0
    while len(drawer.plans) < target:
        progressed = False
        for b in range(nb):
            while len(drawer.plans) < target and ptr[b] < len(bins[b]):
                idx = bins[b][ptr[b]]
                ptr[b] += 1
                if drawer.add(drawer.space.plan(idx), "random", name.format(n=n)):
                    n += 1
                    progressed = True
                    break
        if not progressed:
            raise SystemExit(f"accuracy benchmark: the random pool is exhausted at {len(drawer.plans)} plans "
                             f"(< {target})")


def assign_split(plans: list[dict]) -> None:
    """Within each source, by sha256(salt + key): even positions calibration, odd held-out."""
    for source in dict.fromkeys(p["source"] for p in plans):
        group = sorted((p for p in plans if p["source"] == source),
                       key=lambda p: hashlib.sha256((SPLIT_SALT + p["key"]).encode()).hexdigest())
        for i, p in enumerate(group):
            p["split"] = "calibration" if i % 2 == 0 else "held-out"


def check_trainable(plans: list[dict]) -> None:
    """Every choice kind of every plan must have a trainable, deployable torch form; else stop."""
    from structconv.nn import torch_forms

    forms = torch_forms()
    bad = {}
    for p in plans:
        for ch in p["plan"].choices.values():
            form = forms.get(ch.kind)
            if form is None or form.pending:
                why = "no torch form" if form is None else f"pending: {form.pending}"
                bad.setdefault(f"{ch.kind} ({why})", []).append(p["id"])
    if bad:
        lines = [f"  {k}: plans {sorted(set(v))}" for k, v in bad.items()]
        raise SystemExit("accuracy benchmark: these plans cannot be trained and decomposed yet; the protocol "
                         "keeps them, so the benchmark stops instead of dropping them:\n" + "\n".join(lines))


def draw(space, costs, suite, scale: Scale) -> tuple[list[dict], list[dict], dict]:
    """(plans, excluded, info) by the protocol's sources, dedupe, window and split."""
    from structconv.search import preset_plans, uniform_plans

    d = Drawer(space, costs, scale)
    info = {"hw": HW, "selection_proxy": SELECTION_PROXY}
    presets, notes = preset_plans(space)
    info["preset_notes"] = notes
    for p in presets:
        d.add(p, "preset", p.name)
    for p in uniform_plans(space):
        d.add(p, "uniform", p.name)
    for p in design_plans(space, costs):
        d.add(p, "design", p.name)
    for p, name in greedy_plans(space, costs, suite, scale):
        d.add(p, "greedy", name)
    search = {}
    for p, name in front_plans(space, costs, suite, scale, search):
        d.add(p, "front", name)
    info["search"] = search
    if len(d.plans) > scale.n_plans:
        raise SystemExit(f"accuracy benchmark: {len(d.plans)} structured plans "
                         f"exceed n_plans = {scale.n_plans}")
    fill_random(d, scale)
    assign_split(d.plans)
    check_trainable(d.plans)
    return d.plans, d.excluded, info
