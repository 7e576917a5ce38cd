"""How `structconv search` shows a run: the JSON object, or the front table, the best plan and the extras."""
from __future__ import annotations

import os

from . import search_in_loop as in_loop
from ._common import plain, print_json, shown
from ._table import human, render


def show(args, job, out: str) -> None:
    res = job.result
    if args.json:
        extras = {k: v for k, v in (("baselines", job.baselines), ("in_loop", job.in_loop)) if v is not None}
        print_json({**res.to_dict(), "out": out, **extras})
        return
    _print_result(args, job, out)
    if job.in_loop is not None:
        in_loop.print_ranking(job.in_loop, out)


def _ratios(d: dict) -> list[str]:
    r = d["ratios"]
    return [f"{r['cycles_total']:.3f}", f"{r['energy_pj']:.3f}", f"{r['params']:.3f}"]


def _codesign_cells(d: dict) -> list[str]:
    hw = d.get("hw") or {}
    rows_cols = (hw.get("mac_array.rows"), hw.get("mac_array.cols"))
    return [f"{d['area_mm2']:.3f}", "x".join(str(v) for v in rows_cols if v) or "base",
            str(hw.get("sum_pool.adder_lanes", hw.get("sum_pool.lanes_per_mac", "base"))),
            str(hw.get("mac_array.dataflow", "base"))]


def _front_table(res, limit: int = 20) -> str:
    codesign = res.codesign is not None
    proj = any(m.evaluation.projected_loss is not None for m in res.front)
    headers = ["#", "origin", res.proxy, "cycles x", "energy x", "params x", "cycles_total", "energy_uJ"]
    headers += ["area_mm2", "MACs", "lanes", "flow"] if codesign else []
    headers += (["proj_loss"] if proj else []) + ["layers"]
    rows = []
    for i, m in enumerate(res.front[:limit]):
        d = m.to_dict()
        r = [str(i), m.origin.split(":")[0], f"{d['proxies'][res.proxy]:.4g}", *_ratios(d),
             human(d["cycles_total"]), f"{d['energy_pj'] / 1e6:.4g}"]
        r += _codesign_cells(d) if codesign else []
        r += [f"{d['projected_loss']:.4g}" if "projected_loss" in d else ""] if proj else []
        rows.append(r + [str(d["changed_layers"])])
    out = render(headers, rows, "ll" + "r" * (len(headers) - 2))
    if len(res.front) > limit:
        out += f"\n... {len(res.front) - limit} more front members in front.yaml"
    return out


def _print_result(args, job, out: str) -> None:
    res = job.result
    print(f"{plain(job.problem.space.network.name)} on {plain(res.hw)}: {res.n_complete} trials "
          f"({res.n_feasible} feasible, {res.n_failed} failed), study {shown(res.study_name)} in "
          f"{shown(str(res.storage), 200)}")
    print(f"search {res.wall_seconds:.1f} s, objective evaluation {res.eval_seconds:.2f} s "
          f"({100 * res.eval_seconds / max(res.wall_seconds, 1e-9):.1f}%)")
    if job.problem.proxies.weights is None:
        print(f"weight-free proxies only (no --weights): optimising {res.proxy}")
    for n in res.notes:
        print(f"note: {n}")
    budgets = ", ".join(f"{k} <= {v:g} x dense" for k, v in res.budgets.items()) or "none"
    print(f"\nfeasible Pareto front ({len(res.front)} plans; objectives {', '.join(res.objectives)}; "
          f"budgets: {budgets}); ratios are to the dense network")
    print(_front_table(res) if res.front else "(empty: no trial met the budgets)")
    if res.best is not None:
        _print_best(args, res, out)
    if res.codesign:
        print(f"\nco-design: {res.codesign.get('answer', res.codesign.get('note'))}")
    if job.baselines:
        _print_baselines(res, job.baselines)
    print(f"\nwrote {os.path.join(out, 'front.yaml')} and {len(res.filed())} plan file(s) in "
          f"{os.path.join(out, 'plans')}")


def _print_best(args, res, out: str) -> None:
    b = res.best.to_dict()
    cyc, en, par = _ratios(b)
    print(f"\nbest {res.proxy} under the budgets: trial {b['trial']} ({res.best.origin}), "
          f"cycles_total {cyc}, energy_pj {en}, params {par} x dense -> {os.path.join(out, 'best.yaml')}")
    print(f"train it: structconv train {args.model} --plan {os.path.join(out, 'best.yaml')}")


def _print_baselines(res, baselines: dict) -> None:
    rows = [[k, "yes" if v and v["feasible"] else "no" if v else "-",
             f"{v['proxies'][res.proxy]:.4g}" if v else "-", *(_ratios(v)[:2] if v else ["-", "-"])]
            for k, v in baselines.items()]
    print("\nbaselines (same proxy, same budgets):")
    print(render(["method", "feasible", res.proxy, "cycles x", "energy x"], rows, "llrrr"))
