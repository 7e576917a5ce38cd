"""What commands print: one JSON object, or names made safe for a terminal line; the standard streams made
safe to print to (closed ones plugged, an ASCII terminal given escapes)."""
from __future__ import annotations

import codecs
import contextlib
import os
import sys

from structconv.core import dumps_json, shown


def print_json(obj) -> None:
    sys.stdout.write(dumps_json(obj) + "\n")


def plain(value, limit: int = 60) -> str:
    """A name for a table or a heading: as is when short and printable, else ``shown()`` (quoted, escaped,
    cut), so a U+202E cannot reorder a line and a 100 kB name cannot flood the terminal."""
    text = str(value)
    return text if len(text) <= limit and text.isprintable() else shown(text, limit)


def plug_closed_fds() -> None:
    """Open /dev/null on a closed fd 0, 1 or 2 (`>&-`), so no file opened later takes its number and
    receives what a library writes to stdout or stderr by fd."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)


def _can_fail(stream) -> bool:
    """Writing some text to ``stream`` would raise: strict errors, or an encoding short of Unicode
    (LANG=C without UTF-8 mode: ASCII with surrogateescape)."""
    errors = getattr(stream, "errors", None)
    if errors not in ("strict", "surrogateescape") or not hasattr(stream, "reconfigure"):
        return False
    try:
        return errors == "strict" or not codecs.lookup(stream.encoding).name.startswith("utf")
    except (LookupError, TypeError):
        return True


@contextlib.contextmanager
def escaping_streams():
    """Characters the terminal's encoding cannot show are written as backslash escapes, not a traceback;
    text it can show, all of it on a UTF-8 terminal, is written byte for byte as before."""
    changed = [(s, s.errors) for s in (sys.stdout, sys.stderr) if _can_fail(s)]
    for stream, _ in changed:
        with contextlib.suppress(ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream, errors in changed:
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors=errors)
