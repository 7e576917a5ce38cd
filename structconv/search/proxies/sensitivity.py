"""Measured per-layer sensitivity: the loss increase and accuracy drop on held-out data when only layer l
is replaced by choice k, no retraining (the per-layer evaluation AIMET selects compression ratios with).

A plan's value is the sum over its layers (an additive model; how much it misses is measured in
issue 18's interaction study). Structures use their projection, designs the fit ``approx.py`` gives
(per-channel rank 1 for dw_pw, else a parameter-matched low-rank estimate). BatchNorm keeps the dense
running statistics (the layer is swapped in as it is, nothing re-estimated). The rows are measured on
the evaluator's batch: with a split bundle (``nn.split_validation``) that is the validation split.

Cost: one forward pass over the batch per (searched layer, non-dense choice); a choice that leaves the
layer as it is costs nothing (exactly 0). Every pass is a full forward: a ResNet's suffix reads skip
tensors from before layer l, so the prefix is not reused. Parallelism is torch's own intra-op threads
(``ProxySettings.torch_threads``); no worker queue.

The table is cached on disk per (weights, data, choice set) digest in a small versioned npz under
``$STRUCTCONV_CACHE`` (default ``~/.cache/structconv``), written atomically.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

import numpy as np

from ...core import atomic_write_bytes
from .approx import SAME, method
from .registry import proxy
from .terms import LayerWork

VERSION = 1
CHUNK = 256                                           # samples per forward pass


def cache_dir() -> Path:
    return Path(os.environ.get("STRUCTCONV_CACHE") or Path.home() / ".cache" / "structconv") / "sensitivity"


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
    return h.hexdigest()[:20]


def table_key(run) -> str:
    """(weights, data subset, choice set) digest of a run's sensitivity table."""
    ev = run.ev
    weights = b"".join(t.detach().cpu().numpy().tobytes() for t in ev.model.state_dict().values())
    data = ev.x.numpy().tobytes() + ev.hard.numpy().tobytes()
    choices = [(ls.name, [repr(c) for c in ls.choices]) for ls in run.space.searched]
    return _digest(VERSION, weights, data, choices, ev.labels is None)


class Measure:
    """Loss and accuracy of the evaluator's model on its batch, in eval mode, in chunks."""

    def __init__(self, ev):
        self.ev = ev

    def __call__(self, replaced: dict) -> tuple[float, float]:
        ev, torch = self.ev, self.ev.torch
        with ev._weights_replaced(replaced), torch.no_grad():
            logits = torch.cat([ev.model(c) for c in ev.x.split(CHUNK)])
        return ev._loss_value(logits), 100.0 * float((logits.argmax(1) == ev.hard).double().mean())


def _progress(total: int, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sensitivity", unit="eval", file=sys.stderr, disable=quiet, leave=False)


def measure_table(run, quiet: bool = False) -> dict[str, np.ndarray]:
    """{"loss": (L, K), "acc": (L, K)}: loss increase and accuracy drop (points) per (layer, choice)."""
    searched = run.space.searched
    K = max(len(ls) for ls in searched)
    loss, acc = np.full((len(searched), K), np.nan), np.full((len(searched), K), np.nan)
    measure = Measure(run.ev)
    loss0, acc0 = measure({})
    with _progress(sum(len(ls) - 1 for ls in searched), quiet) as bar:
        for li, ls in enumerate(searched):
            work = LayerWork(run, ls)
            for j, choice in enumerate(ls.choices):
                if method(ls.layer, choice) == SAME:
                    loss[li, j] = acc[li, j] = 0.0
                else:
                    lj, aj = measure({ls.name: work.approx(j)})
                    loss[li, j], acc[li, j] = lj - loss0, acc0 - aj
                bar.update(j > 0)
    return {"loss": loss, "acc": acc}


def read_cached(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != VERSION:
                return None
            return {"loss": z["loss"], "acc": z["acc"]}
    except (OSError, ValueError, KeyError):
        return None


def write_cached(path: Path, table: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, version=np.int64(VERSION), loss=table["loss"], acc=table["acc"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def sensitivity_table(run, quiet: bool | None = None) -> dict[str, np.ndarray]:
    """The run's table from the disk cache, or measured and cached."""
    path = cache_dir() / f"sensitivity-v{VERSION}-{table_key(run)}.npz"
    table = read_cached(path)
    if table is None:
        table = measure_table(run, run.quiet if quiet is None else quiet)
        write_cached(path, table)
    return table


def _row(run, work, key: str) -> np.ndarray:
    table = run.once("sensitivity", lambda: sensitivity_table(run))
    li = [ls.name for ls in run.space.searched].index(work.name)
    return table[key][li, :len(work.choices)]


_NOTE = "measured for every (layer, choice) on the validation/calibration batch, BN statistics kept"


@proxy("sensitivity_loss", "sum of measured per-layer loss increases (one layer replaced at a time)",
       higher_is_better=False, needs_weights=True, needs_torch=True, opt_in=True, base=lambda run: 0.0,
       note=lambda run: _NOTE)
def _sensitivity_loss(run, work):
    return _row(run, work, "loss")


@proxy("sensitivity_acc", "sum of measured per-layer accuracy drops (points, one layer at a time)",
       higher_is_better=False, needs_weights=True, needs_torch=True, opt_in=True, base=lambda run: 0.0,
       note=lambda run: _NOTE)
def _sensitivity_acc(run, work):
    return _row(run, work, "acc")
