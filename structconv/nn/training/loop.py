"""One process's training loop, as a sequence of small named steps.

    run = start_run(model, bundle, job, rank, world)     # resume or seed, wrap, sampler, history
    for epoch in range(run.start, total):
        run_epoch(run, epoch)                          # optimizer, loader, batches, record, checkpoint

Bitwise repeatable on CPU: the global RNGs are seeded (or restored from the checkpoint,
per process) before anything draws from them, the sample order of epoch e comes from
the sampler's seed + e, and DataLoader worker seeds from a generator of (seed, epoch).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ...core import Plan
from ..data import DataBundle
from ..layers import StructuralRegularizer, unwrap
from ..weights import save_atomic
from . import distributed as D
from .checkpoint import get_rng_state, load_checkpoint, make_checkpoint, set_rng_state
from .epoch import epoch_record, train_batches
from .evaluation import NonFiniteError, check_finite, seed_everything
from .history import epoch_line, log, read_history, write_history
from .recipes import TrainConfig


@dataclass
class Job:
    """What every process needs to run the loop (picklable for spawned workers)."""

    model_name: str
    cfg: TrainConfig
    plan: dict | None              # a dict: Plans hold mappingproxies, which do not pickle
    out_dir: str | None
    resume: bool
    quiet: bool
    workers: int
    device: str
    meta: dict
    callback: object = None
    sync_bn: bool = False
    deterministic: bool = True


@dataclass
class Run:
    """One process's training state (``start_run`` builds it, ``run_epoch`` advances it)."""

    job: Job
    model: nn.Module
    net: nn.Module                 # ``model`` or its DistributedDataParallel wrapper
    reg: StructuralRegularizer | None
    bundle: DataBundle
    device: torch.device
    rank: int
    world: int
    start: int
    sampler: DistributedSampler
    history: list = field(default_factory=list)
    resume_ck: dict | None = None  # until the optimizer of the resumed phase has its state back
    opt: object = None
    sched: object = None
    opt_phase: int | None = None
    start_loss: dict = field(default_factory=dict)   # phase -> its first batch's loss (divergence check)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def local_batch(self) -> int:
        return self.job.cfg.batch_size // self.world

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.sampler) / self.local_batch)

    @property
    def val_shard(self) -> list | None:
        val = self.bundle.val
        return list(range(self.rank, len(val), self.world)) if val is not None else None

    @property
    def bar(self) -> bool:
        return self.main and not self.job.quiet and sys.stderr.isatty()

    def path(self, name: str) -> Path | None:
        return Path(self.job.out_dir) / name if self.job.out_dir else None


def fit(model: nn.Module, bundle: DataBundle, job: Job, rank: int = 0, world: int = 1) -> tuple[list, int]:
    """Train ``model`` in place; returns (history, first epoch trained)."""
    run = start_run(model, bundle, job, rank, world)
    for epoch in range(run.start, job.cfg.total_epochs):
        run_epoch(run, epoch)
    return run.history, run.start


# -- starting ------------------------------------------------------------------------------
def start_run(model: nn.Module, bundle: DataBundle, job: Job, rank: int, world: int) -> Run:
    device = torch.device(job.device)
    ckpt_path = Path(job.out_dir) / "checkpoint.pt" if job.out_dir else None
    resume_ck = resume_checkpoint(job, ckpt_path, model)
    start = resume_ck["epoch"] + 1 if resume_ck else 0
    restore_or_seed_rng(resume_ck, job.cfg.seed, rank, world)
    model.to(device)
    check_finite(model)
    reg = StructuralRegularizer(model, Plan.from_dict(job.plan)) if job.plan is not None else None
    model, net = wrap_model(model, job, device, world)
    sampler = DistributedSampler(bundle.train, num_replicas=world, rank=rank, shuffle=True, seed=job.cfg.seed)
    run = Run(job, model, net, reg, bundle, device, rank, world, start, sampler, resume_ck=resume_ck)
    run.history = start_history(run)
    return run


def resume_checkpoint(job: Job, path: Path | None, model: nn.Module) -> dict | None:
    """The checkpoint to resume from (its weights loaded into ``model``), or None for a fresh run."""
    if path is None or not path.exists():
        return None
    check_not_started(path.parent, job.resume)
    ck = load_checkpoint(path)
    check_resume(ck, job.cfg, job.model_name, job.plan, path)
    model.load_state_dict(ck["state_dict"])
    return ck


def check_not_started(out_dir, resume: bool) -> None:
    """A run already in ``out_dir`` (its checkpoint) is continued only when asked: checked before any work."""
    path = Path(out_dir) / "checkpoint.pt"
    if not resume and path.exists():
        raise ValueError(f"{str(path)!r} already exists: pass resume=True (--resume) to continue "
                         f"that run, or choose another output directory")


def check_resume(ck: dict, cfg: TrainConfig, model_name: str, plan_dict, path) -> None:
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


def restore_or_seed_rng(ck: dict | None, seed: int, rank: int, world: int) -> None:
    if ck is None:
        seed_everything(seed + rank)
        return
    rng = ck["rng"]
    per_rank = rng.get("per_rank")
    set_rng_state(per_rank[rank] if per_rank and len(per_rank) == world else rng)


def wrap_model(model: nn.Module, job: Job, device: torch.device, world: int) -> tuple[nn.Module, nn.Module]:
    """(model, what the batches run through): DistributedDataParallel in a group of > 1."""
    if world == 1:
        return model, model
    if job.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model, nn.parallel.DistributedDataParallel(model,
                                                      device_ids=[device] if device.type == "cuda" else None)


def start_history(run: Run) -> list[dict]:
    """The records of the epochs before ``run.start`` (main process; metrics.jsonl rewritten to them)."""
    path = run.path("metrics.jsonl")
    if path is None or not run.main:
        return []
    history = read_history(path, run.start)
    last = ((run.resume_ck or {}).get("meta") or {}).get("metrics")
    if isinstance(last, dict) and last.get("epoch") == run.start - 1 and \
            not any(r["epoch"] == run.start - 1 for r in history):
        history.append(last)             # its metrics write failed (a full disk) after the checkpoint's
    if history or path.exists():         # a fresh run makes no empty file: nothing until its first epoch
        write_history(path, history)
    return history


# -- one epoch -----------------------------------------------------------------------------
def run_epoch(run: Run, epoch: int) -> None:
    t0 = time.perf_counter()
    phase = run.job.cfg.phase(epoch)
    lam = run.job.cfg.phase_lam(phase)
    ensure_optimizer(run, phase)
    try:
        sums = train_batches(run, make_loader(run, epoch), epoch, phase, lam)
    except NonFiniteError as e:
        record_divergence(run, epoch, phase, lam, e)
        raise
    rec = epoch_record(run, epoch, phase, lam, sums)
    rec["seconds"] = round(time.perf_counter() - t0, 4)
    rng = gathered_rng_state(run.world)
    if run.main:
        save_epoch_checkpoint(run, epoch, phase, rec, rng)
        publish(run, rec)


def make_optimizer(model: nn.Module, cfg: TrainConfig, phase: int, steps: int):
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


def ensure_optimizer(run: Run, phase: int) -> None:
    """A fresh optimizer and schedule at each phase start (their state restored on resume)."""
    if run.opt_phase == phase:
        return
    cfg = run.job.cfg
    n_epochs = cfg.pretrain_epochs if phase == 1 else cfg.epochs
    run.opt, run.sched = make_optimizer(run.model, cfg, phase, run.steps_per_epoch * n_epochs)
    run.opt_phase = phase
    ck = run.resume_ck
    if ck is not None and (ck["meta"] or {}).get("phase") == phase and ck["optimizer"] is not None:
        run.opt.load_state_dict(ck["optimizer"])
        run.sched.load_state_dict(ck["scheduler"])
    run.resume_ck = None


def make_loader(run: Run, epoch: int) -> DataLoader:
    train_ds = run.bundle.train
    run.sampler.set_epoch(epoch)
    if hasattr(train_ds, "set_epoch"):
        train_ds.set_epoch(epoch)
    # worker seeds; global RNG untouched
    g = torch.Generator().manual_seed(run.job.cfg.seed * 1_000_003 + epoch)
    return DataLoader(train_ds, batch_size=run.local_batch, sampler=run.sampler, num_workers=run.job.workers,
                      generator=g, pin_memory=run.device.type == "cuda", drop_last=False)


def gathered_rng_state(world: int) -> dict:
    """This process's RNG state; in a group, with every process's under ``per_rank``."""
    rng = get_rng_state()
    return rng if world == 1 else dict(rng, per_rank=D.all_gather_object(rng, world))


def cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def save_epoch_checkpoint(run: Run, epoch: int, phase: int, rec: dict, rng: dict) -> None:
    path = run.path("checkpoint.pt")
    if path is None:
        return
    job = run.job
    meta = dict(job.meta, config=job.cfg.to_dict(), phase=phase, metrics=rec)
    save_atomic(make_checkpoint(job.model_name, cpu_state(run.model), epoch, run.opt, run.sched, job.plan,
                                rng, meta), path)


def publish(run: Run, rec: dict) -> None:
    """History, metrics.jsonl, the progress line and the user's callback."""
    run.history.append(rec)
    path = run.path("metrics.jsonl")
    if path is not None:                 # rewritten whole and atomically: a kill leaves no half line
        write_history(path, run.history)
    log(epoch_line(rec, run.job.cfg.total_epochs), run.job.quiet)
    if run.job.callback is not None:
        run.job.callback(rec)


def record_divergence(run: Run, epoch: int, phase: int, lam: float, error: Exception) -> None:
    """metrics.jsonl gets the epochs before and a last record saying where training diverged."""
    path = run.path("metrics.jsonl")
    if path is None or not run.main:
        return
    rec = {"epoch": epoch, "phase": phase, "lam": lam, "diverged": True, "error": str(error)}
    write_history(path, run.history + [rec])
