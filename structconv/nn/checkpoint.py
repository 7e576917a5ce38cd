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
loads it and a checkpoint from an untrusted source cannot run code.
"""
from __future__ import annotations

import os
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..core import atomic_path

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
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# -- atomic save, checked load -------------------------------------------------------
def save_atomic(obj, path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


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


_ADVICE = re.compile(r"weights_only|safe_globals|trust|file an issue|documentation|load failed", re.I)
STATE_DICT_ADVICE = "save the weights with torch.save(model.state_dict(), path)"


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return []


def _pickle_head(path: Path, names: list[str], limit: int = 1 << 20) -> bytes:
    """The first bytes of the pickle (data.pkl of a zip checkpoint, else the file): read, never run."""
    try:
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is not None:
            with zipfile.ZipFile(path) as z, z.open(pkl) as f:
                return f.read(limit)
        with open(path, "rb") as f:
            return f.read(limit)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return b""


def _foreign_kind(path: Path, names: list[str], error: str) -> str | None:
    """What a file that is not a dict of tensors holds, as a phrase, when we can tell without unpickling."""
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return "a TorchScript archive (torch.jit.save), not a state dict"
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", error)
    head = _pickle_head(path, names)
    if b"_modules" in head and b"_parameters" in head:     # the __dict__ of a pickled nn.Module
        cls = f"{m.group(1).rsplit('.', 1)[-1]}, " if m else ""
        return f"a whole pickled model ({cls}saved by torch.save(model)), not a state dict"
    if m:
        return f"pickled Python objects ({m.group(1)}), not only tensors"
    return None


def _load_error(path: Path, what: str, e: Exception) -> ValueError:
    text = str(e)
    kind = _foreign_kind(path, _zip_names(path), text)
    if kind is not None:
        return ValueError(f"{what} {str(path)!r} holds {kind}: structconv reads only tensors "
                          f"(weights_only loading); {STATE_DICT_ADVICE}")
    # torch's own text may advise weights_only=False or allow-listing globals: never pass that on
    lines = [re.sub(r"^WeightsUnpickler error:?\s*", "", l.strip()) for l in text.splitlines()]
    first = next((l for l in lines if l and not _ADVICE.search(l)), type(e).__name__).split(". ")[0]
    return ValueError(f"{what} {str(path)!r} is corrupt or not a torch checkpoint ({first[:200]}); "
                      f"{STATE_DICT_ADVICE}")


def torch_load(path, what: str = "checkpoint", map_location="cpu"):
    """``torch.load(weights_only=True)``; a missing, damaged or foreign file is a one-line ValueError.

    A whole pickled model or a TorchScript archive is named as such, with how to save a
    state dict instead; it is never loaded any other way.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    names = _zip_names(path)
    kind = _foreign_kind(path, names, "") if any(n.endswith("/constants.pkl") for n in names) else None
    if kind is not None:                  # before torch.load, which would warn and refuse with its advice
        raise ValueError(f"{what} {str(path)!r} holds {kind}: structconv reads only tensors "
                         f"(weights_only loading); {STATE_DICT_ADVICE}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip, unpickling, EOF errors: all mean a damaged or foreign file
        raise _load_error(path, what, e) from None


def read_weights(path, what: str = "checkpoint") -> tuple[str | None, dict, dict | None, dict]:
    """(model name, state_dict, plan dict, meta) from a structconv checkpoint or a bare state dict."""
    ck = torch_load(path, what)
    if not isinstance(ck, dict) or not ck:
        raise ValueError(f"{what} {str(path)!r} holds a {type(ck).__name__}, not a checkpoint dict or state dict")
    if "state_dict" in ck:
        sd = ck["state_dict"]
        model, plan, meta = ck.get("model"), ck.get("plan"), ck.get("meta") or {}
        if model is not None and not isinstance(model, str):
            raise ValueError(f"{what} {str(path)!r}: 'model' must be a string, got {type(model).__name__}")
        if plan is not None and not isinstance(plan, dict):
            raise ValueError(f"{what} {str(path)!r}: 'plan' must be a plan mapping or None")
    else:
        sd, model, plan, meta = ck, None, None, {}
    if not isinstance(sd, dict) or not sd or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                     for k, v in sd.items()):
        raise ValueError(f"{what} {str(path)!r}: the state dict must map parameter names to tensors")
    return model, sd, plan, dict(meta) if isinstance(meta, dict) else {}


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a training checkpoint with ``weights_only=True``; anything wrong is a one-line ValueError."""
    ck = torch_load(path, "checkpoint", map_location)
    if not isinstance(ck, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(ck).__name__}, not a structconv checkpoint dict")
    missing = [k for k in CHECKPOINT_KEYS if k not in ck]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} is missing key(s) {missing}")
    if not isinstance(ck["state_dict"], dict) or not all(isinstance(v, torch.Tensor) for v in ck["state_dict"].values()):
        raise ValueError(f"checkpoint {str(path)!r}: 'state_dict' must map names to tensors")
    if not isinstance(ck["epoch"], int) or ck["epoch"] < -1:
        raise ValueError(f"checkpoint {str(path)!r}: 'epoch' = {ck['epoch']!r} must be an integer >= -1")
    return ck

