"""Weights files: written atomically, read with ``torch.load(weights_only=True)`` only.

Nothing structconv reads needs pickle's arbitrary-object loading, so a file from an untrusted
source cannot run code when it is loaded; a whole pickled model or a TorchScript archive is
named as such (with how to save a state dict instead) and never loaded any other way.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import torch

from ..core import atomic_path


def save_atomic(obj, path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place. A write that fails
    (a full disk) is that OSError, not the RuntimeError torch makes of it, which no longer says why."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            writer = _Writer(f)
            try:
                torch.save(obj, writer)
            except RuntimeError:
                if writer.error is None:
                    raise
                raise writer.error from None
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


class _Writer:
    """The file ``torch.save`` writes through, keeping the OSError of a failed write."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


#: the largest checkpoint read (16 GiB, far above any zoo model's): torch.load holds it all in memory, so
#: a larger file is refused before it is opened
MAX_CHECKPOINT_BYTES = 1 << 34
#: containers walked when checking what a file holds: a state dict and its optimizer state need a few levels
_MAX_WALK = 16


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
        raise ValueError(f"{what} {str(path)!r} does not exist" if not path.exists()
                         else f"{what} {str(path)!r} is not a regular file")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise ValueError(f"{what} {str(path)!r} is {size} bytes, over the {MAX_CHECKPOINT_BYTES}-byte cap "
                         f"for checkpoints")
    names = _zip_names(path)
    kind = _foreign_kind(path, names, "") if any(n.endswith("/constants.pkl") for n in names) else None
    if kind is not None:                  # before torch.load, which would warn and refuse with its advice
        raise ValueError(f"{what} {str(path)!r} holds {kind}: structconv reads only tensors "
                         f"(weights_only loading); {STATE_DICT_ADVICE}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip, unpickling, EOF errors: all mean a damaged or foreign file
        raise _load_error(path, what, e) from None
    _check_tensors(obj, path, what)
    return obj


def _check_tensors(obj, path: Path, what: str, key: str = "", depth: int = 0) -> None:
    """ValueError naming the first tensor that claims more elements than its storage holds (a zero stride
    expands one float to 2**40: a few bytes in the file, terabytes once anything copies it). Saved weights
    are never such views; only containers a few levels deep are walked."""
    if isinstance(obj, torch.Tensor):
        if obj.numel() and obj.numel() * obj.element_size() > obj.untyped_storage().nbytes():
            raise ValueError(f"{what} {str(path)!r}: tensor {key or '(top level)'!r} of shape "
                             f"{list(obj.shape)} is a view over {obj.untyped_storage().nbytes()} bytes of "
                             f"data (an expanded tensor); saved weights hold their elements")
        return
    if depth >= _MAX_WALK:
        return
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        _check_tensors(v, path, what, f"{key}.{k}" if key else str(k), depth + 1)


def check_state_dict(sd, path, what: str = "checkpoint") -> dict:
    """``sd`` when it is a non-empty dict of parameter names to tensors; else a one-line ValueError."""
    if not isinstance(sd, dict) or not sd or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                     for k, v in sd.items()):
        raise ValueError(f"{what} {str(path)!r}: the state_dict must map parameter names to tensors")
    return sd


def read_weights(path, what: str = "checkpoint") -> tuple[str | None, dict, dict | None, dict]:
    """(model name, state_dict, plan dict, meta) from a structconv checkpoint or a bare state dict."""
    ck = torch_load(path, what)
    if not isinstance(ck, dict) or not ck:
        raise ValueError(f"{what} {str(path)!r} holds a {type(ck).__name__}, "
                         "not a checkpoint dict or state dict")
    if "state_dict" in ck:
        check_fields(ck, path, what)
        sd, model, plan, meta = ck["state_dict"], ck.get("model"), ck.get("plan"), ck.get("meta") or {}
    else:
        sd, model, plan, meta = ck, None, None, {}
    return model, check_state_dict(sd, path, what), plan, dict(meta)


def check_fields(ck: dict, path, what: str = "checkpoint") -> None:
    """One-line ValueError naming the first of a checkpoint's ``model``, ``plan``, ``meta`` and
    ``state_dict`` that has the wrong type (the fields every structconv weights file shares)."""
    model, plan, meta = ck.get("model"), ck.get("plan"), ck.get("meta")
    if model is not None and not isinstance(model, str):
        raise ValueError(f"{what} {str(path)!r}: 'model' must be a string, got {type(model).__name__}")
    if plan is not None and not isinstance(plan, dict):
        raise ValueError(f"{what} {str(path)!r}: 'plan' must be a plan mapping or None, "
                         f"got {type(plan).__name__}")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"{what} {str(path)!r}: 'meta' must be a mapping, got {type(meta).__name__}")
    check_state_dict(ck.get("state_dict"), path, what)
