"""Measuring a model (accuracy, loss, finiteness) and the switches that make runs repeatable."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..devices import check_device
from . import distributed as D


class NonFiniteError(ValueError):
    """The loss or a weight became NaN or inf."""


def _first_nonfinite_tensor(model: nn.Module) -> str | None:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


def check_finite(model: nn.Module, what: str = "model") -> None:
    """NonFiniteError (a ValueError) naming the first parameter or buffer holding NaN or inf."""
    name = _first_nonfinite_tensor(model)
    if name is not None:
        raise NonFiniteError(f"{what} parameter {name!r} contains NaN or inf values")


def nonfinite_hint(model: nn.Module) -> str:
    """`` ('name' is NaN/inf now)`` for the first non-finite tensor, or ''."""
    name = _first_nonfinite_tensor(model)
    return "" if name is None else f" ({name!r} is NaN/inf now)"


@contextlib.contextmanager
def deterministic_mode(enabled: bool = True, cuda: bool = False):
    """Deterministic kernels (warn-only where torch has none) for the duration of the block."""
    prev = (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
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


def _eval_sums(model: nn.Module, dataset: Dataset, batch_size: int, device, workers: int) -> list[float]:
    """[correct, summed cross-entropy, samples] over ``dataset`` (model already in eval mode)."""
    correct = loss = 0.0
    n = 0
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers):
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss += float(F.cross_entropy(out, y, reduction="sum"))
        correct += float((out.argmax(1) == y).sum())
        n += int(y.numel())
    return [correct, loss, n]


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256, device=None, workers: int = 0,
             indices=None) -> dict:
    """{'acc': accuracy in %, 'loss': mean cross-entropy, 'n': samples} in eval mode.

    In a data-parallel group pass each process its shard in ``indices``: the
    counts are then summed over the group (a collective every process must join).
    """
    device = torch.device(check_device(device)) if device is not None else next(model.parameters()).device
    ds = Subset(dataset, indices) if indices is not None else dataset
    was_training = model.training
    model.eval()
    try:
        correct, loss, n = _eval_sums(model, ds, batch_size, device, workers)
    finally:
        model.train(was_training)
    if indices is not None:
        correct, loss, n = D.all_reduce_sum([correct, loss, float(n)], device)
    return {"acc": 100.0 * correct / n if n else float("nan"), "loss": loss / n if n else float("nan"),
            "n": int(n)}
