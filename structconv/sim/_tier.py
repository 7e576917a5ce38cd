"""Which tier runs a kernel call: the kernels interpreted (plain Python) or their Numba-compiled twin.

Both tiers are one source, ``_kernels.py``: imported as ``_kernels`` its functions stay plain
Python (``_numba.njit``); ``twin()`` loads the same file a second time with Numba's decorator on.
Numba costs a process about 0.8 s to load its cache (its registries, scipy's BLAS) and, in a
fresh cache, 30-60 s of CPU to compile the analytical kernels once. A small call (a SCALE-Sim
topology, one network simulated once) is done interpreted well before that; work beyond a budget
runs compiled. The budget counts the whole process, so one that keeps calling (a search, a batch
table) moves to the compiled tier once and stays there. Cycle mode and plan batches always run
compiled. ``STRUCTCONV_KERNELS=compiled`` or ``interpreted`` forces a tier (tests, benchmarks).
While Numba compiles, one line on stderr says so and counts the functions done
(``compile_notice``); a warm cache prints nothing. tests/sim/test_sim_tiers.py checks the tiers
give identical counts.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

from . import _kernels as K

TIERS = ("auto", "compiled", "interpreted")
WARM_BUDGET_S = 1.0     # interpreted seconds a process may spend before a warm Numba cache is cheaper
COLD_BUDGET_S = 10.0    # ... before compiling afresh (30-60 s of CPU) is worth it
# interpreted CPU seconds per job, per input pixel (the need sets walk the input map) and per group,
# fitted on the zoo's layers (resnet18/50, mobilenet_v2, vgg16 on edge-int8; this 2-core box) so
# that a network's total is over- rather than under-estimated
_S_PER_JOB, _S_PER_PIXEL, _S_PER_GROUP = 6e-3, 5e-6, 1.5e-4
_state = {"twin": None, "spent_s": 0.0}
_loading = threading.Lock()              # one twin per process, whichever thread asks first


def estimate_s(jobs: np.ndarray) -> float:
    """Interpreted CPU seconds the analytical kernel would take on plain ``jobs`` (a rough guess)."""
    j = jobs.astype(np.float64)
    return float(_S_PER_JOB * len(j) + _S_PER_PIXEL * (j[:, K.J_H] * j[:, K.J_W]).sum()
                 + _S_PER_GROUP * j[:, K.J_G].sum())


def twin():
    """``_kernels`` loaded a second time with every kernel Numba-compiled (lazily, per kernel)."""
    with _loading:
        if _state["twin"] is None:
            from ._numba import compiling_twin
            spec = importlib.util.spec_from_file_location(f"{__package__}._kernels_compiled", K.__file__)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod
            with compiling_twin():
                spec.loader.exec_module(mod)
            _state["twin"] = mod
    return _state["twin"]


def _forced() -> str:
    tier = os.environ.get("STRUCTCONV_KERNELS", "auto").strip().lower() or "auto"
    return tier if tier in TIERS else "auto"


def _warm(kernel) -> bool:
    """True when ``kernel`` (a Numba dispatcher) is loaded or in Numba's cache for this source."""
    if kernel.signatures:
        return True
    try:
        return bool(kernel._cache._cache_file._load_index())   # an index that matches the source
    except Exception:
        return False


def _interpreted(mode: str, jobs: np.ndarray, hw: np.ndarray) -> bool:
    forced = _forced()
    if forced != "auto" or mode != "analytical":
        return forced == "interpreted"
    if _state["twin"] is not None and _state["twin"]._KERNELS[mode].signatures:
        return False                                             # compiled already here: use it
    need = _state["spent_s"] + estimate_s(jobs)
    if need <= WARM_BUDGET_S:
        return True
    return need <= COLD_BUDGET_S and not _warm(twin()._KERNELS[mode])


def run(mode: str, jobs: np.ndarray, hw: np.ndarray) -> np.ndarray:
    """The ``mode`` kernel on plain jobs and HW, in the tier this call's size calls for."""
    if _interpreted(mode, jobs, hw):
        t = time.process_time()
        try:
            return K._KERNELS[mode](jobs, hw)
        finally:
            _state["spent_s"] += time.process_time() - t
    kernel = twin()._KERNELS[mode]
    with compile_notice(f"the {mode} simulation kernels"):
        return kernel(jobs, hw)


def compiled(name: str):
    """The compiled twin's kernel ``name``, called under ``compile_notice``."""
    kernel = getattr(twin(), name)

    def call(*args):
        with compile_notice(f"the {name} kernel"):
            return kernel(*args)
    return call


@contextmanager
def compile_notice(what: str):
    """One line on stderr while Numba compiles inside this block (counting the functions compiled,
    updated in place on a terminal); nothing when everything came from the cache."""
    from numba.core import event

    done = {"n": 0, "t0": time.perf_counter()}
    tty = sys.stderr is not None and sys.stderr.isatty()

    def show(end: str) -> None:
        if sys.stderr is not None:
            back = "\r" if tty else ""                    # a terminal: the line is updated in place
            print(f"{back}structconv: compiling {what} once (cached for later runs): {done['n']} functions, "
                  f"{time.perf_counter() - done['t0']:.0f} s", end=end, file=sys.stderr, flush=True)

    class Progress(event.Listener):
        def on_start(self, ev):
            done["n"] += 1
            if done["n"] == 1 and not tty:
                print(f"structconv: compiling {what} once (cached for later runs) ...", file=sys.stderr,
                      flush=True)
            elif tty:
                show("")

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Progress()):
        yield
    if done["n"]:
        show("\n")
