"""``TrainSettings``: every option of a training run, checked once against ``BOUNDS``.

Unset lengths, rates and the batch (None) come from the model's recipe when the run starts
(``TrainConfig.from_settings``, which checks what the recipe fills in against the same bounds).
`structconv train`'s flags are these fields' names (``--batch-size``; ``--nproc`` for
``world_size``), so an error names the flag there and the field here.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ..settings import Bound, check_choice, checked_fields

SCHEDULES = ("cosine", "step")
INITS = ("distill", "scratch")

#: the one table of bounds: settings, the resolved ``TrainConfig`` and the command line read it
BOUNDS = {
    "lam": Bound(0.0),
    "lr": Bound(0.0, lo_open=True),
    "pretrain_lr": Bound(0.0, lo_open=True),
    "weight_decay": Bound(0.0),
    "momentum": Bound(0.0, 1.0, hi_open=True),
    "epochs": Bound(0, integer=True),
    "pretrain_epochs": Bound(0, integer=True),
    "batch_size": Bound(1, integer=True),
    "seed": Bound(0, integer=True),
    "world_size": Bound(1, integer=True),
    "workers": Bound(0, integer=True),
    "threads": Bound(1, integer=True),
    "calibration_size": Bound(1, integer=True),
}


@dataclass(frozen=True)
class TrainSettings:
    """How ``train`` runs.

    lam: weight of the SR term in phase 2 (A.2: 0.1 for "A" plans, 1.0 for "B").
    epochs, lr: length and initial learning rate of the SR phase; ``pretrain_epochs`` and
        ``pretrain_lr`` of the plain phase before it. Unset values come from
        ``recipe_for(model_name)`` (A.2); ``pretrain_epochs`` defaults to 0 unless ``epochs``
        is unset too. ``batch_size``: the global batch (split evenly over ``world_size``).
    out_dir: where metrics.jsonl, checkpoint.pt (every epoch), final.pt and summary.json go;
        None keeps everything in memory (no checkpoints, no resume). ``resume``: continue from
        out_dir/checkpoint.pt (starts fresh when there is none).
    device: 'cpu', 'cuda', 'cuda:1' ... (default: CUDA when available); ``world_size``: K > 1
        spawns K data-parallel processes; None or 1 is one process, unless the script runs
        under torchrun (WORLD_SIZE > 1), which is then joined. ``workers``: DataLoader worker
        processes; ``threads``: torch CPU threads (None: torch's choice).
    evaluate_decomposition: measure accuracy before and after ``decompose(model, plan)`` (on the
        validation split, else the training set) and the per-layer residuals.
    deterministic: deterministic kernels (warn-only where torch has none); ``sync_bn``:
        SyncBatchNorm across processes (CUDA only).
    callback: called with each epoch's metrics dict (main process), e.g. to stop early by raising.
    meta: extra plain values stored in every checkpoint's ``meta``.
    design_init: how the plan's sparse-kernel design layers start: fitted to the dense layer's
        outputs on ``calibration_size`` training samples ("distill") or fresh ("scratch").
    """

    lam: float = 0.1
    epochs: int | None = None
    lr: float | None = None
    pretrain_epochs: int | None = None
    pretrain_lr: float | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "cosine"
    seed: int = 0
    out_dir: str | os.PathLike | None = None
    resume: bool = False
    quiet: bool = False
    device: str | None = None
    world_size: int | None = 1
    workers: int = 0
    threads: int | None = None
    model_name: str | None = None
    evaluate_decomposition: bool = True
    deterministic: bool = True
    sync_bn: bool = False
    callback: Callable | None = None
    meta: dict | None = None
    design_init: str = "distill"
    calibration_size: int = 256

    def __post_init__(self):
        for name, value in checked_fields(self, BOUNDS).items():
            object.__setattr__(self, name, value)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("design_init", self.design_init, INITS)
