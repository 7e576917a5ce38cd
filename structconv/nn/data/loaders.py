"""Datasets without downloads and without torchvision.

* ``load_digits_data``: scikit-learn's 8x8 handwritten digits (ships inside
  scikit-learn), optionally resized or padded to a larger square and repeated
  to 3 channels so the zoo networks run on it.
* ``load_cifar10`` (``cifar``): CIFAR-10 from a local directory in its standard python
  pickle format (``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
  ``batches.meta``), unpickled with an allow-list (plain containers and numpy
  arrays only), every file's keys and shapes checked.
* ``load_fashion_mnist`` (``fashion``): Fashion-MNIST from its IDX files (Debian's
  ``dataset-fashion-mnist`` by default), or any MNIST-format folder (``idx``).
* ``load_image_folder`` (``folder``): ``DIR/CLASS/IMAGE`` (or ``DIR/train/CLASS/IMAGE`` +
  ``DIR/val/CLASS/IMAGE``): ``.npy`` arrays, or ``.png``/``.jpg``/... through Pillow.

All of them return a ``DataBundle`` (train and validation datasets, class names,
input shape). Training-time augmentation (CIFAR-10's random crop + flip) is
drawn per epoch from ``(seed, epoch, sample index)``, so shuffling, DataLoader
workers, several data-parallel processes and a resumed run all see exactly the
same augmented samples.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..devices import check_image_side
from .cifar import load_cifar10
from .datasets import ArrayDataset, DataBundle
from .fashion import load_fashion_mnist, load_idx_folder
from .folder import load_image_folder

DATASETS = ("digits", "fashion-mnist", "cifar10", "folder", "idx")


def load_digits_data(size: int = 8, channels: int = 1, mode: str = "resize", val_fraction: float = 0.2,
                     split_seed: int = 0) -> DataBundle:
    """scikit-learn's digits (1797 8x8 grayscale images, 10 classes), split stratified.

    ``size`` > 8 enlarges the images, by bilinear resizing (``mode="resize"``)
    or by zero padding around the centre (``mode="pad"``); ``channels=3``
    repeats the gray channel. Pixels are scaled to [0, 1] and normalized with
    the training split's mean and standard deviation.
    """
    from sklearn.datasets import load_digits  # scikit-learn: needed by this loader only

    _check_digits_args(size, channels, mode, val_fraction)
    d = load_digits()
    x = _enlarge(torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0, size, mode)  # [0, 1]
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    idx_train, idx_val = _stratified_split(np.asarray(d.target), val_fraction, split_seed)
    xt = x[idx_train]
    mean, std = float(xt.mean()), float(xt.std())
    yt = torch.as_tensor(np.asarray(d.target))
    train = ArrayDataset(xt, yt[idx_train], mean, std)
    val = ArrayDataset(x[idx_val], yt[idx_val], mean, std)
    return DataBundle("digits", train, val, 10, (channels, size, size), tuple(str(i) for i in range(10)),
                      {"mode": mode, "val_fraction": val_fraction, "split_seed": split_seed})


def _check_digits_args(size, channels, mode, val_fraction) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size = {size!r} must be an integer >= 8")
    if channels not in (1, 3):
        raise ValueError(f"channels = {channels!r} is not one of [1, 3]")
    if mode not in ("resize", "pad"):
        raise ValueError(f"mode = {mode!r} is not one of ['pad', 'resize']")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction = {val_fraction!r} is out of range (0, 1)")
    check_image_side("size", size, 8, channels, DIGITS_COUNT)      # before resizing allocates it


#: images in scikit-learn's digits
DIGITS_COUNT = 1797


def _enlarge(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """(N, C, 8, 8) images brought to size x size by bilinear resizing or zero padding."""
    if size == 8:
        return x
    if mode == "resize":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    lo = (size - 8) // 2
    return F.pad(x, (lo, size - 8 - lo, lo, size - 8 - lo))


def _stratified_split(y: np.ndarray, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.model_selection import train_test_split  # scikit-learn: slow to import, digits only

    idx_train, idx_val = train_test_split(np.arange(len(y)), test_size=val_fraction, stratify=y,
                                          random_state=seed)
    return torch.as_tensor(np.sort(idx_train)), torch.as_tensor(np.sort(idx_val))


def load_dataset(name: str, data_dir=None, **kwargs) -> DataBundle:
    """``digits`` | ``fashion-mnist`` | ``cifar10`` | ``folder`` | ``idx`` by name; ``kwargs`` go
    to the loader (``fashion-mnist``: data_dir None is Debian's /usr/share/datasets/fashion-mnist)."""
    if name == "digits":
        return load_digits_data(**kwargs)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir, **kwargs)
    if name == "idx":
        return load_idx_folder(data_dir, **kwargs)
    if name == "cifar10":
        return load_cifar10(data_dir, **kwargs)
    if name == "folder":
        return load_image_folder(data_dir, **kwargs)
    raise ValueError(f"dataset = {name!r} is not one of {list(DATASETS)}")


def as_bundle(data) -> DataBundle:
    """A DataBundle from a DataBundle, a (train, val) pair, a single Dataset or a dataset name."""
    if isinstance(data, DataBundle):
        return data
    if isinstance(data, str):
        return load_dataset(data)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        train, val = data
    elif isinstance(data, Dataset):
        train, val = data, None
    else:
        raise ValueError(f"data must be a DataBundle, a (train, val) pair of Datasets or a Dataset, "
                         f"got {type(data).__name__}")
    if not isinstance(train, Dataset) or (val is not None and not isinstance(val, Dataset)):
        raise ValueError("data: train and val must be torch Datasets")
    if len(train) == 0:
        raise ValueError("data: the training set is empty")
    x, _ = train[0]
    return DataBundle("custom", train, val, 0, tuple(x.shape))
