"""Image folders: ``DIR/CLASS/IMAGE`` (or ``DIR/train/CLASS/IMAGE`` + ``DIR/val/CLASS/IMAGE``):
``.npy`` arrays, or ``.png``/``.jpg``/... through Pillow (an optional dependency)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..devices import check_image_side
from .datasets import DataBundle, channel_tensor

PIL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def have_pil() -> bool:
    """Whether Pillow is importable (needed only for non-.npy images in ``load_image_folder``)."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _read_image(path: Path) -> torch.Tensor:
    """One image as a float32 (C, H, W) tensor in [0, 1] (uint8 inputs) or as stored (float)."""
    return _read_npy(path) if path.suffix.lower() == ".npy" else _read_pil(path)


def _read_npy(path: Path) -> torch.Tensor:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"image {str(path)!r} is not a readable .npy array: "
                         f"{str(e).splitlines()[0]}") from None
    t = _npy_tensor(_channels_first(a, path), path)
    if not torch.isfinite(t).all():
        raise ValueError(f"image {str(path)!r} contains NaN or inf values")
    return t


def _channels_first(a: np.ndarray, path: Path) -> np.ndarray:
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3, 4):
        return np.moveaxis(a, -1, 0)
    if not (a.ndim == 3 and a.shape[0] in (1, 3, 4)):
        raise ValueError(f"image {str(path)!r} has shape {a.shape}; expected (H, W), (H, W, C) or (C, H, W) "
                         f"with C in 1, 3, 4")
    return a


def _npy_tensor(a: np.ndarray, path: Path) -> torch.Tensor:
    if a.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32) / 255.0
    if np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    raise ValueError(f"image {str(path)!r} has dtype {a.dtype}; expected uint8 or a real number type")


def _read_pil(path: Path) -> torch.Tensor:
    if not have_pil():
        raise ValueError(f"image {str(path)!r} needs Pillow to be read (pip install pillow), "
                         f"or store images as .npy arrays")
    from PIL import Image  # Pillow is optional: only non-.npy images need it

    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if im.mode not in ("L", "I", "F", "1") else "L")
            a = np.asarray(im)
    except Exception as e:
        raise ValueError(f"image {str(path)!r} cannot be read: {str(e).splitlines()[0]}") from None
    a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32) / 255.0


def _fit_image(t: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    if t.shape[0] == 4:
        t = t[:3]
    if t.shape[0] != channels:
        t = t.repeat(channels, 1, 1) if t.shape[0] == 1 else t.mean(0, keepdim=True)
    if tuple(t.shape[-2:]) != size:
        t = F.interpolate(t[None], size=size, mode="bilinear", align_corners=False)[0]
    return t


class FolderDataset(Dataset):
    """Images read lazily from ``samples`` = [(path, label)], resized to ``size`` with ``channels``."""

    def __init__(self, samples, channels: int, size: tuple[int, int], mean, std):
        self.samples = list(samples)
        self.channels = int(channels)
        self.size = tuple(size)
        self.mean = channel_tensor(mean, self.channels, "mean")
        self.std = channel_tensor(std, self.channels, "std")

    def __len__(self):
        return len(self.samples)

    def load(self, i) -> torch.Tensor:
        path, _ = self.samples[i]
        return _fit_image(_read_image(Path(path)), self.channels, self.size)

    def __getitem__(self, i):
        return (self.load(i) - self.mean) / self.std, torch.tensor(self.samples[i][1], dtype=torch.long)


def _scan(root: Path, extensions) -> tuple[list[str], list[tuple[str, str]]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"image folder {str(root)!r} has no class subdirectories (expected DIR/CLASS/IMAGE)")
    found = []
    for c in classes:
        for p in sorted((root / c).rglob("*")):
            if p.is_file() and p.suffix.lower() in extensions:
                found.append((str(p), c))
    if not found:
        raise ValueError(f"image folder {str(root)!r} holds no images with extension {sorted(extensions)} "
                         f"in its class subdirectories")
    return classes, found


def load_image_folder(data_dir, size=None, channels: int | None = None, val_fraction: float = 0.2,
                      split_seed: int = 0, mean=None, std=None) -> DataBundle:
    """An ImageFolder-style dataset: ``DIR/CLASS/*`` (split ``val_fraction`` stratified) or
    ``DIR/train/CLASS/*`` with ``DIR/val/CLASS/*`` (or ``test``).

    ``.npy`` arrays are always read ((H, W), (H, W, C) or (C, H, W); uint8 scaled
    to [0, 1]); common image formats need Pillow. Every image is brought to
    ``size`` (default: the first image's) and ``channels`` (default: the first
    image's, 1 or 3). ``mean``/``std`` default to statistics of up to 256
    training images.
    """
    root = _folder_root(data_dir)
    classes, train_s, val_s = _samples(root, val_fraction, split_seed)
    first = _read_image(Path(train_s[0][0]))
    channels = channels or (1 if first.shape[0] == 1 else 3)
    if channels not in (1, 3):
        raise ValueError(f"channels = {channels!r} is not one of [1, 3]")
    size = tuple(first.shape[-2:]) if size is None else (size, size) if isinstance(size, int) else size
    size = tuple(int(s) for s in size)
    check_image_side("size", max(size), 1, channels, 1)          # each image is resized in memory
    mean, std = _stats(FolderDataset(train_s, channels, size, 0.0, 1.0), mean, std)
    train = FolderDataset(train_s, channels, size, mean, std)
    val = FolderDataset(val_s, channels, size, mean, std) if val_s else None
    return DataBundle("folder", train, val, len(classes), (channels, *size), tuple(classes),
                      {"data_dir": str(root), "pil": have_pil()})


def _folder_root(data_dir) -> Path:
    if data_dir is None:
        raise ValueError("data_dir is required for an image folder dataset")
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist")
    return root


def _samples(root: Path, val_fraction: float, seed: int):
    """(classes, train samples, val samples), samples as (path, class index)."""
    ext = {".npy", *PIL_EXTENSIONS}
    val_dir = next((root / v for v in ("val", "test") if (root / v).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        classes, train_s, val_s = _presplit(root / "train", val_dir, ext)
    else:
        classes, found = _scan(root, ext)
        train_s, val_s = _split(classes, found, val_fraction, seed)
    index = {c: i for i, c in enumerate(classes)}
    train_s = [(p, index[c]) for p, c in train_s]
    if not train_s:
        raise ValueError(f"image folder {str(root)!r} leaves no training images")
    return classes, train_s, [(p, index[c]) for p, c in val_s]


def _presplit(train_dir: Path, val_dir: Path, ext):
    classes, train_s = _scan(train_dir, ext)
    val_classes, val_s = _scan(val_dir, ext)
    if set(val_classes) - set(classes):
        raise ValueError(f"image folder {str(val_dir)!r} has classes "
                         f"{sorted(set(val_classes) - set(classes))} that {str(train_dir)!r} does not have")
    return classes, train_s, val_s


def _split(classes, found, val_fraction: float, seed: int):
    """A stratified split: ``val_fraction`` of each class, drawn from ``seed``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction = {val_fraction!r} is out of range [0, 1)")
    rng = np.random.default_rng(seed)
    train_s, val_s = [], []
    for c in classes:
        items = [s for s in found if s[1] == c]
        order = rng.permutation(len(items))
        k = int(round(len(items) * val_fraction))
        val_s += [items[i] for i in sorted(order[:k])]
        train_s += [items[i] for i in sorted(order[k:])]
    return train_s, val_s


def _stats(train: FolderDataset, mean, std):
    """Channel means and standard deviations of up to 256 training images (given ones kept)."""
    if mean is not None and std is not None:
        return mean, std
    step = max(1, len(train) // 256)
    sample = torch.stack([train.load(i) for i in range(0, len(train), step)])
    mean = sample.mean(dim=(0, 2, 3)) if mean is None else mean
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-6) if std is None else std
    return mean, std
