"""`structconv train`: the data set, the model with its initial weights and its plan resolved once,
trained with Structural Regularization, measured before and after decomposition."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from ..data import DataBundle, DataSettings
from ..resolve import ResolvedModel, resolve_model
from ..user_code import fence_for
from ..zoo import SMALL
from .evaluation import evaluate
from .history import log
from .results import TrainResult, near_chance
from .run import check_out_dir, run_training, use_threads
from .settings import TrainSettings


@dataclass(frozen=True)
class TrainRun:
    """What ``train_model`` did: the model as resolved (trained in place), the data, the result."""

    model: ResolvedModel
    data: DataBundle
    result: TrainResult


def train_model(ref: str, data: DataSettings, settings: TrainSettings, *, plan=None,
                weights=None) -> TrainRun:
    """Train the model ``ref`` (a zoo name with a torch module, small_cnn, or a Python reference
    ``file.py:fn``) on ``data`` under ``plan`` (a preset name, a plan file, a Plan or None):
    ``resolve_model`` builds it for the data (seeded by ``settings.seed``), loads ``weights`` and
    resolves the plan once; ``train`` takes it from there (checkpoints name the model ``ref``)."""
    use_threads(settings)
    check_out_dir(settings)                               # a run already there: before the data and model
    bundle = data.load(ref in SMALL, settings.seed)
    torch.manual_seed(settings.seed)                      # the initial weights depend on the seed too
    resolved = resolve_model(ref, bundle, plan=plan, weights=weights)
    if weights is not None:
        with fence_for(ref, "checked"):
            warn_if_untrained(resolved.module, bundle, settings)
    source = os.fspath(plan) if isinstance(plan, (str, os.PathLike)) else None
    settings = replace(settings, model_name=settings.model_name or ref,
                       meta={"plan_source": source, **(settings.meta or {})})
    with fence_for(ref, "trained"):                      # the user's forward: its prints and exits fenced
        result = run_training(resolved.module, bundle, resolved.plan, settings)
    return TrainRun(resolved, bundle, result)


UNTRAINED_PROBE = 512     # training images the --weights check reads (no test image: it chooses nothing)


def warn_if_untrained(module, bundle: DataBundle, settings: TrainSettings) -> None:
    """One warning when the given weights score near chance on a sample of the training split."""
    n = min(UNTRAINED_PROBE, len(bundle.train))
    idx = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(0))[:n].tolist()
    acc = evaluate(module, bundle.train, indices=idx, device=settings.device)["acc"]
    chance = 100.0 / bundle.num_classes
    if near_chance(acc, chance):
        log(f"structconv: warning: the --weights score {acc:.2f}% on {n} training images, near chance "
            f"({chance:.2f}%): they look untrained for this data", quiet=False)
