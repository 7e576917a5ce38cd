"""The fence around a user's model code (a ``file.py:fn`` or ``pkg.mod:fn`` reference, docs/threat-model.md).

A model reference is code the user chose to run, so it is run, but its accidents stay its own: while it
is imported, called, traced or sized,

* what it prints goes to stderr (``sys.stdout`` and file descriptor 1), so ``--json`` stays one document;
* ``sys.exit()`` or a ``KeyboardInterrupt`` it raises becomes a one-line ValueError naming the reference
  (a real Ctrl-C stays a KeyboardInterrupt);
* afterwards ``sys.path``, the working directory and the ``sys.modules`` entries it replaced are put back,
  and a module it imported under a name our path finds elsewhere (a neighbour ``optuna.py``) is dropped,
  so structconv's own later imports get what they expect.

``os._exit`` and signals other than SIGINT end the process as they would anywhere.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import os
import signal
import sys
import threading
from pathlib import Path

from ..core import is_module_ref, shown


@contextlib.contextmanager
def user_code(ref: str, stage: str, home: str | None = None):
    """Run the code of model reference ``ref`` inside the fence (``stage``: 'loaded', 'traced', ...);
    ``home``, the directory of a ``file.py`` reference, is on ``sys.path`` meanwhile (its own imports)."""
    saved_path, saved_modules, saved_cwd = list(sys.path), dict(sys.modules), _cwd()
    if home is not None:
        sys.path.insert(0, home)
    interrupted: list[int] = []
    try:
        with _real_interrupts(interrupted), _stdout_to_stderr():
            yield
    except SystemExit as e:
        code = "" if e.code is None else shown(e.code)
        raise ValueError(f"model {shown(ref)} called sys.exit({code}) while it was {stage}") from None
    except KeyboardInterrupt:
        if interrupted:                          # the user pressed Ctrl-C: not the model's doing
            raise
        raise ValueError(f"model {shown(ref)} raised KeyboardInterrupt while it was {stage}") from None
    finally:
        sys.path[:] = saved_path
        _restore_modules(saved_modules, saved_path)
        _chdir(saved_cwd)


def fence_for(ref, stage: str):
    """The fence of ``user_code`` when ``ref`` is a model reference (its forward runs in training,
    decomposition and export too); nothing for a zoo name, small_cnn or a module given directly."""
    if isinstance(ref, str) and is_module_ref(ref):
        return user_code(ref, stage, home_of(ref))
    return contextlib.nullcontext()


def home_of(ref: str) -> str | None:
    """The directory of a ``path/to/file.py:fn`` reference's file (None for ``pkg.mod:fn``)."""
    target = ref.rpartition(":")[0]
    return str(Path(target).resolve().parent) if target.lower().endswith(".py") else None


@contextlib.contextmanager
def _real_interrupts(seen: list):
    """Note a real SIGINT (raising KeyboardInterrupt as Python does), told apart from one the code raises."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def handler(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def _stdout_to_stderr():
    """``sys.stdout`` and fd 1 pointed at stderr (fd 1 too: C extensions and ``os.write(1, ...)``)."""
    if sys.stderr is None:
        yield
        return
    _flush(sys.stdout)
    saved = _dup_stdout()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush(sys.stderr)
        _flush_c_stdio()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _dup_stdout() -> int | None:
    """A copy of fd 1, which now points at fd 2; None (nothing redirected) when either is closed."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush(stream) -> None:
    try:
        if stream is not None:
            stream.flush()
    except (OSError, ValueError):                 # a closed or broken stream: its own error comes later
        pass


def _flush_c_stdio() -> None:
    """What C code printed with stdio is still in its buffer: flushed to fd 1 while that is stderr."""
    try:
        import ctypes
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no libc to load (not a POSIX system)
        pass


def _restore_modules(saved: dict, path: list) -> None:
    """Entries the code replaced or removed come back; a top-level module it added that ``path`` (ours)
    finds elsewhere is a shadow, dropped with its submodules."""
    for name, module in saved.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
    added = [name for name in list(sys.modules) if name not in saved]
    shadows = {name for name in added if "." not in name and _shadows(name, sys.modules[name], path)}
    for name in added:
        if name.partition(".")[0] in shadows:
            del sys.modules[name]


def _shadows(name: str, module, path: list) -> bool:
    origin = getattr(module, "__file__", None)
    if origin is None:
        return False
    try:
        spec = importlib.machinery.PathFinder.find_spec(name, path)
    except (ImportError, ValueError, OSError):
        return False
    found = spec.origin if spec is not None else None
    return found is not None and os.path.realpath(found) != os.path.realpath(origin)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:                               # already deleted
        return None


def _chdir(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.chdir(path)
