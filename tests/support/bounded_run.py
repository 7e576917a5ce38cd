"""A command run as a child with its wall time and peak memory measured (issue 21's resource bounds).

``os.wait4`` gives the child's own peak RSS (``RUSAGE_CHILDREN`` would be the largest of every child the
test process ever had). The child's address space is capped, so a regression that allocates without
bound fails the test with a MemoryError instead of taking a machine other jobs share.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_INPUT_BYTES = 10 * 1024          # the "tiny input"
MAX_PEAK_BYTES = 1 << 30             # ... may not use more than 1 GB
MAX_SECONDS = 30.0                   # ... or 30 s
ADDRESS_SPACE = 4 << 30              # the child's cap: torch's import and a traced model need < 1 GiB of it


@dataclass(frozen=True)
class Bounded:
    """How a child ended: exit code, output, wall seconds and peak RSS in bytes."""

    rc: int
    out: str
    err: str
    seconds: float
    peak_bytes: int

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_bounded(argv, *, timeout: float = 2 * MAX_SECONDS, cwd=None, env=None, stdin: bytes = b"") -> Bounded:
    """``argv`` as a child of this process (killed after ``timeout`` seconds), measured."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write(stdin)
        inp.seek(0)
        start = time.monotonic()
        child = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=err, cwd=cwd, env=env, preexec_fn=_cap)
        killer = threading.Timer(timeout, child.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)      # so Popen does not wait for it again
        seconds = time.monotonic() - start
        out.seek(0), err.seek(0)
        text = [f.read().decode(errors="replace") for f in (out, err)]
        return Bounded(child.returncode, *text, seconds, usage.ru_maxrss * 1024)


def structconv(*args, **kwargs) -> Bounded:
    """``structconv ARGS...`` (this checkout's) as a measured child."""
    return run_bounded([sys.executable, "-m", "structconv", *map(str, args)], **kwargs)


def assert_bounded(r: Bounded) -> None:
    assert r.seconds < MAX_SECONDS, f"took {r.seconds:.1f} s"
    assert r.peak_bytes < MAX_PEAK_BYTES, f"peak RSS {r.peak_bytes / 2**20:.0f} MiB"
