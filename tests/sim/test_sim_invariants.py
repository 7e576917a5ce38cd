"""Property tests: physical invariants of the simulator."""
from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from structconv.core import Layer, Structure, count_ops
from structconv.core.designs import admissible_designs
from structconv.sim import (
    DATAFLOWS,
    ENERGY_KEYS,
    SCHEMES,
    Accelerator,
    MacArray,
    Memory,
    SumPoolUnit,
    simulate_layer,
)
from tests.support.sim_reference import accelerators, layers, structures


@settings(max_examples=120)
@given(st.data(), layers(), accelerators(), st.sampled_from(["analytical", "cycle"]))
def test_cycles_at_least_macs_over_pes(data, layer, hw, mode):
    # SCALE-Sim reports the index of the last busy cycle (busy time - 1 per GEMM); only a
    # 1x1 array, which has no fill or drain, can then fall one cycle short of MACs/PEs.
    assume(hw.num_pes > 1)
    choice = data.draw(st.one_of(st.none(), structures(layer)))
    r = simulate_layer(layer, choice, hw, mode)
    assert r.mac_cycles * hw.num_pes >= r.macs
    assert r.cycles_compute * hw.num_pes >= r.macs
    # neither unit can finish before it has done its own work (SCALE-Sim's -1 per GEMM aside)
    assert r.cycles_compute >= r.mac_cycles
    assert r.cycles_compute + layer.groups >= r.spu_cycles
    assert r.cycles_total == r.cycles_compute + r.cycles_stall
    assert 0.0 <= r.mac_utilization <= 1.0


@st.composite
def choices(draw, layer):
    """Dense, a structure, or a sparse-kernel design (when one applies to the layer)."""
    designs = admissible_designs(layer)
    options = [st.none(), structures(layer)] + ([st.sampled_from(designs)] if designs else [])
    return draw(st.one_of(*options))


@settings(max_examples=150)
@given(st.data(), layers(), accelerators(), st.sampled_from(["analytical", "cycle"]))
def test_no_layer_beats_its_own_dram_traffic(data, layer, hw, mode):
    """DRAM is one link per layer: a layer (dense, structured fused or sequential, or a
    sparse-kernel design) takes at least the time its bytes need on it, and at least its
    compute time."""
    choice = data.draw(choices(layer))
    r = simulate_layer(layer, choice, hw, mode)
    assert r.cycles_total >= math.ceil(r.dram_bytes / hw.memory.dram_bytes_per_cycle), r
    assert r.cycles_total >= r.cycles_compute
    assert r.cycles_stall >= 0


@settings(max_examples=120)
@given(st.data(), layers(), accelerators(), st.integers(1, 8), st.sampled_from(["analytical", "cycle"]))
def test_more_adder_lanes_never_slower(data, layer, hw, extra, mode):
    s = data.draw(structures(layer))
    more = hw.with_(sum_pool=dataclasses.replace(hw.sum_pool, adder_lanes=hw.sum_pool.adder_lanes + extra))
    a = simulate_layer(layer, s, hw, mode)
    b = simulate_layer(layer, s, more, mode)
    assert b.spu_cycles <= a.spu_cycles
    assert b.cycles_compute <= a.cycles_compute
    assert b.cycles_total <= a.cycles_total


@settings(max_examples=60)
@given(st.data(), layers(), accelerators(), st.floats(0.01, 10.0))
def test_energy_rises_with_every_table_entry(data, layer, hw, bump):
    choice = data.draw(st.one_of(st.none(), structures(layer)))
    base = simulate_layer(layer, choice, hw)
    for f in dataclasses.fields(hw.energy):
        hot = hw.with_(energy=dataclasses.replace(hw.energy, **{f.name: getattr(hw.energy, f.name) + bump}))
        r = simulate_layer(layer, choice, hot)
        assert r.energy_pj.total >= base.energy_pj.total, f.name
    leaky = simulate_layer(layer, choice, hw.with_(leakage_mw=hw.leakage_mw + bump))
    assert leaky.energy_pj.total >= base.energy_pj.total
    assert sum(getattr(base.energy_pj, k) for k in ENERGY_KEYS[:-1]) == pytest.approx(base.energy_pj.total)


def test_energy_strictly_rises_where_the_event_happens():
    layer = Layer.conv2d("c", 16, 16, 3, (12, 12), padding=1)
    hw = Accelerator("a", MacArray(8, 8), memory=Memory(1024, 1024, 1024, 4.0), leakage_mw=1.0)
    s = Structure(8, 2)
    base = simulate_layer(layer, s, hw)
    for f in dataclasses.fields(hw.energy):
        hot = hw.with_(energy=dataclasses.replace(hw.energy, **{f.name: getattr(hw.energy, f.name) + 1.0}))
        assert simulate_layer(layer, s, hot).energy_pj.total > base.energy_pj.total, f.name


@settings(max_examples=120)
@given(layers(), accelerators(), st.sampled_from(["analytical", "cycle"]))
def test_full_structure_is_the_dense_layer(layer, hw, mode):
    """Structure(c=C, n=N) has a 1x1x1 window: same MAC work as dense, zero-work sum-pool."""
    full = Structure(layer.group_in_channels, layer.kernel)
    d = simulate_layer(layer, None, hw, mode)
    s = simulate_layer(layer, full, hw, mode)
    assert s.mac_cycles == d.mac_cycles and s.macs == d.macs
    assert s.spu_cycles == 0 and s.spu_adds == 0
    assert s.cycles_total == d.cycles_total
    assert s.energy_pj == d.energy_pj


@settings(max_examples=120)
@given(st.data(), layers(), accelerators())
def test_schemes_order_and_core_convention(data, layer, hw):
    """tree = core's naive count at stride 1, dilation 1; fewer when some stride-1 outputs are
    never read (stride > 1, or dilation wider than the output); sliding <= separable <= tree."""
    s = data.draw(structures(layer))
    adds = {}
    for scheme in SCHEMES:
        h = hw.with_(sum_pool=dataclasses.replace(hw.sum_pool, scheme=scheme))
        adds[scheme] = simulate_layer(layer, s, h).spu_adds
    core = count_ops(layer, s).sumpool_adds
    if layer.stride == (1, 1) and layer.dilation == (1, 1):
        assert adds["tree"] == core
    else:
        assert adds["tree"] <= core
    assert adds["sliding"] <= adds["separable"] <= adds["tree"]


def test_stride_two_computes_only_needed_outputs():
    layer = Layer.conv2d("c", 8, 8, 3, (16, 16), stride=2, padding=1)
    hw = Accelerator("a", MacArray(8, 8), sum_pool=SumPoolUnit(4, "tree"))
    s = Structure(4, 1)                       # window (5, 3, 3), small conv 1x1 stride 2
    r = simulate_layer(layer, s, hw)
    assert r.spu_adds == 4 * 8 * 8 * (5 * 9 - 1)        # c * Ho * Wo outputs only
    assert count_ops(layer, s).sumpool_adds == 4 * 16 * 16 * (5 * 9 - 1)   # core: stride-1 map


def test_fused_never_slower_than_sequential():
    layer = Layer.conv2d("c", 32, 32, 3, (20, 20), padding=1)
    for df in DATAFLOWS:
        base = Accelerator("a", MacArray(8, 8, df), sum_pool=SumPoolUnit(8, "separable", 1 << 20))
        f = simulate_layer(layer, Structure(16, 2), base)
        q = simulate_layer(layer, Structure(16, 2), base.with_(overlap="sequential"))
        assert f.fused and q.fused is False
        assert f.cycles_compute <= q.cycles_compute
        assert f.sram_writes < q.sram_writes                   # no intermediate round trip
