"""Deployed networks against dense, as a user deploying them would run them.

    .venv/bin/python benchmarks/bench_deploy.py [--pairs 7] [--batches 1 8] [--backends torch onnxruntime]
                                                [--cases resnet18:uniform-n2 mobilenet_v2:struct-mv2-b]
                                                [--out benchmarks/results/bench_deploy]

Per model, plan, backend (torch eager CPU; onnxruntime CPU), batch and layout (NCHW, channels-last;
onnxruntime: NCHW), three networks with random weights projected so the decomposition is exact
and BatchNorm folded on every side (as inference runtimes do):
  dense       the original network;
  decomposed  every planned layer as sum-pool + small conv, sum-pool method 'auto' (what
              `decompose` gave before per-layer tactics);
  deployed    ``deploy_for``: each layer in the fastest of its forms on that backend, batch and
              layout (a sum-pool method or the projected dense weight), timed layer by layer.
Each ratio (decomposed/dense, deployed/dense) is the median over --pairs interleaved pairs of the
per-pair CPU-time ratio (one intra-op thread, so CPU time is the latency without the time spent
descheduled on a shared machine), with its interquartile range; the mults ratio is core's
count_network (structured / original). The machine's load average is printed before and after.
Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from structconv.core import count_network, get_network, get_preset
from structconv.nn import OnnxOptions, build_module, decompose, export_onnx, structure_, unstructure_
from structconv.nn.deploy import DeployTarget, deploy_for, fold_batchnorm

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def networks(name: str, preset: str):
    """(dense, decomposed, original module, plan, mults ratio): BN folded, eval mode, float32."""
    net = get_network(name)
    plan = get_preset(preset, net)
    torch.manual_seed(0)
    model = build_module(name).eval()
    unstructure_(structure_(model, plan))
    cost = count_network(net, plan)
    dense, _ = fold_batchnorm(model)
    dec, _ = decompose(model, plan)
    dec, _ = fold_batchnorm(dec.eval(), inplace=True)
    return dense, dec, model, plan, cost.structured.mults / cost.original.mults, net.input_shape


def ort_runner(module, x: torch.Tensor):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        export_onnx(module, x, path, OnnxOptions(dynamic_batch=False, verify=False))
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    return lambda: sess.run(None, feed)


def torch_runner(module, x: torch.Tensor, layout: str):
    m = module.to(memory_format=LAYOUTS[layout])
    xx = x.contiguous(memory_format=LAYOUTS[layout])

    def run():
        with torch.inference_mode():
            m(xx)
    return run


def pairs(fns: dict, n: int) -> dict[str, list[float]]:
    """CPU seconds of each fn, run once per round in turn (one warm-up round)."""
    for f in fns.values():
        f()
    out = {k: [] for k in fns}
    for _ in range(n):
        for k, f in fns.items():
            t = time.process_time()
            f()
            out[k].append(time.process_time() - t)
    return out


def spread(ratios: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return statistics.median(ratios), q[0], q[2]


def bench_one(case, backend, batch, layout, args) -> dict:
    dense, dec, model, plan, mults, shape = case
    x = torch.randn((batch,) + tuple(shape))
    target = DeployTarget(backend=backend, batch=batch, channels_last=layout == "channels_last",
                          rounds=args.rounds)
    t0 = time.perf_counter()
    dep, report = deploy_for(model, plan, x[:1], target)
    select_s = time.perf_counter() - t0
    forms = {"dense": dense, "decomposed": dec, "deployed": dep}
    if backend == "torch":
        fns = {k: torch_runner(m, x, layout) for k, m in forms.items()}
    else:
        fns = {k: ort_runner(m, x) for k, m in forms.items()}
    t = pairs(fns, args.pairs)
    row = {"backend": backend, "batch": batch, "layout": layout, "mults_ratio": mults,
           "dense_ms": 1e3 * statistics.median(t["dense"]), "kept_dense": len(report.kept_dense),
           "layers": len(report.layers), "select_s": select_s}
    for k in ("decomposed", "deployed"):
        row[k] = spread([a / b for a, b in zip(t[k], t["dense"])])
    return row


def fmt(r) -> str:
    return f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["resnet18:uniform-n2", "mobilenet_v2:struct-mv2-b"])
    ap.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per layer while selecting")
    ap.add_argument("--out", help="write OUT.md and OUT.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()
    rows = []
    for spec in args.cases:
        name, preset = spec.split(":")
        case = networks(name, preset)
        for backend in args.backends:
            for batch in args.batches:
                for layout in (LAYOUTS if backend == "torch" else ["nchw"]):
                    r = {"model": name, "plan": preset, **bench_one(case, backend, batch, layout, args)}
                    rows.append(r)
                    print(f"{name} {preset} {backend} b{batch} {layout}: "
                          f"decomposed/dense {fmt(r['decomposed'])}  deployed/dense {fmt(r['deployed'])}  "
                          f"mults {r['mults_ratio']:.3f}  "
                          f"(dense {r['dense_ms']:.1f} ms CPU, {r['kept_dense']}/{r['layers']} kept dense, "
                          f"selection {r['select_s']:.0f} s)", file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    head = (f"torch {torch.__version__}, 1 intra-op thread, {platform.machine()}, {os.cpu_count()} CPUs, "
            f"{args.pairs} interleaved pairs, CPU time; load average (1/5/15 min) before "
            f"{'/'.join(f'{v:.2f}' for v in load0)}, after {'/'.join(f'{v:.2f}' for v in load1)}")
    table = ["| model | plan | backend | batch | layout | mults ratio | decomposed/dense median [IQR] | "
             "deployed/dense median [IQR] | layers kept dense | dense ms |",
             "|---|---|---|---:|---|---:|---|---|---:|---:|"]
    for r in rows:
        table.append(f"| {r['model']} | {r['plan']} | {r['backend']} | {r['batch']} | {r['layout']} | "
                     f"{r['mults_ratio']:.3f} | {fmt(r['decomposed'])} | {fmt(r['deployed'])} | "
                     f"{r['kept_dense']}/{r['layers']} | {r['dense_ms']:.1f} |")
    command = " ".join(argv or sys.argv[1:])
    text = f"<!-- benchmarks/bench_deploy.py {command} -->\n{head}\n\n" + "\n".join(table)
    print(text)
    if args.out:
        Path(args.out + ".md").write_text(text + "\n")
        Path(args.out + ".json").write_text(json.dumps({"header": head, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
