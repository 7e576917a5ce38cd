"""The one error path: what a user did wrong becomes one escaped line (exit 2), whichever call found it."""
from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager

from structconv.core import FieldError, printable, shown

MAX_MESSAGE = 1000          # a message is one terminal line or a few: a safety net behind shown()


class CLIError(Exception):
    """A user error the CLI reports as one line (exit 2)."""


class StdoutError(OSError):
    """Standard output cannot be written (``> /dev/full``): reported as one line, not at interpreter exit."""


def one_line(e: BaseException) -> str:
    """The first line of an error's message, control characters escaped, capped at MAX_MESSAGE."""
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
    msg = printable(msg)
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 1] + "…"


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def os_error_line(e: OSError) -> str:
    """'PATH': reason (-> 'PATH2') for an OSError, whichever call raised it; a full disk or quota:
    no space left on 'PATH'."""
    reason = e.strerror or one_line(e)
    if e.errno in NO_SPACE:
        where = shown(os.fsdecode(e.filename)) if e.filename is not None else "the device"
        return f"no space left on {where}" + ("" if e.errno == errno.ENOSPC else f" ({reason})")
    if e.filename is None:
        return reason
    line = f"{shown(os.fsdecode(e.filename))}: {reason}"
    return line + (f" (-> {shown(os.fsdecode(e.filename2))})" if e.filename2 is not None else "")


@contextmanager
def user_input(what: str):
    """Calls that read a user's file or value: the library's TypeErrors there are input errors (a list
    where a mapping belongs), not bugs, so they become one-line ValueErrors naming ``what``."""
    try:
        yield
    except TypeError as e:
        raise ValueError(f"{what}: {one_line(e)}") from e


def flag(field: str) -> str:
    """The option that sets a settings field: max_cycles_ratio -> --max-cycles-ratio."""
    return "--" + field.replace("_", "-")


@contextmanager
def as_flags():
    """Settings built from the command line: their errors name the options the user typed, not the fields."""
    try:
        yield
    except FieldError as e:
        raise CLIError(e.spelled(flag)) from e


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
