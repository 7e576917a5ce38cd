"""Headless Chromium driven over the DevTools protocol, for the report's browser tests.

No extra dependency: Chromium's ``--remote-debugging-pipe`` speaks CDP as NUL-separated JSON over file
descriptors 3 (commands in) and 4 (responses out). ``CHROMIUM`` is None where no Chromium is installed.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--window-size=1400,1000"]


def find_chromium() -> str | None:
    for cand in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


CHROMIUM = find_chromium()


class CDP:
    """A minimal DevTools-protocol client over --remote-debugging-pipe."""

    def __init__(self, user_data_dir: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        cmd_r, res_w = self._high(cmd_r), self._high(res_w)     # never 3 or 4 themselves
        wrapper = f'exec "$0" "$@" 3<&{cmd_r} 4>&{res_w} {cmd_r}<&- {res_w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", wrapper, CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(cmd_r, res_w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(cmd_r)
        os.close(res_w)
        self._id = 0
        self.events: list[dict] = []
        self._q: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def _high(fd: int) -> int:
        import fcntl

        new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return new

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._res_r, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self._q.put(json.loads(msg))
        self._q.put(None)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30):
        self._id += 1
        mid = self._id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            if m is None:
                raise RuntimeError(f"Chromium exited: {self.proc.stderr.read().decode()[-500:]}")
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def _pump(self, seconds: float, method: str | None = None) -> dict | None:
        """Collect messages for up to ``seconds``; stop early at the first event named ``method``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                m = self._q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if m is None:
                break
            self.events.append(m)
            if method is not None and m.get("method") == method:
                return m
        return None

    def drain(self, seconds: float):
        self._pump(seconds)

    def wait_event(self, method: str, timeout: float) -> dict:
        end = time.monotonic() + timeout
        for e in self.events:
            if e.get("method") == method:
                return e
        m = self._pump(max(0.0, end - time.monotonic()), method)
        if m is None:
            raise TimeoutError(f"no {method} within {timeout} s")
        return m

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)


RENDER_CHECK = """(() => {
  const divs = Array.from(document.querySelectorAll('div.plotly-graph-div'));
  return JSON.stringify({
    figures: divs.length,
    rendered: divs.filter(d => d.querySelector('svg.main-svg') && d._fullLayout).length,
    empty: divs.filter(d => !d.querySelector('svg')).map(d => d.id),
    summary: !!document.getElementById('structconv-summary'),
    plotly: typeof Plotly !== 'undefined' ? Plotly.version : null});
})()"""
