"""Plain-text tables for the terminal (no pandas needed on the quick paths)."""
from __future__ import annotations

from ._output import plain

CELL_LIMIT = 60          # a cell wider than this (a 100 kB layer name) is cut, with an ellipsis


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.3g}" if isinstance(n, float) else str(n)


def render(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """Columns padded to width; ``align`` is one 'l'/'r' per column (default: first left)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[plain(c, CELL_LIMIT) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    def fmt(r):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align))
    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)
