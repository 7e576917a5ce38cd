"""How a SCALE-Sim SRAM demand trace is pinned: benchmarks/scalesim_traces.py digests SCALE-Sim's traces
with these, and the trace tests digest the reference's demand the same way. Standard library at import
(numpy where used): SCALE-Sim's own venv imports this module."""
from __future__ import annotations

import hashlib


def digest(rows: list[list[int]]) -> dict:
    """The text digest of one trace's demand rows (cycle column already split off)."""
    exact = "".join(",".join(map(str, r)) + "\n" for r in rows)
    sets = "".join(",".join(map(str, sorted(a for a in r if a >= 0))) + "\n" for r in rows)
    return dict(rows=len(rows), ports=len(rows[0]) if rows else 0,
                valid=sum(1 for r in rows for a in r if a >= 0),
                sha_exact=hashlib.sha256(exact.encode()).hexdigest(),
                sha_sets=hashlib.sha256(sets.encode()).hexdigest())


class Int64Digest:
    """The int64 digest of a demand matrix fed in row blocks (any split gives the same digest):
    rows, ports, valid (entries >= 0) and sha_int64 (sha256 of the little-endian int64 bytes,
    row-major)."""

    def __init__(self):
        self.sha, self.rows, self.ports, self.valid = hashlib.sha256(), 0, None, 0

    def update(self, block) -> None:
        import numpy as np

        m = np.asarray(block, dtype="<i8")
        if m.size == 0:
            return
        assert m.ndim == 2 and self.ports in (None, m.shape[1]), (m.shape, self.ports)
        self.ports = m.shape[1]
        self.rows += m.shape[0]
        self.valid += int((m >= 0).sum())
        self.sha.update(np.ascontiguousarray(m).tobytes())

    def result(self) -> dict:
        return dict(rows=self.rows, ports=self.ports or 0, valid=self.valid, sha_int64=self.sha.hexdigest())
