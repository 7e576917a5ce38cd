"""Structured layers (the sum-pool unit in front of the MAC array) against the trace reference
(tests/support/trace_reference.py, sections 4 and 5): sequential with the pooled map on chip or spilled
to DRAM, and the fused pipeline; every sum-pool scheme.

Run ``python -m tests.sim.test_sim_trace_structured [N] [SEED]`` to print the measured relation over
N random structured layers (the numbers quoted in the issue-14 README material).
"""
from __future__ import annotations

import random
import sys

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from structconv.core import Structure
from structconv.sim import SumPoolUnit, simulate_layer
from tests.support import trace_reference as T
from tests.support.sim_reference import _spu_replay, make_case

MODES = ("analytical", "cycle")
SCHEMES = ("tree", "separable", "sliding")


def make_structured(pick, pint, overlap=None):
    """A random small structured layer and accelerator, or None where the draw has no sum-pool
    work (a 1x1 kernel on one channel, or the identity structure)."""
    layer, hw = make_case(pick, pint)
    if layer.op != "conv2d":
        return None
    s = Structure(pint(1, layer.group_in_channels), (pint(1, layer.kernel[0]), pint(1, layer.kernel[1])))
    if s.is_identity(layer):
        return None
    spu = SumPoolUnit(pint(1, 8), pick(SCHEMES), pick((1 << 20, 1 << 20, 64)))
    return layer, s, hw.with_(overlap=overlap or pick(("fused", "sequential")), sum_pool=spu)


@st.composite
def structured(draw, overlap=None):
    case = make_structured(lambda xs: draw(st.sampled_from(xs)), lambda lo, hi: draw(st.integers(lo, hi)),
                           overlap)
    assume(case is not None)
    return case


def reference(layer, s, hw, r):
    """The reference's dict for a layer the simulator ran as ``r`` (fused or sequential: the
    line-buffer rule is the simulator's)."""
    if r.fused:
        cum, _, _, depth = _spu_replay(layer, s, hw)
        return T.simulate_structured_fused(layer, s, hw, cum, depth)
    return T.simulate_structured_sequential(layer, s, hw, r.spu_cycles)


def _bytes_equal(r, ref):
    return all(getattr(r, f"dram_{op}_bytes") == ref[f"dram_{op}_bytes"] for op in T.OPS)


@settings(max_examples=60, deadline=None)
@given(structured("sequential"))
def test_sequential_layers_on_chip_or_spilled_equal_the_reference(case):
    """Sequential overlap, the pooled map on chip or spilled (written during the sum-pool phase,
    read back by need sets): cycles_compute and every operand's DRAM bytes exact in both modes;
    the cycle mode's stall exact; the analytical stall between the reference's sum-pool phase
    stall and the reference's stall."""
    layer, s, hw = case
    res = {m: simulate_layer(layer, s, hw, m) for m in MODES}
    assume(res["cycle"].fused is not None)
    ref = reference(layer, s, hw, res["cycle"])
    for mode, r in res.items():
        assert r.cycles_compute == ref["cycles_compute"], mode
        assert _bytes_equal(r, ref), mode
    assert res["cycle"].cycles_stall == ref["cycles_stall"]
    assert res["analytical"].cycles_stall <= ref["cycles_stall"]


def test_a_spilled_map_is_read_back_by_its_need_sets():
    """3x3 layer, structure (c=4, 1x1) on 16 channels, 12x12: the pooled map (4 x 12 x 12 =
    576 elements) does not fit the 256 B ifmap half; a 1x1 small conv reads each map element
    once, so the read-back is 576 bytes on os (the old equal-share model read 576 x col folds)."""
    from structconv.core import Layer
    from structconv.sim import Accelerator, MacArray, Memory
    layer = Layer.conv2d("l", 16, 16, 3, (12, 12), padding=1)
    s = Structure(4, 1)
    hw = Accelerator("t", MacArray(8, 8, "os"), memory=Memory(512, 4096, 4096, 4.0), dtype="int8",
                     overlap="sequential", leakage_mw=1.0)
    ref = T.simulate_structured_sequential(layer, s, hw, simulate_layer(layer, s, hw, "cycle").spu_cycles)
    assert ref["spilled"]
    want = 16 * 144 + 576 + 576                      # input stream + the spill's write + its read-back
    assert ref["dram_ifmap_bytes"] == want
    for m in MODES:
        assert simulate_layer(layer, s, hw, m).dram_ifmap_bytes == want


@settings(max_examples=40, deadline=None)
@given(structured("fused"))
def test_fused_layers_against_the_reference(case):
    """Fused pipeline, both modes: every operand's DRAM bytes exact (the sum-pool input on the
    ifmap link, no ifmap tiles, filter and ofmap tiles as for a dense layer); cycles_compute
    exact up to SCALE-Sim's one cycle per GEMM (the model takes it off at the end, the reference
    off each GEMM's last fold, where a later group's wait for its rows can absorb it):
    ref - (groups - 1) <= model <= ref. cycles_total: exact in the cycle mode on per-operand
    links (the input stream has the ifmap link to itself; folds, windows and row waits are the
    reference's); never above the reference's otherwise (on a shared link the model streams the
    input as if it had the link to itself, the reference gives it what the MAC array's tiles
    leave, so the model's rows are never later; and it bounds the link's busy time by the
    tiles' transfers alone or all the bytes at the link's rate, since the stream rides in what
    the transfers' last cycles leave)."""
    layer, s, hw = case
    res = {m: simulate_layer(layer, s, hw, m) for m in MODES}
    assume(res["cycle"].fused)
    ref = reference(layer, s, hw, res["cycle"])
    for mode, r in res.items():
        assert _bytes_equal(r, ref), mode
        assert ref["cycles_compute"] - (layer.groups - 1) <= r.cycles_compute <= ref["cycles_compute"], mode
        assert r.cycles_total <= ref["cycles_total"], mode
    if hw.memory.links == "per_operand":
        assert res["cycle"].cycles_total == ref["cycles_total"]


def test_the_input_stream_fills_what_the_tiles_leave_of_a_shared_link():
    """A 1x1 conv (2 -> 2 channels, H x 1 input, structure c=1) on a 1x1 OS array, one shared
    link of 2 or 4 B/cycle: every fold's transfer (a 1 B filter tile or write-back) takes a
    cycle it fills a half or a quarter of, and the reference gives the rest to the input stream.
    The model's busy time of the link must not add the stream's cycles to the transfers'
    rounded ones (it did: cycle mode 11 > 10 at H=3, 2 B/cycle; 17 > 14 at H=5). Last case:
    the analytical mode's fill (1 B) and drain (3 B) at 2 B/cycle, 56 > 55 before."""
    from structconv.core import Layer
    from structconv.sim import Accelerator, MacArray, Memory
    cases = [(Layer.conv2d("l", 2, 2, 1, (H, 1)), MacArray(1, 1, "os"), SumPoolUnit(1, "tree", 1 << 20),
              Memory(16, 16, 16, bw)) for H, bw in ((3, 2.0), (3, 4.0), (4, 2.0), (5, 2.0), (5, 4.0))]
    cases.append((Layer.conv2d("l", 5, 1, 1, (3, 7), stride=3), MacArray(4, 8, "ws"),
                  SumPoolUnit(7, "tree", 64), Memory(16, 64, 4096, 2.0)))
    for layer, mac, spu, mem in cases:
        s = Structure(1, (1, 1))
        hw = Accelerator("r", mac, sum_pool=spu, memory=mem, dtype="int8", overlap="fused", leakage_mw=1.0)
        res = {m: simulate_layer(layer, s, hw, m) for m in MODES}
        ref = reference(layer, s, hw, res["cycle"])
        for mode, r in res.items():
            assert r.cycles_total <= ref["cycles_total"], (layer, mem, mode, r.cycles_total,
                                                           ref["cycles_total"])


def _work_floor(layer, hw, ref) -> int:
    """Cycles no schedule of the reference's work can beat: its compute (less SCALE-Sim's cycle
    per extra GEMM, which the model takes elsewhere) and, on every DRAM link, the bytes that link
    carries at its rate."""
    mem = hw.memory
    by_op = [ref[f"dram_{op}_bytes"] for op in T.OPS]
    if mem.links == "per_operand":
        link = max(b / bw for b, bw in zip(by_op, mem.link_bytes_per_cycle()))
    else:
        link = sum(by_op) / mem.dram_bytes_per_cycle
    return max(ref["cycles_compute"] - (layer.groups - 1), int(link))


@settings(max_examples=40, deadline=None)
@given(structured("fused"))
def test_fused_totals_are_at_least_the_work_floor(case):
    """The fused model's optimism (below the reference on a shared link, and the analytical
    stall's closed form) never goes below what the reference's own work needs: its compute and
    each link's bytes at its rate. (The ratios to the reference measured over 1,500 layers --
    cycle mode >= 0.753, analytical >= 0.633 -- are not bounds: hypothesis found an analytical
    0.585 on per-operand links, so they are reported by ``measure``, not asserted.)"""
    layer, s, hw = case
    res = {m: simulate_layer(layer, s, hw, m) for m in MODES}
    assume(res["cycle"].fused)
    ref = reference(layer, s, hw, res["cycle"])
    floor = _work_floor(layer, hw, ref)
    for mode, r in res.items():
        assert r.cycles_total >= floor, (mode, r.cycles_total, floor, ref["cycles_total"])


def measure(n, seed):
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        case = make_structured(rng.choice, rng.randint)
        if case is None:
            continue
        layer, s, hw = case
        res = {m: simulate_layer(layer, s, hw, m) for m in MODES}
        if res["cycle"].fused is None:
            continue
        ref = reference(layer, s, hw, res["cycle"])
        kind = "fused" if res["cycle"].fused else ("spilled" if ref["spilled"] else "on chip")
        rows.append((kind, hw.mac_array.dataflow, hw.memory.links, ref, res))
    return rows


def report(rows):
    subsets = [("on chip", None, None), ("spilled", None, None), ("fused", None, None),
               ("fused", None, "per_operand"), ("fused", None, "shared"),
               ("fused", "os", "per_operand"), ("fused", "os", "shared"), ("fused", "ws", None),
               ("fused", "is", None)]
    print("| overlap | dataflow | links | mode | n | bytes exact | compute exact | total exact "
          "| total model/ref |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, df, links in subsets:
        rs = [r for r in rows if r[0] == kind and df in (None, r[1]) and links in (None, r[2])]
        for m in MODES:
            rat = [r[4][m].cycles_total / r[3]["cycles_total"] for r in rs]
            print(f"| {kind} | {df or 'all'} | {links or 'all'} | {m} | {len(rs)} | "
                  f"{sum(_bytes_equal(r[4][m], r[3]) for r in rs)} | "
                  f"{sum(r[4][m].cycles_compute == r[3]['cycles_compute'] for r in rs)} | "
                  f"{sum(r[4][m].cycles_total == r[3]['cycles_total'] for r in rs)} | "
                  f"{min(rat, default=1):.3f}..{max(rat, default=1):.3f} |")


if __name__ == "__main__":
    report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 300,
                   int(sys.argv[2]) if len(sys.argv) > 2 else 0))
