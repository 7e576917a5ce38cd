"""Training settings: the paper's recipes (seed supplementary A.2) and ``TrainConfig``,
every setting that shapes the trained weights (checked again on resume)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..settings import check_choice
from .settings import BOUNDS, SCHEDULES, TrainSettings

# Seed supplementary A.2. ``epochs``/``pretrain_epochs`` apply only when train() is
# called without ``epochs``; batch 128 is the CIFAR-10 batch (ImageNet ResNets: 256).
RECIPES = {
    "resnet": dict(lr=0.1, pretrain_lr=0.1, weight_decay=1e-4, batch_size=128, epochs=200, pretrain_epochs=0),
    "mobilenet": dict(lr=0.1, pretrain_lr=0.5, weight_decay=4e-5, batch_size=128, epochs=150,
                      pretrain_epochs=90),
    "efficientnet": dict(lr=0.1, pretrain_lr=0.5, weight_decay=4e-5, batch_size=384, epochs=250,
                         pretrain_epochs=90),
    "default": dict(lr=0.1, pretrain_lr=0.1, weight_decay=1e-4, batch_size=128, epochs=200,
                    pretrain_epochs=0),
}


def recipe_for(model_name: str | None) -> dict:
    """The A.2 defaults for a model name (resnet*, mobilenet*, efficientnet*, else 'default')."""
    name = (model_name or "").lower()
    for key in ("resnet", "mobilenet", "efficientnet"):
        if name.startswith(key):
            return dict(RECIPES[key])
    return dict(RECIPES["default"])


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
        for name in _FIELDS:
            object.__setattr__(self, name, BOUNDS[name].check(name, getattr(self, name)))
        object.__setattr__(self, "nesterov", bool(self.nesterov))
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov = True needs momentum > 0")
        if self.epochs + self.pretrain_epochs < 1:
            raise ValueError("epochs + pretrain_epochs = 0: nothing to train (need >= 1)")
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size = {self.batch_size} must be a multiple of world_size = "
                             f"{self.world_size} (it is the global batch)")

    @classmethod
    def from_settings(cls, settings: TrainSettings, model_name: str | None, world_size: int) -> TrainConfig:
        """Unset values from ``recipe_for(model_name)``; ``pretrain_epochs`` defaults to 0
        unless ``epochs`` is unset too; ``pretrain_lr`` to ``lr`` when that is set."""
        rec, s = recipe_for(model_name), settings
        full_recipe = s.epochs is None
        return cls(
            lam=s.lam, epochs=rec["epochs"] if full_recipe else s.epochs,
            pretrain_epochs=(rec["pretrain_epochs"] if full_recipe else 0) if s.pretrain_epochs is None
            else s.pretrain_epochs,
            lr=rec["lr"] if s.lr is None else s.lr,
            pretrain_lr=(rec["pretrain_lr"] if s.lr is None else s.lr) if s.pretrain_lr is None
            else s.pretrain_lr,
            batch_size=rec["batch_size"] if s.batch_size is None else s.batch_size,
            weight_decay=rec["weight_decay"] if s.weight_decay is None else s.weight_decay,
            momentum=s.momentum, nesterov=s.nesterov, schedule=s.schedule, seed=s.seed, world_size=world_size)

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


_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name in BOUNDS)
