"""Output locations, checked before any work so a bad one (unwritable, or on a full disk) costs nothing and
leaves nothing behind."""
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
    if _full(anc):
        raise CLIError(f"{flag} {shown(str(path))}: no space left on {shown(str(anc))}")


def _full(directory: Path) -> bool:
    """The file system of ``directory`` has no block (or no inode) left for this user: a write would fail
    after the work. A disk with some room left is the atomic writers' to report, when it runs out."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail      # root may use the reserved blocks
    inodes = st.f_ffree if os.geteuid() == 0 else st.f_favail
    return st.f_blocks > 0 and blocks == 0 or st.f_files > 0 and inodes == 0


def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p
