"""Training runs as DataFrames: SR training curves and accuracy before/after decomposition.

A run directory (written by ``structconv.nn.train(..., out_dir=DIR)`` / ``structconv train
--out DIR``) holds ``metrics.jsonl`` (one JSON object per epoch: epoch, phase, lam, lr,
loss, task_loss, sr_loss, train_acc, val_acc, val_loss, seconds) and ``summary.json``
(acc_before, acc_after, gap, config, ...). A sweep is a directory of run directories.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from structconv.core import load_data_file, read_jsonl, shown

CURVE_COLUMNS = ("epoch", "phase", "lam", "lr", "loss", "task_loss", "sr_loss", "train_acc", "val_acc",
                 "val_loss", "seconds")


def _dir(run_dir) -> Path:
    p = Path(run_dir)
    if not p.exists():
        raise ValueError(f"run directory {shown(str(p))} does not exist")
    if not p.is_dir():
        raise ValueError(f"run directory {shown(str(p))} is not a directory")
    return p


def read_metrics(run_dir) -> pd.DataFrame:
    """The per-epoch records of ``run_dir/metrics.jsonl`` (ValueError when missing or empty).

    Malformed lines (a run killed mid-write) are skipped; ``df.attrs['skipped_lines']`` counts them.
    """
    p = _dir(run_dir) / "metrics.jsonl"
    if not p.is_file():
        raise ValueError(f"run directory {shown(str(p.parent))} has no metrics.jsonl")
    rows, bad = read_jsonl(p, "metrics file")
    if not rows:
        raise ValueError(f"{shown(str(p))} holds no epoch records")
    df = pd.DataFrame(rows)
    for c in CURVE_COLUMNS:
        if c not in df:
            df[c] = float("nan")
    df = df.sort_values("epoch", kind="stable").drop_duplicates("epoch", keep="last").reset_index(drop=True)
    df.attrs["skipped_lines"] = bad
    df.attrs["run"] = str(p.parent)
    return df


def read_summary(run_dir) -> dict:
    """``run_dir/summary.json`` as a dict (ValueError when missing or unreadable)."""
    p = _dir(run_dir) / "summary.json"
    if not p.is_file():
        raise ValueError(f"run directory {shown(str(p.parent))} has no summary.json (the run did not finish)")
    d = load_data_file(p, "run summary")
    if not isinstance(d, dict):
        raise ValueError(f"{shown(str(p))} is not a JSON object")
    return d


def find_runs(path) -> list[Path]:
    """Run directories at or under ``path`` (directories holding metrics.jsonl or summary.json)."""
    p = _dir(path)
    if (p / "metrics.jsonl").is_file() or (p / "summary.json").is_file():
        return [p]
    found = sorted({f.parent for pat in ("metrics.jsonl", "summary.json") for f in p.rglob(pat)})
    return found


def curves_frame(run_dirs) -> pd.DataFrame:
    """Training curves of one or several runs stacked, with a ``run`` column."""
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    parts = []
    for d in run_dirs:
        df = read_metrics(d)
        df.insert(0, "run", Path(d).name)
        parts.append(df)
    if not parts:
        raise ValueError("no runs given")
    return pd.concat(parts, ignore_index=True)


def accuracy_frame(run_dirs) -> pd.DataFrame:
    """Accuracy before/after decomposition per run: run, lam, acc_before, acc_after, gap,
    epochs, plan (runs without a summary.json are left out; ValueError when none has one)."""
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    rows, missing = [], []
    for d in run_dirs:
        try:
            s = read_summary(d)
        except ValueError:
            missing.append(str(d))
            continue
        cfg = s.get("config") or {}
        plan = s.get("plan") or {}
        b, a = s.get("acc_before"), s.get("acc_after")
        rows.append({"run": Path(d).name, "lam": cfg.get("lam"), "acc_before": b, "acc_after": a,
                     "gap": (b - a) if (a is not None and b is not None) else None,
                     "epochs": s.get("epochs_trained"),
                     "plan": plan.get("name") if isinstance(plan, dict) else None,
                     "model": s.get("model"), "seconds": s.get("seconds")})
    if not rows:
        raise ValueError(f"no finished run (summary.json) among {missing}")
    df = pd.DataFrame(rows).sort_values(["lam", "run"], na_position="last").reset_index(drop=True)
    df.attrs["missing"] = missing
    return df
