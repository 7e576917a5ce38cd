"""What a data set is for training: ``DataBundle`` (splits plus what a model needs to know)
and ``ArrayDataset`` (in-memory images with per-epoch augmentation drawn from (seed, epoch, index))."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


@dataclass
class DataBundle:
    """A train split, a validation split (or None) and what a model needs to know about them.

    ``test``: the evaluation split kept apart once ``val`` is carved from the training data
    (``validation.split_validation``): reported, never read to choose.
    """

    name: str
    train: Dataset
    val: Dataset | None
    num_classes: int
    input_shape: tuple[int, int, int]
    classes: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)
    test: Dataset | None = None

    def to_dict(self) -> dict:
        test = {"test_size": len(self.test)} if self.test is not None else {}
        return {"name": self.name, "num_classes": self.num_classes, "input_shape": list(self.input_shape),
                "train_size": len(self.train), "val_size": len(self.val) if self.val is not None else 0,
                **test, "classes": list(self.classes), **self.info}


def channel_tensor(values, channels: int, what: str) -> torch.Tensor:
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
        self.mean = channel_tensor(mean, C, "mean")
        self.std = channel_tensor(std, C, "std")
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
