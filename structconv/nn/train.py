"""Training with Structural Regularization, checkpoints, resume, data parallelism.

    result = train(model, load_digits_data(), plan, lam=0.1, epochs=10, out_dir="runs/x")
    result.acc_before, result.acc_after          # accuracy (%) before / after decompose()

The recipe (seed supplementary A.2): SGD with momentum 0.9, a cosine learning
rate schedule (stepped every iteration), weight decay 1e-4 for ResNets and 4e-5
for MobileNetV2 / EfficientNet, batch 128. Two phases: ``pretrain_epochs`` of
plain training (lambda = 0) at ``pretrain_lr``, then ``epochs`` with
``loss = task + lam * SR`` under a fresh optimizer and a new cosine schedule at
``lr``. ResNets in the paper skip phase 1 (``pretrain_epochs=0``).

Reproducibility: with the same seed a run is bitwise repeatable on CPU (global
RNGs seeded, deterministic algorithms on, the sample order of epoch e drawn from
seed + e by a ``DistributedSampler``, augmentation drawn from (seed, epoch,
index)). A checkpoint is written atomically after every epoch; ``resume=True``
continues from it and ends with the same weights as an uninterrupted run.
``world_size=K`` trains in K processes (gloo on CPU, nccl on GPU) with the
same global batch and the same global sample order as one process, so both
reach the same weights up to float rounding (BatchNorm statistics are per
process unless ``sync_bn`` on CUDA).
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

from . import distributed as D
from .checkpoint import get_rng_state, load_checkpoint, make_checkpoint, save_atomic, set_rng_state
from .data import DataBundle

SCHEDULES = ("cosine", "step")

# Seed supplementary A.2. ``epochs``/``pretrain_epochs`` apply only when train() is
# called without ``epochs``; batch 128 is the CIFAR-10 batch (ImageNet ResNets: 256).
RECIPES = {
    "resnet": dict(lr=0.1, pretrain_lr=0.1, weight_decay=1e-4, batch_size=128, epochs=200, pretrain_epochs=0),
    "mobilenet": dict(lr=0.1, pretrain_lr=0.5, weight_decay=4e-5, batch_size=128, epochs=150, pretrain_epochs=90),
    "efficientnet": dict(lr=0.1, pretrain_lr=0.5, weight_decay=4e-5, batch_size=384, epochs=250,
                         pretrain_epochs=90),
    "default": dict(lr=0.1, pretrain_lr=0.1, weight_decay=1e-4, batch_size=128, epochs=200, pretrain_epochs=0),
}


class NonFiniteError(ValueError):
    """The loss or a weight became NaN or inf."""


def recipe_for(model_name: str | None) -> dict:
    """The A.2 defaults for a model name (resnet*, mobilenet*, efficientnet*, else 'default')."""
    name = (model_name or "").lower()
    for key in ("resnet", "mobilenet", "efficientnet"):
        if name.startswith(key):
            return dict(RECIPES[key])
    return dict(RECIPES["default"])


# -- a small model for quick experiments (digits) ----------------------------------------
class SmallCNN(nn.Module):
    """conv1 (3x3, C -> w) - conv2 (3x3, w -> 2w, stride 2) - conv3 (3x3, 2w -> 4w, stride 2)
    - global average pool - fc (4w -> classes); BatchNorm + ReLU after each conv."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, bn: bool = True):
        super().__init__()
        w = int(width)
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.conv1, self.bn1 = nn.Conv2d(in_channels, w, 3, padding=1, bias=not bn), norm(w)
        self.conv2, self.bn2 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1, bias=not bn), norm(2 * w)
        self.conv3, self.bn3 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1, bias=not bn), norm(4 * w)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean(dim=(2, 3)))


# -- settings ------------------------------------------------------------------------------
def _num(name, value, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and (v > hi or (hi_open and v == hi))):
        rng = f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{')' if hi_open else ']'}"
        raise ValueError(f"{name} = {value!r} is out of range {rng}")
    return v


def _int(name, value, lo=None, hi=None) -> int:
    from structconv.core.checks import int_field

    return int_field(name, value, lo, hi)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting that shapes the trained weights (checked again on resume)."""

    lam: float
    epochs: int
    pretrain_epochs: int
    lr: float
    pretrain_lr: float
    batch_size: int
    weight_decay: float
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "cosine"
    seed: int = 0
    world_size: int = 1

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "lam", _num("lam", self.lam, 0.0))
        set_(self, "epochs", _int("epochs", self.epochs, 0))
        set_(self, "pretrain_epochs", _int("pretrain_epochs", self.pretrain_epochs, 0))
        if self.epochs + self.pretrain_epochs < 1:
            raise ValueError("epochs + pretrain_epochs = 0: nothing to train (need >= 1)")
        set_(self, "lr", _num("lr", self.lr, 0.0, lo_open=True))
        set_(self, "pretrain_lr", _num("pretrain_lr", self.pretrain_lr, 0.0, lo_open=True))
        set_(self, "batch_size", _int("batch_size", self.batch_size, 1))
        set_(self, "weight_decay", _num("weight_decay", self.weight_decay, 0.0))
        set_(self, "momentum", _num("momentum", self.momentum, 0.0, 1.0, hi_open=True))
        set_(self, "nesterov", bool(self.nesterov))
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov = True needs momentum > 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule = {self.schedule!r} is not one of {list(SCHEDULES)}")
        set_(self, "seed", _int("seed", self.seed, 0))
        set_(self, "world_size", _int("world_size", self.world_size, 1))
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size = {self.batch_size} must be a multiple of world_size = "
                             f"{self.world_size} (it is the global batch)")

    @property
    def total_epochs(self) -> int:
        return self.pretrain_epochs + self.epochs

    def phase(self, epoch: int) -> int:
        return 1 if epoch < self.pretrain_epochs else 2

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What ``train`` returns; ``to_dict()`` is what summary.json holds."""

    model: nn.Module = field(repr=False)
    model_name: str
    config: dict
    plan: dict | None
    history: list[dict]
    start_epoch: int                       # first epoch this call trained (> 0 after a resume)
    acc_before: float | None = None        # validation accuracy (%) of the trained model
    acc_after: float | None = None         # ... after decompose(model, plan)
    loss_before: float | None = None
    loss_after: float | None = None
    residuals: dict = field(default_factory=dict)     # layer -> ||(I - AA+)W|| / ||W|| at the end
    decomposition: object = None           # decompose()'s report, as a dict when it has to_dict()
    decomposed_model: nn.Module | None = field(default=None, repr=False)
    out_dir: str | None = None
    seconds: float = 0.0
    eval_split: str = "val"

    @property
    def gap(self) -> float | None:
        """acc_before - acc_after, in percentage points."""
        if self.acc_before is None or self.acc_after is None:
            return None
        return self.acc_before - self.acc_after

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def to_dict(self) -> dict:
        return {"model": self.model_name, "config": self.config, "plan": self.plan,
                "epochs_trained": len(self.history), "start_epoch": self.start_epoch,
                "eval_split": self.eval_split,
                "acc_before": self.acc_before, "acc_after": self.acc_after, "gap": self.gap,
                "loss_before": self.loss_before, "loss_after": self.loss_after,
                "residuals": self.residuals, "decomposition": _jsonable(self.decomposition),
                "final": self.final, "out_dir": self.out_dir, "seconds": round(self.seconds, 3)}


def _jsonable(obj):
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return repr(obj)


# -- helpers -----------------------------------------------------------------------------
def check_finite(model: nn.Module, what: str = "model") -> None:
    """ValueError naming the first parameter or buffer holding NaN or inf."""
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise NonFiniteError(f"{what} parameter {name!r} contains NaN or inf values")


def _first_nonfinite(model: nn.Module) -> str:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            return f" ({name!r} is NaN/inf now)"
    return ""


def as_bundle(data) -> DataBundle:
    """A DataBundle from a DataBundle, a (train, val) pair, a single Dataset or a dataset name."""
    if isinstance(data, DataBundle):
        return data
    if isinstance(data, str):
        from .data import load_dataset

        return load_dataset(data)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        train, val = data
    elif isinstance(data, Dataset):
        train, val = data, None
    else:
        raise ValueError(f"data must be a DataBundle, a (train, val) pair of Datasets or a Dataset, "
                         f"got {type(data).__name__}")
    if not isinstance(train, Dataset) or (val is not None and not isinstance(val, Dataset)):
        raise ValueError("data: train and val must be torch Datasets")
    if len(train) == 0:
        raise ValueError("data: the training set is empty")
    x, _ = train[0]
    return DataBundle("custom", train, val, 0, tuple(x.shape))


@contextlib.contextmanager
def deterministic_mode(enabled: bool = True, cuda: bool = False):
    """Deterministic kernels (warn-only where torch has none) for the duration of the block."""
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if enabled:
        if cuda:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _unwrap(net: nn.Module) -> nn.Module:
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256, device=None, workers: int = 0,
             indices=None) -> dict:
    """{'acc': accuracy in %, 'loss': mean cross-entropy, 'n': samples} in eval mode.

    In a data-parallel group pass each process its shard in ``indices``: the
    counts are then summed over the group (a collective every process must join).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    ds = Subset(dataset, indices) if indices is not None else dataset
    was_training = model.training
    model.eval()
    correct = loss = 0.0
    n = 0
    try:
        for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers):
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss += float(F.cross_entropy(out, y, reduction="sum"))
            correct += float((out.argmax(1) == y).sum())
            n += int(y.numel())
    finally:
        model.train(was_training)
    if indices is not None:
        correct, loss, n = D.all_reduce_sum([correct, loss, float(n)], device)
    return {"acc": 100.0 * correct / n if n else float("nan"), "loss": loss / n if n else float("nan"), "n": int(n)}


def _make_regularizer(model: nn.Module, plan):
    """Their StructuralRegularizer (validates the plan against the model once)."""
    from .regularization import StructuralRegularizer

    return StructuralRegularizer(model, plan)


def _make_optimizer(model: nn.Module, cfg: TrainConfig, phase: int, steps: int):
    lr = cfg.pretrain_lr if phase == 1 else cfg.lr
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    steps = max(1, steps)
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    else:  # A.2's CIFAR step schedule: /10 at 40% and 60% of the phase (80 and 120 of 200 epochs)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(0.4 * steps), int(0.6 * steps)],
                                                     gamma=0.1)
    return opt, sched


def _read_history(path: Path, before_epoch: int) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int) and rec["epoch"] < before_epoch:
            out.append(rec)
    return out


def _write_history(path: Path, history: list[dict]) -> None:
    from structconv.core import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(h) + "\n" for h in history))


def _check_resume(ck: dict, cfg: TrainConfig, model_name: str, plan_dict, path) -> None:
    saved = (ck.get("meta") or {}).get("config") or {}
    # world_size may change: every world size sees the same global batches in the same order
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs now {v!r}" for k, v in cfg.to_dict().items()
             if k != "world_size" and saved.get(k) != v]
    if ck["model"] != model_name:
        diffs.insert(0, f"model: checkpoint {ck['model']!r} vs now {model_name!r}")
    if (ck["plan"] or {}).get("layers", {}) != (plan_dict or {}).get("layers", {}):
        diffs.append("plan layers differ")
    if diffs:
        raise ValueError(f"cannot resume from {str(path)!r}: it was written with other settings "
                         f"({'; '.join(diffs)}); use the same settings or a new output directory")


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


# -- the loop --------------------------------------------------------------------------------
@dataclass
class _Job:
    """What every process needs to run the loop (picklable for spawned workers)."""

    model_name: str
    cfg: TrainConfig
    plan: dict | None
    out_dir: str | None
    resume: bool
    quiet: bool
    workers: int
    device: str
    meta: dict
    callback: object = None
    sync_bn: bool = False
    deterministic: bool = True


def _fit(model: nn.Module, bundle: DataBundle, job: _Job, rank: int = 0, world: int = 1) -> tuple[list, int]:
    """Train ``model`` in place; returns (history, first epoch trained)."""
    cfg = job.cfg
    device = torch.device(job.device)
    main = rank == 0
    out = Path(job.out_dir) if job.out_dir else None
    ckpt_path = out / "checkpoint.pt" if out else None
    metrics_path = out / "metrics.jsonl" if out else None
    plan_dict = job.plan                               # a dict: Plans hold mappingproxies, which do not pickle
    plan = None
    if plan_dict is not None:
        from .structured import coerce_plan

        plan = coerce_plan(plan_dict)

    resume_ck = None
    if ckpt_path is not None and ckpt_path.exists():
        if not job.resume:
            raise ValueError(f"{str(ckpt_path)!r} already exists: pass resume=True (--resume) to continue "
                             f"that run, or choose another output directory")
        resume_ck = load_checkpoint(ckpt_path)
        _check_resume(resume_ck, cfg, job.model_name, plan_dict, ckpt_path)
        model.load_state_dict(resume_ck["state_dict"])
    start = resume_ck["epoch"] + 1 if resume_ck else 0
    if resume_ck is not None:
        rng = resume_ck["rng"]
        per_rank = rng.get("per_rank")
        set_rng_state(per_rank[rank] if per_rank and len(per_rank) == world else rng)
    else:
        seed_everything(cfg.seed + rank)

    model.to(device)
    check_finite(model)
    reg = _make_regularizer(model, plan) if plan is not None else None
    if world > 1:
        if job.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    else:
        net = model

    train_ds, val_ds = bundle.train, bundle.val
    local_batch = cfg.batch_size // world
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    steps_per_epoch = math.ceil(len(sampler) / local_batch)
    val_shard = list(range(rank, len(val_ds), world)) if val_ds is not None else None

    history = _read_history(metrics_path, start) if (metrics_path is not None and main) else []
    if main and metrics_path is not None:
        _write_history(metrics_path, history)
    total = cfg.total_epochs
    bar = main and not job.quiet and sys.stderr.isatty()
    opt = sched = None
    opt_phase = None
    for epoch in range(start, total):
        t0 = time.perf_counter()
        phase = cfg.phase(epoch)
        lam = cfg.lam if phase == 2 else 0.0
        if opt_phase != phase:
            n_epochs = cfg.pretrain_epochs if phase == 1 else cfg.epochs
            opt, sched = _make_optimizer(model, cfg, phase, steps_per_epoch * n_epochs)
            opt_phase = phase
            if resume_ck is not None and (resume_ck["meta"] or {}).get("phase") == phase \
                    and resume_ck["optimizer"] is not None:
                opt.load_state_dict(resume_ck["optimizer"])
                sched.load_state_dict(resume_ck["scheduler"])
            resume_ck = None
        sampler.set_epoch(epoch)
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)   # worker seeds; keeps global RNG untouched
        loader = DataLoader(train_ds, batch_size=local_batch, sampler=sampler, num_workers=job.workers,
                            generator=g, pin_memory=device.type == "cuda", drop_last=False)
        net.train()
        sums = torch.zeros(5, dtype=torch.float64, device=device)    # loss, task, sr, correct, n
        it = loader
        if bar:
            from tqdm.auto import tqdm

            it = tqdm(loader, desc=f"epoch {epoch + 1}/{total} (phase {phase}, lam {lam:g})",
                      leave=False, dynamic_ncols=True)
        for step, (x, y) in enumerate(it):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = net(x)
            task = F.cross_entropy(logits, y)
            if lam > 0 and reg is not None and reg.terms:
                sr = reg(model)
                loss = task + lam * sr
            else:
                sr = None
                loss = task
            opt.zero_grad(set_to_none=True)
            loss.backward()
            bad = not bool(torch.isfinite(loss.detach()))
            if D.any_flag(bad, device):
                where = f"epoch {epoch + 1}, step {step + 1}"
                if not bad:
                    raise NonFiniteError(f"the loss became NaN or inf in another process at {where}")
                sr_v = float(sr.detach()) if sr is not None else 0.0
                raise NonFiniteError(
                    f"loss became {float(loss.detach()):g} at {where} (task {float(task.detach()):g}, SR {sr_v:g}, "
                    f"lr {sched.get_last_lr()[0]:g}); lower the learning rate or check the data for NaN/inf"
                    f"{_first_nonfinite(model)}")
            opt.step()
            sched.step()
            bs = y.numel()
            with torch.no_grad():
                sums += torch.stack([loss.detach().double() * bs, task.detach().double() * bs,
                                     (sr.detach().double() if sr is not None else torch.zeros((), dtype=torch.float64,
                                                                                              device=device)) * bs,
                                     (logits.argmax(1) == y).sum().double(),
                                     torch.tensor(float(bs), dtype=torch.float64, device=device)])
            if bar and step % 10 == 0:
                it.set_postfix(loss=f"{float(loss):.3f}")
        if bar:
            it.close()
        loss_s, task_s, sr_s, correct, n = D.all_reduce_sum(sums.tolist(), device)
        if lam == 0 and reg is not None:
            with torch.no_grad():
                sr_epoch = float(reg(model))
        else:
            sr_epoch = sr_s / n if n else 0.0
        rec = {"epoch": epoch, "phase": phase, "lam": lam, "lr": float(opt.param_groups[0]["lr"]),
               "loss": loss_s / n, "task_loss": task_s / n, "sr_loss": sr_epoch,
               "train_acc": 100.0 * correct / n}
        if val_ds is not None:
            ev = evaluate(model, val_ds, batch_size=max(256, local_batch), device=device, workers=job.workers,
                          indices=val_shard)
            rec["val_acc"], rec["val_loss"] = ev["acc"], ev["loss"]
        rec["seconds"] = round(time.perf_counter() - t0, 4)

        # checkpoint: RNG states of every process, written by the main one
        rng = get_rng_state()
        if world > 1:
            import torch.distributed as dist

            states = [None] * world
            dist.all_gather_object(states, rng)
            rng = dict(rng, per_rank=states)
        if main:
            if ckpt_path is not None:
                meta = dict(job.meta, config=cfg.to_dict(), phase=phase, metrics=rec)
                save_atomic(make_checkpoint(job.model_name, _cpu_state(model), epoch, opt, sched,
                                            plan_dict, rng, meta), ckpt_path)
            history.append(rec)
            if metrics_path is not None:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            va = f", val_acc {rec['val_acc']:.2f}" if "val_acc" in rec else ""
            _log(f"epoch {epoch + 1}/{total} phase {phase} lam {lam:g}: loss {rec['loss']:.4f} "
                 f"(task {rec['task_loss']:.4f}, SR {rec['sr_loss']:.4f}), train_acc {rec['train_acc']:.2f}"
                 f"{va} [{rec['seconds']:.1f}s]", job.quiet)
            if job.callback is not None:
                job.callback(rec)
    return history, start


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in _unwrap(model).state_dict().items()}


def _ddp_worker(rank: int, model, bundle, job: _Job, init_file: str, result_file: str) -> None:
    world = job.cfg.world_size
    # torch.multiprocessing hands the parameters over in shared memory: without a private
    # copy every process would step the same tensors
    model = copy.deepcopy(model)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if torch.device(job.device).type == "cuda":
        job.device = f"cuda:{rank % torch.cuda.device_count()}"
        torch.cuda.set_device(torch.device(job.device))
    D.init_process_group(rank, world, D.default_backend(job.device), init_file)
    try:
        with deterministic_mode(job.deterministic, torch.device(job.device).type == "cuda"):
            history, start = _fit(model, bundle, job, rank, world)
        if rank == 0:
            torch.save({"state_dict": _cpu_state(model), "history": history, "start": start}, result_file)
    finally:
        D.destroy()


# -- the public entry -------------------------------------------------------------------------
def train(model: nn.Module, data, plan=None, lam: float = 0.1, epochs: int | None = None,
          lr: float | None = None, *, pretrain_epochs: int | None = None, pretrain_lr: float | None = None,
          batch_size: int | None = None, weight_decay: float | None = None, momentum: float = 0.9,
          nesterov: bool = False, schedule: str = "cosine", seed: int = 0, out_dir=None,
          resume: bool = False, quiet: bool = False, device=None, world_size: int | None = 1,
          workers: int = 0, model_name: str | None = None, evaluate_decomposition: bool = True,
          deterministic: bool = True, sync_bn: bool = False, callback=None, meta: dict | None = None
          ) -> TrainResult:
    """Train ``model`` (in place) on ``data`` with Structural Regularization under ``plan``.

    Parameters
    ----------
    model: any torch module whose Conv2d/Linear names match ``plan``'s layer names.
    data: a ``DataBundle`` (``structconv.nn.data``), a ``(train, val)`` pair of Datasets
        yielding (image, label), or one Dataset (accuracy is then measured on it).
    plan: a Plan, a plan dict, or None (plain training, no SR, no decomposition).
    lam: weight of the SR term in phase 2 (A.2: 0.1 for "A" plans, 1.0 for "B").
    epochs, lr: length and initial learning rate of the SR phase; ``pretrain_epochs`` and
        ``pretrain_lr`` of the plain phase before it. Unset values come from
        ``recipe_for(model_name)`` (A.2); ``pretrain_epochs`` defaults to 0 unless
        ``epochs`` is unset too.
    batch_size: the global batch (split evenly over ``world_size`` processes).
    out_dir: where metrics.jsonl, checkpoint.pt (every epoch), final.pt and summary.json
        go; None keeps everything in memory (no checkpoints, no resume).
    resume: continue from out_dir/checkpoint.pt (starts fresh when there is none).
    world_size: K > 1 spawns K data-parallel processes; None or 1 is one process, unless
        the script runs under torchrun (WORLD_SIZE > 1), which is then joined.
    device: 'cpu', 'cuda', 'cuda:1' ... (default: CUDA when available).
    workers: DataLoader worker processes.
    evaluate_decomposition: measure accuracy before and after ``decompose(model, plan)``
        (on the validation split, else the training set) and the per-layer residuals.
    deterministic: deterministic kernels while training (warn-only where torch has none).
    sync_bn: SyncBatchNorm across processes (CUDA only; on CPU BatchNorm statistics are
        per process, as torch has no CPU SyncBatchNorm).
    callback: called with each epoch's metrics dict (main process), e.g. to stop early by raising.
    meta: extra plain values stored in every checkpoint's ``meta``.

    Raises ValueError on bad settings, a plan that does not fit the model, NaN/inf weights,
    a diverging loss (``NonFiniteError``), a corrupt checkpoint or a resume with other settings.
    """
    t_start = time.perf_counter()
    from .structured import coerce_plan

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
    model_name = model_name or getattr(model, "name", None) or type(model).__name__
    if not isinstance(model_name, str):
        model_name = type(model).__name__
    rec = recipe_for(model_name)
    full_recipe = epochs is None
    env = D.torchrun_env() if world_size in (None, 1) else None
    world = env[1] if env else (1 if world_size is None else world_size)
    cfg = TrainConfig(
        lam=lam, epochs=rec["epochs"] if epochs is None else epochs,
        pretrain_epochs=(rec["pretrain_epochs"] if full_recipe else 0) if pretrain_epochs is None else pretrain_epochs,
        lr=rec["lr"] if lr is None else lr,
        pretrain_lr=(rec["pretrain_lr"] if lr is None else lr) if pretrain_lr is None else pretrain_lr,
        batch_size=rec["batch_size"] if batch_size is None else batch_size,
        weight_decay=rec["weight_decay"] if weight_decay is None else weight_decay,
        momentum=momentum, nesterov=nesterov, schedule=schedule, seed=seed, world_size=world)
    _int("workers", workers, 0)
    bundle = as_bundle(data)
    plan = coerce_plan(plan) if plan is not None else None
    check_finite(model)
    if plan is not None:
        _make_regularizer(model, plan)                 # plan vs model: ValueError now, not in a worker
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = str(torch.device(device))
    if sync_bn and torch.device(device).type != "cuda":
        raise ValueError("sync_bn = True needs CUDA (torch's SyncBatchNorm has no CPU kernel)")
    if world > 1 and torch.device(device).type == "cuda" and torch.cuda.device_count() < 1:
        raise ValueError("device = cuda but no CUDA device is available")
    run_meta = dict(meta or {}, dataset=bundle.to_dict(), num_classes=bundle.num_classes,
                    input_shape=list(bundle.input_shape), torch=torch.__version__)
    job = _Job(model_name, cfg, plan.to_dict() if plan is not None else None,
               str(out_dir) if out_dir is not None else None, bool(resume), bool(quiet), int(workers), device,
               run_meta, callback, bool(sync_bn), bool(deterministic))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)

    cuda = torch.device(device).type == "cuda"
    if env is not None:                                # under torchrun: join its group
        rank, world, local = env
        if cuda:
            job.device = device = f"cuda:{local}"
            torch.cuda.set_device(torch.device(device))
        own_group = not D.is_distributed()
        D.init_process_group(rank, world, D.default_backend(device))
        try:
            with deterministic_mode(deterministic, cuda):
                history, start = _fit(model, bundle, job, rank, world)
        finally:
            if own_group:
                D.destroy()
        if rank != 0:
            return TrainResult(model, model_name, cfg.to_dict(), plan.to_dict() if plan else None, history, start,
                               out_dir=job.out_dir, seconds=time.perf_counter() - t_start)
    elif world > 1:
        with tempfile.TemporaryDirectory(prefix="structconv-ddp-") as tmp:
            result_file = os.path.join(tmp, "result.pt")
            D.spawn(_ddp_worker, world, (model, bundle, job, os.path.join(tmp, "rendezvous"), result_file))
            res = torch.load(result_file, weights_only=True)
        model.load_state_dict(res["state_dict"])
        model.to(device)
        history, start = res["history"], res["start"]
    else:
        with deterministic_mode(deterministic, cuda):
            history, start = _fit(model, bundle, job)

    result = TrainResult(model, model_name, cfg.to_dict(), plan.to_dict() if plan else None, history, start,
                         out_dir=job.out_dir)
    if evaluate_decomposition:
        eval_ds = bundle.val if bundle.val is not None else bundle.train
        result.eval_split = "val" if bundle.val is not None else "train"
        _evaluate_decomposition(result, model, plan, eval_ds, device, workers)
    result.seconds = time.perf_counter() - t_start
    if out_dir is not None:
        out = Path(out_dir)
        final_meta = dict(run_meta, config=cfg.to_dict(), phase=cfg.phase(cfg.total_epochs - 1),
                          metrics=result.final, acc_before=result.acc_before, acc_after=result.acc_after,
                          residuals=result.residuals, final=True)
        save_atomic(make_checkpoint(model_name, _cpu_state(model), cfg.total_epochs - 1, None, None,
                                    result.plan, get_rng_state(), final_meta), out / "final.pt")
        from structconv.core import atomic_write_text

        atomic_write_text(out / "summary.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _evaluate_decomposition(result: TrainResult, model, plan, dataset, device, workers) -> None:
    """Accuracy of the trained model and of decompose(model, plan), plus per-layer residuals."""
    ev = evaluate(model, dataset, device=device, workers=workers)
    result.acc_before, result.loss_before = ev["acc"], ev["loss"]
    from structconv.core import Dense

    if plan is None or all(isinstance(c, Dense) for c in plan.choices.values()):
        result.acc_after, result.loss_after = result.acc_before, result.loss_before
        return
    from .decompose import decompose

    decomposed, report = decompose(model, plan)          # a deep copy; ``model`` stays as trained
    decomposed.to(device)
    ev = evaluate(decomposed, dataset, device=device, workers=workers)
    result.acc_after, result.loss_after = ev["acc"], ev["loss"]
    result.decomposition = _jsonable(report)
    result.residuals = {l.name: l.residual for l in report.layers if l.residual is not None}
    result.decomposed_model = decomposed
