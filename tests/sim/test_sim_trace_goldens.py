"""The trace reference's demand (tests/support/trace_reference.py) against SCALE-Sim 3.0.0's own SRAM
traces on the 144 pinned golden layers (tests/data/scalesim_goldens.csv; issue 14, acceptance 1).

SCALE-Sim ran every golden case (same topology, cfg and SRAM sizes as the goldens) and its
IFMAP/FILTER/OFMAP SRAM trace matrices were digested into
tests/data/scalesim_traces/goldens_int64.json by ``benchmarks/scalesim_traces.py --set goldens``:
per operand the demand matrix's shape, its valid (>= 0) address count, the service latency and
the sha256 of its int64 bytes (``Int64Digest`` there). Here the reference rebuilds each case's
demand fold by fold (``fold_grid`` / ``fold_demand``, what ``demand`` strings together) and
digests it the same way: equal digests mean the same address (or -1) on every array port in
every cycle, for ~2e8 trace cells over the 144 cases.

In ``make test`` (seconds): every case of at most ``SUBSET_CELLS`` trace cells, plus the cases
in ``LARGE`` (the longest trace, a 256x256 and a 128x128 array): 114 of the 144 cases,
~5.0e7 of the ~2.1e8 trace cells. All 144 cases:
``python -m tests.sim.test_sim_trace_goldens`` (prints the matched count and the time).
"""
from __future__ import annotations

import json
import sys
import time

import pytest

from tests.support import DATA
from tests.support import trace_reference as T
from tests.support.goldens import golden_rows
from tests.support.trace_digests import Int64Digest

DIGESTS = DATA / "scalesim_traces" / "goldens_int64.json"
CASES = json.loads(DIGESTS.read_text())["cases"]
LATENCY = {"ifmap": 1, "filter": 1, "ofmap": 0}     # SCALE-Sim serves reads a cycle after demand

SUBSET_CELLS = 1_000_000
LARGE = ("resnet_conv3x_30x30c128k128__a32x32__sram64-64-64__is",      # the longest: 199,800 rows
         "resnet_conv4x_16x16c256k256__a256x256__sram512-512-256__ws",
         "fc_1x1c512k1000__a128x128__sram64-64-64__is")




def _cells(v) -> int:
    return sum(t["rows"] * t["ports"] for t in v["traces"].values())


def _operands(c):
    return T.scalesim_operands(c["ifmap_h"], c["ifmap_w"], c["filter_h"], c["filter_w"], c["channels"],
                               c["num_filters"], c["stride"])


def reference_digests(c, order: int = 0) -> dict:
    """{operand: Int64Digest result} of the reference's demand, streamed fold by fold."""
    I, F, O = _operands(c)
    AR, AC = c["array_rows"], c["array_cols"]
    _, _, _, grid = T.fold_grid(c["dataflow"], len(I), len(F), len(F[0]), AR, AC, order)
    acc = {op: Int64Digest() for op in T.OPS}
    for fc, fr in grid:
        d = T.fold_demand(c["dataflow"], I, F, O, AR, AC, fc, fr)
        for op in T.OPS:
            acc[op].update(d[op])
    return {op: acc[op].result() for op in T.OPS}


def mismatches(cid: str) -> list:
    """[(case, operand, {field: (reference, SCALE-Sim)})] for one pinned case."""
    v = CASES[cid]
    got, bad = reference_digests(v["case"]), []
    for op in T.OPS:
        want = dict(v["traces"][op])
        if want.pop("latency") != LATENCY[op]:
            bad.append((cid, op, {"latency": (LATENCY[op], v["traces"][op]["latency"])}))
        if got[op] != want:
            bad.append((cid, op, {k: (got[op][k], want[k]) for k in want if got[op][k] != want[k]}))
    return bad


SUBSET = sorted(cid for cid, v in CASES.items() if _cells(v) <= SUBSET_CELLS) + list(LARGE)


def test_pinned_traces_are_the_144_goldens():
    """Same case ids and parameters as tests/data/scalesim_goldens.csv, and each trace is as
    long as the golden's Total Cycles (demand rows - 1), so the traces belong to those numbers."""
    rows = {r["case_id"]: r for r in golden_rows()}
    assert len(rows) == 144 and set(CASES) == set(rows)
    for cid, v in CASES.items():
        r = rows[cid]
        assert {k: str(x) for k, x in v["case"].items()} == {k: r[k] for k in v["case"]}, cid
        assert {t["rows"] for t in v["traces"].values()} == {int(r["total_cycles"]) + 1}, cid
    assert sum(map(_cells, CASES.values())) > 100_000_000
    assert DIGESTS.stat().st_size < 400_000


def test_subset_is_stated_and_covers_every_dataflow_and_the_large_cases():
    assert set(LARGE) <= set(CASES) and len(set(SUBSET)) == len(SUBSET)
    assert len(SUBSET) >= 110
    assert {CASES[c]["case"]["dataflow"] for c in SUBSET} == {"os", "ws", "is"}
    assert max(CASES[c]["traces"]["ofmap"]["rows"] for c in SUBSET) == max(
        v["traces"]["ofmap"]["rows"] for v in CASES.values())


@pytest.mark.parametrize("cid", SUBSET)
def test_demand_equals_scalesim_sram_traces_on_golden_layers(cid):
    """Every operand: the same address (or -1) on every port in every cycle, the same valid count
    and SCALE-Sim's service latency (reads one cycle after demand, ofmap writes at demand)."""
    assert not mismatches(cid)


def test_streaming_digest_is_the_digest_of_demand():
    """The fold-by-fold stream above is the reference's ``demand`` / ``demand_matrix``."""
    for cid in ("conv3x3s2_hang_16x16c8k16__a4x4__sram64-64-64__os",
                "rect5x3s2_hang_14x11c5k7__a8x8__sram64-64-64__is"):
        c = CASES[cid]["case"]
        folds = T.demand(c["dataflow"], *_operands(c), c["array_rows"], c["array_cols"])
        for op, got in reference_digests(c).items():
            whole = Int64Digest()
            whole.update(T.demand_matrix(folds, op))
            assert whole.result() == got, (cid, op)


def test_the_digest_tells_a_wrong_schedule_apart():
    """Row folds outer (the other fold order) or a transposed array gives other digests."""
    cid = "conv3x3_16x16c16k24__a4x4__sram64-64-64__os"
    c, want = CASES[cid]["case"], CASES[cid]["traces"]
    other = reference_digests(c, order=1)
    assert all(other[op]["rows"] == want[op]["rows"] for op in T.OPS)
    assert all(other[op]["sha_int64"] != want[op]["sha_int64"] for op in T.OPS)
    cid = "conv1x1_14x14c64k32__a8x32__sram64-64-64__ws"
    swapped = dict(CASES[cid]["case"], array_rows=32, array_cols=8)
    assert reference_digests(swapped)["ifmap"]["sha_int64"] != CASES[cid]["traces"]["ifmap"]["sha_int64"]


def check_all() -> tuple[int, int, list, float]:
    """(traces matched, traces, mismatches, seconds) over all pinned cases."""
    t0, bad = time.perf_counter(), []
    for cid in sorted(CASES):
        bad += mismatches(cid)
    return 3 * len(CASES) - len({(b[0], b[1]) for b in bad}), 3 * len(CASES), bad, time.perf_counter() - t0


if __name__ == "__main__":
    ok, n, bad, sec = check_all()
    print(f"{ok}/{n} traces of {len(CASES)} golden cases equal SCALE-Sim's "
          f"({sum(map(_cells, CASES.values())):,} trace cells) in {sec:.1f} s")
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)
