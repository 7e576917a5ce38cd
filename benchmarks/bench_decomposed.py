"""CPU latency of original vs decomposed networks, sum-pool methods per shape, SR-loss overhead.

    .venv/bin/python benchmarks/bench_decomposed.py                 # everything, markdown tables
    .venv/bin/python benchmarks/bench_decomposed.py --only models --reps 7 --threads 2
    .venv/bin/python benchmarks/bench_decomposed.py --quick         # small inputs, a smoke run

Sections
--------
models   resnet18 under `uniform-n2`, mobilenet_v2 under `struct-mv2-a` / `struct-mv2-b`
         (torch zoo modules, random weights projected so the decomposition is exact, eval
         mode, inference_mode), batch 1 and 32, in contiguous (NCHW) and channels-last
         memory, original and decomposed timed alternately; best of --reps runs. The mults
         ratio is core's count_network (structured / original).
sumpool  every sum-pool shape those decomposed networks run, at batch 32, each method
         ('avgpool', 'separable', 'cumsum', 'conv') in both memory formats, and what 'auto' picks.
sr       resnet20 (CIFAR-10, 32x32), batch 128: one SGD training step (forward, cross
         entropy, backward, step) with and without lam * StructuralRegularizer() under
         `uniform-n2`; overhead = (with - without) / without, median of --reps interleaved pairs.

Timings depend on the machine and on its load; the tables print the thread count and
torch version. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from structconv.core import count_network, get_network, get_preset
from structconv.nn import (
    StructuralRegularizer,
    SumPool3d,
    choose_method,
    decompose,
    structure_,
    sum_pool3d,
    unstructure_,
)

CASES = (("resnet18", "uniform-n2"), ("mobilenet_v2", "struct-mv2-a"), ("mobilenet_v2", "struct-mv2-b"))
METHODS = ("avgpool", "separable", "cumsum", "conv")
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def interleaved(fns, reps: int, warmup: int = 1):
    """Run each fn once per round (so load spikes hit all alike). Per fn: (wall times, CPU times).

    CPU time is this process's (all its threads): on a shared, loaded machine it is the
    robust number (time spent descheduled does not count); wall time is the latency.
    """
    for _ in range(warmup):
        for f in fns:
            f()
    wall = [[] for _ in fns]
    cpu = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            c, t = time.process_time(), time.perf_counter()
            f()
            wall[i].append(time.perf_counter() - t)
            cpu[i].append(time.process_time() - c)
    return wall, cpu


def build_pair(name: str, preset: str, input_size=None):
    from structconv.nn import build_module

    kwargs = {"input_size": input_size} if input_size else {}
    net = get_network(name, **kwargs) if kwargs else get_network(name)
    plan = get_preset(preset, net)
    torch.manual_seed(0)
    model = build_module(name).eval()
    unstructure_(structure_(model, plan))          # exactly structured: decomposition is exact
    dec, report = decompose(model, plan)
    cost = count_network(net, plan)
    return net, plan, model, dec.eval(), report, cost


# -- models ---------------------------------------------------------------------------------
def bench_models(args) -> list[dict]:
    rows = []
    for name, preset in args.cases:
        size = (64, 64) if args.quick else None
        net, plan, model, dec, report, cost = build_pair(name, preset, size)
        mults_ratio = cost.structured.mults / cost.original.mults
        shape = net.input_shape if not args.quick else (net.input_shape[0], 64, 64)
        for batch in args.batches:
            x = torch.randn((batch,) + tuple(shape))
            for fmt, mf in FORMATS.items():
                m = model.to(memory_format=mf)
                d = dec.to(memory_format=mf)
                xx = x.contiguous(memory_format=mf)
                with torch.inference_mode():
                    err = float((m(xx) - d(xx)).abs().max())
                    reps = args.reps if batch > 1 else max(args.reps, 10)
                    (w_o, w_d), (c_o, c_d) = interleaved([partial(m, xx), partial(d, xx)], reps)
                row = {"model": name, "preset": preset, "batch": batch, "format": fmt,
                       "original_ms": 1e3 * min(w_o), "decomposed_ms": 1e3 * min(w_d),
                       "latency_ratio": min(w_d) / min(w_o),
                       "original_cpu_ms": 1e3 * min(c_o), "decomposed_cpu_ms": 1e3 * min(c_d),
                       "cpu_ratio": min(c_d) / min(c_o), "mults_ratio": mults_ratio,
                       "decomposed_layers": len(report.decomposed), "max_abs_diff": err}
                rows.append(row)
                print(f"  {name:13s} {preset:13s} b={batch:<3d} {fmt:13s} orig {row['original_ms']:8.1f} ms  "
                      f"dec {row['decomposed_ms']:8.1f} ms  ratio {row['latency_ratio']:.3f}  cpu-time ratio "
                      f"{row['cpu_ratio']:.3f} (mults {mults_ratio:.3f}, |diff| {err:.1e})", file=sys.stderr,
                      flush=True)
        model.to(memory_format=torch.contiguous_format)
    return rows


def models_table(rows) -> str:
    out = ["| model | preset | batch | memory | original ms | decomposed ms | latency ratio | CPU-time ratio "
           "| mults ratio |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['preset']} | {r['batch']} | {r['format']} "
                   f"| {r['original_ms']:.1f} | {r['decomposed_ms']:.1f} | {r['latency_ratio']:.2f} "
                   f"| {r['cpu_ratio']:.2f} | {r['mults_ratio']:.2f} |")
    return "\n".join(out)


# -- sum-pool methods -----------------------------------------------------------------------
def sumpool_shapes(args) -> list[tuple]:
    """(C, H, W, window, groups, padding, dilation) of every SumPool3d the decomposed nets run."""
    seen = {}
    for name, preset in args.cases:
        size = (64, 64) if args.quick else None
        net, plan, model, dec, report, cost = build_pair(name, preset, size)
        shape = net.input_shape if not args.quick else (net.input_shape[0], 64, 64)
        hooks = []

        def hook(mod, inp, where=f"{name}/{preset}"):
            x = inp[0]
            key = (x.shape[1], x.shape[2], x.shape[3], mod.window, mod.groups, mod.padding, mod.dilation)
            seen.setdefault(key, where)

        for m in dec.modules():
            if isinstance(m, SumPool3d):
                hooks.append(m.register_forward_pre_hook(hook))
        with torch.inference_mode():
            dec(torch.randn((1,) + tuple(shape)))
        for h in hooks:
            h.remove()
    # distinct windows first (several channel counts share a spatial window: keep a few)
    return [k + (v,) for k, v in seen.items()]


def bench_sumpool(args) -> list[dict]:
    rows = []
    batch = 8 if args.quick else 32
    for C, H, W, window, groups, pad4, dil, where in sumpool_shapes(args):
        l, r, t, b = pad4
        x0 = torch.randn(batch, C, H, W)
        row = {"where": where, "C": C, "H": H, "W": W, "window": list(window), "groups": groups,
               "padding": [t, l], "dilation": list(dil)}
        for fmt, mf in FORMATS.items():
            x = x0.contiguous(memory_format=mf)
            with torch.inference_mode():
                fns = [partial(sum_pool3d, x, window, groups, (t, b, l, r), dil, m) for m in METHODS]
                wall, cpu = interleaved(fns, args.reps)
            for m, ts in zip(METHODS, cpu if args.threads == 1 else wall):
                row[f"{fmt}:{m}"] = 1e3 * min(ts)
            row[f"{fmt}:auto"] = choose_method(window, dil, channels_last=(fmt == "channels_last"))
            row[f"{fmt}:best"] = min(METHODS, key=lambda m: row[f"{fmt}:{m}"])
        rows.append(row)
        print(f"  C={C:4d} {H:3d}x{W:<3d} window {window} g={groups:<4d}: " +
              "  ".join(f"{fmt}: " + " ".join(f"{m} {row[f'{fmt}:{m}']:.2f}" for m in METHODS) +
                        f" (auto {row[f'{fmt}:auto']}, best {row[f'{fmt}:best']})" for fmt in FORMATS),
              file=sys.stderr, flush=True)
    return rows


def sumpool_table(rows) -> str:
    out = ["| shape (C, HxW) | window (kc,a,b) | groups | memory | avgpool ms | separable ms | cumsum ms | "
           "conv ms | auto | fastest |", "|---|---|---:|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        for fmt in FORMATS:
            auto, best = r[f"{fmt}:auto"], r[f"{fmt}:best"]
            cells = " | ".join(f"**{r[f'{fmt}:{m}']:.2f}**" if m == best else f"{r[f'{fmt}:{m}']:.2f}"
                               for m in METHODS)
            out.append(f"| {r['C']}, {r['H']}x{r['W']} | {tuple(r['window'])} | {r['groups']} | {fmt} "
                       f"| {cells} | {auto} ({r[f'{fmt}:{auto}'] / r[f'{fmt}:{best}']:.2f}x best) | {best} |")
    return "\n".join(out)


# -- SR-loss overhead -----------------------------------------------------------------------
def bench_sr(args) -> dict:
    from structconv.nn import build_module

    net = get_network("resnet20")
    plan = get_preset("uniform-n2", net)
    torch.manual_seed(0)
    model = build_module("resnet20").train()
    reg = StructuralRegularizer(model, plan)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    batch = 32 if args.quick else 128
    x = torch.randn((batch,) + tuple(net.input_shape))
    y = torch.randint(0, 10, (batch,))
    lam = 0.1

    def step(with_sr: bool):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if with_sr:
            loss = loss + lam * reg()
        loss.backward()
        opt.step()

    def sr_only():
        opt.zero_grad(set_to_none=True)
        reg().backward()

    reps = max(args.reps, 10)
    wall, cpu = interleaved([lambda: step(False), lambda: step(True), sr_only], reps, warmup=2)
    t_plain, t_sr, t_reg = cpu if args.threads == 1 else wall
    med = statistics.median
    pair = sorted((b - a) / a for a, b in zip(t_plain, t_sr))
    res = {"model": "resnet20", "preset": "uniform-n2", "batch": batch, "sr_layers": len(reg.terms),
           "step_ms": 1e3 * med(t_plain), "step_sr_ms": 1e3 * med(t_sr), "sr_term_ms": 1e3 * med(t_reg),
           "overhead_pct": 100 * (med(t_sr) - med(t_plain)) / med(t_plain),
           "overhead_pct_term": 100 * med(t_reg) / med(t_plain),
           "overhead_pct_pairs_median": 100 * statistics.median(pair)}
    print(f"  resnet20 b={batch}: step {res['step_ms']:.1f} ms, with SR {res['step_sr_ms']:.1f} ms, "
          f"SR term alone {res['sr_term_ms']:.2f} ms -> overhead {res['overhead_pct']:.1f} % "
          f"(term/step {res['overhead_pct_term']:.1f} %)", file=sys.stderr, flush=True)
    return res


def sr_table(r) -> str:
    return ("| model | preset | batch | SR layers | step ms | step + SR ms | SR term (fwd+bwd) ms "
            "| overhead |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|\n"
            f"| {r['model']} | {r['preset']} | {r['batch']} | {r['sr_layers']} | {r['step_ms']:.1f} | "
            f"{r['step_sr_ms']:.1f} | {r['sr_term_ms']:.2f} | {r['overhead_pct']:.1f} % "
            f"(term alone: {r['overhead_pct_term']:.1f} %) |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads (default 1: on a shared machine the CPU time is then "
                        "the uncontended latency)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per configuration (default 5)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--only", choices=["models", "sumpool", "sr"], nargs="+", help="run only these sections")
    p.add_argument("--quick", action="store_true", help="64x64 inputs and small batches: a smoke run")
    p.add_argument("--cases", nargs="+", metavar="MODEL:PRESET",
                   default=[f"{m}:{p}" for m, p in CASES], help="networks and presets (default: %(default)s)")
    p.add_argument("--json", help="also write all numbers to this JSON file")
    args = p.parse_args(argv)
    args.cases = [tuple(c.split(":", 1)) for c in args.cases]
    torch.set_num_threads(args.threads)
    sections = args.only or ["models", "sumpool", "sr"]
    header = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"{platform.processor() or platform.machine()}, "
              f"best of {args.reps} (batch 1: best of {max(args.reps, 10)})")
    results = {"setup": header}
    print(f"<!-- bench_decomposed.py: {header} -->")
    if "models" in sections:
        print("## Original vs decomposed, CPU latency\n", file=sys.stderr)
        results["models"] = bench_models(args)
        print("\n### Original vs decomposed (CPU, torch eager, " + header + ")\n")
        print(models_table(results["models"]))
    if "sumpool" in sections:
        results["sumpool"] = bench_sumpool(args)
        print("\n### Sum-pool implementations per shape (batch " + ("8" if args.quick else "32") + ")\n")
        print(sumpool_table(results["sumpool"]))
    if "sr" in sections:
        results["sr"] = bench_sr(args)
        print("\n### Structural Regularization overhead per training step\n")
        print(sr_table(results["sr"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
