"""A command run as a child with its wall time, CPU time and peak memory measured (issue 21's bounds).

The child is started by a small launcher process, which reads the child's own rusage with ``os.wait4``.
The kernel keeps a process's high-water RSS across ``exec``, so a command forked straight from the
test process (1-1.5 GiB deep into the suite) would report the test's memory as its own peak; a child of
the small launcher inherits only the launcher's few MiB. The launcher also caps the address space, so
a regression that allocates without bound fails with a MemoryError instead of taking a shared machine.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_INPUT_BYTES = 10 * 1024          # the "tiny input"
MAX_PEAK_BYTES = 1 << 30             # ... may not use more than 1 GB
MAX_SECONDS = 30.0                   # ... or 30 s
ADDRESS_SPACE = 4 << 30              # the child's cap: torch's import and a traced model need < 1 GiB of it

_LAUNCHER = """import json, os, resource, subprocess, sys
spec = json.loads(sys.argv[1])
def prepare():
    if spec["cap"]:
        resource.setrlimit(resource.RLIMIT_AS, (spec["cap"], spec["cap"]))
    for fd in spec["close"]:
        os.close(fd)
p = subprocess.Popen(spec["argv"], preexec_fn=prepare)
_, status, usage = os.wait4(p.pid, 0)
with open(spec["usage"], "w") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss], f)
"""


@dataclass(frozen=True)
class Bounded:
    """How a child ended: exit code, output, wall and CPU seconds, and its own peak RSS in bytes."""

    rc: int
    out: str
    err: str
    seconds: float
    cpu_s: float
    peak_bytes: int

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _child_env(env) -> dict:
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run_bounded(argv, *, timeout: float = 2 * MAX_SECONDS, cwd=None, env=None, stdin: bytes = b"",
                close: tuple[int, ...] = (), cap: int | None = ADDRESS_SPACE) -> Bounded:
    """``argv`` as a grandchild of this process (its group killed after ``timeout`` s), measured.

    ``close`` names descriptors (1, 2) the command starts without; ``cap`` is its address-space limit."""
    with tempfile.TemporaryDirectory() as io:
        usage = Path(io) / "usage"
        spec = json.dumps({"argv": [str(a) for a in argv], "cap": cap, "close": list(close),
                           "usage": str(usage)})
        files = [open(Path(io) / name, "w+b") for name in ("in", "out", "err")]
        try:
            files[0].write(stdin)
            files[0].seek(0)
            start = time.monotonic()
            launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER, spec], stdin=files[0],
                                        stdout=files[1], stderr=files[2], cwd=cwd, env=_child_env(env),
                                        start_new_session=True)
            try:
                launcher.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
                raise AssertionError(f"{' '.join(map(str, argv))} ran past {timeout:.0f} s") from None
            seconds = time.monotonic() - start
            text = []
            for f in files[1:]:
                f.seek(0)
                text.append(f.read().decode("utf-8", "replace"))
        finally:
            for f in files:
                f.close()
        rc, cpu_s, peak_kib = json.loads(usage.read_text())
    return Bounded(rc, *text, seconds, cpu_s, peak_kib * 1024)


def structconv(*args, **kwargs) -> Bounded:
    """``structconv ARGS...`` (this checkout's) as a measured child."""
    return run_bounded([sys.executable, "-m", "structconv", *map(str, args)], **kwargs)


def assert_bounded(r: Bounded) -> None:
    assert r.seconds < MAX_SECONDS, f"took {r.seconds:.1f} s"
    assert r.peak_bytes < MAX_PEAK_BYTES, f"peak RSS {r.peak_bytes / 2**20:.0f} MiB"
