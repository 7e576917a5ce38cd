"""Dense layers vs SCALE-Sim 3.0.0 goldens (tests/data/scalesim_goldens.csv, made by
benchmarks/scalesim_goldens.py): compute cycles and SRAM access counts must be identical."""
from __future__ import annotations

import json

import pytest

from structconv.cli import main
from structconv.core import Layer, Network
from structconv.sim import DATAFLOWS, Accelerator, MacArray, simulate
from tests.support.goldens import golden_network, golden_rows
from tests.support.scalesim_inputs import TOPO_HEADER
from tests.support.sim_reference import scalesim_gemm

ROWS = golden_rows()


def test_golden_set_covers_the_acceptance_cases():
    assert len(ROWS) >= 60
    assert {r["dataflow"] for r in ROWS} == set(DATAFLOWS)
    assert any(r["filter_h"] == "1" and r["filter_w"] == "1" for r in ROWS)
    assert any(int(r["stride"]) > 1 for r in ROWS)
    assert any(r["array_rows"] != r["array_cols"] for r in ROWS)
    assert any(r["ifmap_h"] == "1" and r["ifmap_w"] == "1" for r in ROWS)       # FC-like


@pytest.mark.parametrize("mode", ["analytical", "cycle"])
def test_every_golden_row_matches_exactly(mode):
    mismatches = []
    for r in ROWS:
        net, hw = golden_network(r)
        res = simulate(net, hw=hw, mode=mode, scalesim_ofmap=True)[0]
        got = (res.cycles_compute, res.sram_ifmap_reads, res.sram_filter_reads, res.sram_ofmap_writes)
        want = (int(r["total_cycles"]), int(r["sram_ifmap_reads"]), int(r["sram_filter_reads"]),
                int(r["sram_ofmap_writes"]))
        if got != want:
            mismatches.append((r["case_id"], want, got))
        assert res.mac_utilization == pytest.approx(float(r["overall_util_pct"]) / 100, rel=1e-9)
    assert not mismatches, mismatches[:5]


def test_reference_demand_matrices_match_goldens():
    """The slow reference (SCALE-Sim's demand matrices rebuilt) agrees with SCALE-Sim itself."""
    for r in ROWS[:60]:
        s = int(r["stride"])
        oh = -(-(int(r["ifmap_h"]) - int(r["filter_h"]) + s) // s)
        ow = -(-(int(r["ifmap_w"]) - int(r["filter_w"]) + s) // s)
        M, N = oh * ow, int(r["num_filters"])
        K = int(r["filter_h"]) * int(r["filter_w"]) * int(r["channels"])
        if M * max(N, K) > 200_000:
            continue
        ref = scalesim_gemm(r["dataflow"], M, N, K, int(r["array_rows"]), int(r["array_cols"]))
        assert ref["total_cycles"] == int(r["total_cycles"]), r["case_id"]
        assert (ref["ifmap_reads"], ref["filter_reads"], ref["ofmap_writes"]) == (
            int(r["sram_ifmap_reads"]), int(r["sram_filter_reads"]), int(r["sram_ofmap_writes"]))


def test_cli_reads_scalesim_inputs(tmp_path, capsys):
    picked = [r for r in ROWS if r["array_rows"] == "16" and r["array_cols"] == "16"
              and r["dataflow"] == "ws" and r["ifmap_sram_kb"] == "64"]
    assert len(picked) >= 3
    topo = tmp_path / "topo.csv"
    lines = [TOPO_HEADER.rstrip("\n")]
    for k, r in enumerate(picked):
        lines.append(f"layer{k}, {r['ifmap_h']}, {r['ifmap_w']}, {r['filter_h']}, {r['filter_w']}, "
                     f"{r['channels']}, {r['num_filters']}, {r['stride']},")
    topo.write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "scale.cfg"
    cfg.write_text("[general]\nrun_name = golden\n\n[architecture_presets]\nArrayHeight = 16\n"
                   "ArrayWidth = 16\n"
                   "IfmapSramSzkB = 64\nFilterSramSzkB = 64\nOfmapSramSzkB = 64\nIfmapOffset = 0\n"
                   "FilterOffset = 10000000\nOfmapOffset = 20000000\nDataflow = ws\nBandwidth = 10\n\n"
                   "[run_presets]\nInterfaceBandwidth = CALC\n")
    assert main(["simulate", "--scalesim-topology", str(topo), "--scalesim-config", str(cfg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hw"] == "golden"
    assert [l["cycles_compute"] for l in out["layers"]] == [int(r["total_cycles"]) for r in picked]


def test_depthwise_runs_like_scalesim_dp_layers():
    """A DP row is run by SCALE-Sim once per channel; we run one GEMM per group: same sum."""
    dw = Layer.conv2d("dw", 8, 8, 3, (10, 10), groups=8)
    one = Layer.conv2d("one", 1, 1, 3, (10, 10))
    hw = Accelerator("a", MacArray(8, 8, "os"))
    a = simulate(Network("n", (8, 10, 10), (dw,)), hw=hw)[0]
    b = simulate(Network("n", (1, 10, 10), (one,)), hw=hw)[0]
    assert a.cycles_compute == 8 * b.cycles_compute
    assert a.sram_reads == 8 * b.sram_reads and a.macs == 8 * b.macs
