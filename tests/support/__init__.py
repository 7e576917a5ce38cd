"""What the tests share: slow references, peer-data loaders, the pinned peer runs' inputs.

Imported as ``tests.support.<module>``: pytest puts the repository root on ``sys.path`` (pyproject's
``pythonpath``), and a benchmark script run as ``python benchmarks/x.py`` inserts the root itself.
Benchmarks may import from here; nothing here (or anywhere in tests/) imports a benchmark. This
``__init__`` and the peer-input modules need only the standard library: SCALE-Sim's own venv runs
the scripts that import them."""
from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
DATA = TESTS / "data"          # the pinned peer numbers (made by the scripts in benchmarks/)
ROOT = TESTS.parent            # the repository root
