"""Writing files: atomically (a crash never leaves half a file), as JSON or YAML through one serializer.

Reading them is ``readers``.
"""
from __future__ import annotations

import contextlib
import errno
import json
import numbers
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml

from .checks import shown


def umask() -> int:
    """The process umask (read without changing it for longer than a call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temp path beside ``path``; on success it replaces ``path``, else it is removed.

    The temp name carries the writer's pid, so a later write removes the leftovers of a
    writer that was killed (SIGKILL skips every cleanup) without touching a live one's.
    The file gets the mode open() would give (mkstemp's 0600 would make shared
    reports and plans unreadable to others). Any OSError is a one-line ValueError naming the path;
    a full disk is "no space left on <path>".
    """
    path = Path(path)
    _remove_orphans(path, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix)
        os.close(fd)
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except OSError as e:
        raise _write_error(path, e) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_error(path: Path, e: OSError) -> ValueError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):        # the CLI's words for an OSError of a full disk
        quota = "" if e.errno == errno.ENOSPC else f" ({e.strerror or e})"
        return ValueError(f"no space left on {shown(str(path))}{quota}")
    return ValueError(f"cannot write {shown(str(path))}: {e.strerror or e}")


def _remove_orphans(path: Path, suffix: str) -> None:
    remove_orphans(path.parent, f".{path.name}.", suffix)


def remove_orphans(parent, prefix: str, suffix: str = "") -> None:
    """Remove the entries ``<prefix><pid>.*<suffix>`` in ``parent`` whose writer ``pid`` is dead.

    Temporary files and folders carry their writer's pid because SIGKILL skips every
    cleanup; the next writer beside them removes a dead one's and leaves a live one's alone.
    """
    try:
        found = [p for p in Path(parent).iterdir() if p.name.startswith(prefix) and p.name.endswith(suffix)]
    except OSError:
        return
    for p in found:
        pid = p.name[len(prefix):].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True         # exists, owned by someone else
    return True


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")      # never the locale's (LANG=C: ASCII)


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def to_jsonable(obj):
    """Plain JSON/YAML data from results: ``to_dict()`` objects, numpy and torch scalars, tuples, paths.

    The one serializer behind every JSON output, front file and summary.
    """
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, numbers.Integral):     # numpy integers too
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if callable(getattr(obj, "numel", None)) and obj.numel() == 1:
        return obj.item()                    # a one-element torch tensor
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return repr(obj)


def dumps_json(obj, indent: int | None = 2) -> str:
    return json.dumps(to_jsonable(obj), indent=indent)


def write_data_file(path, obj) -> None:
    """Write ``obj`` atomically as JSON (*.json) or YAML (anything else), through ``to_jsonable``."""
    path = Path(path)
    data = to_jsonable(obj)
    text = (json.dumps(data, indent=2) + "\n" if path.suffix == ".json"
            else yaml.safe_dump(data, sort_keys=False))
    atomic_write_text(path, text)
