"""`structconv train MODEL`: train with Structural Regularization, then decompose and evaluate."""
from __future__ import annotations

from structconv.core import resolve_network, resolve_plan

from ._common import CLIError, add_plan_args, check_out_dir, plain, plan_ref, print_json, shown, user_input

SMALL_MODELS = ("small_cnn",)


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model with Structural Regularization; report accuracy "
                                     "before and after decomposition")
    p.add_argument("model", help="zoo network with a torch module (resnet20, resnet18, mobilenet_v2, ...), "
                                 "small_cnn (a 3-conv net for quick runs) or a Python reference "
                                 "(path/to/file.py:function or package.module:function returning an nn.Module)")
    p.add_argument("--weights", metavar="FILE", help="initial weights: a state dict (or a `structconv train` "
                                                     "checkpoint) for the model, loaded with weights_only=True")
    p.add_argument("--dataset", choices=["digits", "fashion-mnist", "cifar10", "folder", "idx"], default="digits",
                   help="digits (ships with scikit-learn), fashion-mnist (Debian's dataset-fashion-mnist, or "
                        "--data-dir), cifar10 (python-pickle version in --data-dir), folder (DIR/CLASS/IMAGE; "
                        ".npy always, other formats need Pillow), idx (any MNIST-format folder in --data-dir)")
    p.add_argument("--data-dir", help="dataset directory (cifar10, folder, idx; fashion-mnist to override Debian's)")
    p.add_argument("--train-size", type=int, help="fashion-mnist/idx: a class-balanced training subset of this size")
    p.add_argument("--design-init", choices=["distill", "scratch"], default="distill",
                   help="sparse-kernel design layers start as a least-squares fit to the dense layer's outputs "
                        "(distill, default) or from a fresh init (scratch)")
    add_plan_args(p)
    p.add_argument("--lam", type=float, default=0.1, help="weight of the SR loss (default 0.1; A.2 uses "
                                                         "0.1 for 'A' plans and 1.0 for 'B' plans)")
    p.add_argument("--epochs", type=int, help="epochs with SR (default: the A.2 recipe, 200 for ResNets)")
    p.add_argument("--pretrain-epochs", type=int,
                   help="plain epochs (lambda = 0) before the SR phase (default 0 when --epochs is given)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: A.2 recipe, 128)")
    p.add_argument("--lr", type=float, help="initial learning rate of the SR phase (default 0.1)")
    p.add_argument("--pretrain-lr", type=float, help="initial learning rate of the plain phase")
    p.add_argument("--weight-decay", type=float, help="default 1e-4 (ResNets) or 4e-5 (MobileNetV2, EfficientNet)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    p.add_argument("--schedule", choices=["cosine", "step"], default="cosine",
                   help="cosine (default) or step (/10 at 40%% and 60%% of each phase)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel training processes (torch.distributed; gloo on CPU, nccl on GPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--input-size", type=int,
                   help="digits, fashion-mnist, idx, folder: image side after resizing (digits: default 16 for "
                        "small_cnn, 32 for zoo models; MNIST formats: 28)")
    p.add_argument("--no-augment", action="store_true", help="cifar10, fashion-mnist, idx: no random crop + flip")
    p.add_argument("--out", required=True, help="output directory: metrics.jsonl, checkpoint.pt, final.pt, "
                                                "summary.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--json", action="store_true", help="print summary.json's object")
    p.set_defaults(func=run)


def _positive(name, value, lo=1):
    if value is not None and not value >= lo:          # `not >=`: NaN fails too
        raise ValueError(f"--{name} = {value} is out of range [{lo}, inf)")


def _finite(name, value, lo=0.0):
    if value is not None and not lo <= value < float("inf"):
        raise ValueError(f"--{name} = {value} is out of range [{lo:g}, inf)")


def _check(args) -> None:
    """Arguments checked before torch, the dataset or the output directory are touched."""
    for name in ("epochs", "pretrain_epochs"):
        _positive(name.replace("_", "-"), getattr(args, name), 0)
    for name in ("batch_size", "nproc", "input_size", "threads", "train_size"):
        _positive(name.replace("_", "-"), getattr(args, name))
    _positive("workers", args.workers, 0)
    for name in ("lam", "lr", "pretrain_lr", "weight_decay"):
        _finite(name.replace("_", "-"), getattr(args, name))
    check_out_dir("--out", args.out)


def _dataset(args, small: bool):
    from structconv.nn import load_dataset                 # torch

    if args.dataset == "digits":
        size = args.input_size or (16 if small else 32)
        return load_dataset("digits", size=size, channels=1 if small else 3)
    if args.dataset == "cifar10":
        return load_dataset("cifar10", args.data_dir, augment=not args.no_augment, seed=args.seed)
    if args.dataset in ("fashion-mnist", "idx"):
        return load_dataset(args.dataset, args.data_dir, size=args.input_size, channels=1 if small else 3,
                            train_size=args.train_size, augment=not args.no_augment, seed=args.seed)
    return load_dataset("folder", args.data_dir, size=args.input_size, channels=None if small else 3)


def _model(args, data, small: bool):
    from structconv.nn import SmallCNN, build_module, is_module_ref, load_module_ref      # torch

    if small:
        model = SmallCNN(data.input_shape[0], data.num_classes)
    elif is_module_ref(args.model):
        model = load_module_ref(args.model)
    elif args.model.lower().endswith(".onnx"):
        raise CLIError(f"train needs a torch module: {shown(args.model)} is an ONNX file; give a zoo name, small_cnn "
                       f"or a Python reference (path/to/file.py:function)")
    else:
        model = build_module(args.model, num_classes=data.num_classes)
    if args.weights:
        _load_weights(model, args.weights)
    return model


def _load_weights(model, path) -> None:
    from structconv.nn import read_weights

    sd = read_weights(path, "--weights")[1]
    try:
        res = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:                               # shape mismatches
        lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
        raise ValueError(f"--weights {shown(str(path))} does not fit the model: {lines[-1] if lines else e}") from None
    if res.missing_keys or res.unexpected_keys:
        raise ValueError(f"--weights {shown(str(path))} does not fit the model: missing {list(res.missing_keys)[:3]}, "
                         f"unexpected {list(res.unexpected_keys)[:3]}")


def _network(name, model, data, small: bool):
    """The core Network a --plan/--preset is checked against, at the dataset's input size."""
    import torch

    from structconv.nn import network_from_module

    if not small:
        try:
            return resolve_network(name, input_size=tuple(data.input_shape[1:]), num_classes=data.num_classes)
        except (TypeError, ValueError):
            pass                                   # not a zoo name, or no input_size option: trace the module
    return network_from_module(model, torch.zeros((1,) + tuple(data.input_shape)), name=name)


def run(args) -> int:
    import torch

    from structconv.nn import fold_repeated_calls, train

    _check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    small = args.model in SMALL_MODELS
    data = _dataset(args, small)
    torch.manual_seed(args.seed)                      # the initial weights depend on the seed too
    model = _model(args, data, small)
    ref = plan_ref(args)
    plan = None
    if ref:
        network = _network(args.model, model, data, small)
        with user_input(f"plan {shown(ref)}"):
            plan = fold_repeated_calls(resolve_plan(ref, network))   # "body#1" is a call of module "body"
    result = train(model, data, plan, lam=args.lam, epochs=args.epochs, lr=args.lr,
                   pretrain_epochs=args.pretrain_epochs, pretrain_lr=args.pretrain_lr,
                   batch_size=args.batch_size, weight_decay=args.weight_decay, nesterov=args.nesterov,
                   schedule=args.schedule, seed=args.seed, out_dir=args.out, resume=args.resume,
                   quiet=args.quiet or args.json, device=args.device, world_size=args.nproc,
                   workers=args.workers, model_name=args.model, meta={"plan_source": ref},
                   design_init=args.design_init)
    if args.json:
        print_json(result.to_dict())
    else:
        _print_result(args, data, plan, result)
    return 0


def _print_result(args, data, plan, result) -> None:
    print(f"{plain(args.model)} on {data.name} under plan {shown(plan.name if plan is not None else 'dense')}, "
          f"lambda {args.lam:g}: {len(result.history)} epochs")
    if result.acc_before is not None:
        print(f"accuracy ({result.eval_split}) before decomposition {result.acc_before:.2f}%, "
              f"after {result.acc_after:.2f}% (gap {result.gap:+.2f} points)")
    if result.residuals:
        worst = max(result.residuals.items(), key=lambda kv: kv[1])
        print(f"{len(result.residuals)} structured layers, largest residual "
              f"||(I-AA+)W||/||W|| = {worst[1]:.3g} ({worst[0]})")
    print(f"wrote {args.out}/{{metrics.jsonl, checkpoint.pt, final.pt, summary.json}}")
