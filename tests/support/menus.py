"""Per-layer choice menus shared by the simulator tests and benchmarks/bench_sim.py."""
from __future__ import annotations

from structconv.core import Dense, Structure


def search_space(net):
    """Per layer: dense plus (c, n) structures, c in {C/8, C/4, C/2, C}, n in 1..k (the search's menu)."""
    out = []
    for layer in net.layers:
        C, (kh, kw) = layer.group_in_channels, layer.kernel
        opts = [Dense()]
        for c in sorted({max(1, C // 8), max(1, C // 4), max(1, C // 2), C}):
            for n in range(1, min(kh, kw) + 1):
                s = Structure(c, n)
                if not s.is_identity(layer):
                    opts.append(s)
        out.append(opts)
    return out
