"""analytical vs cycle mode: every count equal, dense and structured (sequential, spilled and
fused: the fused pipeline is timed fold by fold in both modes, so cycles_compute is equal too);
the analytical stall, a closed form over the whole layer, never exceeds the cycle mode's."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.sim import simulate_layer
from tests.support.sim_reference import accelerators, layers, structures


@settings(max_examples=150)
@given(layers(), accelerators())
def test_dense_modes_agree_exactly(layer, hw):
    a = simulate_layer(layer, None, hw, "analytical")
    c = simulate_layer(layer, None, hw, "cycle")
    for f in ("cycles_compute", "mac_cycles", "macs", "sram_ifmap_reads", "sram_filter_reads",
              "sram_ofmap_writes", "dram_bytes"):
        assert getattr(a, f) == getattr(c, f), f
    # per-fold stalls can only add up to more than the whole-layer bound
    assert c.cycles_stall >= a.cycles_stall


@settings(max_examples=150)
@given(st.data(), layers(), accelerators())
def test_structured_modes_agree(data, layer, hw):
    s = data.draw(structures(layer))
    a = simulate_layer(layer, s, hw, "analytical")
    c = simulate_layer(layer, s, hw, "cycle")
    for f in ("cycles_compute", "mac_cycles", "spu_cycles", "macs", "spu_adds", "sram_ifmap_reads",
              "sram_filter_reads", "sram_ofmap_writes", "sram_ifmap_writes", "line_buffer_accesses",
              "dram_bytes", "dram_ifmap_bytes", "dram_filter_bytes", "dram_ofmap_bytes", "fused"):
        assert getattr(a, f) == getattr(c, f), f
    assert c.cycles_stall >= a.cycles_stall
