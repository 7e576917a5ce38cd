"""Output locations, checked before any work so a bad one costs nothing and leaves nothing behind."""
from __future__ import annotations

import os
from pathlib import Path

from structconv.core import shown

from ._errors import CLIError


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


def _check_creatable(flag: str, path, target: Path) -> None:
    """``target`` (a directory to create or write in) can be made: its nearest existing ancestor is a
    writable directory."""
    anc = _nearest_existing(target.absolute())
    if not anc.is_dir():
        raise CLIError(f"{flag} {shown(str(path))}: {shown(str(anc))} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {shown(str(path))}: directory {shown(str(anc))} is not writable")


def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p
