"""Files: atomic writes (a crash never leaves half a file) and reads whose errors name the file."""
from __future__ import annotations

import contextlib
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
    reports and plans unreadable to others). Any OSError is a one-line ValueError naming the path.
    """
    path = Path(path)
    _remove_orphans(path, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix)
        os.close(fd)
    except OSError as e:
        raise ValueError(f"cannot write {shown(str(path))}: {e.strerror or e}") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except OSError as e:
        raise ValueError(f"cannot write {shown(str(path))}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


MAX_INPUT_BYTES = 8 * 2**20      # plans, accelerators, spaces, topologies: far below this
MAX_YAML_ALIASES = 64            # a plan needs none; nested aliases can expand exponentially


def read_text(path, what: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of ``path``, read with a size cap (``/dev/zero`` stops at the cap).

    A missing, unreadable, oversized or non-UTF-8 file is a one-line ValueError naming ``what``.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ValueError(f"{what} {str(path)!r} cannot be read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise ValueError(f"{what} {str(path)!r} is larger than the {max_bytes:,}-byte cap for input files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {str(path)!r} is not UTF-8 text "
                         f"(byte {e.start}: {data[e.start:e.start + 1]!r})") from None


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses more than MAX_YAML_ALIASES alias references ("billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} YAML aliases (*refs); "
                                     "refusing to expand them")
        return super().compose_node(parent, index)


def parse_yaml(text: str):
    """``yaml.safe_load`` with the alias bound: the one YAML parser."""
    return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass


def load_data_file(path, what: str):
    """Parse a YAML (safe loader) or, for *.json, a JSON file; errors name ``what`` and the file.

    The one reader of every plan, accelerator, space and front file.
    """
    text = read_text(path, what)
    is_json = Path(path).suffix == ".json"
    try:
        return json.loads(text) if is_json else parse_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{what} {str(path)!r} is not valid {'JSON' if is_json else 'YAML'}: "
                         f"{first}") from None


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


def read_jsonl(path, what: str = "records file") -> tuple[list[dict], int]:
    """The JSON objects of a JSON-lines file, one per line, and how many lines were skipped.

    A line that is not a JSON object (a run killed mid-write) is skipped and counted.
    The one reader of ``metrics.jsonl``.
    """
    rows, bad = [], 0
    for line in read_text(path, what).splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict):
            rows.append(rec)
        else:
            bad += 1
    return rows, bad
