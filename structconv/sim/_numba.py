"""Numba's flags, and where its cache lives: settled before the first ``cache=True`` kernel is decorated.

Numba caches a compiled kernel beside its source (``__pycache__``) or else in the user's cache directory
(``$XDG_CACHE_HOME`` or ``~/.cache``, then ``numba``); where it can write neither (a read-only install run
with no HOME, as a container's ``nobody``), decorating the kernel raises "cannot cache function". Then the
cache goes to a directory of this user's under the system's temp directory, with one note on stderr, and
``NUMBA_CACHE_DIR`` carries it to the worker processes. A ``NUMBA_CACHE_DIR`` the user set always wins.
Numba reads that variable when ``numba.core.config`` loads, so it is set here, before ``import numba``,
and on the loaded config too where something imported numba first.

Two tiers (``_tier.py`` picks one per call): ``njit`` leaves a kernel a plain Python function
unless the module is being loaded as its compiled twin (``compiling_twin``), so importing
structconv.sim imports no Numba, a small call runs the kernels interpreted, and Numba (its
import, its cache, a first compile) is paid only by work big enough to need it.
``compiled_njit`` always compiles (kernels that only ever run compiled: the USER-mode port).
"""
from __future__ import annotations

import functools
import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _writable(directory: Path) -> bool:
    """Numba's own test of a cache directory: it can be made and a file created in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        return True
    except OSError:
        return False


def _user_cache() -> Path | None:
    """Numba's user-wide cache directory (its appdirs rule), None where that is not an absolute path
    (no HOME and no home in the password file: Numba would write under the working directory)."""
    base = os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    return Path(base, "numba") if os.path.isabs(base) else None


def _private_temp_dir() -> Path | None:
    """``TMP/structconv-numba-UID``, only if it is a directory of this user's that no one else can write
    (a cache holds pickles: another user's files there would be run); else a fresh private one."""
    try:
        path = Path(tempfile.gettempdir(), f"structconv-numba-{os.getuid()}")
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return path
        return Path(tempfile.mkdtemp(prefix="structconv-numba-"))
    except OSError:
        return None


def _note(text: str) -> None:
    if sys.stderr is not None:
        print(f"structconv: note: {text}", file=sys.stderr, flush=True)


def settle_cache() -> bool:
    """True when Numba can cache the kernels, after pointing it at a temp directory where it needs one."""
    here = Path(__file__).parent / "__pycache__"
    user = _user_cache()
    if os.environ.get("NUMBA_CACHE_DIR") or _writable(here) or (user is not None and _writable(user)):
        return True
    tmp = _private_temp_dir()
    if tmp is None:
        _note(f"no writable directory for Numba's cache ({here}, {user or '~/.cache/numba'}, the temp "
              f"directory): kernels are compiled afresh in every process")
        return False
    os.environ["NUMBA_CACHE_DIR"] = str(tmp)
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.CACHE_DIR = str(tmp)
    _note(f"Numba cannot cache beside the package ({here}) or in {user or '~/.cache/numba'}: "
          f"compiled kernels are cached in {tmp}")
    return True


NUMBA_FLAGS = dict(cache=settle_cache(), nogil=True, fastmath=False)   # exact integer maths: no fastmath
_twin = {"compiling": False}        # True while a kernel module is being loaded as its compiled twin


def compiled_njit(**flags):
    """numba.njit (numba is imported here, after settle_cache: it reads NUMBA_CACHE_DIR when it loads)."""
    from numba import njit as numba_njit
    return numba_njit(**flags)


def njit(**flags):
    """The tiered decorator: the function itself (the interpreted tier), or numba.njit of it while
    ``compiling_twin`` loads the module's compiled copy."""
    def decorate(fn):
        return compiled_njit(**flags)(fn) if _twin["compiling"] else fn
    return decorate


@contextmanager
def compiling_twin():
    """Kernels decorated with ``njit`` inside this block are compiled with Numba (lazily, per call)."""
    _twin["compiling"] = True
    try:
        yield
    finally:
        _twin["compiling"] = False


def numba_kernel(fn):
    """``fn`` compiled with NUMBA_FLAGS on its first call: the one decorator for a kernel outside sim
    (search's exact front), so every cached kernel shares this cache directory and these flags, and
    numba is imported only when such a kernel first runs."""
    compiled = []

    @functools.wraps(fn)
    def call(*args):
        if not compiled:
            compiled.append(compiled_njit(**NUMBA_FLAGS)(fn))
        return compiled[0](*args)
    return call


__all__ = ["NUMBA_FLAGS", "njit", "compiled_njit", "compiling_twin", "numba_kernel", "settle_cache"]
