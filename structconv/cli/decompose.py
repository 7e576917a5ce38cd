"""`structconv decompose CHECKPOINT --out FILE`: replace structured layers by sum-pool + small conv."""
from __future__ import annotations

import os

from structconv.core import Plan, resolve_network, resolve_plan

from ._common import add_input_shape_arg, add_plan_args, check_out_file, parse_input_shape, plain, plan_ref, print_json, shown, user_input


def register(sub) -> None:
    p = sub.add_parser("decompose", help="decompose a trained checkpoint into sum-pool + small convs "
                                         "(optionally export ONNX)")
    p.add_argument("checkpoint", help="a checkpoint from `structconv train` (or a bare state dict with --model)")
    add_plan_args(p)
    p.add_argument("--model", help="zoo model name or Python reference (path/to/file.py:function or "
                                   "package.module:function) the weights are for (default: the checkpoint's)")
    add_input_shape_arg(p)
    p.add_argument("--out", required=True, help="where to write the decomposed model (.pt, weights_only-loadable)")
    p.add_argument("--onnx", help="also export the decomposed model to this ONNX file (checked with onnxruntime)")
    p.add_argument("--method", default="auto", choices=["auto", "avgpool", "separable", "cumsum", "conv"],
                   help="sum-pool implementation (default: auto, per shape)")
    p.add_argument("--strict", action="store_true",
                   help="fail on plan layers whose kind has no deployable torch form instead of skipping them")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def read_checkpoint(path):
    from structconv.nn import read_weights                 # torch

    return read_weights(path, "checkpoint")


def _model_name(args, ck_model) -> str:
    name = args.model or ck_model
    if not name:
        raise ValueError("the checkpoint does not name its model: give --model NAME")
    if args.model and ck_model and args.model != ck_model:
        raise ValueError(f"--model {shown(args.model)} does not match the checkpoint's model {shown(ck_model)}")
    return name


def _plan(args, ck_plan, network) -> Plan:
    """--preset/--plan, else the checkpoint's own plan."""
    with user_input("checkpoint plan"):
        ref = plan_ref(args) or (Plan.from_dict(ck_plan, source="checkpoint plan") if ck_plan else None)
    if ref is None:
        raise ValueError("no plan: the checkpoint holds none; give --plan FILE or --preset NAME")
    with user_input(f"plan {shown(ref) if isinstance(ref, str) else 'of the checkpoint'}"):
        return resolve_plan(ref, network)


def _check_finite(sd) -> None:
    import torch

    for k, v in sd.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"checkpoint weight {shown(k)} contains NaN or inf values")


SMALL_MODELS = ("small_cnn",)


def _small_shape(meta) -> tuple[int, int, int]:
    shape = meta.get("input_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in shape)
            and isinstance(meta.get("num_classes"), int)):
        raise ValueError("a small_cnn checkpoint must record meta.input_shape [C, H, W] and meta.num_classes "
                         "(`structconv train` writes both)")
    return tuple(shape)


def _ref_shape(meta, input_shape) -> tuple:
    shape = meta.get("input_shape")
    if input_shape is not None:
        return input_shape
    if isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(v, int) and v >= 1 for v in shape):
        return (1, *shape)
    return (1, 3, 224, 224)


def _model_and_network(name, meta, input_shape=None):
    """(a fresh torch module, the core Network its plan is checked against) for ``name``."""
    from structconv.nn import SmallCNN, build_module, is_module_ref, load_module_ref, network_from_ref      # torch

    if is_module_ref(name):                                  # the user's module, traced at the shape it ran on
        module = load_module_ref(name)
        return module, network_from_ref(name, input_shape=_ref_shape(meta, input_shape), module=module)

    if name in SMALL_MODELS:                                 # not a zoo network: its shape is in the checkpoint
        import torch

        from structconv.nn import network_from_module

        shape = _small_shape(meta)
        module = SmallCNN(shape[0], meta["num_classes"])
        return module, network_from_module(module, torch.zeros((1,) + shape), name=name)
    network = resolve_network(name)                          # ValueError for unknown names
    # a model trained on digits has 10 classes, not the zoo default: the checkpoint says
    return build_module(name, num_classes=meta.get("num_classes")), network


def _trained_module(name, module, sd, plan):
    """The module with the checkpoint's weights, in plain form (StructuredWeight parametrizations removed).

    A checkpoint from `structconv train` holds the plan's trainable forms (parametrized structures,
    sparse-kernel design modules): when its keys are not the plain module's, the plan's forms are
    applied first (fresh, the weights come from the checkpoint) so the weights load by name."""
    from structconv.nn import apply_trainable_forms, structure_, unstructure_

    if any(".parametrizations." in k for k in sd):          # trained with StructuredWeight
        module = structure_(module, plan, init="scratch")
    elif set(sd) != set(module.state_dict()):               # design modules swapped in, structures saved plain
        module = apply_trainable_forms(module, plan, init="scratch", skip_regularized=True)[0]
    missing, unexpected = _load_state(module, sd)
    if missing or unexpected:
        raise ValueError(f"checkpoint weights do not match model {name!r}: missing {missing[:3]}"
                         f"{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
                         f"{'...' if len(unexpected) > 3 else ''}")
    return unstructure_(module).eval()


def run(args) -> int:
    import torch

    from structconv.nn import decompose, export_onnx, fold_repeated_calls, save_decomposed

    check_out_file("--out", args.out)                       # before any work: nothing half-written
    if args.onnx:
        check_out_file("--onnx", args.onnx)
    ck_model, sd, ck_plan, meta = read_checkpoint(args.checkpoint)
    name = _model_name(args, ck_model)
    module, network = _model_and_network(name, meta, parse_input_shape(args.input_shape))
    plan = fold_repeated_calls(_plan(args, ck_plan, network))   # "body#1" is a call of module "body"
    _check_finite(sd)
    dec, report = decompose(_trained_module(name, module, sd, plan), plan, method=args.method, inplace=True,
                            strict=args.strict)
    existed = os.path.exists(args.out)
    out = save_decomposed(dec, args.out, name, plan, method=args.method,
                          meta={"source": str(args.checkpoint), **{k: v for k, v in meta.items()
                                                                   if isinstance(v, (str, int, float, bool))}})
    try:
        onnx_path = export_onnx(dec, torch.randn((1,) + tuple(network.input_shape)), args.onnx) if args.onnx else None
    except BaseException:
        if not existed:                                      # a failed run leaves no half of its outputs
            os.unlink(out)
        raise
    if args.json:
        print_json({**report.to_dict(), "model": name, "out": str(out), "onnx": str(onnx_path) if onnx_path else None})
    else:
        print(f"{plain(name)} under plan {shown(plan.name)}: {len(report.decomposed)} layers decomposed, "
              f"{len(report.skipped)} skipped, max projection residual {report.max_residual:.3g}\n")
        print(report.to_markdown())
        print(f"\nwrote {out}" + (f" and {onnx_path}" if onnx_path else ""))
    return 0


def _load_state(module, sd) -> tuple[list, list]:
    try:
        res = module.load_state_dict(sd, strict=False)
    except RuntimeError as e:                                 # shape mismatches
        msg = _first_line(e)
        detail = str(e).strip().splitlines()[1:2]
        raise ValueError(f"checkpoint weights do not fit the model: {(detail[0].strip() if detail else msg)}") from None
    return list(res.missing_keys), list(res.unexpected_keys)
