"""Helpers shared by CLI commands: plan arguments, JSON output and the one error path."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from structconv.core import dumps_json, shown

MAX_MESSAGE = 1000          # a message is one terminal line or a few: a safety net behind shown()


class CLIError(Exception):
    """A user error the CLI reports as one line (exit 2)."""


class StdoutError(OSError):
    """Standard output cannot be written (``> /dev/full``): reported as one line, not at interpreter exit."""


def add_plan_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a named plan (see `structconv zoo`); rule presets such as uniform-n2 "
                                    "fit any network")
    g.add_argument("--plan", help="a plan file (YAML or JSON)")


def plan_ref(args):
    """The plan reference --preset/--plan give (None: dense), for ``core.resolve_plan``."""
    return getattr(args, "preset", None) or getattr(args, "plan", None)


def print_json(obj) -> None:
    sys.stdout.write(dumps_json(obj) + "\n")


def plain(value, limit: int = 60) -> str:
    """A name for a table or a heading: as is when short and printable, else ``shown()`` (quoted, escaped,
    cut), so a U+202E cannot reorder a line and a 100 kB name cannot flood the terminal."""
    text = str(value)
    return text if len(text) <= limit and text.isprintable() else shown(text, limit)


# -- the one error path ---------------------------------------------------------------------------
def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def one_line(e: BaseException) -> str:
    """The first line of an error's message, control characters escaped, capped at MAX_MESSAGE."""
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
    msg = _printable(msg)
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 1] + "…"


def os_error_line(e: OSError) -> str:
    """'PATH': reason (-> 'PATH2') for an OSError, whichever call raised it."""
    reason = e.strerror or one_line(e)
    if e.filename is None:
        return reason
    line = f"{shown(os.fsdecode(e.filename))}: {reason}"
    return line + (f" (-> {shown(os.fsdecode(e.filename2))})" if e.filename2 is not None else "")


@contextmanager
def guarded_stdout():
    """Turn a failed write to stdout into StdoutError, so it is told apart from an unwritable output file."""
    real = sys.stdout
    sys.stdout = _GuardedStream(real)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _GuardedStream):
            sys.stdout = real


class _GuardedStream:
    def __init__(self, stream):
        self._stream = stream

    def _call(self, name, *a):
        try:
            return getattr(self._stream, name)(*a)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutError(e.errno, e.strerror) from None

    def write(self, s):
        return self._call("write", s)

    def writelines(self, lines):
        return self._call("writelines", lines)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


# -- output locations, checked before any work so a bad one costs nothing and leaves nothing ------
def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable(flag: str, path, target: Path) -> None:
    """``target`` (a directory to create or write in) can be made: its nearest existing ancestor is a
    writable directory."""
    anc = _nearest_existing(target.absolute())
    if not anc.is_dir():
        raise CLIError(f"{flag} {shown(str(path))}: {shown(str(anc))} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {shown(str(path))}: directory {shown(str(anc))} is not writable")


def check_out_dir(flag: str, path) -> None:
    """An output directory: an existing directory, or one that can be created."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CLIError(f"{flag} {shown(str(path))} exists and is not a directory")
    _check_creatable(flag, path, p)


def check_out_file(flag: str, path) -> None:
    """An output file: not a directory, writable if it exists, in a directory that can be created."""
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{flag} {shown(str(path))} is a directory; give a file name")
    if p.exists() and not p.is_file():      # /dev/null: an atomic write would replace the device node
        raise CLIError(f"{flag} {shown(str(path))} exists and is not a regular file")
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{flag} {shown(str(path))} exists and is not writable")
    _check_creatable(flag, path, p.parent)


@contextmanager
def user_input(what: str):
    """Calls that read a user's file or value: the library's TypeErrors there are input errors (a list
    where a mapping belongs), not bugs, so they become one-line ValueErrors naming ``what``."""
    try:
        yield
    except TypeError as e:
        raise ValueError(f"{what}: {one_line(e)}") from e
