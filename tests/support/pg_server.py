"""A private PostgreSQL server on loopback for the multi-worker search test.

``PgServer`` (behind the ``pg_url`` fixture of tests/search/conftest.py) runs ``initdb`` into a temporary
directory and ``pg_ctl start`` on a free port bound to 127.0.0.1, with the unix
socket in that directory too; it yields ``postgresql://postgres@127.0.0.1:PORT/postgres``
and stops the server (``-m immediate``) and removes the directory afterwards.
PostgreSQL refuses to run as root, so under root the binaries run as the
``postgres`` system user (``runuser -u postgres --``). The test is skipped, with
the reason, when the server binaries, the postgres user or psycopg2 are missing
(``.ci/run`` installs the Debian ``postgresql`` package when it can).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def find_bindir() -> str | None:
    env = os.environ.get("STRUCTCONV_PG_BINDIR")
    if env and os.path.exists(os.path.join(env, "initdb")):
        return env
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_reason() -> str | None:
    """Why the server cannot be started here, or None."""
    if find_bindir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found; "
                "install the Debian 'postgresql' package")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install psycopg2-binary)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class PgServer:
    """initdb + pg_ctl start in a temporary directory; ``url``; ``stop()``."""

    def __init__(self):
        self.bindir = find_bindir()
        self.dir = tempfile.mkdtemp(prefix="structconv-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)

    def _run(self, *cmd, timeout=120):
        cmd = [os.path.join(self.bindir, cmd[0]), *cmd[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")

    def start(self) -> str:
        r = self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        if r.returncode:
            raise RuntimeError(f"initdb failed: {r.stderr.strip()[-500:]}")
        opts = (f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections=50 -c shared_buffers=16MB")
        r = self._run("pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "server.log"),
                      "-w", "-t", "60", "start")
        if r.returncode:
            log = ""
            try:
                log = open(os.path.join(self.dir, "server.log")).read()[-500:]
            except OSError:
                pass
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()[-300:]} {log}")
        deadline = time.time() + 30
        import psycopg2

        while True:
            try:
                psycopg2.connect(self.url).close()
                break
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        return self.url

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
