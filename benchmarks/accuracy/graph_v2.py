"""The job graph of protocol version 2 (PROTOCOL_v2.md sections 4-5, 7), in two phases:

dense-s<seed> -> plans-cal (every proxy, the calibration plans) -> run-<cal plan>-s0 -> plans-held
(``calibrated`` fitted on their validation accuracies, then the held-out plans) -> run-<held plan>-s0
and run-<subset plan>-s1; ref-s<seed> last, so that they fill the wait before plans-held.
"""
from __future__ import annotations

import jobs_v2 as J2


def _runs(q, scale, device, Job, plans: list, seed: int, deps: list) -> list:
    out = []
    for p in plans:
        f = q.dir(deps[0]) / p["plan_file"]
        out.append(Job(f"run-{p['id']}-s{seed}", deps + [f"dense-s{seed}"],
                       lambda d, pid=p["id"], s=seed, f=f: J2.run(scale, pid, s, d, device, f)))
    return out


def _held(q, scale, device, Job, cal_jobs: list) -> list:
    def fn(d):
        runs = {j.name[len("run-"):-len("-s0")]: q.result(j.name) for j in cal_jobs}
        return J2.plans_held(scale, d, q.dir("plans-cal"), runs)

    out = [Job("plans-held", ["plans-cal"] + [j.name for j in cal_jobs], fn)]
    if q.done("plans-held"):
        res = q.result("plans-held")
        subset = set(res["info"]["seed1"])
        out += _runs(q, scale, device, Job, res["plans"], 0, ["plans-held"])
        out += _runs(q, scale, device, Job, [p for p in res["plans"] if p["id"] in subset], 1, ["plans-held"])
    return out


def job_list(q, scale, device: str, Job) -> list:
    out = [Job(f"dense-s{s}", [], lambda d, s=s: J2.dense(scale, s, d, device)) for s in scale.seeds]
    out.append(Job("plans-cal", ["dense-s0"], lambda d: J2.plans_cal(scale, d, device)))
    if q.done("plans-cal"):
        cal = _runs(q, scale, device, Job, q.result("plans-cal")["plans"], 0, ["plans-cal"])
        out += cal + _held(q, scale, device, Job, cal)
    out += [Job(f"ref-s{s}", [f"dense-s{s}"], lambda d, s=s: J2.reference(scale, s, d, device))
            for s in scale.seeds]
    return out
