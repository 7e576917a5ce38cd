"""The one door to Optuna: imported on first use (``structconv.search`` imports without it), quietly.

Every module of the search reaches Optuna through ``optuna()`` (or ``submodule``), so a
missing install is one line naming the fix. ``quiet()`` silences Optuna's logging and
experimental-feature warnings; each run calls it, since a caller's ``warnings.catch_warnings``
(pytest's, for one) may have dropped the filter since the import.
"""
from __future__ import annotations

import importlib
import warnings

_LOADED: list = []


class OptunaMissing(ImportError, ValueError):
    """Optuna is not installed (a ValueError too, so the CLI reports it as one line)."""


def optuna():
    """The optuna module; OptunaMissing (one line) when it is not installed."""
    if not _LOADED:
        try:
            import optuna as module
        except ImportError as e:
            raise OptunaMissing(f"structconv.search needs optuna ({e}): pip install optuna") from None
        _LOADED.append(module)
        quiet()
    return _LOADED[0]


def quiet():
    """The optuna module, its logging at ERROR and its ExperimentalWarnings ignored. A trial that raises
    (a full disk under the journal) is reported by the caller in one line; Optuna's own WARNING for it
    carries a traceback."""
    module = optuna()
    warnings.filterwarnings("ignore", category=module.exceptions.ExperimentalWarning)
    module.logging.set_verbosity(module.logging.ERROR)
    return module


def submodule(name: str):
    """``optuna.<name>`` (e.g. ``storages.journal``), after ``optuna()``."""
    optuna()
    return importlib.import_module(f"optuna.{name}")


def trial_state():
    """optuna.trial.TrialState."""
    return optuna().trial.TrialState
