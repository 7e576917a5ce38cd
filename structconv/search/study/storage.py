"""Where a study lives: an embedded journal file (default) or an RDB URL (PostgreSQL).

* Default: ``OUT/study.journal`` (``journal.py``): Optuna's ``JournalStorage`` over
  a fast append backend, each writing process holding a lease (an flock) so that
  only trials of dead workers are ever failed and retried; a SIGKILLed process
  leaves at most one unfinished last line, truncated on the next start, so no
  finished trial is lost and none runs twice. Pass ``fsync=True`` for durability
  against power loss as well. Lines that do not parse mean a corrupt file: a
  one-line error, never a silent reset.
* ``postgresql://user@host:port/db`` (or ``sqlite:///path``): ``RDBStorage`` with
  heartbeats (``heartbeat_interval``) and ``RetryHeartbeatStaleTrialCallback``, so trials of
  a killed worker on any machine are failed after the grace period and retried.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .._optuna import optuna, quiet
from .journal import JournalWriteError, check_journal, check_journal_file, open_journal, repair_journal

RDB_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql")
SQLITE_MAGIC = b"SQLite format 3\0"
JOURNAL_SUFFIXES = (".journal", ".jsonl", ".log")


@dataclass(frozen=True)
class Place:
    """Where a study lives: its storage's kind ('journal' | 'rdb' | 'memory') and spec, the study's name."""

    kind: str
    spec: str
    name: str


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
            raise ValueError(f"storage = {describe(s)!r}: scheme {scheme!r} is not one of "
                             f"{list(RDB_SCHEMES)} (or give a journal file path)")
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
                        raise ValueError("storage: PostgreSQL needs a driver "
                                         "(pip install psycopg2-binary)") from None
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
    storages = optuna().storages
    if kind == "memory":
        return storages.InMemoryStorage()
    if kind == "journal":
        return _open_journal_checked(Path(spec), fsync, check)
    quiet()
    retry = _retry_callback(storages, max_retry)
    try:
        return storages.RDBStorage(spec, heartbeat_interval=heartbeat_interval,
                                   grace_period=grace_period or 3 * heartbeat_interval, **retry,
                                   engine_kwargs={"pool_pre_ping": True})
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"storage {describe(spec)!r} cannot be opened: {first[:300]}") from None


def _retry_callback(storages, max_retry: int) -> dict:
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        retry = storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        return {"heartbeat_stale_trial_callback": retry}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=max_retry)}   # optuna < 4.9


_CHECKED: dict[str, tuple] = {}                    # journal -> (size, mtime) when check_place read it whole


def check_place(kind: str, spec: str) -> None:
    """Read-only checks of a study's storage, made before any work (and before any lock file): a journal
    that is not a journal, a SQLite URL naming a file that is not a database. Nothing is created; a
    journal unchanged since this process last checked it is not read again."""
    if kind == "journal":
        check_journal_file(spec)
        if os.path.isfile(spec):
            st = os.stat(spec)
            if _CHECKED.get(os.path.abspath(spec)) != (st.st_size, st.st_mtime_ns):
                check_journal(spec)
                _CHECKED[os.path.abspath(spec)] = (st.st_size, st.st_mtime_ns)
    elif kind == "rdb" and urlparse(spec).scheme.split("+")[0] == "sqlite":
        _check_sqlite(spec)


def _check_sqlite(url: str) -> None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:" or not os.path.lexists(path):
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise ValueError(f"storage {describe(url)!r} cannot be read: {e.strerror or e}") from None
    if head and head != SQLITE_MAGIC:
        raise ValueError(f"storage {describe(url)!r}: {path!r} is not an SQLite database")


def _open_journal_checked(path: Path, fsync: bool, check: bool):
    check_journal_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"study file {str(path)!r}: cannot create its directory ({e.strerror})") from None
    lock = Path(str(path) + ".lock")
    had_lock = os.path.lexists(lock)
    try:
        return _open_journal(path, fsync, check)
    except BaseException:
        if not had_lock:                             # made by this call for a journal that did not open
            with contextlib.suppress(OSError):
                lock.unlink()
        raise


def _open_journal(path: Path, fsync: bool, check: bool):
    if path.exists() and check:
        check_journal(path)                          # read-only: a file that is no journal gets no lock
        repair_journal(path)
    try:
        return open_journal(path, fsync=fsync)
    except JournalWriteError:
        raise
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise JournalWriteError(e.errno, e.strerror, str(path)) from None
        raise ValueError(f"study file {str(path)!r} cannot be opened: {e.strerror or e}") from None
    except ValueError:
        raise
    except Exception as e:                           # replay of a damaged journal
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"study file {str(path)!r} is corrupt: {first}") from None


class DirLock:
    """An exclusive flock on ``DIR/.search.lock`` for one local search at a time.

    The holder removes the lock file when it leaves (a run leaves no lock behind), and a taker checks,
    once it holds the lock, that the file it locked is still the one at the path; if the holder removed
    it meanwhile, it takes the lock again on the new file. On an error, the directories the lock made
    are removed again where they are empty.
    """

    def __init__(self, out_dir):
        self.path = Path(out_dir) / ".search.lock"
        self.fd = None
        self.made: list[Path] = []

    def __enter__(self):
        self.made = missing_dirs(self.path.parent)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while not self._take():
                pass
        except OSError as e:
            self._remove_made()
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(e.errno, e.strerror, str(self.path.parent)) from None
            raise ValueError(f"out = {str(self.path.parent)!r} cannot be used as the output directory "
                             f"({e.strerror or e})") from None
        return self

    def _take(self) -> bool:
        """True once the lock on the file now at the path is held; False: taken on a removed file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"another search is running in {str(self.path.parent)!r} "
                             f"(lock {self.path.name}); wait for it or use another --out") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def __exit__(self, *exc):
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()                   # while held: a waiting taker then sees it gone
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        if exc[0] is not None:
            self._remove_made()

    def _remove_made(self) -> None:
        for d in self.made:                          # deepest first; a directory with files stays
            with contextlib.suppress(OSError):
                d.rmdir()


def missing_dirs(path) -> list[Path]:
    """The directories of ``path`` that do not exist yet, deepest first: what to remove again if the
    run that makes them fails."""
    out, p = [], path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        out.append(p)
        p = p.parent
    return out
