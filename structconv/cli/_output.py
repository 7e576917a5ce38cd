"""What commands print: one JSON object, or names made safe for a terminal line."""
from __future__ import annotations

import sys

from structconv.core import dumps_json, shown


def print_json(obj) -> None:
    sys.stdout.write(dumps_json(obj) + "\n")


def plain(value, limit: int = 60) -> str:
    """A name for a table or a heading: as is when short and printable, else ``shown()`` (quoted, escaped,
    cut), so a U+202E cannot reorder a line and a 100 kB name cannot flood the terminal."""
    text = str(value)
    return text if len(text) <= limit and text.isprintable() else shown(text, limit)
