"""A job queue on the file system: one directory per job, shared by any number of processes.

A job is done when its ``result.json`` exists (written atomically), failed when its
``error.json`` exists. A process claims a job by creating ``lock`` with
``O_CREAT | O_EXCL`` and writing its host, pid and process start time into it; a
lock whose holder is dead (same host, pid gone or reused) is reclaimed. Reclaiming
happens under an ``flock`` on the queue's ``.reclaim`` file and re-reads the lock
there, so two reclaimers never remove a lock a live process has just taken.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

HOST = socket.gethostname()


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None when unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process start time (clock ticks since boot), None when unknown."""
    st = _stat(pid)
    return st[19] if st else None


def holder() -> dict:
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "start": _start_time(pid), "since": time.time()}


def alive(h: dict) -> bool:
    """Whether the lock holder ``h`` still runs (a holder on another host is assumed alive)."""
    if h.get("host") != HOST:
        return True
    pid = int(h.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    st = _stat(pid)
    if st is None:
        return True                            # no /proc: os.kill said it exists
    if st[0] in ("Z", "X"):
        return False                           # killed, not yet reaped by its parent
    return h.get("start") in (None, st[19])


def _read_lock(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        try:                                   # being written: held, unless its writer died long ago
            return {} if time.time() - path.stat().st_mtime < 60 else {"host": HOST, "pid": -1}
        except OSError:
            return None


@contextmanager
def _reclaim_mutex(root: Path):
    fd = os.open(root / ".reclaim", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Queue:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def dir(self, job: str) -> Path:
        return self.root / job

    def done(self, job: str) -> bool:
        return (self.dir(job) / "result.json").exists()

    def failed(self, job: str) -> bool:
        return (self.dir(job) / "error.json").exists()

    def result(self, job: str) -> dict:
        return json.loads((self.dir(job) / "result.json").read_text())

    def locked_by_other(self, job: str) -> bool:
        h = _read_lock(self.dir(job) / "lock")
        return h is not None and (h == {} or alive(h))

    def claim(self, job: str) -> bool:
        """Take ``job`` (True) unless it is done, failed or held by a live process."""
        d = self.dir(job)
        d.mkdir(parents=True, exist_ok=True)
        lock = d / "lock"
        for _ in range(2):
            if self.done(job) or self.failed(job):
                return False
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._reclaim(lock):
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(holder(), f)
            if self.done(job) or self.failed(job):      # finished between the check and the lock
                self.release(job)
                return False
            return True
        return False

    def _reclaim(self, lock: Path) -> bool:
        """Remove ``lock`` when its holder is dead; True when it was removed (or had gone)."""
        with _reclaim_mutex(self.root):
            h = _read_lock(lock)
            if h is None:
                return True
            if h == {} or alive(h):
                return False
            lock.unlink(missing_ok=True)
            return True

    def release(self, job: str) -> None:
        lock = self.dir(job) / "lock"
        h = _read_lock(lock)
        if h and h.get("host") == HOST and int(h.get("pid", -1)) == os.getpid():
            lock.unlink(missing_ok=True)
