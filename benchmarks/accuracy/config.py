"""The settings of the accuracy benchmark, as PROTOCOL.md (version 1) fixes them.

Nothing here may change once results exist: a change is a new protocol version
(PROTOCOL_v2.md and PROTOCOL_VERSION = 2), and both versions are reported.
``--set key=value`` overrides exist for smoke tests only; a run made with any override
is marked as such in its config.json and its results can never go to benchmarks/results.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

PROTOCOL_VERSION = 1
ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
RUNS = BENCH / "runs"                      # git-ignored: one directory per job
RESULTS = ROOT / "benchmarks" / "results"
HW = "edge-int8"
DATASET = "fashion-mnist"
SELECTION_PROXY = "projection_loss"  # draws the greedy and front plans (the search's default with weights)
SPLIT_SALT = "structconv-accuracy-v1|"
DESIGN_KINDS = ("dw_pw", "gc_pwg", "pw_dw_pw", "pwg_dw_pwg")
DIVERGED_ACC = 10.0                        # a run whose loss became non-finite scores chance (10 classes)


@dataclass(frozen=True)
class Scale:
    """One scale of the benchmark (PROTOCOL.md sections 2-5, 8)."""

    protocol: ClassVar[int] = PROTOCOL_VERSION
    name: str
    widths: tuple = (8, 16, 32)
    pool: int = 2                          # 28x28 averaged over pool x pool blocks
    train_per_class: int | None = 1000     # None: every training image
    augment: bool = False
    pad: int = 2                           # augmentation's zero padding
    pretrain_epochs: int = 15
    pretrain_lr: float = 0.1
    epochs: int = 3                        # SR fine-tune per plan (and the dense reference)
    lr: float = 0.05
    lam: float = 200.0
    batch_size: int = 128
    weight_decay: float = 1e-4
    seeds: tuple = (0, 1)
    n_plans: int = 56
    window: tuple = (0.30, 1.00)           # admitted cycles ratios on edge-int8
    greedy_budgets: tuple = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    front_targets: tuple = (0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95)
    search_trials: int = 2000
    random_pool: int = 20000
    random_seed: int = 12
    random_bins: tuple = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    calib_size: int = 128
    boot: int = 10000
    smoke_plans: int = 0                   # > 0 only in smoke runs: keep the first K drawn plans
    designs: bool = True  # False only in smoke runs (--set designs=0): a structure-only space
    device: str = "cpu"
    workers: int = 0                       # DataLoader worker processes per job (in-memory data: 0 on CPU)
    overrides: tuple = ()                  # (key, text) pairs of --set (smoke tests only)

    @property
    def input_size(self) -> int:
        return 28 // self.pool

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input_size"] = self.input_size
        d["protocol_version"] = self.protocol
        return d

    def with_overrides(self, pairs: list[str]) -> Scale:
        """``key=value`` strings (smoke tests only), parsed by the field's type."""
        if not pairs:
            return self
        fields = {f.name: f for f in dataclasses.fields(self)}
        new, seen = {}, []
        for p in pairs:
            key, sep, text = p.partition("=")
            if not sep or key not in fields or key in ("name", "overrides"):
                raise SystemExit(f"--set {p!r}: expected key=value with key one of "
                                 f"{sorted(k for k in fields if k not in ('name', 'overrides'))}")
            new[key] = _parse(text, getattr(self, key), key)
            seen.append((key, text))
        return dataclasses.replace(self, **new, overrides=tuple(seen))


def _parse(text: str, current, key: str):
    try:
        if isinstance(current, bool):
            if text not in ("0", "1", "true", "false"):
                raise ValueError(text)
            return text in ("1", "true")
        if isinstance(current, tuple):
            kind = type(current[0]) if current else float
            return tuple(kind(v) for v in text.split(",") if v)
        if current is None:
            return None if text in ("", "none", "None") else int(text)
        return type(current)(text)
    except ValueError:
        raise SystemExit(f"--set {key}={text!r}: not a valid {type(current).__name__}") from None


SCALES = {
    "cpu": Scale("cpu"),
    "full": Scale("full", widths=(16, 32, 64), pool=1, train_per_class=None, augment=True,
                  pretrain_epochs=60, epochs=30, seeds=(0, 1, 2), device="cuda", workers=2),
}


@dataclass(frozen=True)
class ScaleV2(Scale):
    """Version 2 of the protocol (PROTOCOL_v2.md): a validation split, calibration plans from version 1,
    held-out plans drawn after them (front picks per proxy + fresh random plans), a seed-1 subset."""

    protocol: ClassVar[int] = 2
    seeds: tuple = (0, 1)
    calib_size: int = 512                  # validation images of the proxies' calibration batch
    init_calib_size: int = 128             # validation images of the [init] proxies
    val_start: int = 1000                  # validation: positions val_start.. per class, seed-0 permutation
    val_per_class: int = 200
    calibration_plans: str = "accuracy_cpu_plans"   # version 1's plans (under benchmarks/results)
    front_budgets: tuple = (0.4, 0.5, 0.7)
    n_random: int = 150
    random_pool: int = 40000
    random_seed: int = 22
    seed1_plans: int = 30                  # random held-out plans that also run with seed 1
    seed1_salt: str = "structconv-accuracy-v2|"


SCALES_V2 = {
    "cpu": ScaleV2("cpu"),
    "full": ScaleV2("full", widths=(16, 32, 64), pool=1, train_per_class=None, augment=True,
                    pretrain_epochs=60, epochs=30, device="cuda", workers=2,
                    calibration_plans="accuracy_full_plans"),
}
SCALES_BY_PROTOCOL = {1: SCALES, 2: SCALES_V2}
