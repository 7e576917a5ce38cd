"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict with exactly these keys::

    model       str    the model's name (a zoo name for `structconv train`)
    state_dict  dict   the model's state dict (tensors)
    optimizer   dict   optimizer.state_dict() of the current phase (or None)
    scheduler   dict   lr scheduler state_dict() of the current phase (or None)
    epoch       int    the last completed epoch, counted from 0 over both phases
    plan        dict   Plan.to_dict() or None
    rng         dict   torch / cuda / numpy / python RNG states as tensors and lists
    meta        dict   plain values: training settings, phase, metrics, dataset info

Nothing in it needs pickle's arbitrary-object loading, so ``weights_only=True``
loads it (``nn.weights``) and a checkpoint from an untrusted source cannot run code.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from ...core import shown
from ..weights import check_fields, save_atomic, torch_load

MAX_EPOCH = 10**9       # far past any run; a larger "epoch" is a damaged or forged file
CHECKPOINT_KEYS = ("model", "state_dict", "optimizer", "scheduler", "epoch", "plan", "rng", "meta")


# -- RNG state as weights_only-safe values ------------------------------------------
def get_rng_state() -> dict:
    """Every RNG a training step may touch, as tensors, ints, floats and lists."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, pystate, pygauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(version), "state": list(pystate), "gauss": pygauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``get_rng_state`` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def plain(obj):
    """``obj`` as plain str/int/float/bool/None/list/dict/tensor values (what weights_only loads)."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, dict):
        return {plain(k) if not isinstance(k, str) else str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if hasattr(obj, "to_dict"):
        return plain(obj.to_dict())
    return repr(obj)


def make_checkpoint(model_name: str, state_dict, epoch: int, optimizer=None, scheduler=None, plan=None,
                    rng=None, meta=None) -> dict:
    """The checkpoint dict (see module docstring); ``plan`` may be a Plan, a dict or None."""
    return {"model": str(model_name), "state_dict": dict(state_dict),
            "optimizer": optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer,
            "scheduler": scheduler.state_dict() if hasattr(scheduler, "state_dict") else scheduler,
            "epoch": int(epoch), "plan": plain(plan), "rng": rng if rng is not None else get_rng_state(),
            "meta": plain(dict(meta or {}))}


def save_checkpoint(path, model_name: str, state_dict, epoch: int, **kwargs) -> Path:
    """Build a checkpoint (``make_checkpoint``) and write it atomically."""
    return save_atomic(make_checkpoint(model_name, state_dict, epoch, **kwargs), path)


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a training checkpoint with ``weights_only=True``; anything wrong is a one-line ValueError."""
    ck = torch_load(path, "checkpoint", map_location)
    if not isinstance(ck, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(ck).__name__}, "
                         "not a structconv checkpoint dict")
    missing = [k for k in CHECKPOINT_KEYS if k not in ck]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} is missing key(s) {missing}")
    check_fields(ck, path, "checkpoint")
    epoch = ck["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not -1 <= epoch <= MAX_EPOCH:
        raise ValueError(f"checkpoint {str(path)!r}: 'epoch' = {shown(epoch)[:40]} must be an integer in "
                         f"[-1, {MAX_EPOCH}]")
    return ck
