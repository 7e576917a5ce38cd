"""The Numba kernels against the slow references in tests/support/sim_reference.py."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import Layer
from structconv.sim import DATAFLOWS, SCHEMES, Accelerator, MacArray, Memory, SumPoolUnit, simulate_layer
from structconv.sim._tier import twin
from structconv.sim.mapping import dense_job, hw_record
from tests.support.sim_reference import (
    accelerators,
    dram_reference,
    fused_replay,
    layers,
    link_replay,
    scalesim_gemm,
    spu_adds,
    stall_reference,
    structures,
)

K = twin()  # the Numba-compiled kernels (the interpreted tier is the same source: test_sim_tiers.py)

gemms = st.tuples(st.sampled_from(DATAFLOWS), st.integers(1, 40), st.integers(1, 40),
                  st.integers(1, 40), st.integers(1, 9), st.integers(1, 9))


@settings(max_examples=200)
@given(gemms)
def test_gemm_closed_form_and_fold_stepping_match_demand_matrices(g):
    df, M, N, Kw, R, C = g
    ref = scalesim_gemm(df, M, N, Kw, R, C)
    dfi = DATAFLOWS.index(df)
    flen, folds, rf, cf, ifr, fir, ofw = K.gemm_closed(dfi, M, N, Kw, R, C)
    assert (folds * flen - 1, ifr, fir, ofw) == (ref["total_cycles"], ref["ifmap_reads"], ref["filter_reads"],
                                                 ref["ofmap_writes"])
    # the cycle-stepped fold: every shape's length equals the closed form, MACs add up
    Sr, Sc, T = K.gemm_dims(dfi, M, N, Kw)
    total_macs = 0
    for fr in range(rf):
        for fc in range(cf):
            ru, cu = min(R, Sr - fr * R), min(C, Sc - fc * C)
            cyc, macs, _, _, _ = K.step_fold(dfi, R, C, T, ru, cu)
            assert cyc == flen
            total_macs += macs
    assert total_macs == M * N * Kw


@settings(max_examples=150)
@given(gemms, st.integers(0, 3000), st.sampled_from([1, 8, 64, 512, 4096]),
       st.sampled_from([1, 8, 64, 512, 4096]), st.sampled_from([1, 8, 64, 512, 4096]),
       st.sampled_from([1, 3, 1000]))
def test_dram_traffic_matches_tile_residency_replay(g, Fi, hi, hf, ho, bpe_bw):
    df, M, N, Kw, R, C = g
    dfi = DATAFLOWS.index(df)
    ref = dram_reference(df, M, N, Kw, R, C, Fi, hi, hf, ho)
    order = K.pick_order(dfi, M, N, Kw, R, C, Fi, hi, hf, ho, False)
    assert order == ref["order"]
    tot, l0, lw = K.dram_closed(dfi, M, N, Kw, R, C, Fi, hi, hf, ho, order)
    assert tot == ref["total"]
    assert (l0, lw) == (ref["folds"][0][0], ref["folds"][-1][1])
    # the whole cycle-mode layer: same traffic, and its stall equals the replayed link. The job's
    # ifmap field is Fi, fetched as equal shares (a dense layer's own map, Kw*M, is counted by
    # need sets instead: tests/sim/test_sim_trace.py checks that against the trace reference)
    if Fi == Kw * M:
        return
    layer = Layer.conv2d("g", Kw, N, 1, (M, 1))        # a 1x1 conv is exactly this GEMM
    hw = Accelerator("h", MacArray(R, C, df), memory=Memory(2 * hi, 2 * hf, 2 * ho, float(bpe_bw)))
    job = dense_job(layer)
    job["ifmap"] = Fi
    out = K.run_jobs(job, hw_record(hw), "cycle")[0]
    assert out["dram_bytes"] == ref["total"]
    flen = K.fold_len(dfi, R, C, K.gemm_dims(dfi, M, N, Kw)[2])
    assert out["cycles_stall"] == stall_reference(ref["folds"], flen, 1, float(bpe_bw))


@settings(max_examples=80)
@given(st.data(), layers(max_channels=8, max_size=9), st.sampled_from(SCHEMES))
def test_spu_adds_match_counted_reference(data, layer, scheme):
    """The reference really computes the window sums (checked against numpy) and counts
    every add and subtract; both modes must report the same number."""
    s = data.draw(structures(layer))
    if s.is_identity(layer):
        return
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, size=(layer.group_in_channels, *layer.input_size))
    ref, *_ = spu_adds(x, s.c, s.window(layer), s.n, layer.stride, layer.dilation, layer.padding,
                           layer.output_size, scheme)
    hw = Accelerator("h", MacArray(4, 4), sum_pool=SumPoolUnit(3, scheme, 1 << 20))
    for mode in ("analytical", "cycle"):
        assert simulate_layer(layer, s, hw, mode).spu_adds == layer.groups * ref


@settings(max_examples=60)
@given(st.data(), layers(), accelerators())
def test_fused_pipeline_matches_literal_replay(data, layer, hw):
    """Cycle mode's fused end time equals a literal event replay in Python: the sum-pool
    unit finishes row after row, each MAC band waits for the last row it reads."""
    s = data.draw(structures(layer))
    r = simulate_layer(layer, s, hw, "cycle")
    if not r.fused:
        return
    assert r.cycles_compute == fused_replay(layer, s, hw)


@settings(max_examples=80)
@given(st.data(), layers(), accelerators())
def test_cycle_mode_total_matches_one_link_replay(data, layer, hw):
    """Cycle mode's cycles_total (sequential and fused structured layers) equals a
    restatement in Python with one DRAM link per layer (sim_reference.link_replay). Dense
    layers fetch their ifmap by need sets, not link_replay's equal shares of the map: their
    timeline is checked against the trace reference (tests/sim/test_sim_trace.py)."""
    choice = data.draw(structures(layer))
    if choice.is_identity(layer):
        return
    r = simulate_layer(layer, choice, hw, "cycle")
    assert r.cycles_total == link_replay(layer, choice, hw, r.fused)
