"""Files: atomic writes (a crash never leaves half a file) and reads whose errors name the file."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temp path beside ``path``; on success it replaces ``path``, else it is removed.

    The file gets the mode open() would give (mkstemp's 0600 would make shared
    reports and plans unreadable to others).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def read_text(path, what: str) -> str:
    """The text of ``path``; a missing or unreadable file is a one-line ValueError naming ``what``."""
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{what} {str(path)!r} cannot be read: {getattr(e, 'strerror', None) or e}") from None


def load_data_file(path, what: str):
    """Parse a YAML (safe loader) or, for *.json, a JSON file; errors name ``what`` and the file."""
    import json

    import yaml

    text = read_text(path, what)
    is_json = Path(path).suffix == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{what} {str(path)!r} is not valid {'JSON' if is_json else 'YAML'}: {first}") from None
