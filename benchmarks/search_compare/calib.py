"""Part (a) of the search comparison (PROTOCOL.md, version 1): each proxy against accuracy on the accuracy
benchmark's HELD-OUT plans, through structconv.search's calibration/validation, and the search's default.

    .venv/bin/python benchmarks/search_compare/calib.py [--csv benchmarks/results/accuracy_cpu.csv]
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings import PROTOCOL, RESULTS, TOY

SPLIT = {"calibration": "calibration", "held-out": "held_out"}
# additive tables on the dense-s0 checkpoint (what table 2's ridge model may use)
DENSE_TABLES = ("params", "mults", "kept_dof", "field_ratio", "grad_norm", "snip", "synflow", "naswot",
                "residual", "projection_loss")


def convert(src: Path, dst: Path) -> list[str]:
    """accuracy_<scale>.csv -> the search's ground-truth format (values unchanged); returns notes."""
    rows = list(csv.DictReader(open(src, newline="")))
    if not rows:
        raise SystemExit(f"search_compare: {src} has no rows")
    prox = [c for c in rows[0] if c.startswith("proxy:") and c != "proxy:params"]
    notes = []
    bad = [r["plan_id"] for r in rows if not r["acc_mean"] or not math.isfinite(float(r["acc_mean"]))]
    if bad:
        raise SystemExit(f"search_compare: plans without accuracy in {src}: {bad[:5]} (benchmark incomplete)")
    keep = []
    cal = [r for r in rows if r["split"] == "calibration"]
    for c in prox:
        if not all(r[c] != "" and math.isfinite(float(r[c])) for r in rows):
            notes.append(f"proxy {c[6:]!r} left out: a non-finite or empty value")
        elif len({float(r[c]) for r in cal}) < 2:
            # its calibration tau is undefined (structconv.search.fit_calibration cannot orient it;
            # see REQUESTS.md)
            notes.append(f"proxy {c[6:]!r} left out: constant on the calibration plans "
                         f"(value {cal[0][c]}; on all plans: {sorted({r[c] for r in rows})[:4]})")
        else:
            keep.append(c)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["plan_id", "plan_file", "split", "cycles_ratio", "params"] + [c[6:] for c in keep]
               + ["accuracy_mean"])
    for r in rows:
        w.writerow([r["plan_id"], r["plan_file"], SPLIT[r["split"]], r["cycles_ratio"], r["params"]] +
                   [r[c] for c in keep] + [r["acc_mean"]])
    from structconv.core import atomic_write_text

    atomic_write_text(dst, buf.getvalue())
    return notes


def holm(ps: dict) -> dict:
    items = sorted((p, n) for n, p in ps.items())
    m, out, run = len(items), {}, 0.0
    for i, (p, n) in enumerate(items):
        run = max(run, min(1.0, (m - i) * p))
        out[n] = run
    return out


def table2_choice(res: dict, gt) -> tuple[str | None, str]:
    """The additive proxy table 2 uses (PROTOCOL part b section 1)."""
    win = res["winner"]["proxy"]
    if win == "projection_loss":
        return None, "part (a)'s default is projection_loss, table 1's proxy: no table 2"
    if win == "calibrated":
        return "calibrated", "the ridge model, refitted over the dense-checkpoint tables (Calibrated.table)"
    if win == "projected_loss":
        add = {n: v for n, v in res["proxies"].items() if n not in ("projected_loss", "calibrated")}
        best = max(add, key=lambda n: add[n]["tau"])
        return (None if best == "projection_loss" else best), \
            f"projected_loss is not additive: the additive proxy with the highest held-out tau, {best}"
    return win, f"part (a)'s default, {win}"


def markdown(res, gt, notes, choice, acc_md_primary) -> str:
    P = res["proxies"]
    ps = {n: r["p_vs_params"] for n, r in P.items() if r["p_vs_params"] is not None}
    adj = holm(ps)
    order = sorted(P, key=lambda n: -P[n]["tau"])
    L = ["# Proxies against post-decomposition accuracy on the held-out plans (issue 13, part a)", "",
         "Protocol: benchmarks/search_compare/PROTOCOL.md (version 1). Ground truth: the accuracy "
         "benchmark's CPU scale (benchmarks/results/accuracy_cpu.csv, converted unchanged to "
         f"{res['gt_file']}). "
         f"Fit on {res['calibration_plans']} calibration plans; every number below on the "
         f"{res['held_out_plans']} held-out plans only. {res['bootstrap']} bootstrap resamples (rng 0). "
         "Direction of each proxy: the sign of its Kendall tau on the calibration plans (shown). "
         "p vs #params: paired bootstrap, one-sided, P(tau(proxy) - tau(params) <= 0); "
         "Holm over all proxies.", "",
         "| proxy | sign | Kendall tau [95% CI] | Spearman rho [95% CI] | tau - tau(params) | p vs #params "
         "| Holm p |",
         "|---|---|---|---|---|---|---|"]
    for n in order:
        r = P[n]
        sign = res["model"]["signs"].get(n, "")
        p = r["p_vs_params"]
        L.append(f"| {n} | {'+' if sign == 1 else '-' if sign == -1 else 'model'} | {r['tau']:.3f} "
                 f"[{r['tau_ci'][0]:.3f}, {r['tau_ci'][1]:.3f}] | {r['rho']:.3f} [{r['rho_ci'][0]:.3f}, "
                 f"{r['rho_ci'][1]:.3f}] | {r['tau_minus_params']:+.3f} | "
                 f"{'(baseline)' if p is None else f'{p:.4f}'} | {'' if p is None else f'{adj[n]:.4f}'} |")
    w = res["winner"]
    L += ["", f"**Search default by the issue's rule (highest held-out tau): `{w['proxy']}`** — "
          + ("it beats #params significantly (p < 0.05)." if w["beats_params"]
             else "**no proxy beats #params significantly** (paired bootstrap, alpha 0.05)."),
          "Caveat: this winner is picked on the held-out plans themselves, so its p is optimistic; "
          "the accuracy benchmark's primary test (proxy picked on calibration plans, two-sided) is the "
          "unbiased one"
          + (f": {acc_md_primary}" if acc_md_primary else "") + ".",
          f"Table 2 of part (b): {choice[1]}.",
          "`calibrated` = ridge model (ridge 1) over all standardised proxies, "
          "fitted on calibration plans."]
    L += [f"- {n}" for n in notes]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=str(RESULTS / "accuracy_cpu.csv"))
    ap.add_argument("--results-dir", default=str(RESULTS))
    ap.add_argument("--toy", action="store_true")
    args = ap.parse_args(argv)
    results = Path(args.results_dir)
    if args.toy and results.resolve() == RESULTS.resolve():
        ap.error("--toy must not write to benchmarks/results")
    st = TOY if args.toy else PROTOCOL
    from structconv.core import atomic_write_text, write_data_file
    from structconv.search import fit_calibration, read_ground_truth, validate_proxies

    results.mkdir(parents=True, exist_ok=True)
    gt_file = results / "search_compare_ground_truth_cpu.csv"
    notes = convert(Path(args.csv), gt_file)
    gt = read_ground_truth(gt_file)
    model = fit_calibration(gt)
    res = validate_proxies(gt, model, n_boot=st.n_boot, seed=0)
    res["gt_file"] = str(gt_file.relative_to(results.parent.parent)) if gt_file.is_relative_to(
        results.parent.parent) else str(gt_file)
    choice = table2_choice(res, gt)
    if choice[0] == "calibrated":
        m2 = fit_calibration(gt, names=[n for n in DENSE_TABLES if n in gt.proxies])
        res["table2_model"] = m2.to_dict()
    res["table2_proxy"], res["table2_note"] = choice
    res["holm"] = holm({n: r["p_vs_params"] for n, r in res["proxies"].items()
                        if r["p_vs_params"] is not None})
    res["notes"] = notes
    prim = _primary(Path(args.csv))
    write_data_file(results / "search_compare_proxies_cpu.json", res)
    atomic_write_text(results / "search_compare_proxies_cpu.md",
                      ("**SMOKE RUN: not a result.**\n\n" if args.toy else "")
                      + markdown(res, gt, notes, choice, prim))
    print(f"default: {res['winner']} ; table 2: {choice}")
    return 0


def _primary(csv_path: Path) -> str | None:
    """The accuracy benchmark's primary-test line, quoted from its .json when present."""
    import json

    j = csv_path.with_suffix(".json")
    if not j.exists():
        return None
    try:
        d = json.loads(j.read_text())
        a = d.get("analysis", d)
        sel = a.get("selected")
        r = a["held-out"]["corr"][sel]
        p = r.get("p_vs_baseline", r.get("p_vs_params"))
        return (f"`{sel}` selected on calibration plans, held-out tau {r['tau']:.3f} "
                f"[{r['tau_ci'][0]:.3f}, {r['tau_ci'][1]:.3f}], two-sided paired bootstrap p vs #params "
                f"{p:.4f} (Holm {r.get('p_holm', float('nan')):.4f})")
    except Exception:  # its layout is the accuracy helper's; quote nothing then
        return None


if __name__ == "__main__":
    sys.exit(main())
