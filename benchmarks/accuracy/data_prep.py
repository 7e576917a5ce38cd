"""The network and the data of a scale (PROTOCOL.md section 2), through structconv's public API."""
from __future__ import annotations

import numpy as np

from config import DATASET, Scale

N_TRAIN, N_TEST, SIDE = 60000, 10000, 28


def network(scale: Scale):
    """ResNet-20 (CIFAR layout) at the scale's widths and input size, 10 classes."""
    # the width-parametrised builder is core.zoo's own (get_network has no widths argument)
    from structconv.core.zoo.resnet_cifar import CifarResNetSpec, build_cifar_resnet

    s = scale.input_size
    return build_cifar_resnet(CifarResNetSpec("resnet20", 3, widths=tuple(scale.widths), num_classes=10,
                                              input_size=(s, s)))


def _arrays(ds):
    """(images as float in [0, 1], labels) of an ArrayDataset-like split."""
    import torch

    if hasattr(ds, "images") and hasattr(ds, "labels"):
        x = ds.images
        x = x.to(torch.float32) * (1.0 / 255.0 if x.dtype == torch.uint8 else 1.0)
        return x, torch.as_tensor(ds.labels, dtype=torch.long)
    raise SystemExit(f"accuracy benchmark: {DATASET!r} split is a {type(ds).__name__}, expected in-memory "
                     f"images (structconv.nn.ArrayDataset); the raw pixels are needed for the 2x2 pooling")


def _raw_bundle():
    from structconv.nn import load_dataset

    try:
        return load_dataset(DATASET)
    except (ValueError, OSError) as e:
        raise SystemExit(f"accuracy benchmark: dataset {DATASET!r} is not available: {e} "
                         f"(needs structconv.nn's Fashion-MNIST reader, issue 12 part 1, and the Debian "
                         f"package dataset-fashion-mnist in /usr/share/datasets/fashion-mnist/)") from None


def subset_indices(labels: np.ndarray, per_class: int | None, seed: int = 0) -> np.ndarray:
    """The first ``per_class`` images of each class in a seeded permutation, sorted (None: all)."""
    if per_class is None:
        return np.arange(len(labels))
    perm = np.random.default_rng(seed).permutation(len(labels))
    out = []
    for c in np.unique(labels):
        ids = perm[labels[perm] == c][:per_class]
        if len(ids) < per_class:
            raise SystemExit(f"accuracy benchmark: class {c} has {len(ids)} training images < {per_class}")
        out.append(ids)
    return np.sort(np.concatenate(out))


def _prepare(x, pool: int):
    import torch.nn.functional as F

    if x.shape[-1] != SIDE or x.shape[-2] != SIDE:
        raise SystemExit(f"accuracy benchmark: {DATASET!r} images are {tuple(x.shape[-2:])}, expected 28x28")
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return x.contiguous()


def _official_split():
    """(raw bundle, (train images, labels), (test images, labels)) of the official 60,000 / 10,000 split."""
    raw = _raw_bundle()
    xtr, ytr = _arrays(raw.train)
    xte, yte = _arrays(raw.val)
    if len(ytr) != N_TRAIN or len(yte) != N_TEST:
        raise SystemExit(f"accuracy benchmark: {DATASET!r} has {len(ytr)} training / {len(yte)} test images, "
                         f"expected {N_TRAIN} / {N_TEST} (the official split)")
    return raw, (xtr, ytr), (xte, yte)


def load(scale: Scale, seed: int = 0):
    """The DataBundle of ``scale``: training subset + the official test set, both transformed alike.

    ``seed`` only seeds the augmentation draws (full scale); the subset is always seed 0.
    """
    from structconv.nn import ArrayDataset, DataBundle

    raw, (xtr, ytr), (xte, yte) = _official_split()
    keep = subset_indices(ytr.numpy(), scale.train_per_class, 0)
    xtr, ytr = _prepare(xtr[keep], scale.pool), ytr[keep]
    xte = _prepare(xte, scale.pool)
    mean, std = float(xtr.mean()), float(xtr.std())
    train = ArrayDataset(xtr, ytr, mean, std, augment=scale.augment, pad=scale.pad, seed=seed)
    test = ArrayDataset(xte, yte, mean, std)
    s = scale.input_size
    return DataBundle(DATASET, train, test, 10, (3, s, s), tuple(getattr(raw, "classes", ()) or ()),
                      {"pool": scale.pool, "train_per_class": scale.train_per_class, "eval_split": "test",
                       "augment": scale.augment})


# -- version 2: a validation split carved from the training images (PROTOCOL_v2.md section 2) --------
def validation_indices(labels: np.ndarray, start: int, per_class: int, seed: int = 0) -> np.ndarray:
    """Images at positions ``start .. start + per_class - 1`` of each class in the seeded permutation
    (the same permutation as ``subset_indices``, so disjoint from its first ``start`` per class), sorted."""
    perm = np.random.default_rng(seed).permutation(len(labels))
    out = []
    for c in np.unique(labels):
        ids = perm[labels[perm] == c][start:start + per_class]
        if len(ids) < per_class:
            raise SystemExit(f"accuracy benchmark: class {c} has too few images for validation positions "
                             f"{start}..{start + per_class - 1}")
        out.append(ids)
    return np.sort(np.concatenate(out))


def _train_indices_v2(labels: np.ndarray, scale, val: np.ndarray) -> np.ndarray:
    if scale.train_per_class is not None:
        if scale.train_per_class > scale.val_start:
            raise SystemExit("accuracy benchmark: train_per_class > val_start would train on "
                             "validation images")
        return subset_indices(labels, scale.train_per_class, 0)
    return np.setdiff1d(np.arange(len(labels)), val)       # full scale: every image not in validation


def load_v2(scale, seed: int = 0):
    """The version-2 DataBundle: ``train`` (as version 1), ``val`` the validation split (2,000 images at
    the CPU scale) and ``test`` the official test set, all transformed alike (training mean / std).

    ``info["validation_seed"]`` marks ``val`` as carved from training data: structconv's proxies then read
    their calibration batch from it (``calibration_batch``), never from ``test``.
    """
    from structconv.nn import ArrayDataset, DataBundle

    raw, (xtr, ytr), (xte, yte) = _official_split()
    iv = validation_indices(ytr.numpy(), scale.val_start, scale.val_per_class, 0)
    it = _train_indices_v2(ytr.numpy(), scale, iv)
    assert not np.intersect1d(iv, it).size, "validation and training images overlap"
    x_train = _prepare(xtr[it], scale.pool)
    mean, std = float(x_train.mean()), float(x_train.std())
    train = ArrayDataset(x_train, ytr[it], mean, std, augment=scale.augment, pad=scale.pad, seed=seed)
    val = ArrayDataset(_prepare(xtr[iv], scale.pool), ytr[iv], mean, std)
    test = ArrayDataset(_prepare(xte, scale.pool), yte, mean, std)
    s = scale.input_size
    info = {"pool": scale.pool, "train_per_class": scale.train_per_class, "augment": scale.augment,
            "validation_seed": 0,
            "validation_positions": [scale.val_start, scale.val_start + scale.val_per_class],
            "val_size": len(iv), "eval_split": "validation (choices); test (reported only)"}
    classes = tuple(getattr(raw, "classes", ()) or ())
    return DataBundle(DATASET, train, val, 10, (3, s, s), classes, info, test)
