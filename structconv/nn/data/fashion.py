"""Fashion-MNIST (and any MNIST-format folder) from local IDX files: no downloads.

Debian's ``dataset-fashion-mnist`` package installs the full set (60k training, 10k test
images, 28x28 gray, 10 classes) under ``FASHION_MNIST_DIR``. The training files are the
train split and the official t10k files the validation split; they are never mixed.
A class-balanced subset of either (``train_size`` / ``val_size``) is drawn by
``subset_seed`` alone, so every plan and seed of a benchmark sees the same images.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...core import int_field
from ..devices import check_image_side
from .datasets import ArrayDataset, DataBundle
from .idx import find_idx, read_idx

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _root(data_dir) -> Path:
    root = FASHION_MNIST_DIR if data_dir is None else Path(data_dir)
    if not root.is_dir():
        hint = " (install the Debian package dataset-fashion-mnist)" if data_dir is None else ""
        raise ValueError(f"data_dir {str(root)!r} is not a directory{hint}")
    return root


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W) uint8, labels (N,) int64) of one split, shapes and types checked."""
    img_path, lab_path = (find_idx(root, stem) for stem in _SPLITS[split])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"IDX file {str(img_path)!r}: images must be 3-D uint8 (N, H, W), got "
                         f"{images.ndim}-D {images.dtype}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"IDX file {str(lab_path)!r}: labels must be 1-D uint8, "
                         f"got {labels.ndim}-D {labels.dtype}")
    if len(labels) != len(images):
        raise ValueError(f"IDX file {str(lab_path)!r}: {len(labels)} labels for {len(images)} images "
                         f"in {str(img_path)!r}")
    return images, labels.astype(np.int64)


def balanced_subset(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` samples with class counts as equal as the data allows (all when None)."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    perm = np.random.default_rng(seed).permutation(len(labels))
    lab = labels[perm]
    rank = np.zeros(len(lab), np.int64)
    for c in np.unique(lab):                              # position of each sample within its class
        where = np.flatnonzero(lab == c)
        rank[where] = np.arange(len(where))
    order = np.lexsort((np.arange(len(lab)), rank))       # round-robin over the classes
    return np.sort(perm[order[:n]])


def _resize(images: np.ndarray, size: int) -> torch.Tensor:
    """(N, 1, size, size) uint8 (bilinear, antialiased when shrinking), in chunks to bound memory."""
    x = torch.from_numpy(images).unsqueeze(1)
    if size == images.shape[-1] and size == images.shape[-2]:
        return x
    out = torch.empty((len(x), 1, size, size), dtype=torch.uint8)
    for i in range(0, len(x), 4096):
        chunk = F.interpolate(x[i:i + 4096].float(), size=(size, size), mode="bilinear", align_corners=False,
                              antialias=size < max(images.shape[-2:]))
        out[i:i + 4096] = chunk.round().clamp(0, 255).to(torch.uint8)
    return out


def _mean_std(x: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of uint8 pixels scaled to [0, 1], exactly, from their histogram."""
    counts = torch.bincount(x.flatten(), minlength=256).double()
    v = torch.arange(256, dtype=torch.float64) / 255.0
    n = counts.sum()
    mean = float((counts * v).sum() / n)
    var = float((counts * (v - mean) ** 2).sum() / max(1.0, float(n) - 1))
    return mean, max(var, 1e-12) ** 0.5


@dataclass(frozen=True)
class _Request:
    """What a caller asks of an MNIST-format set (``load_fashion_mnist``'s arguments)."""

    size: int | None = None
    channels: int = 1
    train_size: int | None = None
    val_size: int | None = None
    subset_seed: int = 0
    augment: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.size is not None:
            int_field("size", self.size, 8, 4096)
        if self.channels not in (1, 3):
            raise ValueError(f"channels = {self.channels!r} is not one of [1, 3]")
        for name in ("train_size", "val_size"):
            if getattr(self, name) is not None:
                int_field(name, getattr(self, name), 1)
        int_field("subset_seed", self.subset_seed, 0)


def load_fashion_mnist(data_dir=None, size: int | None = None, channels: int = 1,
                       train_size: int | None = None, val_size: int | None = None, subset_seed: int = 0,
                       augment: bool = False, seed: int = 0) -> DataBundle:
    """Fashion-MNIST from ``data_dir`` (default ``FASHION_MNIST_DIR``).

    size: image side after bilinear resizing (default: the files' own, 28); channels: 1, or 3
    (the gray channel repeated, no copy); train_size / val_size: class-balanced subsets drawn by
    ``subset_seed``; augment: random 4-pixel crop + flip drawn from (seed, epoch, index).
    Normalised with the training subset's mean and standard deviation.
    """
    req = _Request(size, channels, train_size, val_size, subset_seed, augment, seed)
    return _load(data_dir, "fashion-mnist", FASHION_CLASSES, req)


def load_idx_folder(data_dir, **kwargs) -> DataBundle:
    """Any MNIST-format folder (the four IDX files, gz or not): classes named by their label;
    ``kwargs`` as for ``load_fashion_mnist``."""
    if data_dir is None:
        raise ValueError("data_dir is required for dataset 'idx' (a folder with the four MNIST-format files)")
    return _load(data_dir, "idx", None, _Request(**kwargs))


def _load(data_dir, name: str, classes, req: _Request) -> DataBundle:
    root = _root(data_dir)
    (xt, yt), (xv, yv) = read_split(root, "train"), read_split(root, "val")
    if xt.shape[1:] != xv.shape[1:]:
        raise ValueError(f"data_dir {str(root)!r}: train images are {list(xt.shape[1:])}, test images "
                         f"{list(xv.shape[1:])}")
    k = int(max(yt.max(), yv.max())) + 1
    if classes is not None and k > len(classes):
        raise ValueError(f"data_dir {str(root)!r}: label {k - 1} is out of range [0, {len(classes) - 1}]")
    k = len(classes) if classes is not None else k
    it = balanced_subset(yt, req.train_size, req.subset_seed)
    iv = balanced_subset(yv, req.val_size, req.subset_seed + 1)
    side = int(req.size or xt.shape[1])
    check_image_side("size", side, 8, 1, len(it) + len(iv))
    xt, xv = _resize(xt[it], side), _resize(xv[iv], side)
    mean, std = _mean_std(xt)
    if req.channels == 3:
        xt, xv = xt.expand(-1, 3, -1, -1), xv.expand(-1, 3, -1, -1)
    train = ArrayDataset(xt, torch.from_numpy(yt[it]), mean, std, augment=req.augment, seed=req.seed)
    val = ArrayDataset(xv, torch.from_numpy(yv[iv]), mean, std)
    names = tuple(classes) if classes is not None else tuple(str(i) for i in range(k))
    info = {"data_dir": str(root), "size": side, "channels": req.channels, "train_size": len(it),
            "val_size": len(iv), "subset_seed": req.subset_seed, "augment": bool(req.augment), "mean": mean,
            "std": std}
    return DataBundle(name, train, val, k, (req.channels, side, side), names, info)
