"""Datasets without downloads and without torchvision.

* ``load_digits_data``: scikit-learn's 8x8 handwritten digits (ships inside
  scikit-learn), optionally resized or padded to a larger square and repeated
  to 3 channels so the zoo networks run on it.
* ``load_cifar10``: CIFAR-10 from a local directory in its standard python
  pickle format (``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
  ``batches.meta``), unpickled with an allow-list (plain containers and numpy
  arrays only), every file's keys and shapes checked.
* ``load_image_folder``: ``DIR/CLASS/IMAGE`` (or ``DIR/train/CLASS/IMAGE`` +
  ``DIR/val/CLASS/IMAGE``): ``.npy`` arrays, or ``.png``/``.jpg``/... through Pillow.

All three return a ``DataBundle`` (train and validation datasets, class names,
input shape). Training-time augmentation (CIFAR-10's random crop + flip) is
drawn per epoch from ``(seed, epoch, sample index)``, so shuffling, DataLoader
workers, several data-parallel processes and a resumed run all see exactly the
same augmented samples.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

DATASETS = ("digits", "cifar10", "folder")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
PIL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def have_pil() -> bool:
    """Whether Pillow is importable (needed only for non-.npy images in ``load_image_folder``)."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class DataBundle:
    """A train split, a validation split (or None) and what a model needs to know about them."""

    name: str
    train: Dataset
    val: Dataset | None
    num_classes: int
    input_shape: tuple[int, int, int]
    classes: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "num_classes": self.num_classes, "input_shape": list(self.input_shape),
                "train_size": len(self.train), "val_size": len(self.val) if self.val is not None else 0,
                "classes": list(self.classes), **self.info}


def _channel_tensor(values, channels: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).flatten()
    if t.numel() == 1:
        t = t.repeat(channels)
    if t.numel() != channels:
        raise ValueError(f"{what} needs 1 or {channels} values, got {t.numel()}")
    return t.view(channels, 1, 1)


class ArrayDataset(Dataset):
    """In-memory images ``(N, C, H, W)`` (uint8 0..255 or float) with integer labels.

    ``__getitem__`` returns ``(normalized float32 image, label)``. With
    ``augment`` (call ``set_epoch`` each epoch) a sample is zero-padded by
    ``pad`` (in normalized units, i.e. the mean colour), randomly cropped back
    and randomly flipped left-right; the crop and flip of sample i in epoch e
    depend only on (seed, e, i).
    """

    def __init__(self, images, labels, mean=0.0, std=1.0, augment: bool = False, pad: int = 4,
                 seed: int = 0):
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels, dtype=torch.long)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels
        self.scale = 1.0 / 255.0 if images.dtype == torch.uint8 else 1.0
        C = images.shape[1]
        self.mean = _channel_tensor(mean, C, "mean")
        self.std = _channel_tensor(std, C, "std")
        self.augment = bool(augment)
        self.pad = int(pad)
        self.seed = int(seed)
        self._offsets = None
        self._flips = None
        if self.augment:
            self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's crops and flips (a no-op without augmentation)."""
        if not self.augment:
            return
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(epoch))
        n = len(self)
        self._offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=g)
        self._flips = torch.rand(n, generator=g) < 0.5

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i):
        x = (self.images[i].to(torch.float32) * self.scale - self.mean) / self.std
        if self.augment:
            H, W = x.shape[-2:]
            p = self.pad
            dy, dx = (int(v) for v in self._offsets[i])
            x = F.pad(x, (p, p, p, p))[:, dy:dy + H, dx:dx + W]
            if self._flips[i]:
                x = x.flip(-1)
        return x, self.labels[i]


# -- digits ---------------------------------------------------------------------
def load_digits_data(size: int = 8, channels: int = 1, mode: str = "resize", val_fraction: float = 0.2,
                     split_seed: int = 0) -> DataBundle:
    """scikit-learn's digits (1797 8x8 grayscale images, 10 classes), split stratified.

    ``size`` > 8 enlarges the images, by bilinear resizing (``mode="resize"``)
    or by zero padding around the centre (``mode="pad"``); ``channels=3``
    repeats the gray channel. Pixels are scaled to [0, 1] and normalized with
    the training split's mean and standard deviation.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size = {size!r} must be an integer >= 8")
    if channels not in (1, 3):
        raise ValueError(f"channels = {channels!r} is not one of [1, 3]")
    if mode not in ("resize", "pad"):
        raise ValueError(f"mode = {mode!r} is not one of ['pad', 'resize']")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction = {val_fraction!r} is out of range (0, 1)")
    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0     # (N, 1, 8, 8) in [0, 1]
    if size != 8:
        if mode == "resize":
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        else:
            lo = (size - 8) // 2
            x = F.pad(x, (lo, size - 8 - lo, lo, size - 8 - lo))
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    y = np.asarray(d.target)
    idx_train, idx_val = train_test_split(np.arange(len(y)), test_size=val_fraction, stratify=y,
                                          random_state=split_seed)
    idx_train, idx_val = np.sort(idx_train), np.sort(idx_val)
    xt = x[torch.as_tensor(idx_train)]
    mean, std = float(xt.mean()), float(xt.std())
    yt = torch.as_tensor(y)
    train = ArrayDataset(xt, yt[torch.as_tensor(idx_train)], mean, std)
    val = ArrayDataset(x[torch.as_tensor(idx_val)], yt[torch.as_tensor(idx_val)], mean, std)
    return DataBundle("digits", train, val, 10, (channels, size, size), tuple(str(i) for i in range(10)),
                      {"mode": mode, "val_fraction": val_fraction, "split_seed": split_seed})


# -- CIFAR-10 ---------------------------------------------------------------------
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
        raise ValueError(f"CIFAR-10 file {str(path)!r} is not a python pickle of the CIFAR-10 format: {first}") from None


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
        raise ValueError(f"CIFAR-10 file {str(path)!r} holds a {type(d).__name__}, not a dict with 'data' and 'labels'")
    data = _get(d, "data", path)
    labels = _get(d, "labels", path)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", type(data).__name__)
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'data' must be a (N, 3072) uint8 array, got shape {shape}")
    if data.dtype != np.uint8:
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'data' must be uint8, got {data.dtype}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'labels' must be a list of integers") from None
    if labels.shape != (data.shape[0],):
        raise ValueError(f"CIFAR-10 file {str(path)!r}: 'labels' has shape {labels.shape}, "
                         f"expected ({data.shape[0]},) to match 'data'")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 file {str(path)!r}: labels must lie in [0, 9], got "
                         f"[{labels.min()}, {labels.max()}]")
    return data.reshape(-1, 3, 32, 32), labels


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
    meta_path = root / "batches.meta"
    meta = _unpickle(meta_path)
    if not isinstance(meta, dict):
        raise ValueError(f"CIFAR-10 file {str(meta_path)!r} holds a {type(meta).__name__}, not a dict")
    names = _get(meta, "label_names", meta_path)
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise ValueError(f"CIFAR-10 file {str(meta_path)!r}: 'label_names' must be a list of 10 names")
    classes = tuple(_s(n) for n in names)
    parts = [_read_cifar_batch(root / f"data_batch_{i}") for i in range(1, 6)]
    xt = np.concatenate([p[0] for p in parts])
    yt = np.concatenate([p[1] for p in parts])
    xv, yv = _read_cifar_batch(root / "test_batch")
    train = ArrayDataset(torch.from_numpy(xt), torch.from_numpy(yt), CIFAR10_MEAN, CIFAR10_STD,
                         augment=augment, pad=4, seed=seed)
    val = ArrayDataset(torch.from_numpy(xv), torch.from_numpy(yv), CIFAR10_MEAN, CIFAR10_STD)
    return DataBundle("cifar10", train, val, 10, (3, 32, 32), classes,
                      {"data_dir": str(root), "augment": bool(augment)})


# -- image folders -----------------------------------------------------------------
def _read_image(path: Path) -> torch.Tensor:
    """One image as a float32 (C, H, W) tensor in [0, 1] (uint8 inputs) or as stored (float)."""
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:
            raise ValueError(f"image {str(path)!r} is not a readable .npy array: {str(e).splitlines()[0]}") from None
        if a.ndim == 2:
            a = a[None]
        elif a.ndim == 3 and a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3, 4):
            a = np.moveaxis(a, -1, 0)
        elif not (a.ndim == 3 and a.shape[0] in (1, 3, 4)):
            raise ValueError(f"image {str(path)!r} has shape {a.shape}; expected (H, W), (H, W, C) or (C, H, W) "
                             f"with C in 1, 3, 4")
        if a.dtype == np.uint8:
            t = torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32) / 255.0
        elif np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating):
            t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        else:
            raise ValueError(f"image {str(path)!r} has dtype {a.dtype}; expected uint8 or a real number type")
        if not torch.isfinite(t).all():
            raise ValueError(f"image {str(path)!r} contains NaN or inf values")
        return t
    if not have_pil():
        raise ValueError(f"image {str(path)!r} needs Pillow to be read (pip install pillow), "
                         f"or store images as .npy arrays")
    from PIL import Image

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
        self.mean = _channel_tensor(mean, self.channels, "mean")
        self.std = _channel_tensor(std, self.channels, "std")

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
    if data_dir is None:
        raise ValueError("data_dir is required for an image folder dataset")
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist")
    ext = {".npy", *PIL_EXTENSIONS}
    val_dir = next((root / v for v in ("val", "test") if (root / v).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        classes, train_s = _scan(root / "train", ext)
        val_classes, val_s = _scan(val_dir, ext)
        if set(val_classes) - set(classes):
            raise ValueError(f"image folder {str(val_dir)!r} has classes {sorted(set(val_classes) - set(classes))} "
                             f"that {str(root / 'train')!r} does not have")
    else:
        classes, found = _scan(root, ext)
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction = {val_fraction!r} is out of range [0, 1)")
        rng = np.random.default_rng(split_seed)
        train_s, val_s = [], []
        for c in classes:
            items = [s for s in found if s[1] == c]
            order = rng.permutation(len(items))
            k = int(round(len(items) * val_fraction))
            val_s += [items[i] for i in sorted(order[:k])]
            train_s += [items[i] for i in sorted(order[k:])]
    index = {c: i for i, c in enumerate(classes)}
    train_s = [(p, index[c]) for p, c in train_s]
    val_s = [(p, index[c]) for p, c in val_s]
    if not train_s:
        raise ValueError(f"image folder {str(root)!r} leaves no training images")
    first = _read_image(Path(train_s[0][0]))
    channels = channels or (1 if first.shape[0] == 1 else 3)
    if channels not in (1, 3):
        raise ValueError(f"channels = {channels!r} is not one of [1, 3]")
    if size is None:
        size = tuple(first.shape[-2:])
    elif isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    train = FolderDataset(train_s, channels, size, 0.0, 1.0)
    if mean is None or std is None:
        step = max(1, len(train) // 256)
        sample = torch.stack([train.load(i) for i in range(0, len(train), step)])
        mean = sample.mean(dim=(0, 2, 3)) if mean is None else mean
        std = sample.std(dim=(0, 2, 3)).clamp_min(1e-6) if std is None else std
    train = FolderDataset(train_s, channels, size, mean, std)
    val = FolderDataset(val_s, channels, size, mean, std) if val_s else None
    return DataBundle("folder", train, val, len(classes), (channels, *size), tuple(classes),
                      {"data_dir": str(root), "pil": have_pil()})


def load_dataset(name: str, data_dir=None, **kwargs) -> DataBundle:
    """``digits`` | ``cifar10`` | ``folder`` by name; ``kwargs`` go to the loader."""
    if name == "digits":
        return load_digits_data(**kwargs)
    if name == "cifar10":
        return load_cifar10(data_dir, **kwargs)
    if name == "folder":
        return load_image_folder(data_dir, **kwargs)
    raise ValueError(f"dataset = {name!r} is not one of {list(DATASETS)}")
