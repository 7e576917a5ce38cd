"""`structconv decompose CHECKPOINT --out FILE`: replace structured layers by sum-pool + small conv."""
from __future__ import annotations

from ._common import (
    add_input_shape_arg,
    add_plan_args,
    check_out_file,
    parse_input_shape,
    plain,
    plan_ref,
    print_json,
    shown,
)
from ._errors import CLIError


def register(sub) -> None:
    p = sub.add_parser("decompose", help="decompose a trained checkpoint into sum-pool + small convs "
                                         "(optionally export ONNX)")
    p.add_argument("checkpoint",
                   help="a checkpoint from `structconv train` (or a bare state dict with --model)")
    add_plan_args(p)
    p.add_argument("--model", help="zoo model name or Python reference (path/to/file.py:function or "
                                   "package.module:function) the weights are for (default: the checkpoint's)")
    add_input_shape_arg(p)
    p.add_argument("--out", required=True,
                   help="where to write the decomposed model (.pt, weights_only-loadable)")
    p.add_argument("--onnx",
                   help="also export the decomposed model to this ONNX file, checked with onnxruntime: "
                        "max abs error / max |torch output| <= 1e-4; on failure the --out file is kept")
    p.add_argument("--method", default="auto", choices=["auto", "avgpool", "separable", "cumsum", "conv"],
                   help="sum-pool implementation (default: auto, per shape)")
    p.add_argument("--deploy-for", choices=["onnxruntime", "torch"],
                   help="with --onnx: fold BatchNorm and export each layer in the form that runs fastest "
                        "on this backend (CPU, batch 1, one thread), timed layer by layer: a sum-pool "
                        "method or the projected dense weight (same outputs); the summary says which "
                        "layers kept dense and why")
    p.add_argument("--strict", action="store_true",
                   help="fail on plan layers whose kind has no deployable torch form instead of skipping "
                        "them")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from structconv.nn import DeployTarget, decompose_checkpoint  # torch
    from structconv.nn.deploy import export_deployed

    check_out_file("--out", args.out)                           # before any work: nothing half-written
    if args.onnx:
        check_out_file("--onnx", args.onnx)
    elif args.deploy_for:
        raise CLIError(f"--deploy-for = {args.deploy_for!r} chooses the forms of the --onnx export: "
                       f"give --onnx FILE too")
    done = decompose_checkpoint(args.checkpoint, args.out, model=args.model, plan=plan_ref(args),
                                input_shape=parse_input_shape(args.input_shape), method=args.method,
                                strict=args.strict, onnx=None if args.deploy_for else args.onnx)
    name, report, onnx = done.trained.name, done.report, done.onnx
    if args.deploy_for:
        onnx, report = export_deployed(done, args.onnx, DeployTarget(backend=args.deploy_for))
    if args.json:
        print_json({**report.to_dict(), "model": name, "out": str(done.out),
                    "onnx": str(onnx) if onnx else None})
    else:
        print(f"{plain(name)} under plan {shown(done.trained.plan.name)}: {len(report.decomposed)} layers "
              f"decomposed, {len(report.kept_dense)} kept dense, {len(report.skipped)} skipped, "
              f"max projection residual {report.max_residual:.3g}\n")
        print(report.to_markdown())
        print(f"\nwrote {done.out}" + (f" and {onnx}" if onnx else ""))
    return 0
