"""Where a study lives: an embedded journal file (default) or an RDB URL (PostgreSQL).

* Default: ``OUT/study.journal``, Optuna's ``JournalStorage`` over a file backend
  that appends each log line with one ``write(2)`` under an ``flock`` (Optuna's own
  backend takes a symlink lock and fsyncs every line: 3-4x slower, which matters
  at ~57 storage writes per trial). A SIGKILLed process leaves at most one
  unfinished last line, which ``repair_journal`` truncates on the next start; the
  trial that was running is marked FAIL and its parameters re-enqueued, so no
  finished trial is lost and none runs twice. Pass ``fsync=True`` for durability
  against power loss as well. Lines that do not parse anywhere else mean a corrupt
  file: a one-line error, never a silent reset.
* ``postgresql://user@host:port/db`` (or ``sqlite:///path``): ``RDBStorage`` with
  heartbeats (``heartbeat_interval``) and ``RetryHeartbeatStaleTrialCallback``, so trials of
  a killed worker on any machine are failed after the grace period and retried.
"""
from __future__ import annotations

import fcntl
import json
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

RDB_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql")
JOURNAL_SUFFIXES = (".journal", ".jsonl", ".log")


class _FlockLock:
    """A JournalFileBackend lock: flock on ``PATH.lock`` (local file systems)."""

    def __init__(self, path: str):
        self._path = path + ".lock"
        self._fd = None

    def acquire(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __getstate__(self):
        return {"_path": self._path, "_fd": None}


def _backend_class():
    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal._file import BaseJournalFileLock

    class FastJournalFileBackend(JournalFileBackend):
        """Optuna's file backend with an flock and one O_APPEND write per batch of lines."""

        def __init__(self, file_path: str, fsync: bool = False):
            lock = _FlockLock(file_path)
            BaseJournalFileLock.register(_FlockLock)
            super().__init__(file_path, lock_obj=lock)
            self._fsync = fsync

        def append_logs(self, logs) -> None:
            data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
            self._lock.acquire()
            try:
                fd = os.open(self._file_path, os.O_WRONLY | os.O_APPEND)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    if self._fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            finally:
                self._lock.release()

    return FastJournalFileBackend


def repair_journal(path) -> int:
    """Truncate an unfinished last line (a write cut by SIGKILL); returns bytes dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    lock = _FlockLock(str(path))
    lock.acquire()
    try:
        size = path.stat().st_size
        if size == 0:
            return 0
        with open(path, "rb+") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return 0
            block = 1 << 16
            pos = size
            while pos > 0:                               # find the last newline
                start = max(0, pos - block)
                f.seek(start)
                chunk = f.read(pos - start)
                k = chunk.rfind(b"\n")
                if k >= 0:
                    keep = start + k + 1
                    break
                pos = start
            else:
                keep = 0
            f.truncate(keep)
            return size - keep
    finally:
        lock.release()


def check_journal(path) -> None:
    """ValueError naming the first line of ``path`` that is not a JSON journal record."""
    path = Path(path)
    with open(path, "rb") as f:
        for i, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ValueError(f"study file {str(path)!r} is corrupt: line {i} is not a journal record "
                                 f"(move it away to start a new study)") from None
            if not isinstance(rec, dict) or "op_code" not in rec:
                raise ValueError(f"study file {str(path)!r} is corrupt: line {i} has no 'op_code' "
                                 f"(not an Optuna journal)")


def describe(spec) -> str:
    """A storage spec with any password hidden."""
    s = str(spec)
    u = urlparse(s)
    if u.password:
        s = s.replace(f":{u.password}@", ":***@")
    return s


def resolve_storage_spec(storage: str | None, out_dir) -> tuple[str, str]:
    """(kind, spec): kind is 'journal' (spec = file path), 'rdb' (URL) or 'memory'."""
    if storage is None:
        if out_dir is None:
            return "memory", ":memory:"
        return "journal", str(Path(out_dir) / "study.journal")
    s = str(storage).strip()
    if s in (":memory:", "memory"):
        return "memory", ":memory:"
    if s.startswith("journal:"):
        return "journal", s[len("journal:"):]
    if "://" in s:
        scheme = urlparse(s).scheme.split("+")[0].lower()
        if scheme not in RDB_SCHEMES:
            raise ValueError(f"storage = {describe(s)!r}: scheme {scheme!r} is not one of {list(RDB_SCHEMES)} "
                             f"(or give a journal file path)")
        if scheme in ("postgresql", "postgres"):
            if s.startswith("postgres://"):
                s = "postgresql://" + s[len("postgres://"):]
            u = urlparse(s)
            if not u.hostname and not u.path.strip("/"):
                raise ValueError(f"storage = {describe(s)!r} names no host or database")
            if "+" not in u.scheme:                   # SQLAlchemy 2.1 defaults to psycopg 3
                try:
                    import psycopg  # noqa: F401
                except ImportError:
                    try:
                        import psycopg2  # noqa: F401
                    except ImportError:
                        raise ValueError("storage: PostgreSQL needs a driver (pip install psycopg2-binary)") from None
                    s = "postgresql+psycopg2://" + s[len("postgresql://"):]
        return "rdb", s
    if s.endswith(JOURNAL_SUFFIXES) or os.sep in s:
        return "journal", s
    raise ValueError(f"storage = {s!r} is neither a URL (postgresql://user@host:port/db, sqlite:///file.db) "
                     f"nor a journal file path (*.journal)")


def open_storage(kind: str, spec: str, heartbeat_interval: int = 10, grace_period: int | None = None,
                 max_retry: int = 3, fsync: bool = False, check: bool = True):
    """An Optuna storage object for a resolved (kind, spec).

    ``check`` repairs and validates a journal file first: only where no other
    process writes to it (the parent of the workers, holding the directory lock).
    """
    import optuna

    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    if kind == "journal":
        path = Path(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.is_dir():
            raise ValueError(f"study file {str(path)!r} is a directory")
        if path.exists() and check:
            repair_journal(path)
            check_journal(path)
        try:
            return optuna.storages.JournalStorage(_backend_class()(str(path), fsync=fsync))
        except Exception as e:                       # replay of a damaged journal
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"study file {str(path)!r} is corrupt: {first}") from None
    from optuna.storages import RDBStorage

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        from optuna.storages import RetryHeartbeatStaleTrialCallback as _Retry
        retry = {"heartbeat_stale_trial_callback": _Retry(max_retry=max_retry)}
    except ImportError:                              # optuna < 4.9
        from optuna.storages import RetryFailedTrialCallback as _Retry
        retry = {"failed_trial_callback": _Retry(max_retry=max_retry)}
    try:
        return RDBStorage(spec, heartbeat_interval=heartbeat_interval,
                          grace_period=grace_period or 3 * heartbeat_interval, **retry,
                          engine_kwargs={"pool_pre_ping": True})
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"storage {describe(spec)!r} cannot be opened: {first[:300]}") from None


def recover_stale_trials(study) -> list[int]:
    """Journal storage has no heartbeat: mark RUNNING trials FAIL and re-enqueue their params.

    Only call this while holding the output-directory lock (no other worker alive).
    """
    from optuna.trial import TrialState

    failed = []
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
            failed.append(t.number)
            params = {**(t.system_attrs.get("fixed_params") or {}), **t.params}
            if params:                                  # suggested so far + an enqueued seed's fixed ones
                attrs = dict(t.user_attrs)
                attrs["retry_of"] = t.number
                study.enqueue_trial(params, user_attrs=attrs)
    return failed


class DirLock:
    """An exclusive flock on ``DIR/.search.lock`` for one local search at a time."""

    def __init__(self, out_dir):
        self.path = Path(out_dir) / ".search.lock"
        self.fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise ValueError(f"another search is running in {str(self.path.parent)!r} "
                             f"(lock {self.path.name}); wait for it or use another --out") from None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
