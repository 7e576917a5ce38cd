"""Every option of one search run, as typed frozen records checked once when they are made.

``SearchSettings`` holds what defines the problem (model, accelerator, budgets, objectives,
proxies, spaces) and the extras (baselines, accuracy in the loop); ``run`` holds how the
study runs (``study.RunSettings``). The CLI builds the same records as the Python API,
so both check with the same rules (``bounds.BOUNDS``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..core import list_networks
from .bounds import Increasing, SettingError, check, value
from .problem import BUDGETS
from .study import RunSettings

SIZED_DATA = ("fashion-mnist", "idx")      # loaders that draw a class-balanced training subset


@dataclass(frozen=True)
class InLoopSettings:
    """Accuracy in the loop after the search: the ``candidates`` front plans with the least proxy loss SR
    fine-tuned for growing epoch budgets (``epochs``, "1,2,4" or a sequence), decomposed and ranked."""

    candidates: int
    epochs: tuple = (1, 2, 4)
    pruner: str = "sha"
    train_size: int | None = None          # training images (fashion-mnist / idx: a class-balanced subset)
    device: str | None = None              # cpu, cuda, cuda:1 ... (None: CUDA if any)

    def __post_init__(self):
        check(self, ("candidates",))
        object.__setattr__(self, "epochs", Increasing().parse("epochs", self.epochs))
        check(self, ("pruner",))
        from ..nn import check_device

        object.__setattr__(self, "device", check_device(self.device))


@dataclass(frozen=True)
class SearchSettings:
    """The options of ``search``; a bad one is a one-line SettingError before anything is built or made.

    ``model``: a Network or any reference ``core.resolve_network`` reads. ``space`` /
    ``hw_space``: YAML paths or objects. ``proxies``: names to compute (default all that
    apply); ``proxy``: the one optimised (default: the suite's). ``weights`` / ``data``:
    a checkpoint for the weight-based proxies, a calibration dataset.
    """

    model: object
    hw: object = "edge-int8"
    max_cycles_ratio: float | None = None
    max_energy_ratio: float | None = None
    max_params_ratio: float | None = None
    objectives: tuple = ("proxy", "cycles_total", "energy_pj")
    proxy: str | None = None
    proxies: tuple | None = None
    anchors: int = 3
    weights: object = None
    data: str | None = None
    data_dir: object = None
    space: object = None
    hw_space: object = None
    baselines: bool = False
    in_loop: InLoopSettings | None = None
    run: RunSettings = field(default_factory=RunSettings)

    @classmethod
    def of(cls, model, hw="edge-int8", **options) -> SearchSettings:
        """Settings from keywords: RunSettings' fields (trials, seed, out, ...) go to ``run``."""
        names = {f.name for f in fields(RunSettings)}
        run = RunSettings(**{k: v for k, v in options.items() if k in names})
        return cls(model, hw, **{k: v for k, v in options.items() if k not in names}, run=run)

    def __post_init__(self):
        check(self, tuple(BUDGETS.values()), optional=tuple(BUDGETS.values()))
        check(self, ("anchors",))
        object.__setattr__(self, "objectives", tuple(self.objectives))
        if self.in_loop is not None:
            self._check_in_loop()

    @property
    def budgets(self) -> dict:
        """metric -> max ratio to the dense network, for the budgets that are set."""
        return {m: getattr(self, k) for m, k in BUDGETS.items() if getattr(self, k) is not None}

    def _check_in_loop(self) -> None:
        if self.weights is None or self.data is None:
            raise SettingError("{candidates} needs {weights} (the trained dense model to fine-tune) and "
                               "{data} (the dataset to train and evaluate on)")
        if self.run.out is None:
            raise SettingError("{candidates} needs {out} (the directory in_loop.json is written to)")
        if not (isinstance(self.model, str) and self.model in list_networks()):
            raise SettingError(f"{{candidates}} trains zoo models (`structconv zoo` lists them); "
                               f"{value(self.model)} is not one")
        ts = self.in_loop.train_size
        if ts is not None and (self.data not in SIZED_DATA or isinstance(ts, bool) or not isinstance(ts, int)
                               or ts < 1):
            raise SettingError(f"{{train_size}} = {value(ts)} needs {{data}} {' or '.join(SIZED_DATA)} "
                               f"and a value >= 1")
