"""The trace-level memory reference (tests/support/trace_reference.py) against SCALE-Sim's SRAM traces,
and structconv.sim's analytical and cycle modes against the reference (issue 14, deliverable 1).

Run ``python -m tests.sim.test_sim_trace [N] [SEED]`` to print the measured distribution of
model-vs-reference differences over N random dense layers (quoted in the measured-range
comment below and in the issue-14 README material).
"""
from __future__ import annotations

import json
import math
import random
import statistics
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import Layer, Network, Structure
from structconv.sim import Accelerator, MacArray, Memory, SumPoolUnit, simulate, simulate_layer
from tests.support import DATA
from tests.support import trace_reference as T
from tests.support.sim_reference import make_case
from tests.support.trace_digests import digest as _digest

DIGESTS = DATA / "scalesim_traces" / "digests.json"
CASES = json.loads(DIGESTS.read_text())["cases"]
MODES = ("analytical", "cycle")




def _operands(c):
    return T.scalesim_operands(c["ifmap_h"], c["ifmap_w"], c["filter_h"], c["filter_w"], c["channels"],
                               c["num_filters"], c["stride"])


# -- the demand against SCALE-Sim 3.0.0's own SRAM trace files ---------------------------------
def test_pinned_traces_cover_the_schedule_cases():
    cs = [v["case"] for v in CASES.values()]
    assert len(cs) >= 60
    assert {c["dataflow"] for c in cs} == {"os", "ws", "is"}
    assert {(c["array_rows"], c["array_cols"]) for c in cs} >= {(4, 4), (8, 8), (8, 4)}
    assert any(math.ceil((c["ifmap_h"] - c["filter_h"] + c["stride"]) / c["stride"]) * c["stride"]
               + c["filter_h"] - c["stride"] > c["ifmap_h"] for c in cs)          # hanging windows (-1)
    assert any(c["stride"] > c["filter_h"] for c in cs)                            # skipped input rows
    assert DIGESTS.stat().st_size < 200_000


def test_demand_equals_scalesim_sram_traces_cycle_by_cycle_and_port_by_port():
    """Every pinned case, every operand: the same address (or -1) on every array row/column port
    in every cycle (sha_exact), the same per-cycle sets, and SCALE-Sim's service latency
    (ifmap/filter served one cycle after demand, ofmap at demand; no stalls in CALC mode)."""
    bad = []
    for cid, v in CASES.items():
        c = v["case"]
        folds = T.demand(c["dataflow"], *_operands(c), c["array_rows"], c["array_cols"])
        for op in T.OPS:
            want = dict(v["traces"][op])
            assert want.pop("latency") == (0 if op == "ofmap" else 1), (cid, op)
            got = _digest(T.demand_matrix(folds, op))
            if got != want:
                bad.append((cid, op, {k: (got[k], want[k]) for k in got if got[k] != want[k]}))
    assert not bad, bad[:3]


def test_the_trace_check_tells_fold_orders_apart():
    """The digests are not blind to the schedule: the reference's row-folds-outer order (the
    other order structconv may pick) does not give SCALE-Sim's trace where both fold counts > 1."""
    cid = "conv3x3_8x8c4k6__a4x4__os"
    c, want = CASES[cid]["case"], CASES[cid]["traces"]["ifmap"]["sha_exact"]
    folds = T.demand(c["dataflow"], *_operands(c), c["array_rows"], c["array_cols"], order=1)
    assert _digest(T.demand_matrix(folds, "ifmap"))["sha_exact"] != want
    folds = T.demand(c["dataflow"], *_operands(c), 4, 4)
    assert _digest(T.demand_matrix(folds, "ifmap"))["sha_exact"] == want


def test_structconv_layers_use_the_checked_addressing():
    """The memory tests below build operands from structconv Layers (floor output size, padding
    as -1): without padding and hanging windows they are SCALE-Sim's operands, the ones whose
    demand is checked against the traces above."""
    n = 0
    for v in CASES.values():
        c = v["case"]
        if (c["ifmap_h"] - c["filter_h"]) % c["stride"] or (c["ifmap_w"] - c["filter_w"]) % c["stride"]:
            continue
        layer = Layer.conv2d("l", c["channels"], c["num_filters"], (c["filter_h"], c["filter_w"]),
                             (c["ifmap_h"], c["ifmap_w"]), stride=c["stride"])
        assert T.layer_operands(layer) == _operands(c)
        n += 1
    assert n >= 30


@pytest.mark.parametrize("mode", MODES)
def test_structconv_compute_cycles_equal_the_trace_length(mode):
    """cycles_compute (SCALE-Sim topology semantics) == demand rows - 1 of the pinned traces."""
    bad = []
    for cid, v in CASES.items():
        c = v["case"]
        layer = Layer.conv2d("layer0", c["channels"], c["num_filters"], (c["filter_h"], c["filter_w"]),
                             (c["ifmap_h"], c["ifmap_w"]), stride=c["stride"])
        hw = Accelerator("t", MacArray(c["array_rows"], c["array_cols"], c["dataflow"]))
        net = Network("t", (c["channels"], c["ifmap_h"], c["ifmap_w"]), (layer,))
        got = simulate(net, hw=hw, mode=mode, scalesim_ofmap=True)[0].cycles_compute
        if got != v["traces"]["ofmap"]["rows"] - 1:
            bad.append((cid, got, v["traces"]["ofmap"]["rows"] - 1))
    assert not bad, bad[:5]


# -- structconv's memory model against the reference, on random dense layers --------------------
@st.composite
def cases(draw):
    return make_case(lambda xs: draw(st.sampled_from(xs)), lambda lo, hi: draw(st.integers(lo, hi)))


def footprints(layer, hw):
    """(ifmap elements the layer reads, structconv's ifmap size cg*H*W, filter size, halves)."""
    I, F, _ = T.layer_operands(layer)
    bpe = hw.bytes_per_element
    half = [b // (2 * bpe) for b in (hw.memory.ifmap_sram_bytes, hw.memory.filter_sram_bytes)]
    touched = len({a for row in I for a in row if a >= 0})
    ifmap = layer.group_in_channels * layer.input_size[0] * layer.input_size[1]
    return touched, ifmap, len(F) * len(F[0]), half


def _folds(layer, hw):
    """(row folds, col folds, sum over folds of each fold's ifmap need set) of one group."""
    I, F, O = T.layer_operands(layer)
    folds = T.demand(hw.mac_array.dataflow, I, F, O, hw.mac_array.rows, hw.mac_array.cols)
    rf = 1 + max(fr for _, fr, _ in folds)
    cf = 1 + max(fc for fc, _, _ in folds)
    return rf, cf, sum(len({a for row in d["ifmap"] for a in row if a >= 0}) for _, _, d in folds)


@settings(max_examples=80)
@given(cases())
def test_dram_bytes_and_compute_cycles_equal_the_reference(case):
    """Both modes, shared and per-operand links: cycles_compute and every operand's DRAM bytes
    equal the reference's -- the ifmap counted per fold as its need set (the input elements its
    windows read) under the keep-the-footprint / keep-the-previous-fold rule, the filter tile kept
    where it fits (also a last, partial tile), ws/is partial sums written and read back -- so the
    fold order both pick (the one with fewer DRAM elements) is the same too."""
    layer, hw = case
    ref = T.simulate_dense(layer, hw)
    for mode in MODES:
        r = simulate_layer(layer, None, hw, mode)
        assert r.cycles_compute == ref["cycles_compute"], mode
        for op in T.OPS:
            assert getattr(r, f"dram_{op}_bytes") == ref[f"dram_{op}_bytes"], (mode, op)


@settings(max_examples=80)
@given(cases())
def test_cycle_mode_is_the_reference_timeline(case):
    """The cycle mode's stall (fill, one window per fold of max(fold, link work), drain) equals
    the reference's exactly; the analytical mode's closed form has the same fill and drain and
    never exceeds it: ref fill + drain <= analytical stall <= reference stall."""
    layer, hw = case
    ref = T.simulate_dense(layer, hw)
    c, a = (simulate_layer(layer, None, hw, m) for m in ("cycle", "analytical"))
    assert c.cycles_stall == ref["cycles_stall"]
    assert c.cycles_total == ref["cycles_total"]
    assert ref["fill"] + ref["drain"] <= a.cycles_stall <= ref["cycles_stall"]


def test_a_hand_timed_layer():
    """2 inputs x 1 output on a 1x1 os array, int8, one 1 B/cycle link: the fill moves 2 ifmap
    + 2 filter bytes (4 cycles), the one fold computes (2 demand rows - 1 = 1 cycle), the
    drain writes 1 byte (1 cycle): 6 cycles, 5 of them stalls -- reference and both modes."""
    layer = Layer.linear("fc", 2, 1, bias=False)
    hw = Accelerator("t", MacArray(1, 1, "os"), memory=Memory(64, 64, 64, 1.0), dtype="int8", leakage_mw=1.0)
    ref = T.simulate_dense(layer, hw)
    assert (ref["fill"], ref["cycles_compute"], ref["drain"], ref["cycles_stall"]) == (4, 1, 1, 5)
    assert (ref["dram_ifmap_bytes"], ref["dram_filter_bytes"], ref["dram_ofmap_bytes"]) == (2, 2, 1)
    for mode in MODES:
        r = simulate_layer(layer, None, hw, mode)
        assert (r.cycles_compute, r.cycles_stall, r.dram_bytes) == (1, 5, 5)


@pytest.mark.parametrize("df, sram, want", [
    ("os", 4096, (1024, 1024, 1024)),      # 1x1 stride 2 reads a quarter of the 16x16x16 map
    ("ws", 512, (18496, 18496, 18496)),    # a ws row fold reads nearly its channels' whole plane
    ("os", 512, (1824, 1824, 1824)),       # an os row fold reads its windows' halo
])
def test_the_findings_cases(df, sram, want):
    """REQUESTS.md findings (1) and (2), 8x8 array, int8, 4 B/cycle: reference, analytical and
    cycle ifmap bytes (the model fetched 4,096, 2,304 and 1,152 before)."""
    if sram == 4096:
        layer = Layer.conv2d("l", 16, 32, 1, (16, 16), stride=2)
    else:
        layer = Layer.conv2d("l", 8, 16, 3, (12, 12), padding=1)
    hw = Accelerator("t", MacArray(8, 8, df), memory=Memory(sram, 4096, 4096, 4.0), dtype="int8",
                     leakage_mw=1.0)
    got = (T.simulate_dense(layer, hw)["dram_ifmap_bytes"],
           *(simulate_layer(layer, None, hw, m).dram_ifmap_bytes for m in MODES))
    assert got == want


@settings(max_examples=60)
@given(cases())
def test_the_reference_fetches_every_read_element_once_at_least_and_each_fold_at_most_its_reads(case):
    layer, hw = case
    ref = T.simulate_dense(layer, hw)
    touched = footprints(layer, hw)[0]
    _, _, per_fold = _folds(layer, hw)
    G, bpe = layer.groups, hw.bytes_per_element
    assert G * touched * bpe <= ref["dram_ifmap_bytes"] <= G * per_fold * bpe


@settings(max_examples=60)
@given(cases())
def test_analytical_stall_is_a_lower_bound_of_the_cycle_mode(case):
    layer, hw = case
    a, c = (simulate_layer(layer, None, hw, m) for m in MODES)
    assert a.cycles_stall <= c.cycles_stall


@st.composite
def big_jobs(draw):
    """Dense layers too big for the reference (up to 40x40 inputs, 64 channels, 7x7 kernels)."""
    kh = draw(st.sampled_from((1, 3, 5, 7)))
    s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2)) if kh > 1 else 1
    p = draw(st.integers(0, kh // 2))
    h = draw(st.integers(max(1, d * (kh - 1) + 1 - 2 * p), 40))
    w = draw(st.integers(max(1, d * (kh - 1) + 1 - 2 * p), 40))
    layer = Layer.conv2d("l", draw(st.integers(1, 64)), 8, kh, (h, w), stride=s, padding=p, dilation=d)
    return (layer, draw(st.sampled_from(("os", "ws"))), draw(st.integers(1, 32)), draw(st.integers(1, 32)),
            draw(st.integers(0, 1)), draw(st.sampled_from((0, 16, 256, 4096))))


@settings(max_examples=60, deadline=None)
@given(big_jobs())
def test_row_fold_closed_forms_equal_the_fold_by_fold_count(case):
    """Fast path and slow twin, on layers too big for the reference: os/ws ifmap loads from the
    per-row-fold sets (row_fold_sets + periodic_loads) equal the fold-by-fold pair counting
    (ifmap_schedule with the footprint forced not to fit), fold by fold, in both orders."""
    import numpy as np

    from structconv.sim._tier import twin
    K = twin()  # the Numba-compiled kernels
    from structconv.sim.mapping import dense_job
    layer, df, R, C, order, half = case
    job = K.as_plain(dense_job(layer))[0]
    dfi = K.DATAFLOWS.index(df)
    Sr, Sc, _ = K.gemm_dims(dfi, job[K.J_M], job[K.J_N], job[K.J_K])
    rf, cf = -(-Sr // R), -(-Sc // C)
    fast = np.zeros(rf * cf, np.int64)
    n, it, w = K.row_fold_sets(job, dfi, R, rf, half)
    K.periodic_loads(n, it, w, rf, cf, order, half, fast)
    slow = np.zeros(rf * cf, np.int64)
    K.ifmap_schedule(job, dfi, R, C, rf, cf, order, half, half + 1, slow)    # footprint > half
    assert fast.tolist() == slow.tolist()


# -- structured layers: the sum-pool unit first, its map on chip --------------------------------
@st.composite
def structured_cases(draw):
    """A conv layer with a structure (c, (nh, nw)) on a sequential sum-pool unit."""
    layer, hw = draw(cases())
    if layer.op != "conv2d" or max(layer.kernel) == 1:
        return None
    s = Structure(draw(st.integers(1, layer.group_in_channels)),
                  (draw(st.integers(1, layer.kernel[0])), draw(st.integers(1, layer.kernel[1]))))
    try:
        s.validate(layer)
    except ValueError:
        return None
    spu = SumPoolUnit(draw(st.integers(1, 8)), draw(st.sampled_from(("tree", "separable", "sliding"))),
                      1 << 20)
    return layer, s, hw.with_(overlap="sequential", sum_pool=spu)


@settings(max_examples=60)
@given(structured_cases())
def test_structured_sequential_layers_against_the_reference(case):
    """Sum-pool unit, then the MAC array on its on-chip map (no spill): cycles_compute and the
    DRAM bytes of every operand are exact in both modes (the ifmap link carries the sum-pool
    input stream); the cycle mode's stall is exact; the analytical stall never exceeds it."""
    if case is None:
        return
    layer, s, hw = case
    res = {m: simulate_layer(layer, s, hw, m) for m in MODES}
    r = res["cycle"]
    half_i = hw.memory.ifmap_sram_bytes // (2 * hw.bytes_per_element)
    if r.fused is None or r.fused or r.sram_ifmap_writes // layer.groups > half_i:
        return                                    # degenerate (no sum-pool), fused, or spilled
    ref = T.simulate_structured_sequential(layer, s, hw, r.spu_cycles)
    for mode, got in res.items():
        assert got.cycles_compute == ref["cycles_compute"], mode
        assert got.dram_ofmap_bytes == ref["dram_ofmap_bytes"], mode
        assert got.dram_ifmap_bytes == ref["dram_ifmap_bytes"], mode
        assert got.dram_filter_bytes == ref["dram_filter_bytes"], mode
    assert r.cycles_stall == ref["cycles_stall"]
    assert res["analytical"].cycles_stall <= r.cycles_stall


# -- the measurement ------------------------------------------------------------------------------
def measure(n: int, seed: int = 0) -> dict:
    """Model vs reference over n random dense layers: exact matches and relative differences."""
    rng = random.Random(seed)
    keys = ("cycles_compute", "dram_ifmap_bytes", "dram_filter_bytes", "dram_ofmap_bytes", "dram_bytes",
            "cycles_stall", "cycles_total")
    rows = []
    for _ in range(n):
        layer, hw = make_case(rng.choice, rng.randint)
        ref = T.simulate_dense(layer, hw)
        touched, Fi, Ff, (half_i, half_f) = footprints(layer, hw)
        for mode in MODES:
            r = simulate_layer(layer, None, hw, mode)
            got = {k: getattr(r, k) for k in keys}
            rows.append(dict(mode=mode, fits_i=Fi <= half_i, got=got, ref={k: ref[k] for k in keys},
                             same_bytes=all(got[k] == ref[k] for k in keys[1:4])))
    out = {}
    for mode in MODES:
        for subset, pred in (("all", lambda r: True), ("ifmap not fitting", lambda r: not r["fits_i"]),
                             ("same bytes per link", lambda r: r["same_bytes"])):
            rs = [r for r in rows if r["mode"] == mode and pred(r)]
            for k in keys:
                rel = [(r["got"][k] - r["ref"][k]) / max(1, r["ref"][k]) for r in rs]
                ratio = [r["got"][k] / r["ref"][k] for r in rs if r["ref"][k]]
                out[(mode, subset, k)] = dict(
                    n=len(rs), exact=sum(r["got"][k] == r["ref"][k] for r in rs),
                    median_rel=statistics.median(rel) if rel else 0.0,
                    median_abs_rel=statistics.median(map(abs, rel)) if rel else 0.0,
                    max_abs_rel=max(map(abs, rel), default=0.0),
                    ratio_min=min(ratio, default=1.0), ratio_max=max(ratio, default=1.0))
    return out


if __name__ == "__main__":
    res = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 500,
                  int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print("| mode | cases | quantity | n | exact | median rel | median abs rel | max abs rel "
          "| model/ref min..max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (mode, subset, k), v in res.items():
        print(f"| {mode} | {subset} | {k} | {v['n']} | {v['exact']} | {v['median_rel']:+.3f} | "
              f"{v['median_abs_rel']:.3f} | {v['max_abs_rel']:.3f} | "
              f"{v['ratio_min']:.3f}..{v['ratio_max']:.3f} |")
