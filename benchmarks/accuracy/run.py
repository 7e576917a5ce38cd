"""Run the pre-registered accuracy benchmark (benchmarks/accuracy/PROTOCOL.md, version 1; PROTOCOL_v2.md).

    .venv/bin/python benchmarks/accuracy/run.py --scale cpu                       # this machine, < 60 min
    .venv/bin/python benchmarks/accuracy/run.py --protocol 2 --scale cpu --workers 2   # version 2
    .venv/bin/python benchmarks/accuracy/run.py --scale full --device cuda --workers 4 [--gpus 0,1]

Jobs (each its own directory under benchmarks/accuracy/runs/<scale>/ with an atomic
result.json): dense-s<seed> (pre-training), plans (proxies on dense-s0, the protocol's
plans), ref-s<seed> (dense reference), run-<plan>-s<seed> (SR fine-tune, decompose,
test accuracy). Start it again after an interruption and it continues where it
stopped; several processes (``--workers K``, or more run.py started by hand, on
one machine sharing the directory) take jobs from the same queue. At the end
``analyze.py`` writes benchmarks/results/accuracy_<scale>.md/.csv.

``--set key=value`` (smoke tests only) changes a setting; such a run needs its own
``--runs-dir`` and ``--results-dir`` and is marked as not the protocol's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jobqueue
from config import RESULTS, RUNS, SCALES_BY_PROTOCOL, Scale

POLL_S = 5.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] [{os.getpid()}] {msg}", flush=True)


class Job:
    def __init__(self, name: str, deps: list[str], fn):
        self.name, self.deps, self.fn = name, deps, fn


def job_list(q: jobqueue.Queue, scale: Scale, device: str) -> list[Job]:
    import jobs as J

    out = [Job(f"dense-s{s}", [], lambda d, s=s: J.dense(scale, s, d, device)) for s in scale.seeds]
    out.append(Job("plans", ["dense-s0"], lambda d: J.plans(scale, d, device)))
    out += [Job(f"ref-s{s}", [f"dense-s{s}"], lambda d, s=s: J.reference(scale, s, d, device))
            for s in scale.seeds]
    if q.done("plans"):
        for p in q.result("plans")["plans"]:
            plan_file = q.dir("plans") / p["plan_file"]
            for s in scale.seeds:
                out.append(Job(f"run-{p['id']}-s{s}", ["plans", f"dense-s{s}"],
                               lambda d, pid=p["id"], s=s, f=plan_file: J.run(scale, pid, s, d, device, f)))
    return out


def jobs_of(q: jobqueue.Queue, scale: Scale, device: str) -> list[Job]:
    if scale.protocol == 2:
        import graph_v2

        return graph_v2.job_list(q, scale, device, Job)
    return job_list(q, scale, device)


def execute(q: jobqueue.Queue, job: Job, version: int = 1) -> None:
    from structconv.core import write_data_file

    d = q.dir(job.name)
    started = time.time()
    log(f"{job.name}: start")
    try:
        res = job.fn(d)
    except (SystemExit, KeyboardInterrupt):
        q.release(job.name)                 # a missing piece or an interrupt: the job stays open
        raise
    except Exception as e:                   # a bug or bad input: recorded, the other jobs go on
        write_data_file(d / "error.json", {"job": job.name, "error": f"{type(e).__name__}: {e}",
                                           "traceback": traceback.format_exc(), "host": jobqueue.HOST,
                                           "pid": os.getpid(), "time": time.time()})
        q.release(job.name)
        log(f"{job.name}: FAILED {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return
    res.update({"protocol_version": version, "started": started, "finished": time.time(),
                "host": jobqueue.HOST, "pid": os.getpid()})
    write_data_file(d / "result.json", res)
    q.release(job.name)
    acc = f" acc {res['acc']:.2f}%" if isinstance(res.get("acc"), (int, float)) else ""
    log(f"{job.name}: done{acc} ({res['finished'] - started:.1f} s)")


def work(q: jobqueue.Queue, scale: Scale, device: str) -> int:
    """Take ready jobs until none is left; 0 when all are done, 1 when some failed or are blocked."""
    while True:
        jobs = jobs_of(q, scale, device)
        pending = [j for j in jobs if not q.done(j.name)]
        if not pending:
            return 0
        dead = {j.name for j in pending if q.failed(j.name)}
        blocked = {j.name for j in pending if any(q.failed(dep) for dep in j.deps)}
        ran = False
        for j in pending:
            if j.name in dead or j.name in blocked or not all(q.done(dep) for dep in j.deps):
                continue
            if q.claim(j.name):
                execute(q, j, scale.protocol)
                ran = True
                break
        if ran:
            continue
        if all(j.name in dead or j.name in blocked for j in pending):
            log(f"stopping: {len(dead)} job(s) failed ({sorted(dead)[:5]}...), "
                f"{len(blocked)} blocked by them; see <job>/error.json, fix, then rerun with --retry-failed")
            return 1
        time.sleep(POLL_S)                   # others hold the ready jobs, or their dependencies run


def check_state(root: Path, scale: Scale) -> None:
    """The runs directory belongs to one configuration: refuse to mix settings."""
    from structconv.core import write_data_file

    path = root / "config.json"
    want = json.loads(json.dumps(scale.to_dict()))
    if path.exists():
        have = json.loads(path.read_text())
        if have != want:
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            raise SystemExit(f"accuracy benchmark: {root} holds a run with other settings ({diff}); "
                             f"use another --runs-dir")
    else:
        root.mkdir(parents=True, exist_ok=True)
        write_data_file(path, want)


def retry_failed(root: Path) -> None:
    for err in root.glob("*/error.json"):
        log(f"retrying {err.parent.name}")
        err.unlink()


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", type=int, choices=sorted(SCALES_BY_PROTOCOL), default=1,
                    help="protocol version: 1 (PROTOCOL.md, default) or 2 (PROTOCOL_v2.md)")
    ap.add_argument("--scale", choices=sorted(SCALES_BY_PROTOCOL[1]), default="cpu")
    ap.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: the scale's)")
    ap.add_argument("--workers", type=int, default=1, help="processes sharing the queue (default 1)")
    ap.add_argument("--gpus", default=None, help="comma list: worker i sees GPU gpus[i %% len] only")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    ap.add_argument("--runs-dir", default=None,
                    help="default benchmarks/accuracy/runs/<scale> (version 2: runs/v2-<scale>)")
    ap.add_argument("--results-dir", default=None, help="default benchmarks/results")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="smoke tests only")
    ap.add_argument("--retry-failed", action="store_true",
                    help="clear error.json files and run those jobs again")
    ap.add_argument("--no-analyze", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    scale = SCALES_BY_PROTOCOL[args.protocol][args.scale].with_overrides(args.set)
    if scale.overrides and (args.runs_dir is None or args.results_dir is None):
        ap.error("--set changes the protocol's settings: "
                 "give --runs-dir and --results-dir (not the defaults)")
    if scale.overrides and Path(args.results_dir).resolve() == RESULTS.resolve():
        ap.error("--set runs must not write to benchmarks/results")
    if args.workers < 1 or args.threads < 1:
        ap.error("--workers and --threads must be >= 1")
    return args, scale


def spawn(args, argv) -> int:
    procs = []
    gpus = args.gpus.split(",") if args.gpus else None
    for i in range(args.workers):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        procs.append(subprocess.Popen([sys.executable, __file__, *argv, "--worker"], env=env))
        time.sleep(1.0)                      # stagger the first claims
    rcs = [p.wait() for p in procs]
    return 0 if all(rc == 0 for rc in rcs) else 1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, scale = parse(argv)
    device = args.device or scale.device
    default = scale.name if scale.protocol == 1 else f"v2-{scale.name}"
    root = Path(args.runs_dir) if args.runs_dir else RUNS / default
    results = Path(args.results_dir) if args.results_dir else RESULTS
    if not args.worker:
        check_state(root, scale)
        if args.retry_failed:
            retry_failed(root)
    if args.workers > 1 and not args.worker:
        clean = [a for a in argv if a != "--retry-failed"]
        rc = spawn(args, clean)
    else:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
        import jobs as J

        J.set_root(root)
        rc = work(jobqueue.Queue(root), scale, device)
    if args.worker or args.no_analyze:
        return rc
    import analyze

    return max(rc, analyze.main(["--protocol", str(scale.protocol), "--scale", scale.name,
                                 "--runs-dir", str(root), "--results-dir", str(results)]
                                + (["--allow-incomplete"] if rc else [])))


if __name__ == "__main__":
    sys.exit(main())
