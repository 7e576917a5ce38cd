"""The SCALE-Sim USER-mode compatibility option (structconv.sim.scalesim_user) against SCALE-Sim 3.0.0
itself: tests/data/scalesim_user_mode.csv (the 90-run grid), _extra (12), _arrays (72), _mixed (18) and
_gemm (36),
all made by benchmarks/scalesim_user_mode.py. Every pinned number must be equal, as shipped and with
the double-counted prefetch stall removed. Its demand and prefetch order are checked against plain
restatements (tests/support/trace_reference.py; SCALE-Sim's prefetch loops written out below)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from structconv.core import Layer, Network, read_topology
from structconv.sim import Accelerator, MacArray, Memory, read_scalesim_config
from structconv.sim import _scalesim_user as port
from structconv.sim.scalesim_user import simulate_scalesim_user
from tests.support import DATA
from tests.support import trace_reference as ref
from tests.support.scalesim_inputs import PINNED  # the column maps the pinning script compares with
from tests.support.scalesim_inputs import PINNED_FIXED as FIXED


def _rows(name):
    with open(DATA / name) as f:
        return [{k: v if k in ("case_id", "layer", "dataflow") else int(float(v)) for k, v in r.items()}
                for r in csv.DictReader(f)]


ROWS = _rows("scalesim_user_mode.csv")
EXTRA = _rows("scalesim_user_mode_extra.csv")      # layers picked (after the grid) where 8 kB is slower
ARRAYS = _rows("scalesim_user_mode_arrays.csv")    # 4x4, 8x32, 32x8; bandwidth 3 and 7; SRAM 1 and 3 kB
MIXED = _rows("scalesim_user_mode_mixed.csv")      # unequal per-operand SRAM sizes and bandwidths
GEMM = _rows("scalesim_user_mode_gemm.csv")        # SCALE-Sim's M, N, K topology rows
SETS = pytest.mark.parametrize("rows", [ROWS, EXTRA, ARRAYS, MIXED, GEMM],
                               ids=["grid90", "extra12", "arrays72", "mixed18", "gemm36"])


def _user_hw(df, bw, kb, rows=16, cols=16):
    """What read_scalesim_config makes of the benchmark's USER cfg: a link per operand.
    bw, kb: one value for all three operands or (ifmap, filter, ofmap)."""
    bw = (bw,) * 3 if np.isscalar(bw) else bw
    kb = (kb,) * 3 if np.isscalar(kb) else kb
    return Accelerator("user", mac_array=MacArray(rows, cols, df),
                       memory=Memory(*(k * 1024 for k in kb), float(bw[2]), links="per_operand",
                                     ifmap_dram_bytes_per_cycle=float(bw[0]),
                                     filter_dram_bytes_per_cycle=float(bw[1]),
                                     ofmap_dram_bytes_per_cycle=float(bw[2])))


def _gemm_layer(m, n, k):
    """A GEMM topology row as structconv's read_topology reads it (checked below)."""
    return Layer.conv2d("layer0", k, n, (1, 1), (m, 1))


def _case(r):
    if "gemm_m" in r:
        layer = _gemm_layer(r["gemm_m"], r["gemm_n"], r["gemm_k"])
    else:
        layer = Layer.conv2d("layer0", r["channels"], r["num_filters"], (r["filter_h"], r["filter_w"]),
                             (r["ifmap_h"], r["ifmap_w"]), stride=r["stride"])
    ops = ("ifmap", "filter", "ofmap")
    kb = tuple(r.get(f"{o}_sram_kb", r["sram_kb"]) for o in ops)
    bw = tuple(r.get(f"{o}_bw", r["bandwidth"]) for o in ops)
    return layer, _user_hw(r["dataflow"], bw, kb, r["array_rows"], r["array_cols"])


def _mismatches(rows, double, pairs):
    out = []
    for r in rows:
        res = simulate_scalesim_user(*_case(r), double_count=double)
        out += [(r["case_id"], a, getattr(res, a), r[c]) for a, c in pairs if getattr(res, a) != r[c]]
    return out


def test_pinned_grid_is_the_one_the_readme_describes():
    assert len(ROWS) == 90 and len({r["case_id"] for r in ROWS}) == 90
    assert {(r["dataflow"], r["bandwidth"], r["sram_kb"]) for r in ROWS} == \
        {(d, b, k) for d in ("os", "ws", "is") for b in (1, 4, 10) for k in (2, 8)}
    assert len({r["layer"] for r in ROWS}) == 5
    assert all(r["total_cycles"] - r["stall_cycles"] == r["compute_cycles"] for r in ROWS)


@SETS
def test_every_pinned_scalesim_number_is_reproduced_as_shipped(rows):
    assert _mismatches(rows, True, PINNED) == []


@SETS
def test_every_pinned_number_is_reproduced_with_the_double_count_removed(rows):
    assert _mismatches(rows, False, FIXED) == []


def test_the_double_count_matters_on_the_grid():
    # the flag is not cosmetic: SCALE-Sim's own totals differ between the two variants
    changed = [r for r in ROWS if r["total_cycles"] != r["fixed_total_cycles"]]
    assert len(changed) >= 30
    assert all(r["total_cycles"] > r["fixed_total_cycles"] for r in changed)


GEOMS = [(6, 6, 3, 3, 3, 5, 1, 4, 4), (9, 8, 3, 2, 2, 7, 2, 4, 3), (5, 5, 1, 1, 6, 3, 1, 2, 5),
         (7, 7, 3, 3, 1, 2, 2, 8, 8)]


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("g", GEOMS)
def test_demand_equals_the_trace_reference(df, g):
    H, W, fh, fw, C, K, s, AR, AC = g
    I, F, O = ref.scalesim_operands(H, W, fh, fw, C, K, s)
    folds = ref.demand(df, I, F, O, AR, AC)
    got = port.demand(df, *port.operands(H, W, fh, fw, C, K, s), AR, AC)
    for k, op in enumerate(ref.OPS):
        assert got[k].tolist() == ref.demand_matrix(folds, op), op
    assert got[0].shape[0] == port.demand_cycles(df, len(I), len(F), len(F[0]), AR, AC)


def _slow_prefetch(df, I, F, AR, AC):
    """SCALE-Sim's create_{ifmap,filter}_prefetch_mat, loops as written there."""
    P, Wn, K = len(I), len(F), len(F[0])
    It = [list(c) for c in zip(*I)]
    def stack(M, width, n, by_cols):
        out = []
        for k in range(n):
            blk = [row[k * width:(k + 1) * width] for row in M] if by_cols else \
                [list(c) for c in zip(*M[k * width:(k + 1) * width])]
            out += [row + [-1] * (width - len(row)) for row in blk]
        return out
    def roll(M):
        m, n, out = len(M), len(M[0]), []
        for d in range(m + n):
            for row in range(min(d, m - 1), max(0, d - n + 1) - 1, -1):
                out.append(M[row][d - row])
        return out

    def flat(M):
        return [a for row in M for a in row]

    def cd(a, b):
        return -(-a // b)

    if df == "os":
        return roll(stack(It, AR, cd(P, AR), True)), roll(stack(F, AC, cd(K, AC), True))
    if df == "ws":
        return roll(stack(I, AR, cd(Wn, AR), True)), flat(stack(F, AC, cd(K, AC), True))
    return flat(stack(It, AC, cd(P, AC), True)), roll(stack(F, AR, cd(Wn, AR), False))


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("g", GEOMS)
def test_prefetch_order_equals_scalesims_loops(df, g):
    H, W, fh, fw, C, K, s, AR, AC = g
    I, F, _ = port.operands(H, W, fh, fw, C, K, s)
    got = port.prefetch_order(df, I, F, AR, AC)
    want = _slow_prefetch(df, I.tolist(), F.tolist(), AR, AC)
    assert [g.tolist() for g in got] == list(want)


def test_hash_lines_follow_the_prefetch_order():
    # ceil(200 / 100) = 2 valid entries per line; a line closes on its 2nd valid entry, so 6 valid
    # entries give lines 0-2 and an empty line 3 (read_buffer.py:189-207); duplicates stay
    order = np.array([5, -1, 7, 5, 9, 11, -1, 7], np.int64)
    dem = np.array([[7, -1], [9, 5]], np.int64)
    cdem, ptr, ids, n = port.hash_lines(order, dem, 200)
    assert n == 4
    lines_of = {a: ids[ptr[i]:ptr[i + 1]].tolist() for i, a in enumerate([5, 7, 9, 11])}
    assert lines_of == {5: [0, 1], 7: [0, 2], 9: [1], 11: [2]}
    assert cdem.tolist() == [[1, -1], [2, 0]]


def test_gemm_rows_are_read_as_the_pinned_gemm_cases_assume(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("Layer, M, N, K,\nlayer0, 40, 24, 50,\n")
    assert read_topology(p).layers[0] == _gemm_layer(40, 24, 50)


USER_CFG = """[architecture_presets]
ArrayHeight: 16
ArrayWidth: 16
IfmapSramSzkB: 2
FilterSramSzkB: 2
OfmapSramSzkB: 2
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 4
Dataflow: os
[layout]
IfmapSRAMBankBandwidth: 4
IfmapSRAMBankNum: 1
FilterSRAMBankBandwidth: 4
FilterSRAMBankNum: 1
[run_presets]
InterfaceBandwidth: USER
"""


def test_topology_and_cfg_files_give_the_pinned_numbers(tmp_path):
    # the path the CLI takes: read_topology (conv and FC rows) + read_scalesim_config (USER cfg)
    topo, cfg = tmp_path / "t.csv", tmp_path / "u.cfg"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                    "Num Filter, Strides,\nconv, 10, 10, 3, 3, 8, 16, 1,\nfc, 1, 1, 1, 1, 256, 48, 1,\n")
    cfg.write_text(USER_CFG)
    net = read_topology(topo)
    assert [layer.op for layer in net.layers] == ["conv2d", "linear"]
    got = simulate_scalesim_user(net, read_scalesim_config(cfg))
    want = {r["layer"]: r for r in ROWS if r["case_id"].endswith("__os__bw4__sram2kB")}
    for res, name in zip(got, ("conv3x3_10x10c8k16", "fc_1x1c256k48")):
        assert [getattr(res, a) for a, _ in PINNED] == [want[name][c] for _, c in PINNED]


def test_network_gives_one_result_per_layer_and_padding_is_data():
    a = Layer.conv2d("a", 4, 8, (3, 3), (6, 6), padding=1)
    b = Layer.conv2d("b", 4, 8, (3, 3), (8, 8))                 # SCALE-Sim's view of a: padded input
    hw = _user_hw("os", 4, 2)
    ra, rb = simulate_scalesim_user(Network("n", (4, 6, 6), (a, b)), hw)
    assert (ra.cycles_total, ra.dram_ifmap_reads) == (rb.cycles_total, rb.dram_ifmap_reads)
    assert ra.name == "a" and rb.name == "b"


def test_refuses_what_scalesim_user_mode_cannot_express():
    hw = _user_hw("os", 4, 2)
    with pytest.raises(ValueError, match="one group"):
        simulate_scalesim_user(Layer.conv2d("g", 4, 8, (3, 3), (6, 6), groups=2), hw)
    calc = Accelerator("calc", mac_array=MacArray(16, 16, "os"), memory=Memory(2048, 2048, 2048, 4.0,
                                                                                  links="unlimited"))
    with pytest.raises(ValueError, match="CALC"):
        simulate_scalesim_user(Layer.conv2d("c", 4, 8, (3, 3), (6, 6)), calc)
    with pytest.raises(ValueError, match="whole words"):
        simulate_scalesim_user(Layer.conv2d("c", 4, 8, (3, 3), (6, 6)), _user_hw("os", 2.5, 2))
    with pytest.raises(TypeError):
        simulate_scalesim_user("resnet18", hw)
    with pytest.raises(ValueError, match="beyond"):          # refused before any matrix is built
        simulate_scalesim_user(Layer.conv2d("big", 64, 64, (3, 3), (224, 224), padding=1), hw)
