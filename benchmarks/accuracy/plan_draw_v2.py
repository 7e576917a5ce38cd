"""The plans of protocol version 2 (PROTOCOL_v2.md section 4): version 1's plans for calibration, then
per proxy the exact front's picks at the budgets and fresh random plans, held out; the seed-1 subset."""
from __future__ import annotations

import hashlib
import time

from config import RESULTS, ScaleV2
from plan_draw import Drawer, check_trainable, fill_random, plan_key


def calibration_files(scale: ScaleV2) -> list:
    """Version 1's plan files (benchmarks/results/<calibration_plans>/*.yaml), in name order."""
    d = RESULTS / scale.calibration_plans
    files = sorted(d.glob("*.yaml"))
    if not files:
        raise SystemExit(f"accuracy benchmark v2: no calibration plans in {d} (version 1's plan files)")
    return files


def add_calibration(drawer: Drawer, network, scale: ScaleV2) -> None:
    from structconv.core import resolve_plan

    files = calibration_files(scale)
    if scale.smoke_plans:
        files = files[:scale.smoke_plans]
    for f in files:
        drawer.add(resolve_plan(str(f), network), "calibration", f.stem)


def _best_under(front, budget: float):
    """The member with the best proxy (first objective, minimised) whose cycles ratio is <= budget."""
    ok = [m for m in front if m.evaluation.ratios["cycles_total"] <= budget + 1e-12]
    return min(ok, key=lambda m: m.values[0]) if ok else None


def _solvable(suite, p: str):
    """(suite, name) whose table ``name`` is proxy ``p``. The search reads an objective named like a cost
    metric (params, mults) as that metric, minimised; the accuracy proxies of those names predict higher
    accuracy with more kept, so their fronts are solved on a copy of the table under another name."""
    import dataclasses

    from structconv.search import OBJECTIVES

    if p not in OBJECTIVES:
        return suite, p
    alias = f"{p}_proxy"
    tables = dict(suite.tables)
    tables[alias] = dataclasses.replace(suite.tables[p], name=alias)
    return dataclasses.replace(suite, tables=tables), alias


def front_picks(space, costs, suite, names, scale: ScaleV2) -> tuple[list, dict]:
    """[(plan, name)] of every proxy's exact (proxy, cycles_total) front at each budget; info per proxy."""
    from structconv.search import Problem, run_search

    out, info = [], {}
    for p in names:
        t0 = time.perf_counter()
        s, name = _solvable(suite, p)
        res = run_search(Problem(space, costs, s, name, ("proxy", "cycles_total")), mode="exact")
        info[p] = {"front_size": len(res.front), "seconds": time.perf_counter() - t0}
        for b in scale.front_budgets:
            m = _best_under(res.front, b)
            if m is None:
                info[p][f"none_at_{b:g}"] = True
                continue
            out.append((m.plan, f"front-{p}-{b:g}"))
    return out, info


def held_out(drawer: Drawer, picks: list, scale: ScaleV2) -> None:
    """Front picks (first ``smoke_plans`` in smoke runs), then ``n_random`` fresh random plans."""
    for plan, name in (picks[:scale.smoke_plans] if scale.smoke_plans else picks):
        drawer.add(plan, "front", name)
    fill_random(drawer, scale, target=len(drawer.plans) + scale.n_random, name="random2-{n:03d}")


def seed1_subset(recs: list, scale: ScaleV2) -> list[str]:
    """Ids of the first ``seed1_plans`` random held-out plans by sha256(salt + canonical plan JSON)."""
    rand = [r for r in recs if r["source"] == "random"]
    rand.sort(key=lambda r: hashlib.sha256((scale.seed1_salt + plan_key(r["plan"])).encode()).hexdigest())
    return [r["id"] for r in rand[:scale.seed1_plans]]


def draw_held(space, costs, suite, network, scale: ScaleV2) -> tuple[list, list, dict]:
    """(held-out plans, excluded, info): the calibration plans are re-added first so that any later
    plan equal to one of them becomes its alias (it is not held out)."""
    d = Drawer(space, costs, scale)
    add_calibration(d, network, scale)
    n_cal = len(d.plans)
    names = [n for n in suite.tables]
    picks, info = front_picks(space, costs, suite, names, scale)
    held_out(d, picks, scale)
    recs = d.plans[n_cal:]
    for r in recs:
        r["split"] = "held-out"
    check_trainable(recs)
    aliases = {r["id"]: r["aliases"] for r in d.plans[:n_cal] if r["aliases"]}
    return recs, d.excluded, {"fronts": info, "front_proxies": names, "calibration_aliases": aliases,
                              "seed1": seed1_subset(recs, scale)}
