"""CIFAR-10 from a local directory in its standard python pickle format (``data_batch_1`` ..
``data_batch_5``, ``test_batch``, ``batches.meta``), unpickled with an allow-list (plain
containers and numpy arrays only), every file's keys and shapes checked. No downloads."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .datasets import ArrayDataset, DataBundle

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


class _SafeUnpickler(pickle.Unpickler):
    """Only plain containers and numpy arrays: a pickle cannot run code through us."""

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("builtins", "bytearray"), ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if module.startswith("numpy.core"):                      # pickles written before numpy 2
            module = "numpy._core" + module[len("numpy.core"):]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")
        return super().find_class(module, name)


def _unpickle(path: Path):
    try:
        with open(path, "rb") as f:
            return _SafeUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise ValueError(f"CIFAR-10 file {str(path)!r} cannot be read: {e.strerror}") from None
    except Exception as e:  # UnpicklingError, EOFError, ValueError, ... : all mean "not this format"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"CIFAR-10 file {str(path)!r} is not a python pickle of the CIFAR-10 format: "
                         f"{first}") from None


def _get(d: dict, key: str, path: Path):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise ValueError(f"CIFAR-10 file {str(path)!r} has no key {key!r} (found {sorted(_s(k) for k in d)})")


def _s(k) -> str:
    return k.decode("latin1") if isinstance(k, bytes) else str(k)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    if not isinstance(d, dict):
        raise ValueError(f"CIFAR-10 file {str(path)!r} holds a {type(d).__name__}, "
                         "not a dict with 'data' and 'labels'")
    data = _get(d, "data", path)
    labels = _get(d, "labels", path)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", type(data).__name__)
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'data' must be a (N, 3072) uint8 array, "
                         f"got shape {shape}")
    if data.dtype != np.uint8:
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'data' must be uint8, got {data.dtype}")
    return data.reshape(-1, 3, 32, 32), _labels(labels, data.shape[0], path)


def _labels(labels, n: int, path: Path) -> np.ndarray:
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'labels' must be a list of integers") from None
    if labels.shape != (n,):
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'labels' has shape {labels.shape}, "
                         f"expected ({n},) to match 'data'")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 file {str(path)!r}: labels must lie in [0, 9], got "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def _cifar_root(data_dir) -> Path:
    if data_dir is None:
        raise ValueError("data_dir is required for cifar10: a directory with data_batch_1..5, "
                         "test_batch and batches.meta (no downloads)")
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"CIFAR-10 directory {str(root)!r} does not exist")
    if not (root / "data_batch_1").exists() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    missing = [f for f in CIFAR10_FILES if not (root / f).is_file()]
    if missing:
        raise ValueError(f"CIFAR-10 directory {str(root)!r} is missing file(s) {missing} "
                         f"(expected the python version: {', '.join(CIFAR10_FILES)})")
    return root


def load_cifar10(data_dir, augment: bool = True, seed: int = 0) -> DataBundle:
    """CIFAR-10 from ``data_dir`` (the ``cifar-10-batches-py`` folder or its parent).

    Train = the five data batches (random 4-pixel crop + flip when
    ``augment``), validation = ``test_batch``. Normalized with the usual
    CIFAR-10 channel means and standard deviations.
    """
    root = _cifar_root(data_dir)
    classes = _class_names(root / "batches.meta")
    parts = [_read_cifar_batch(root / f"data_batch_{i}") for i in range(1, 6)]
    xt = np.concatenate([p[0] for p in parts])
    yt = np.concatenate([p[1] for p in parts])
    xv, yv = _read_cifar_batch(root / "test_batch")
    train = ArrayDataset(torch.from_numpy(xt), torch.from_numpy(yt), CIFAR10_MEAN, CIFAR10_STD,
                         augment=augment, pad=4, seed=seed)
    val = ArrayDataset(torch.from_numpy(xv), torch.from_numpy(yv), CIFAR10_MEAN, CIFAR10_STD)
    return DataBundle("cifar10", train, val, 10, (3, 32, 32), classes,
                      {"data_dir": str(root), "augment": bool(augment)})


def _class_names(meta_path: Path) -> tuple[str, ...]:
    meta = _unpickle(meta_path)
    if not isinstance(meta, dict):
        raise ValueError(f"CIFAR-10 file {str(meta_path)!r} holds a {type(meta).__name__}, not a dict")
    names = _get(meta, "label_names", meta_path)
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise ValueError(f"CIFAR-10 file {str(meta_path)!r}: 'label_names' must be a list of 10 names")
    return tuple(_s(n) for n in names)
