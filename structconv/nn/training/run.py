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

The steps: settings (``settings``, ``recipes``), the loop of one process (``loop``, ``epoch``), the
processes (here: one, K spawned, or torchrun's), then the end of the run (measure, save).
"""
from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from ...core import write_data_file
from ..data import as_bundle
from ..devices import check_device, check_training_memory
from ..layers import StructuralRegularizer, apply_trainable_forms, resolve_module_plan
from ..weights import save_atomic
from . import distributed as D
from .checkpoint import get_rng_state, make_checkpoint
from .evaluation import check_finite, deterministic_mode
from .loop import Job, check_not_started, cpu_state, fit
from .recipes import TrainConfig
from .results import TrainResult, measure_decomposition
from .settings import TrainSettings


def train(model: nn.Module, data, plan=None, settings: TrainSettings | None = None, **options) -> TrainResult:
    """Train ``model`` (in place) on ``data`` with Structural Regularization under ``plan``.

    model: any torch module whose Conv2d/Linear names match ``plan``'s layer names.
    data: a ``DataBundle`` (``structconv.nn.data``), a ``(train, val)`` pair of Datasets
        yielding (image, label), or one Dataset (accuracy is then measured on it).
    plan: a Plan (taken as resolved: ``resolve_model`` resolves once against the traced network),
        a plan mapping, a preset name (e.g. "uniform-n2"), a plan file, or None (plain training,
        no SR, no decomposition); a reference is resolved against the model's layers.
    settings: a ``TrainSettings``; or its fields as keywords (``lam=0.1, epochs=10, ...``), which
        build one.

    The plan's sparse-kernel design layers are swapped into ``model`` as their design modules
    (``DesignConv``) before training (``settings.design_init``; the fits' relative output errors
    are ``result.distillation``); they then train plainly, SR acts on the structured layers only.

    Raises ValueError on bad settings, a plan that does not fit the model, NaN/inf weights,
    a diverging loss (``NonFiniteError``), a corrupt checkpoint or a resume with other settings.
    """
    if settings is None:
        settings = TrainSettings(**options)
    elif options:
        raise TypeError(f"train() takes settings or keyword options, not both (got {sorted(options)})")
    return run_training(model, data, plan, settings)


def run_training(model: nn.Module, data, plan, settings: TrainSettings) -> TrainResult:
    """``train`` with its settings built: prepare, run the processes, measure and save."""
    t_start = time.perf_counter()
    use_threads(settings)
    check_out_dir(settings)
    with _dirs_removed_on_error(settings.out_dir):
        job, bundle, plan, env, distillation = prepare(model, data, plan, settings)
        history, start, main = run_processes(model, bundle, job, env)
    result = TrainResult(model, job.model_name, job.cfg.to_dict(), job.plan, history, start,
                         out_dir=job.out_dir, distillation=distillation)
    if main and settings.evaluate_decomposition:
        measure_on_eval_split(result, model, plan, bundle, job)
    result.seconds = time.perf_counter() - t_start
    if main and job.out_dir is not None:
        save_final(result, model, job)
        write_data_file(Path(job.out_dir) / "summary.json", result.to_dict())
    return result


def check_out_dir(s: TrainSettings, model: nn.Module | None = None) -> None:
    """Before any work: a run already there is continued only when asked; with ``model``, the disk has
    room for its checkpoint (the weights alone; the optimizer's state needs as much again)."""
    if s.out_dir is None:
        return
    check_not_started(s.out_dir, bool(s.resume))
    if model is None:
        return
    need = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    where = Path(s.out_dir).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < need:
        raise ValueError(f"no space left on {str(s.out_dir)!r}: a checkpoint of this model takes at least "
                         f"{_size(need)}, {_size(free)} free")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


@contextlib.contextmanager
def _dirs_removed_on_error(out_dir):
    """A run that fails leaves no empty directory it made (a full disk: the first checkpoint failed)."""
    made, p = [], Path(out_dir).absolute() if out_dir is not None else None
    while p is not None and not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for d in made:                   # deepest first; rmdir leaves a directory with files in place
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def use_threads(settings: TrainSettings) -> None:
    if settings.threads:
        torch.set_num_threads(settings.threads)


def prepare(model: nn.Module, data, plan, s: TrainSettings) -> tuple[Job, object, object, object, dict]:
    """(job, data bundle, resolved plan, torchrun environment, design fits): everything checked, the
    plan's design layers swapped in, the output directory made; nothing trained yet."""
    model_name = _model_name(model, s.model_name)
    check_out_dir(s, model)                                   # before the design fits and the epochs
    env = D.torchrun_env() if s.world_size in (None, 1) else None
    cfg = TrainConfig.from_settings(s, model_name, env[1] if env else (s.world_size or 1))
    device = _device(s.device, s.sync_bn)
    bundle = as_bundle(data)
    plan = _checked_plan(model, plan)
    distillation = _design_layers(model, plan, bundle, s)
    check_training_memory(model, bundle.input_shape, cfg.batch_size, device)     # before a batch is allocated
    run_meta = dict(s.meta or {}, distillation=distillation, dataset=bundle.to_dict(),
                    num_classes=bundle.num_classes, input_shape=list(bundle.input_shape),
                    in_channels=int(bundle.input_shape[0]), torch=torch.__version__)
    out_dir = str(s.out_dir) if s.out_dir is not None else None
    job = Job(model_name, cfg, plan.to_dict() if plan is not None else None, out_dir, bool(s.resume),
              bool(s.quiet), s.workers, device, run_meta, s.callback, bool(s.sync_bn), bool(s.deterministic))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    return job, bundle, plan, env, distillation


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


def _design_layers(model: nn.Module, plan, bundle, s: TrainSettings) -> dict:
    """Swap the layers SR does not regularize into their trainable forms (the designs), in place;
    {layer: relative output error of the fit}. A resumed run takes the weights from its
    checkpoint, so its modules start fresh instead of being fitted again."""
    if plan is None:
        return {}
    init = s.design_init
    if s.resume and s.out_dir is not None and (Path(s.out_dir) / "checkpoint.pt").exists():
        init = "scratch"
    new, fits = apply_trainable_forms(model, plan, init=init, calibration=bundle.train,
                                      calibration_size=s.calibration_size, skip_regularized=True, seed=s.seed)
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
        D.spawn(_ddp_worker, job.cfg.world_size,
                (model, bundle, job, os.path.join(tmp, "rendezvous"), result_file))
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
    result.chance_acc = 100.0 / bundle.num_classes if getattr(bundle, "num_classes", 0) else None
    measure_decomposition(result, model, plan, eval_ds, job.device, job.workers)


def save_final(result: TrainResult, model: nn.Module, job: Job) -> None:
    cfg = job.cfg
    final_meta = dict(job.meta, config=cfg.to_dict(), phase=cfg.phase(cfg.total_epochs - 1),
                      metrics=result.final, acc_before=result.acc_before, acc_after=result.acc_after,
                      residuals=result.residuals, final=True)
    save_atomic(make_checkpoint(job.model_name, cpu_state(model), cfg.total_epochs - 1, None, None,
                                result.plan, get_rng_state(), final_meta), Path(job.out_dir) / "final.pt")
