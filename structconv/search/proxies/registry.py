"""The proxy registry: one small object per accuracy proxy, carrying its own metadata.

A ``Proxy`` says what it is (name, one-line description), which way is better,
whether it needs trained weights or torch, and how to compute it: ``row(run, work)``
gives its per-choice terms for one searched layer, ``base(run)`` the constant the
terms are added to. Adding a proxy is one ``@proxy(...)``-decorated function
(see ``terms.py``); the suite, the CLI and the docs read this registry.

A table proxy scores a plan in O(layers): ``score = base + reduce(table[l, index_l])``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_PROXIES: dict[str, Proxy] = {}


@dataclass(frozen=True)
class Proxy:
    """One accuracy proxy: metadata plus its compute functions."""

    name: str
    description: str
    higher_is_better: bool = True
    needs_weights: bool = False          # trained weights (a checkpoint); else a seeded random init does
    needs_torch: bool = False            # a torch model of the network
    reduce: str = "sum"                  # sum | mean over the searched layers
    row: Callable | None = None          # (run, work) -> per-choice terms of one layer; None: per trial only
    base: Callable = lambda run: 0.0     # (run) -> the constant term
    prepare: Callable | None = None      # (run) -> None, or why the proxy is skipped
    note: Callable = lambda run: ""      # (run) -> how it was obtained (estimates, anchors)
    heavy: bool = False                  # a forward pass per anchor: skipped by default over 1 GMAC
    opt_in: bool = False                 # computed only when asked for by name (measured tables)

    @property
    def per_trial(self) -> bool:
        """Computed per trial (no table): the study evaluates it on the plan itself."""
        return self.row is None

    @property
    def direction(self) -> str:
        return "maximize" if self.higher_is_better else "minimize"


def register_proxy(p: Proxy) -> Proxy:
    """Add (or replace, by name) a proxy; the order of registration is the order of the tables."""
    _PROXIES[p.name] = p
    return p


def proxy(name: str, description: str, **meta):
    """Decorator: register the function as the ``row`` of a proxy named ``name``."""
    def deco(row):
        register_proxy(Proxy(name, description, row=row, **meta))
        return row
    return deco


def get_proxy(name: str) -> Proxy:
    try:
        return _PROXIES[name]
    except KeyError:
        raise ValueError(f"proxy = {name!r} is unknown; choose from {list(_PROXIES)}") from None


def list_proxies() -> dict[str, Proxy]:
    """name -> Proxy of every registered proxy, in registration order."""
    return dict(_PROXIES)


def pad(rows, K: int) -> np.ndarray:
    out = np.full((len(rows), K), np.nan)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


@dataclass
class ProxyTable:
    """One proxy: score(idx) = base + reduce over layers of values[l, idx[l]]."""

    name: str
    values: np.ndarray                   # (searched layers, max choices), NaN-padded
    base: float = 0.0
    reduce: str = "sum"                  # sum | mean
    higher_is_better: bool = True
    requires_weights: bool = False
    note: str = ""

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        self._rows = np.arange(self.values.shape[0])
        self._scale = 1.0 / self.values.shape[0] if self.reduce == "mean" else 1.0

    @classmethod
    def of(cls, p: Proxy, rows, K: int, run) -> ProxyTable:
        return cls(p.name, pad(rows, K), p.base(run), p.reduce, p.higher_is_better, p.needs_weights,
                   p.note(run))

    def score(self, idx) -> float:
        return float(self.base + self._scale * self.values[self._rows, idx].sum())

    def score_batch(self, idx_matrix) -> np.ndarray:
        M = np.asarray(idx_matrix)
        return self.base + self._scale * self.values[self._rows[None, :], M].sum(axis=1)

    def loss(self, idx) -> float:
        """The minimised form: -score when higher is better."""
        s = self.score(idx)
        return -s if self.higher_is_better else s

    def loss_batch(self, idx_matrix) -> np.ndarray:
        s = self.score_batch(idx_matrix)
        return -s if self.higher_is_better else s

    def loss_terms(self) -> np.ndarray:
        """Per-(layer, choice) terms of the loss form (the reduction's scale applied)."""
        v = self.values * self._scale
        return -v if self.higher_is_better else v

    def to_dict(self) -> dict:
        desc = _PROXIES[self.name].description if self.name in _PROXIES else ""
        return {"name": self.name, "higher_is_better": self.higher_is_better, "reduce": self.reduce,
                "requires_weights": self.requires_weights, "note": self.note, "description": desc}
