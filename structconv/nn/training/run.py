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

The steps: settings (``recipes``), the loop of one process (``loop``, ``epoch``), the
processes (here: one, K spawned, or torchrun's), then the end of the run (measure, save).
"""
from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from ...core import int_field, write_data_file
from ..data import as_bundle
from ..devices import check_device, check_training_memory
from ..layers import StructuralRegularizer, apply_trainable_forms, resolve_module_plan
from ..weights import save_atomic
from . import distributed as D
from .checkpoint import get_rng_state, make_checkpoint
from .evaluation import check_finite, deterministic_mode
from .loop import Job, cpu_state, fit
from .recipes import TrainConfig
from .results import TrainResult, measure_decomposition


def train(model: nn.Module, data, plan=None, lam: float = 0.1, epochs: int | None = None,
          lr: float | None = None, *, pretrain_epochs: int | None = None, pretrain_lr: float | None = None,
          batch_size: int | None = None, weight_decay: float | None = None, momentum: float = 0.9,
          nesterov: bool = False, schedule: str = "cosine", seed: int = 0, out_dir=None,
          resume: bool = False, quiet: bool = False, device=None, world_size: int | None = 1,
          workers: int = 0, model_name: str | None = None, evaluate_decomposition: bool = True,
          deterministic: bool = True, sync_bn: bool = False, callback=None, meta: dict | None = None,
          design_init: str = "distill", calibration_size: int = 256) -> TrainResult:
    """Train ``model`` (in place) on ``data`` with Structural Regularization under ``plan``.

    Parameters
    ----------
    model: any torch module whose Conv2d/Linear names match ``plan``'s layer names.
    data: a ``DataBundle`` (``structconv.nn.data``), a ``(train, val)`` pair of Datasets
        yielding (image, label), or one Dataset (accuracy is then measured on it).
    plan: a Plan, a plan mapping, a preset name (e.g. "uniform-n2"), a plan file, or None
        (plain training, no SR, no decomposition); resolved against the model's layers.
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
    design_init: how the plan's sparse-kernel design layers start: each dense layer is replaced
        in ``model`` by its design module (``DesignConv``), fitted to the dense layer's outputs
        on ``calibration_size`` training samples ("distill", layer-wise least squares; the fit's
        relative output errors are ``result.distillation``) or freshly initialised ("scratch").
        Design layers then train plainly; SR acts on the structured layers only.

    Raises ValueError on bad settings, a plan that does not fit the model, NaN/inf weights,
    a diverging loss (``NonFiniteError``), a corrupt checkpoint or a resume with other settings.
    """
    t_start = time.perf_counter()
    model_name = _model_name(model, model_name)
    env = D.torchrun_env() if world_size in (None, 1) else None
    world = env[1] if env else (1 if world_size is None else world_size)
    cfg = TrainConfig.from_recipe(model_name, world, lam, epochs, lr, pretrain_epochs, pretrain_lr, batch_size,
                                  weight_decay, momentum=momentum, nesterov=nesterov, schedule=schedule, seed=seed)
    int_field("workers", workers, 0)
    device = _device(device, sync_bn)
    bundle = as_bundle(data)
    plan = _checked_plan(model, plan)
    int_field("calibration_size", calibration_size, 1)
    distillation = _design_layers(model, plan, design_init, bundle, calibration_size, seed, out_dir, resume)
    check_training_memory(model, bundle.input_shape, cfg.batch_size, device)     # before a batch is allocated
    run_meta = dict(meta or {}, distillation=distillation, dataset=bundle.to_dict(), num_classes=bundle.num_classes,
                    input_shape=list(bundle.input_shape), in_channels=int(bundle.input_shape[0]),
                    torch=torch.__version__)
    job = Job(model_name, cfg, plan.to_dict() if plan is not None else None,
              str(out_dir) if out_dir is not None else None, bool(resume), bool(quiet), int(workers), device,
              run_meta, callback, bool(sync_bn), bool(deterministic))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    history, start, main = run_processes(model, bundle, job, env)
    result = TrainResult(model, model_name, cfg.to_dict(), job.plan, history, start, out_dir=job.out_dir,
                         distillation=distillation)
    if main and evaluate_decomposition:
        measure_on_eval_split(result, model, plan, bundle, job)
    result.seconds = time.perf_counter() - t_start
    if main and out_dir is not None:
        save_final(result, model, job)
        write_data_file(Path(out_dir) / "summary.json", result.to_dict())
    return result


def _model_name(model, model_name) -> str:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
    model_name = model_name or getattr(model, "name", None) or type(model).__name__
    return model_name if isinstance(model_name, str) else type(model).__name__


def _checked_plan(model: nn.Module, plan):
    """The resolved plan, checked against the model now rather than in a worker process."""
    plan = resolve_module_plan(model, plan) if plan is not None else None
    check_finite(model)
    if plan is not None:
        StructuralRegularizer(model, plan)
    return plan


def _design_layers(model: nn.Module, plan, init: str, bundle, calibration_size: int, seed: int, out_dir,
                   resume: bool) -> dict:
    """Swap the layers SR does not regularize into their trainable forms (the designs), in place;
    {layer: relative output error of the fit}. A resumed run takes the weights from its
    checkpoint, so its modules start fresh instead of being fitted again."""
    if plan is None:
        return {}
    if resume and out_dir is not None and (Path(out_dir) / "checkpoint.pt").exists():
        init = "scratch"
    new, fits = apply_trainable_forms(model, plan, init=init, calibration=bundle.train,
                                      calibration_size=calibration_size, skip_regularized=True, seed=seed)
    if new is not model:
        raise ValueError("plan: a design cannot replace the model itself (plan a layer inside it)")
    return fits


def _device(device, sync_bn: bool) -> str:
    device = check_device(device)
    if sync_bn and torch.device(device).type != "cuda":
        raise ValueError("sync_bn = True needs CUDA (torch's SyncBatchNorm has no CPU kernel)")
    return device


# -- the processes ---------------------------------------------------------------------------
def run_processes(model: nn.Module, bundle, job: Job, env) -> tuple[list, int, bool]:
    """(history, first epoch trained, whether this is the main process) after training ``model``."""
    if env is not None:
        return _join_torchrun(model, bundle, job, env)
    if job.cfg.world_size > 1:
        history, start = _spawn(model, bundle, job)
        return history, start, True
    with deterministic_mode(job.deterministic, torch.device(job.device).type == "cuda"):
        history, start = fit(model, bundle, job)
    return history, start, True


def _join_torchrun(model: nn.Module, bundle, job: Job, env) -> tuple[list, int, bool]:
    """Under torchrun: join its process group (or use the one already there)."""
    rank, world, local = env
    cuda = torch.device(job.device).type == "cuda"
    if cuda:
        job.device = f"cuda:{local}"
        torch.cuda.set_device(torch.device(job.device))
    own_group = not D.is_distributed()
    D.init_process_group(rank, world, D.default_backend(job.device))
    done = False
    try:
        with deterministic_mode(job.deterministic, cuda):
            history, start = fit(model, bundle, job, rank, world)
        done = True
    finally:
        if own_group:
            D.destroy(wait=done)
    return history, start, rank == 0


def _spawn(model: nn.Module, bundle, job: Job) -> tuple[list, int]:
    """K spawned processes; the main one's weights come back into ``model``."""
    with tempfile.TemporaryDirectory(prefix="structconv-ddp-") as tmp:
        result_file = os.path.join(tmp, "result.pt")
        D.spawn(_ddp_worker, job.cfg.world_size, (model, bundle, job, os.path.join(tmp, "rendezvous"), result_file))
        res = torch.load(result_file, weights_only=True)
    model.load_state_dict(res["state_dict"])
    model.to(job.device)
    return res["history"], res["start"]


def _ddp_worker(rank: int, model, bundle, job: Job, init_file: str, result_file: str) -> None:
    world = job.cfg.world_size
    # torch.multiprocessing hands the parameters over in shared memory: without a private
    # copy every process would step the same tensors
    model = copy.deepcopy(model)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if torch.device(job.device).type == "cuda":
        job.device = f"cuda:{rank % torch.cuda.device_count()}"
        torch.cuda.set_device(torch.device(job.device))
    D.init_process_group(rank, world, D.default_backend(job.device), init_file)
    done = False
    try:
        with deterministic_mode(job.deterministic, torch.device(job.device).type == "cuda"):
            history, start = fit(model, bundle, job, rank, world)
        if rank == 0:
            torch.save({"state_dict": cpu_state(model), "history": history, "start": start}, result_file)
        done = True
    finally:
        D.destroy(wait=done)
    D.leave_worker()


# -- the end of the run ------------------------------------------------------------------------
def measure_on_eval_split(result: TrainResult, model: nn.Module, plan, bundle, job: Job) -> None:
    """Accuracy before/after decomposition on the validation split (else the training set)."""
    eval_ds = bundle.val if bundle.val is not None else bundle.train
    result.eval_split = "val" if bundle.val is not None else "train"
    measure_decomposition(result, model, plan, eval_ds, job.device, job.workers)


def save_final(result: TrainResult, model: nn.Module, job: Job) -> None:
    cfg = job.cfg
    final_meta = dict(job.meta, config=cfg.to_dict(), phase=cfg.phase(cfg.total_epochs - 1),
                      metrics=result.final, acc_before=result.acc_before, acc_after=result.acc_after,
                      residuals=result.residuals, final=True)
    save_atomic(make_checkpoint(job.model_name, cpu_state(model), cfg.total_epochs - 1, None, None,
                                result.plan, get_rng_state(), final_meta), Path(job.out_dir) / "final.pt")
