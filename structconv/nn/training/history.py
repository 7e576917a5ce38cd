"""A run's record on disk: ``metrics.jsonl`` (one JSON object per epoch) and progress lines."""
from __future__ import annotations

import sys
from pathlib import Path

from ...core import atomic_write_text, dumps_json, read_jsonl


def read_history(path: Path, before_epoch: int) -> list[dict]:
    """The records of epochs before ``before_epoch`` (a resumed run drops the later ones)."""
    if not path.is_file():
        return []
    records, _ = read_jsonl(path, "metrics file")
    return [r for r in records if isinstance(r.get("epoch"), int) and r["epoch"] < before_epoch]


def write_history(path: Path, history: list[dict]) -> None:
    atomic_write_text(path, "".join(dumps_json(h, indent=None) + "\n" for h in history))


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def epoch_line(rec: dict, total: int) -> str:
    """One epoch's progress line."""
    va = f", val_acc {rec['val_acc']:.2f}" if "val_acc" in rec else ""
    return (f"epoch {rec['epoch'] + 1}/{total} phase {rec['phase']} lam {rec['lam']:g}: "
            f"loss {rec['loss']:.4f} (task {rec['task_loss']:.4f}, SR {rec['sr_loss']:.4f}), "
            f"train_acc {rec['train_acc']:.2f}{va} [{rec['seconds']:.1f}s]")
