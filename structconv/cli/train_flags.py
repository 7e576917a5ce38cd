"""The flags of `structconv train` (the command itself is ``cli/train.py``)."""
from __future__ import annotations

from ._common import add_plan_args


def add_train_args(p) -> None:
    p.add_argument("model",
                   help="zoo network with a torch module (resnet20, resnet18, mobilenet_v2, ...), "
                        "small_cnn (a 3-conv net for quick runs) or a Python reference "
                        "(path/to/file.py:function or package.module:function returning an nn.Module)")
    p.add_argument("--weights", metavar="FILE",
                   help="initial weights: a state dict (or a `structconv train` "
                        "checkpoint) for the model, loaded with weights_only=True")
    p.add_argument("--dataset", choices=["digits", "fashion-mnist", "cifar10", "folder", "idx"],
                   default="digits",
                   help="digits (ships with scikit-learn), fashion-mnist (Debian's dataset-fashion-mnist, "
                        "or --data-dir), cifar10 (python-pickle version in --data-dir), "
                        "folder (DIR/CLASS/IMAGE; .npy always, other formats need Pillow), "
                        "idx (any MNIST-format folder in --data-dir)")
    p.add_argument("--data-dir",
                   help="dataset directory (cifar10, folder, idx; fashion-mnist to override Debian's)")
    p.add_argument("--train-size", type=int,
                   help="fashion-mnist/idx: a class-balanced training subset of this size")
    p.add_argument("--design-init", choices=["distill", "scratch"], default="distill",
                   help="sparse-kernel design layers start as a least-squares fit to the dense layer's "
                        "outputs (distill, default) or from a fresh init (scratch)")
    add_plan_args(p)
    p.add_argument("--lam", type=float, default=0.1, help="weight of the SR loss (default 0.1; A.2 uses "
                                                         "0.1 for 'A' plans and 1.0 for 'B' plans)")
    p.add_argument("--epochs", type=int, help="epochs with SR (default: the A.2 recipe, 200 for ResNets)")
    p.add_argument("--pretrain-epochs", type=int,
                   help="plain epochs (lambda = 0) before the SR phase (default 0 when --epochs is given)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: A.2 recipe, 128)")
    p.add_argument("--lr", type=float, help="initial learning rate of the SR phase (default 0.1)")
    p.add_argument("--pretrain-lr", type=float, help="initial learning rate of the plain phase")
    p.add_argument("--weight-decay", type=float,
                   help="default 1e-4 (ResNets) or 4e-5 (MobileNetV2, EfficientNet)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    p.add_argument("--schedule", choices=["cosine", "step"], default="cosine",
                   help="cosine (default) or step (/10 at 40%% and 60%% of each phase)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel training processes (torch.distributed; gloo on CPU, nccl on GPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="digits, fashion-mnist, idx, folder: images resized to H x W, H = W (digits: default "
                        "16 for small_cnn, 32 for zoo models; MNIST formats: 28); N and C are the model's")
    p.add_argument("--input-size", type=int, metavar="H", help="the same as --input-shape 1,C,H,H")
    p.add_argument("--no-augment", action="store_true",
                   help="cifar10, fashion-mnist, idx: no random crop + flip")
    p.add_argument("--out", required=True, help="output directory: metrics.jsonl, checkpoint.pt, final.pt, "
                                                "summary.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--json", action="store_true", help="print summary.json's object")
