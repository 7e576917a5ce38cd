"""The scripts in benchmarks/ that pinned a test's data, loaded as modules (each imports only the
standard library at module level), so a test reads the same templates and column maps they used."""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@functools.cache
def load(name: str):
    """benchmarks/<name>.py as a module (loaded once per process)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
