"""The journal file a study lives in by default: append backend, repair, checks, worker leases.

* ``FastJournalFileBackend`` appends each batch of log lines with one ``write(2)``
  under an ``flock`` (Optuna's own backend takes a symlink lock and fsyncs every
  line: 3-4x slower at ~57 storage writes per trial). A SIGKILLed process leaves at
  most one unfinished last line, which ``repair_journal`` truncates on the next start.
* A journal has no heartbeat, so every process that writes trials holds a *lease*:
  an ``flock`` on ``JOURNAL.workers/<host>.<pid>.<start>.<rand>.lock`` for as long
  as it lives (the kernel drops it when the process dies, however it dies). The
  process's Optuna worker id is ``structconv:<token>:<thread>``, and that id is
  written into the very journal record that makes a trial RUNNING, so the owner of
  every running trial is known exactly (``LeasedJournalStorage.owner_token``).
  ``recover_dead_trials`` fails a RUNNING trial only when its owner's lease file is
  gone or its lock is free: a live worker of another search sharing the journal is
  never touched. A trial run by a non-structconv writer (plain Optuna) has no lease:
  it is left alone and reported.
Leases need ``flock`` to be shared by every process that writes the file, as the
journal's own lock does: a local file system (or NFSv4). Across machines, use PostgreSQL.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import socket
import threading
import time
import weakref
from pathlib import Path

from ...core import parse_json
from .._optuna import optuna, submodule, trial_state
from ..evaluation import TRIAL_ATTR

MAX_JOURNAL_BYTES = 4 << 30                         # 4 GiB: ~200k trials; replay holds it all in memory
MAX_LINE_BYTES = 16 << 20
WORKER_PREFIX = "structconv"


class JournalWriteError(OSError):
    """A write to the study's files failed (a full disk): an OSError naming the journal, told apart from
    the errors of Optuna's that it sets off (``journal_errors``)."""


def write_error(e: OSError, journal) -> JournalWriteError:
    return JournalWriteError(e.errno, e.strerror, str(journal))


@contextlib.contextmanager
def journal_errors():
    """A failed journal write inside Optuna's optimize ends the trial in no state, which Optuna reports
    as ``AssertionError: Should not reach.``: the write's error is raised instead."""
    try:
        yield
    except JournalWriteError:
        raise
    except Exception as e:
        cause = e.__context__
        while cause is not None and not isinstance(cause, JournalWriteError):
            cause = cause.__context__
        if cause is None:
            raise
        raise cause from None


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


def backend_class():
    JournalFileBackend = submodule("storages.journal").JournalFileBackend
    BaseJournalFileLock = submodule("storages.journal._file").BaseJournalFileLock

    class FastJournalFileBackend(JournalFileBackend):
        """Optuna's file backend with an flock and one O_APPEND write per batch of lines."""

        def __init__(self, file_path: str, fsync: bool = False):
            lock = _FlockLock(file_path)
            BaseJournalFileLock.register(_FlockLock)
            super().__init__(file_path, lock_obj=lock)
            self.path, self.flock, self.fsync = file_path, lock, fsync

        def append_logs(self, logs) -> None:
            data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
            try:
                self.flock.acquire()
            except OSError as e:
                raise write_error(e, self.path) from None
            try:
                _append(self.path, data, self.fsync)
            finally:
                self.flock.release()

    return FastJournalFileBackend


def _append(path: str, data: bytes, fsync: bool) -> None:
    """Append ``data`` whole or not at all (the caller holds the lock): a write cut short by a full disk
    is truncated away at once, not left for the next start's repair."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise write_error(e, path) from None
    finally:
        os.close(fd)


# -- repair and checks ---------------------------------------------------------------
def _last_newline_end(f, size: int) -> int:
    block, pos = 1 << 16, size
    while pos > 0:
        start = max(0, pos - block)
        f.seek(start)
        k = f.read(pos - start).rfind(b"\n")
        if k >= 0:
            return start + k + 1
        pos = start
    return 0


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
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return 0
            keep = _last_newline_end(f, size)
            f.truncate(keep)
            return size - keep
    finally:
        lock.release()


def check_journal_file(path) -> None:
    """ValueError unless ``path`` is absent or a regular file within MAX_JOURNAL_BYTES."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir():
        raise ValueError(f"study file {str(path)!r} is a directory")
    if not path.is_file():
        raise ValueError(f"study file {str(path)!r} is not a regular file (a journal must be a file)")
    size = path.stat().st_size
    if size > MAX_JOURNAL_BYTES:
        raise ValueError(f"study file {str(path)!r} is {size} bytes, over the {MAX_JOURNAL_BYTES} byte cap "
                         f"(start a new study, or use PostgreSQL for studies this large)")


def check_journal(path) -> None:
    """ValueError naming the first line of ``path`` that is not a JSON journal record, or that Optuna's
    own replay refuses (an unknown op_code, a field of the wrong type: Optuna would fail on it only
    when the study opens, after the proxies, with "Should not reach."). Read-only; nothing is opened."""
    path = Path(path)
    check_journal_file(path)
    replay = submodule("storages.journal._storage").JournalStorageReplayResult("structconv-check-")
    for i, rec in _records(path):
        try:
            replay.apply_logs([rec])
        except Exception as e:                      # AssertionError, KeyError, TypeError...: a forged record
            why = (str(e).splitlines() or [""])[0][:120] or type(e).__name__
            raise ValueError(f"study file {str(path)!r} is corrupt: line {i} is not a record Optuna can "
                             f"replay ({why}; move it away to start a new study)") from None


def _records(path: Path):
    """(line number, record) of each complete line of the journal ``path``, read with bounded JSON."""
    with open(path, "rb") as f:
        for i, line in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(line) > MAX_LINE_BYTES:
                raise ValueError(f"study file {str(path)!r} is corrupt: "
                                 f"line {i} is over {MAX_LINE_BYTES} bytes")
            if not line.endswith(b"\n"):                # being appended by a live worker right now
                return
            try:                                       # bounded: 50,000 levels of nesting are refused
                rec = parse_json(line.decode("utf-8"))
            except ValueError as e:                    # JSON, UTF-8, nesting or repeated-key errors
                why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
                raise ValueError(f"study file {str(path)!r} is corrupt: line {i} is not a journal record "
                                 f"({why}; move it away to start a new study)") from None
            if not isinstance(rec, dict) or "op_code" not in rec:
                raise ValueError(f"study file {str(path)!r} is corrupt: line {i} has no 'op_code' "
                                 f"(not an Optuna journal)")
            yield i, rec


# -- leases ----------------------------------------------------------------------------
def lease_dir(journal) -> Path:
    return Path(str(journal) + ".workers")


def _release(fd: int, path: Path) -> None:
    # unlink first: once the lock is free the file must already be gone (no live trial left)
    try:
        os.unlink(path)
    except OSError:
        pass
    os.close(fd)
    try:
        path.parent.rmdir()                          # the last worker out removes the directory
    except OSError:
        pass


class Lease:
    """This process's claim on the trials it runs in one journal: an flock held while it lives."""

    def __init__(self, journal):
        self.journal = journal
        self.dir = lease_dir(journal)
        host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:64] or "host"
        self.token = f"{host}.{os.getpid()}.{time.time_ns():x}.{secrets.token_hex(3)}"
        self.path = self.dir / f"{self.token}.lock"
        fd = self._create()
        self._finalizer = weakref.finalize(self, _release, fd, self.path)

    def _create(self) -> int:
        # locked under a temporary name, then renamed: a sweeper never sees an unlocked lease
        tmp = self.dir / f".{self.token}.tmp"
        for _ in range(20):                          # the directory may vanish under us (last one out)
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise write_error(e, self.journal) from None
            if self._lock_as(fd, tmp):
                return fd
        raise ValueError(f"cannot create a worker lease in {str(self.dir)!r}")

    def _lock_as(self, fd: int, tmp: Path) -> bool:
        """Lock ``tmp`` and rename it to the lease's name; False when the directory vanished first. A
        failed write (a full disk) leaves no temporary file and no empty directory behind."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                     "started": time.time()}).encode())
            os.rename(tmp, self.path)
            return True
        except FileNotFoundError:
            os.close(fd)
            return False
        except OSError as e:
            _release(fd, tmp)
            raise write_error(e, self.journal) from None

    def release(self) -> None:
        self._finalizer()


def lease_alive(directory: Path, token: str) -> bool:
    """True while the process holding ``token``'s lease lives; a dead one's file is removed."""
    path = directory / f"{token}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True
    try:
        os.unlink(path)                              # dead: its trials are failed by the caller
    except OSError:
        pass
    os.close(fd)
    return False


def sweep_leases(directory: Path) -> None:
    """Remove the lease files of dead processes."""
    try:
        names = [p.name[:-5] for p in directory.iterdir() if p.name.endswith(".lock")]
    except OSError:
        return
    for token in names:
        lease_alive(directory, token)


def token_of(worker_id) -> str | None:
    """The lease token in a structconv worker id ``structconv:<token>:<thread>`` (None otherwise)."""
    parts = str(worker_id).split(":")
    return parts[1] if len(parts) == 3 and parts[0] == WORKER_PREFIX else None


# -- the storage: Optuna's JournalStorage, whose worker ids name a lease ----------------------
def storage_class():
    """Optuna's JournalStorage extended by subclassing (its replay and worker id are internals of Optuna's:
    the one place the search depends on them, pinned by tests/test_search_faults.py)."""
    JournalStorage = optuna().storages.JournalStorage
    JournalStorageReplayResult = submodule("storages.journal._storage").JournalStorageReplayResult
    TrialState = trial_state()

    class OwnerReplay(JournalStorageReplayResult):
        """The replay, also remembering the worker id whose record made each trial RUNNING."""

        def __init__(self, prefix: str):
            super().__init__(prefix)
            self.owner: dict[int, str] = {}

        def _apply_create_trial(self, log) -> None:
            n = len(self._trials)
            super()._apply_create_trial(log)
            if len(self._trials) > n and self._trials[n].state == TrialState.RUNNING:
                self.owner[n] = log["worker_id"]

        def _apply_set_trial_state_values(self, log) -> None:
            tid = log["trial_id"]
            old = self._trials.get(tid)
            super()._apply_set_trial_state_values(log)
            new = self._trials.get(tid)
            if old is not None and old.state != TrialState.RUNNING and new.state == TrialState.RUNNING:
                self.owner[tid] = log["worker_id"]

    class LeasedJournalStorage(JournalStorage):
        """JournalStorage whose worker id is ``structconv:<lease token>:<thread>``."""

        def __init__(self, backend):
            self._backend = backend
            self._start()

        def _start(self) -> None:
            self.lease = Lease(self._backend.path)
            self._worker_id_prefix = f"{WORKER_PREFIX}:{self.lease.token}:"
            self._thread_lock = threading.Lock()
            self._replay_result = OwnerReplay(self._worker_id_prefix)
            with self._thread_lock:
                self._sync_with_backend()

        def __getstate__(self):
            return {"_backend": self._backend}

        def __setstate__(self, state):                # another process: a lease of its own
            self._backend = state["_backend"]
            self._start()

        def owner_token(self, trial_id: int) -> str | None:
            with self._thread_lock:
                self._sync_with_backend()
                return token_of(self._replay_result.owner.get(trial_id))

    return LeasedJournalStorage


def open_journal(path: Path, fsync: bool = False):
    return storage_class()(backend_class()(str(path), fsync=fsync))


def recover_dead_trials(study, storage) -> tuple[list[int], dict[int, int], list[int]]:
    """Fail the RUNNING trials whose worker is dead and enqueue their parameters again.

    ``storage``: the storage object ``study`` was opened on. Returns (failed trial numbers,
    {failed: its retry's number}, RUNNING trials of unknown owners left alone). Safe to
    call from any process at any time: a trial is failed only when its owner's lease is
    free, and only one caller wins each FAIL.
    """
    owner_token = getattr(storage, "owner_token", None)
    if owner_token is None:
        return [], {}, []
    TrialState = trial_state()
    study_id = storage.get_study_id_from_name(study.study_name)
    failed, retried, unknown = [], {}, []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        token = owner_token(trial_id)
        if token is None:
            unknown.append(t.number)
        elif token != storage.lease.token and not lease_alive(storage.lease.dir, token) \
                and _fail(storage, trial_id):
            failed.append(t.number)
            retry = _enqueue_retry(study, t)
            if retry is not None:
                retried[t.number] = retry
    sweep_leases(storage.lease.dir)
    return failed, retried, unknown


def _fail(storage, trial_id: int) -> bool:
    """Mark a RUNNING trial FAIL; False when another process finished or failed it first."""
    try:
        return bool(storage.set_trial_state_values(trial_id, trial_state().FAIL))
    except optuna().exceptions.UpdateFinishedTrialError:
        return False


def _enqueue_retry(study, t) -> int | None:
    params = {**(t.system_attrs.get("fixed_params") or {}), **t.params}
    if not params:                                   # died before its first suggestion: nothing to retry
        return None
    attrs = {k: v for k, v in t.user_attrs.items() if k != TRIAL_ATTR}
    attrs["retry_of"] = t.number
    study.enqueue_trial(params, user_attrs=attrs)
    mine = [w.number for w in study.get_trials(deepcopy=False)
            if w.user_attrs.get("retry_of") == t.number and w.state != trial_state().FAIL]
    return mine[-1] if mine else None
