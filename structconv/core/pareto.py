"""The one Pareto filter, used by the search's fronts and the report's tables."""
from __future__ import annotations

import numpy as np


def pareto_mask(values, directions=None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n x k).

    ``directions``: one 'minimize' / 'maximize' per column (all minimised when None).
    A row is dominated when another is no worse in every column and better in one;
    equal rows are all kept.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be a 2-D table (rows x objectives), got shape {v.shape}")
    if directions is not None:
        if len(directions) != v.shape[1]:
            raise ValueError(f"directions has {len(directions)} entries; values has {v.shape[1]} columns")
        v = v * np.array([1.0 if str(d).startswith("min") else -1.0 for d in directions])
    keep = np.ones(len(v), bool)
    for i in range(len(v)):
        no_worse = np.all(v <= v[i], axis=1)
        keep[i] = not np.any(no_worse & np.any(v < v[i], axis=1))
    return keep
