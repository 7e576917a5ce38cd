"""``DataSettings``: which data set a training run reads, and how, checked once."""
from __future__ import annotations

from dataclasses import dataclass

from ..settings import Bound, check_choice, checked_fields
from .datasets import DataBundle
from .loaders import DATASETS, load_dataset

BOUNDS = {"input_size": Bound(1, integer=True), "train_size": Bound(1, integer=True)}


@dataclass(frozen=True)
class DataSettings:
    """A data set by name (``DATASETS``), from ``data_dir`` where it needs one.

    input_size: image side after resizing (digits: 16 for a 1-channel model, else 32; MNIST
    formats: 28); train_size: fashion-mnist/idx, a class-balanced training subset; augment:
    cifar10, fashion-mnist, idx, random crop + flip.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    input_size: int | None = None
    train_size: int | None = None
    augment: bool = True

    def __post_init__(self):
        for name, value in checked_fields(self, BOUNDS).items():
            object.__setattr__(self, name, value)
        check_choice("dataset", self.dataset, DATASETS)

    def load(self, gray: bool, seed: int = 0) -> DataBundle:
        """The bundle for a model that takes 1 channel (``gray``, small_cnn) or 3 (the zoo); ``seed``
        draws the augmentation and the subset."""
        channels = 1 if gray else 3
        if self.dataset == "digits":
            return load_dataset("digits", size=self.input_size or (16 if gray else 32), channels=channels)
        if self.dataset == "cifar10":
            return load_dataset("cifar10", self.data_dir, augment=self.augment, seed=seed)
        if self.dataset in ("fashion-mnist", "idx"):
            return load_dataset(self.dataset, self.data_dir, size=self.input_size, channels=channels,
                                train_size=self.train_size, augment=self.augment, seed=seed)
        return load_dataset("folder", self.data_dir, size=self.input_size, channels=None if gray else 3)
