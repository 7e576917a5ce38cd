"""The Markdown result file of protocol version 2 (accuracy_v2_<scale>.md)."""
from __future__ import annotations

import numpy as np

from report_md import _ci, _f, _p, banner

NAN2 = (float("nan"), float("nan"))


def _header(data, stem) -> list[str]:
    cfg = data["config"]
    L = banner(data, f"# Accuracy benchmark version 2, {cfg['name']} scale ({stem})")
    s = cfg["input_size"]
    L += [f"Pre-registered protocol: `benchmarks/accuracy/PROTOCOL_v2.md` "
          f"(version {cfg['protocol_version']}); made by "
          f"`benchmarks/accuracy/run.py --protocol 2 --scale {cfg['name']}`, statistics by "
          f"`analyze.py --protocol 2`.", "",
          f"ResNet-20 (widths {'/'.join(map(str, cfg['widths']))}) on Fashion-MNIST at 3x{s}x{s}; validation "
          f"split: positions {cfg['val_start']}-{cfg['val_start'] + cfg['val_per_class'] - 1} of each class "
          f"({10 * cfg['val_per_class']:,} images); proxies on {cfg['calib_size']} validation images. "
          f"Choices read validation accuracy; held-out statistics read test accuracy "
          f"(10,000 images), seed 0.", "",
          f"Wall time: **{data['wall_seconds'] / 60:.1f} min** from the first job's start to the last "
          f"job's end ({data['processes']} process(es); {data['job_seconds'] / 60:.1f} min of job time).", ""]
    return L


def _primary(an) -> list[str]:
    p, L = an["primary"], ["## Primary test (pre-registered)", ""]
    sel = p.get("selected")
    if sel is None or "tau" not in p:
        return L + [f"Selected proxy: {sel}; no held-out statistic yet.", ""]
    c = an["held-out"]["corr"][sel]
    L += [f"Selected on the {an['calibration']['n']} calibration plans (validation accuracy): `{sel}` "
          f"(calibration tau {_f(an['calibration']['tau'][sel])}). On the {an['held-out']['n']} "
          f"held-out plans (test accuracy): Kendall tau **{_f(c['tau'])}** {_ci(c['tau_ci'])}, "
          f"Spearman rho {_f(c['rho'])} "
          f"{_ci(c['rho_ci'])}.", ""]
    for b in ("params", "mults"):
        verdict = "beats" if p["beats"][b] else "does not beat"
        L.append(f"- vs #{b} (tau {_f(an['held-out']['corr'][b]['tau'])}): difference {_f(c[f'd_tau_{b}'])} "
                 f"{_ci(c[f'd_tau_{b}_ci'])}, p = {_p(c[f'p_{b}'])}, Holm p = {_p(c[f'p_holm_{b}'])}: "
                 f"**{verdict} #{b}** (Holm alpha 0.05).")
    goal = "met" if p["goal_met"] else "NOT met"
    return L + ["", f"Goal of issue 18 (held-out tau >= 0.85 and beats both): **{goal}**.", ""]


def _table(an, orient) -> list[str]:
    corr = an["held-out"]["corr"]
    L = [f"## Held-out plans ({an['held-out']['n']}): every proxy", "",
         "Oriented so that + means \"predicts higher accuracy\" (sign column). Paired bootstrap on the same "
         "resamples; Holm over all proxies but the baseline, separately per baseline.", "",
         "| proxy | Kendall tau [95% CI] | Spearman rho [95% CI] | tau - tau(#params) | p | p Holm "
         "| tau - tau(#mults) | p | p Holm | sign | tau calibration (val) |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, c in sorted(corr.items(), key=lambda kv: -np.nan_to_num(kv[1]["tau"], nan=-9)):
        L.append(f"| {n} | {_f(c['tau'])} {_ci(c['tau_ci'])} | {_f(c['rho'])} {_ci(c['rho_ci'])} | "
                 f"{_f(c['d_tau_params'])} {_ci(c['d_tau_params_ci'])} | {_p(c['p_params'])} | "
                 f"{_p(c['p_holm_params'])} | {_f(c['d_tau_mults'])} {_ci(c['d_tau_mults_ci'])} | "
                 f"{_p(c['p_mults'])} | {_p(c['p_holm_mults'])} | {'+' if orient[n] > 0 else '-'} | "
                 f"{_f(an['calibration']['tau'].get(n, np.nan))} |")
    disc = {n: c["discarded"] for n, c in corr.items() if c["discarded"]}
    return L + ["", f"Resamples discarded (constant proxy or accuracy): {disc or 'none'}. `calibrated`'s "
                "calibration tau is in-sample (it was fitted on those plans).", ""]


def _secondary(an) -> list[str]:
    i, n, t = an["interactions"], an["noise"], an["timings"]
    L = ["## Interactions (held-out plans)", ""]
    if "tau_sum_vs_projected_loss" in i:
        L += [f"- Kendall tau of summed `sensitivity_loss` vs `projected_loss` (joint projection, BN "
              f"re-estimated): {_f(i['tau_sum_vs_projected_loss'])}; vs the joint loss increase (whole plan "
              f"projected at once, BN kept as in the table): {_f(i['tau_sum_vs_joint_increase'])}.",
              f"- |summed - joint| / joint, joint = loss increase: median "
              f"{_f(i['rel_err_increase_median'])}, 90th percentile {_f(i['rel_err_increase_p90'])}; "
              f"median summed / joint "
              f"{_f(i['sum_over_joint_median'])}. Literal reading (joint = projected_loss, an absolute "
              f"loss): median {_f(i['rel_err_projected_loss_median'])}, "
              f"p90 {_f(i['rel_err_projected_loss_p90'])}.",
              f"- Kendall tau against test accuracy after fine-tuning: summed {_f(i['tau_acc_sum'])}, "
              f"projected_loss {_f(i['tau_acc_projected_loss'])}, joint increase "
              f"{_f(i['tau_acc_joint_increase'])}.", ""]
    L += ["## Noise ceiling", ""]
    if "tau" in n:
        L += [f"{n['n']} random held-out plans at seeds 0 and 1: Kendall tau of their test accuracies "
              f"**{_f(n['tau'])}** (rho {_f(n['rho'])}); |acc(s0) - acc(s1)| median "
              f"{_f(n['abs_diff_median'], 2)}, max {_f(n['abs_diff_max'], 2)} points.", ""]
    L += ["## Proxy timings (dense-s0, the calibration batch of the protocol)", "",
          f"- Sensitivity table (loss and accuracy, every (layer, choice), empty cache): "
          f"**{t['sensitivity_s']:.1f} s**; Fisher: **{t['fisher_s']:.1f} s**; both include model "
          f"loading and the calibration batch, which alone (`params` only) took {t['overhead_s']:.1f} s. "
          f"1-min load "
          f"average when measured: {t['load_avg_1m']:.2f} (2 cores, shared).", ""]
    return L


def _descriptive(data, an) -> list[str]:
    s = an["spread"]
    L = ["## Descriptive", "",
         f"- Dense reference (fine-tuned like a plan, no SR), test: {[round(a, 2) for a in s['ref_test']]}, "
         f"validation: {[round(a, 2) for a in s['ref_val']]}; after pre-training only, test "
         f"{[round(a, 2) for a in s['dense_test']]}, validation {[round(a, 2) for a in s['dense_val']]}.",
         f"- Held-out test accuracy: min {_f(s['held_min'], 2)}, max {_f(s['held_max'], 2)}, median "
         f"{_f(s['held_median'], 2)}, IQR [{_f(s['held_q25'], 2)}, {_f(s['held_q75'], 2)}], "
         f"SD {_f(s['held_sd'], 2)}.",
         f"- Held-out plans with at least one design layer: {s['design_plans_held']}; diverged runs "
         f"(scored 10 %): {s['diverged'] or 'none'}.", "",
         "| source | plans | mean test acc % (seed 0) "
         "| min | max |", "|---|---|---|---|---|"]
    L += [f"| {k} | {v['n']} | {v['mean']:.2f} | {v['min']:.2f} | {v['max']:.2f} |"
          for k, v in s["by_source"].items()]
    L += ["", "| job kind | jobs | total min | median s |", "|---|---|---|---|"]
    L += [f"| {k} | {v['n']} | {v['total_s'] / 60:.1f} | {v['median_s']:.1f} |"
          for k, v in data["job_times"].items()]
    return L + [""]


def _per_plan(data) -> list[str]:
    L = ["## Per plan", "", "| plan | source | split | cycles x | params x | design layers | val acc s0 "
         "| test acc s0 | test acc s1 |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(data["rows"], key=lambda r: (r["split"], r["cycles_ratio"])):
        L.append(f"| {r['id']} | {r['source']} | {r['split']} | {r['cycles_ratio']:.3f} "
                 f"| {r['params_ratio']:.3f} | {r['design_layers']} | {_f(r['acc_val'], 2)} "
                 f"| {_f(r['acc_test'], 2)} | {_f(r['acc_test_s1'], 2)} |")
    return L + [""]


def _notes(data) -> list[str]:
    held = data["held"] or {}
    info = held.get("info", {})
    alias = {r["id"]: r["aliases"] for r in held.get("plans", []) if r["aliases"]}
    L = ["## Plan drawing and notes", "",
         f"- Exact fronts per proxy: {info.get('fronts')}.",
         f"- Held-out plans equal to a calibration plan (aliases, not held out): "
         f"{info.get('calibration_aliases') or 'none'}.",
         f"- Aliases among held-out plans: {alias or 'none'}.",
         f"- Left out (outside the window, or dense): "
         f"{[(e['id'], round(e.get('cycles_ratio', 1), 3)) for e in held.get('excluded', [])] or 'none'}.",
         f"- Seed-1 subset: {info.get('seed1')}."]
    L += [f"- Proxy note: {n}" for n in dict.fromkeys(data["cal"].get("proxy_notes", []))]
    L += [f"- FAILED job {k}: {v.get('error')}" for k, v in data["errors"].items()]
    return L + [""]


DEVIATIONS = [
    "Interactions: the protocol's |summed - joint| / joint with joint = `projected_loss` divides a sum of "
    "loss *increases* by an absolute loss, measured with BatchNorm re-estimated where the table keeps the "
    "dense statistics; that literal number is reported, and next to it the like-for-like one: joint = the "
    "loss increase of the whole plan projected at once with the table's settings (BN kept, same 512 "
    "validation images; `joint_loss_increase` in the CSV).",
    "Timings: compute_proxies computes all tables in one pass, so the sensitivity table and Fisher are timed "
    "in calls of their own on the same checkpoint and batch (empty sensitivity cache); each includes model "
    "loading and the calibration batch, whose time alone is given.",
    "Accuracy before decomposition is recorded on the validation split only (not needed by any statistic).",
    "Front picks of `params` and `mults`: structconv's search reads an objective named like a cost metric "
    "as that metric, minimised, so the first `plans-held` solved 'fewest params / mults' and picked the "
    "cheapest plan at every budget. Found after 16 held-out runs; the run was stopped, `plans-held` redone "
    "with these two fronts solved on a renamed copy of the proxy's table (most kept under the budget, as "
    "section 4 says; every other plan and name came out identical), the one run whose plan changed "
    "(front-params-0.4) discarded, and the run resumed with the same settings. The stop and the extra "
    "processes are inside the wall time given at the top.",
]


def _deviations() -> list[str]:
    return ["## Deviations from PROTOCOL_v2.md", ""] + [f"- {d}" for d in DEVIATIONS] + [""]


def markdown(data: dict, an: dict, stem: str) -> str:
    return "\n".join(_header(data, stem) + _primary(an) + _table(an, data["orientation"]) + _secondary(an)
                     + _descriptive(data, an) + _deviations() + _per_plan(data) + _notes(data))
