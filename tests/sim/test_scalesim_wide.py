"""The wide SCALE-Sim 3.0.0 goldens (tests/data/scalesim_goldens_wide.csv, made by
``benchmarks/scalesim_goldens.py --set wide``; CALC mode): layer shapes, arrays (4x4, 32x32, 64x8,
128x128, 12x20), SRAM sizes, GEMM topologies and depthwise DP rows the first 144 goldens lack.

Each row goes through structconv the way a user's files would: the very topology CSV and .cfg
SCALE-Sim ran on (``_write_inputs`` of the script) are read with ``structconv.core.resolve_network``
and ``structconv.sim.read_scalesim_config`` and simulated with SCALE-Sim's topology semantics
(``scalesim_ofmap=True``, what ``structconv simulate --scalesim-topology`` uses), in both modes;
and once more per configuration through the CLI (``structconv simulate --scalesim-topology
... --scalesim-config ... --json``). Total, stall and compute cycles, the three SRAM counts and
the utilisation must be SCALE-Sim's.
"""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from structconv.cli import main
from structconv.core import resolve_network
from structconv.sim import read_scalesim_config, simulate
from tests.support import DATA
from tests.support import scalesim_inputs as G
from tests.support.goldens import golden_rows

WIDE = DATA / "scalesim_goldens_wide.csv"
INTS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride", "array_rows",
        "array_cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")
MODES = ("analytical", "cycle")


with open(WIDE) as _f:
    ROWS = list(csv.DictReader(_f))


def _case(r) -> dict:
    return {k: (int(v) if k in INTS else v) for k, v in r.items() if k in G.CASE_KEYS or k == "input_kind"}


def _want(r) -> dict:
    total, stall = int(r["total_cycles"]), int(r["stall_cycles"])
    return dict(cycles_total=total, cycles_stall=stall, cycles_compute=total - stall,
                sram_ifmap_reads=int(r["sram_ifmap_reads"]), sram_filter_reads=int(r["sram_filter_reads"]),
                sram_ofmap_writes=int(r["sram_ofmap_writes"]))


def _got(res) -> dict:
    return {k: getattr(res, k) for k in ("cycles_total", "cycles_stall", "cycles_compute", "sram_ifmap_reads",
                                         "sram_filter_reads", "sram_ofmap_writes")}


def run_row(r, tmp: Path, mode: str):
    """structconv's LayerResult for one row, from the files SCALE-Sim read."""
    d = tmp / r["case_id"]
    d.mkdir(exist_ok=True)
    topo, _, cfg = G.write_inputs(_case(r), str(d))
    net = resolve_network(topo)
    assert len(net.layers) == 1
    return simulate(net, hw=read_scalesim_config(cfg), mode=mode, scalesim_ofmap=True)[0]


def _shape(r):
    """A golden row's layer: its seven topology numbers."""
    return tuple(int(r[k]) for k in INTS[:7])


def _hangs(c, size, filt):
    """Whether the case's windows hang off the input along one axis (SCALE-Sim's ceil ofmap)."""
    return (c[size] - c[filt]) % c["stride"]


def test_wide_set_is_the_script_case_list_and_widens_the_goldens():
    cases = G.wide_cases()
    assert [r["case_id"] for r in ROWS] == [c["case_id"] for c in cases]
    assert all(_case(r) == c for r, c in zip(ROWS, cases))
    assert 100 <= len(ROWS) <= 200 and list(ROWS[0]) == G.WIDE_COLUMNS
    old = {_shape(r) for r in golden_rows()}
    assert not {_shape(r) for r in ROWS} & old                       # no layer of the first set
    kinds = defaultdict(int)
    for r in ROWS:
        kinds[r["input_kind"]] += 1
    assert set(kinds) == {"conv", "gemm", "dp"} and min(kinds.values()) >= 12
    arrays = {(int(r["array_rows"]), int(r["array_cols"])) for r in ROWS}
    assert arrays >= {(4, 4), (32, 32), (64, 8), (128, 128), (12, 20)}
    assert len({(r["ifmap_sram_kb"], r["filter_sram_kb"], r["ofmap_sram_kb"]) for r in ROWS}) >= 3
    conv = [_case(r) for r in ROWS if r["input_kind"] == "conv"]
    assert {c["stride"] for c in conv if _hangs(c, "ifmap_h", "filter_h")
            or _hangs(c, "ifmap_w", "filter_w")} >= {2, 3}
    assert any(c["filter_h"] != c["filter_w"] for c in conv)
    assert any(c["filter_h"] == c["filter_w"] == 1 and c["ifmap_h"] > 1 for c in conv)
    assert any(c["ifmap_h"] == c["ifmap_w"] == 1 for c in conv)          # FC rows
    assert {r["dataflow"] for r in ROWS} == {"os", "ws", "is"}


@pytest.mark.parametrize("mode", MODES)
def test_every_wide_row_equals_scalesim(mode, tmp_path):
    """Cycles (total, stall, compute), SRAM ifmap/filter reads and ofmap writes, utilisation."""
    bad = []
    for r in ROWS:
        res = run_row(r, tmp_path, mode)
        got, want = _got(res), _want(r)
        if got != want:
            bad.append((r["case_id"], {k: (got[k], want[k]) for k in got if got[k] != want[k]}))
        elif res.mac_utilization != pytest.approx(float(r["overall_util_pct"]) / 100, rel=1e-9):
            bad.append((r["case_id"], "utilization", res.mac_utilization, r["overall_util_pct"]))
    assert not bad, f"{len(bad)}/{len(ROWS)} rows differ: {bad[:5]}"


def test_cli_gives_scalesim_cycles_on_the_wide_set(tmp_path, capsys):
    """One topology per (kind, array, dataflow, SRAM) through ``structconv simulate --json``."""
    groups = defaultdict(list)
    for r in ROWS:
        groups[(r["input_kind"], r["array_rows"], r["array_cols"], r["dataflow"], r["ifmap_sram_kb"],
                r["filter_sram_kb"], r["ofmap_sram_kb"])].append(r)
    bad, n = [], 0
    for g, rows in enumerate(groups.values()):
        d = tmp_path / f"g{g}"
        d.mkdir()
        topo, _, cfg = G.write_inputs(_case(rows[0]), str(d))
        head, *body = Path(topo).read_text().splitlines(keepends=True)
        for k, r in enumerate(rows[1:], 1):
            text = Path(G.write_inputs(_case(r), str(d))[0]).read_text().splitlines(keepends=True)[1]
            body.append(text.replace("layer0", f"layer{k}", 1))
        Path(topo).write_text(head + "".join(body))
        assert main(["simulate", "--scalesim-topology", topo, "--scalesim-config", cfg, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert len(out["layers"]) == len(rows)
        for r, lay in zip(rows, out["layers"]):
            n += 1
            got = {k: lay[k] for k in ("cycles_total", "cycles_stall", "cycles_compute")}
            if got != {k: v for k, v in _want(r).items() if k in got}:
                bad.append((r["case_id"], got, r["total_cycles"]))
    assert n == len(ROWS) and not bad, bad[:5]


def test_the_check_can_fail(tmp_path):
    """A row read as the wrong kind (a GEMM's M x K as a conv, a DP row without 'DP') gives other
    numbers: the check sees the input kind."""
    dp = next(r for r in ROWS if r["input_kind"] == "dp" and int(r["channels"]) > 1)
    as_conv = dict(dp, input_kind="conv", case_id="as_conv")
    assert _got(run_row(as_conv, tmp_path, "analytical")) != _want(dp)
    gemm = next(r for r in ROWS if r["input_kind"] == "gemm" and int(r["ifmap_h"]) > 1)
    as_conv = dict(gemm, input_kind="conv", case_id="gemm_as_conv", ifmap_w=gemm["channels"],
                   filter_w=gemm["channels"], channels="1")              # SCALE-Sim's own conv view
    assert _got(run_row(as_conv, tmp_path, "analytical")) == _want(gemm)
    swapped = dict(gemm, case_id="swapped", ifmap_h=gemm["num_filters"], num_filters=gemm["ifmap_h"])
    assert _got(run_row(swapped, tmp_path, "analytical")) != _want(gemm)
