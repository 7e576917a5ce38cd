"""Training settings: the paper's recipes (seed supplementary A.2) and ``TrainConfig``,
every setting that shapes the trained weights (checked again on resume)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ...core import int_field

SCHEDULES = ("cosine", "step")

# Seed supplementary A.2. ``epochs``/``pretrain_epochs`` apply only when train() is
# called without ``epochs``; batch 128 is the CIFAR-10 batch (ImageNet ResNets: 256).
RECIPES = {
    "resnet": dict(lr=0.1, pretrain_lr=0.1, weight_decay=1e-4, batch_size=128, epochs=200, pretrain_epochs=0),
    "mobilenet": dict(lr=0.1, pretrain_lr=0.5, weight_decay=4e-5, batch_size=128, epochs=150, pretrain_epochs=90),
    "efficientnet": dict(lr=0.1, pretrain_lr=0.5, weight_decay=4e-5, batch_size=384, epochs=250,
                         pretrain_epochs=90),
    "default": dict(lr=0.1, pretrain_lr=0.1, weight_decay=1e-4, batch_size=128, epochs=200, pretrain_epochs=0),
}


def recipe_for(model_name: str | None) -> dict:
    """The A.2 defaults for a model name (resnet*, mobilenet*, efficientnet*, else 'default')."""
    name = (model_name or "").lower()
    for key in ("resnet", "mobilenet", "efficientnet"):
        if name.startswith(key):
            return dict(RECIPES[key])
    return dict(RECIPES["default"])


def _num(name, value, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and (v > hi or (hi_open and v == hi))):
        rng = f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{')' if hi_open else ']'}"
        raise ValueError(f"{name} = {value!r} is out of range {rng}")
    return v


@dataclass(frozen=True)
class TrainConfig:
    """Every setting that shapes the trained weights (checked again on resume)."""

    lam: float
    epochs: int
    pretrain_epochs: int
    lr: float
    pretrain_lr: float
    batch_size: int
    weight_decay: float
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "cosine"
    seed: int = 0
    world_size: int = 1

    def __post_init__(self):
        self._check_lengths()
        self._check_optimizer()
        set_ = object.__setattr__
        set_(self, "seed", int_field("seed", self.seed, 0))
        set_(self, "world_size", int_field("world_size", self.world_size, 1))
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size = {self.batch_size} must be a multiple of world_size = "
                             f"{self.world_size} (it is the global batch)")

    def _check_lengths(self) -> None:
        set_ = object.__setattr__
        set_(self, "lam", _num("lam", self.lam, 0.0))
        set_(self, "epochs", int_field("epochs", self.epochs, 0))
        set_(self, "pretrain_epochs", int_field("pretrain_epochs", self.pretrain_epochs, 0))
        if self.epochs + self.pretrain_epochs < 1:
            raise ValueError("epochs + pretrain_epochs = 0: nothing to train (need >= 1)")

    def _check_optimizer(self) -> None:
        set_ = object.__setattr__
        set_(self, "lr", _num("lr", self.lr, 0.0, lo_open=True))
        set_(self, "pretrain_lr", _num("pretrain_lr", self.pretrain_lr, 0.0, lo_open=True))
        set_(self, "batch_size", int_field("batch_size", self.batch_size, 1))
        set_(self, "weight_decay", _num("weight_decay", self.weight_decay, 0.0))
        set_(self, "momentum", _num("momentum", self.momentum, 0.0, 1.0, hi_open=True))
        set_(self, "nesterov", bool(self.nesterov))
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov = True needs momentum > 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule = {self.schedule!r} is not one of {list(SCHEDULES)}")

    @classmethod
    def from_recipe(cls, model_name: str | None, world_size: int, lam: float, epochs=None, lr=None,
                    pretrain_epochs=None, pretrain_lr=None, batch_size=None, weight_decay=None,
                    **rest) -> "TrainConfig":
        """Unset values from ``recipe_for(model_name)``; ``pretrain_epochs`` defaults to 0
        unless ``epochs`` is unset too; ``pretrain_lr`` to ``lr`` when that is set."""
        rec = recipe_for(model_name)
        full_recipe = epochs is None
        return cls(
            lam=lam, epochs=rec["epochs"] if epochs is None else epochs,
            pretrain_epochs=(rec["pretrain_epochs"] if full_recipe else 0) if pretrain_epochs is None
            else pretrain_epochs,
            lr=rec["lr"] if lr is None else lr,
            pretrain_lr=(rec["pretrain_lr"] if lr is None else lr) if pretrain_lr is None else pretrain_lr,
            batch_size=rec["batch_size"] if batch_size is None else batch_size,
            weight_decay=rec["weight_decay"] if weight_decay is None else weight_decay,
            world_size=world_size, **rest)

    @property
    def total_epochs(self) -> int:
        return self.pretrain_epochs + self.epochs

    def phase(self, epoch: int) -> int:
        return 1 if epoch < self.pretrain_epochs else 2

    def phase_lam(self, phase: int) -> float:
        """The SR weight of a phase: 0 while pre-training, ``lam`` after."""
        return self.lam if phase == 2 else 0.0

    def to_dict(self) -> dict:
        return asdict(self)
