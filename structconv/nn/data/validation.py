"""A validation split carved from the training data: the split every choice is made on.

    sel = split_validation(bundle)            # train: the rest, val: carved, test: bundle.val
    sel.info["validation_digest"]            # recorded in a run's meta (``DataBundle.to_dict``)

A bundle's ``val`` is the data set's evaluation split (Fashion-MNIST's and CIFAR-10's official
test set). Choosing plans, ranking candidates or calibrating proxies on it would select on the
test set, so ``split_validation`` draws a class-balanced subset of the *training* split with a
fixed seed, makes it the bundle's ``val``, and keeps the evaluation split apart as ``test``:
reported, never read to choose. ``selection_bundle`` drops ``test`` altogether.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ...core import int_field
from .datasets import ArrayDataset, DataBundle
from .fashion import balanced_subset

VALIDATION_FRACTION = 0.1        # of the training split,
VALIDATION_MAX = 5000            # at most this many images (Fashion-MNIST: 5k of 60k)


def default_size(n_train: int) -> int:
    return max(1, min(VALIDATION_MAX, round(VALIDATION_FRACTION * n_train)))


def _labels(ds: Dataset) -> np.ndarray:
    if isinstance(ds, ArrayDataset):
        return ds.labels.numpy()
    return np.asarray([int(ds[i][1]) for i in range(len(ds))], np.int64)


def _take(ds: Dataset, idx: np.ndarray, augment: bool) -> Dataset:
    if isinstance(ds, ArrayDataset):
        t = torch.from_numpy(idx)
        return ArrayDataset(ds.images[t], ds.labels[t], ds.mean, ds.std, augment=augment and ds.augment,
                            pad=ds.pad, seed=ds.seed)
    return Subset(ds, idx.tolist())


def digest(idx: np.ndarray) -> str:
    """A short digest of sorted sample indices (what a run records of its validation split)."""
    return hashlib.sha256(np.asarray(idx, np.int64).tobytes()).hexdigest()[:16]


def validation_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced subset of ``size`` training samples drawn by ``seed``."""
    int_field("validation_size", size, 1, max(1, len(labels) - 1))
    int_field("validation_seed", seed, 0)
    return balanced_subset(labels, size, seed)


def split_validation(bundle: DataBundle, size: int | None = None, seed: int = 0) -> DataBundle:
    """``bundle`` with ``val`` carved from its training split (the rest trains, no augmentation on
    the carved part) and its evaluation split kept as ``test``; the seed, size and digest of the
    carved indices go to ``info``. A bundle already split is returned as it is."""
    if "validation_seed" in bundle.info:
        return bundle
    labels = _labels(bundle.train)
    n = default_size(len(labels)) if size is None else size
    iv = validation_indices(labels, n, seed)
    rest = np.setdiff1d(np.arange(len(labels)), iv)
    info = dict(bundle.info, train_size=int(len(rest)), val_size=int(len(iv)), validation_seed=int(seed),
                validation_size=int(len(iv)), validation_digest=digest(iv))
    return replace(bundle, train=_take(bundle.train, rest, True), val=_take(bundle.train, iv, False),
                   test=bundle.val, info=info)


def selection_bundle(bundle: DataBundle, size: int | None = None, seed: int = 0) -> DataBundle:
    """The bundle a choice may read: training rest and validation split, no test split at all."""
    return replace(split_validation(bundle, size, seed), test=None)


def is_split(data) -> bool:
    """Whether ``data`` is a bundle whose ``val`` is a validation split carved from training data."""
    return isinstance(data, DataBundle) and "validation_seed" in data.info
