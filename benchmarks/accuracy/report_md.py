"""The Markdown result file of the accuracy benchmark (accuracy_<scale>.md)."""
from __future__ import annotations

import numpy as np

BASELINE = "params"


def _f(v, nd=3):
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def _ci(c, nd=2):
    return f"[{_f(c[0], nd)}, {_f(c[1], nd)}]"


def _p(v):
    return "n/a" if v is None or not np.isfinite(v) else (f"{v:.4f}" if v >= 1e-4 else "< 1e-4")


def banner(data, title: str) -> list[str]:
    """The title, then what makes the numbers below not the protocol's: a smoke run, missing jobs."""
    cfg = data["config"]
    L = [title, ""]
    if cfg.get("overrides"):
        L += [f"**SMOKE RUN, NOT THE PROTOCOL'S SETTINGS** (overrides: {cfg['overrides']})", ""]
    if data["missing"]:
        L += [f"**INCOMPLETE**: {len(data['missing'])} job(s) without a result: {data['missing'][:10]}", ""]
    return L


def _header(data, an, stem) -> list[str]:
    cfg = data["config"]
    L = banner(data, f"# Accuracy benchmark, {cfg['name']} scale ({stem})")
    s = cfg["input_size"]
    n_train = "all 60,000" if cfg["train_per_class"] is None else f"{10 * cfg['train_per_class']:,}"
    L += [f"Pre-registered protocol: `benchmarks/accuracy/PROTOCOL.md` (version {cfg['protocol_version']}); "
          f"made by `benchmarks/accuracy/run.py --scale {cfg['name']}`, statistics by `analyze.py`.", "",
          f"ResNet-20 (widths {'/'.join(map(str, cfg['widths']))}) on Fashion-MNIST at 3x{s}x{s}, "
          f"{n_train} "
          f"training images, metric: top-1 of the decomposed model on the 10,000 test images. "
          f"Dense pre-training {cfg['pretrain_epochs']} epochs per seed; per plan SR fine-tuning "
          f"(lambda {cfg['lam']:g}, lr {cfg['lr']:g} cosine, {cfg['epochs']} epochs) from it; seeds "
          f"{list(cfg['seeds'])}; {an['n_plans']} plans; bootstrap {cfg['boot']} resamples.", "",
          f"Wall time: **{data['wall_seconds'] / 60:.1f} min** from the first job's start "
          f"to the last job's end ({data['processes']} process(es); "
          f"{data['job_seconds'] / 60:.1f} min of job time in total).", ""]
    return L


def _spread(an) -> list[str]:
    s = an["spread"]
    ref = ", ".join(f"{a:.2f}" for a in s["ref"])
    pre = ", ".join(f"{a:.2f}" for a in s["dense_pretrain"])
    return ["## Spread of accuracy across plans", "",
            "- Dense ResNet-20 at this scale (fine-tuned like a plan, without SR): "
            f"**{_f(s['ref_mean'], 2)} %** (per seed: {ref}); after pre-training only: {pre}.",
            f"- Plans (mean over seeds): min **{s['min']:.2f} %**, max **{s['max']:.2f} %**, "
            f"median {s['median']:.2f}, IQR [{s['q25']:.2f}, {s['q75']:.2f}], SD {s['sd']:.2f} points.",
            f"- Seed noise: median |acc(seed 0) - acc(seed 1)| = {_f(s['seed_noise_median'], 2)} points; "
            f"{s['within_1pt_of_dense']} of {an['n_plans']} plans within 1 point of dense.",
            f"- Diverged runs (scored 10 %): {s['diverged_plans'] or 'none'}.", ""]


def _primary(an) -> list[str]:
    sel = an["selected"]
    L = ["## Primary test (pre-registered)", ""]
    if sel is None:
        return L + ["No proxy had a finite Kendall tau on the calibration plans.", ""]
    if not an["held-out"]["corr"]:
        return L + [f"Too few held-out plans ({an['held-out']['n']}) for any statistic.", ""]
    h = an["held-out"]["corr"].get(sel, {})
    cal = an["calibration"]["corr"][sel]["tau"]
    sig = np.isfinite(h.get("p_vs_baseline", np.nan)) and h["p_vs_baseline"] < 0.05 and h["d_tau"] > 0
    L += [f"Selected on the calibration plans: `{sel}` (calibration tau {cal:.3f}). On the "
          f"{an['held-out']['n']} held-out plans: Kendall tau **{_f(h.get('tau'))}** "
          f"{_ci(h.get('tau_ci', (np.nan,) * 2))}, "
          f"#params tau {_f(an['held-out']['corr'][BASELINE]['tau'])}; difference "
          f"{_f(h.get('d_tau'))} {_ci(h.get('d_tau_ci', (np.nan,) * 2))}, "
          f"paired bootstrap p = {_p(h.get('p_vs_baseline'))}: "
          f"**{'beats' if sig else 'does not beat'} #params at alpha 0.05**.", ""]
    if "noise_ceiling_tau" in an:
        L += [f"Noise ceiling (held-out plans, Kendall tau between the seed-0 and seed-1 accuracies): "
              f"{_f(an['noise_ceiling_tau'])}.", ""]
    return L


def _table(an, orient) -> list[str]:
    corr = an["held-out"]["corr"]
    L = [f"## Held-out plans ({an['held-out']['n']}): every proxy", "",
         "Oriented so that + means \"predicts higher accuracy\" (sign in the last column). Paired: "
         "tau(proxy) - tau(#params) on the same resamples; Holm over all proxies but #params.", "",
         "| proxy | Kendall tau [95% CI] | Spearman rho [95% CI] | tau - tau(#params) [95% CI] "
         "| p | p (Holm) | sign |",
         "|---|---|---|---|---|---|---|"]
    for n, c in sorted(corr.items(), key=lambda kv: -np.nan_to_num(kv[1]["tau"], nan=-9)):
        mark = " (baseline)" if n == BASELINE else ""
        L.append(f"| {n}{mark} | {_f(c['tau'])} {_ci(c['tau_ci'])} | {_f(c['rho'])} {_ci(c['rho_ci'])} | "
                 f"{_f(c['d_tau'])} {_ci(c['d_tau_ci'])} | {_p(c['p_vs_baseline'])} | {_p(c['p_holm'])} | "
                 f"{'+' if orient[n] > 0 else '-'} |")
    disc = {n: c["discarded"] for n, c in corr.items() if c["discarded"]}
    L += ["", f"Resamples discarded (constant proxy or accuracy): {disc or 'none'}.", "",
          "## Descriptive: calibration and all plans", "", "| proxy | tau (calibration) | tau (all plans) |",
          "|---|---|---|"]
    for n in corr:
        L.append(f"| {n} | {_f(an['calibration']['corr'].get(n, {}).get('tau'))} | "
                 f"{_f(an['all']['corr'].get(n, {}).get('tau'))} |")
    return L + [""]


def _per_plan(data) -> list[str]:
    rows, seeds = data["rows"], data["config"]["seeds"]
    by = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r["acc_mean"])
    L = ["## By source (descriptive)", "", "| source | plans | mean acc % | min | max |",
         "|---|---|---|---|---|"]
    for s, v in by.items():
        v = np.array(v)
        L.append(f"| {s} | {len(v)} | {np.nanmean(v):.2f} | {np.nanmin(v):.2f} | {np.nanmax(v):.2f} |")
    L += ["", "## Per plan", "", "| plan | source | split | cycles x | params x | design layers | "
          + " | ".join(f"acc s{s}" for s in seeds) + " | mean | before decomp. | max residual |",
          "|---|---|---|---|---|---|" + "---|" * len(seeds) + "---|---|---|"]
    for r in sorted(rows, key=lambda r: r["cycles_ratio"]):
        L.append(f"| {r['id']} | {r['source']} | {r['split']} | {r['cycles_ratio']:.3f} "
                 f"| {r['params_ratio']:.3f} | {r['design_layers']} | "
                 + " | ".join(_f(a, 2) for a in r["acc"])
                 + f" | {_f(r['acc_mean'], 2)} | {_f(r['acc_before_mean'], 2)} "
                   f"| {_f(r['max_residual'], 4)} |")
    return L + [""]


def _notes(data) -> list[str]:
    p = data["plans"]
    alias = {r["id"]: r["aliases"] for r in data["rows"] if r["aliases"]}
    L = ["## Plan drawing", "", f"- Search front: {p['info'].get('search')}.",
         f"- Aliases (the same plan drawn again, counted once): {alias or 'none'}.",
         "- Left out (outside the window, or dense): "
         f"{[(e['id'], round(e.get('cycles_ratio', 1), 3)) for e in p['excluded']] or 'none'}.",
         "- Plans with at least one sparse-kernel design layer: "
         f"{sum(r['design_layers'] > 0 for r in data['rows'])}."]
    L += [f"- Proxy note: {n}" for n in dict.fromkeys(p.get("proxy_notes", []))]
    if data["errors"]:
        L += [f"- FAILED job {k}: {v.get('error')}" for k, v in data["errors"].items()]
    return L + [""]


def markdown(data: dict, an: dict, stem: str) -> str:
    orient = data["plans"]["orientation"]
    return "\n".join(_header(data, an, stem) + _spread(an) + _primary(an) + _table(an, orient)
                     + _per_plan(data) + _notes(data))
