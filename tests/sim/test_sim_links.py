"""DRAM link semantics (memory.links): shared (default), per_operand, unlimited (SCALE-Sim's CALC),
and the SCALE-Sim cfg reader's InterfaceBandwidth -- checked on the pinned goldens through the CLI."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.cli import main
from structconv.sim import Memory, load_accelerator, read_scalesim_config, simulate_layer
from tests.support.goldens import golden_groups, golden_rows
from tests.support.scalesim_inputs import TOPO_HEADER
from tests.support.sim_reference import accelerators, layers, structures

OPS = ("ifmap", "filter", "ofmap")


def _with_links(hw, links, bw):
    """``hw`` with its memory's links replaced (per_operand: the three rates ``bw``)."""
    mem = replace(hw.memory, links=links,
                  dram_bytes_per_cycle=bw if links != "per_operand" else hw.memory.dram_bytes_per_cycle,
                  **({f"{o}_dram_bytes_per_cycle": b for o, b in zip(OPS, bw)} if links == "per_operand"
                     else {}))
    return hw.with_(memory=mem)


# -- the golden acceptance: CALC cfgs through the CLI give SCALE-Sim's Total Cycles ----------
def _cfg_text(key, interface: str | None) -> str:
    rows, cols, df, i, f, o = key
    text = (f"[general]\nrun_name = golden\n\n[architecture_presets]\nArrayHeight: {rows}\n"
            f"ArrayWidth: {cols}\n"
            f"IfmapSramSzkB: {i}\nFilterSramSzkB: {f}\nOfmapSramSzkB: {o}\nIfmapOffset: 0\n"
            f"FilterOffset: 10000000\nOfmapOffset: 20000000\nBandwidth: 10\nDataflow: {df}\n")
    if interface:
        text += f"\n[run_presets]\nInterfaceBandwidth: {interface}\nUseRamulatorTrace: False\n"
    return text


def test_calc_cfgs_give_scalesim_total_cycles_through_the_cli(tmp_path, capsys):
    """Every pinned golden row (SCALE-Sim 3.0.0, CALC): cycles_total == Total Cycles, no stalls."""
    groups = golden_groups(golden_rows())
    assert sum(map(len, groups.values())) == 144
    bad, n = [], 0
    for g, (key, rows) in enumerate(sorted(groups.items())):
        topo = tmp_path / f"topo{g}.csv"
        topo.write_text(TOPO_HEADER + "".join(
            f"l{k}, {r['ifmap_h']}, {r['ifmap_w']}, {r['filter_h']}, {r['filter_w']}, "
            f"{r['channels']}, {r['num_filters']}, {r['stride']},\n" for k, r in enumerate(rows)))
        cfg = tmp_path / f"calc{g}.cfg"
        cfg.write_text(_cfg_text(key, "CALC" if g % 2 else None))        # the key absent means CALC too
        assert main(["simulate", "--scalesim-topology", str(topo), "--scalesim-config", str(cfg),
                     "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        for r, lay in zip(rows, out["layers"]):
            n += 1
            got = (lay["cycles_total"], lay["cycles_stall"])
            if got != (int(r["total_cycles"]), int(r["stall_cycles"])):
                bad.append((r["case_id"], got, r["total_cycles"]))
            need = lay["dram_bandwidth_needed"]
            assert sum(need.values()) * lay["cycles_total"] == pytest.approx(lay["dram_bytes"], rel=1e-12)
    assert n == 144 and not bad, bad[:5]


def test_cfg_reader_maps_both_interfaces(tmp_path):
    key = ("16", "16", "os", "2", "2", "2")
    p = tmp_path / "c.cfg"
    p.write_text(_cfg_text(key, "CALC"))
    assert read_scalesim_config(p).memory.links == "unlimited"
    p.write_text(_cfg_text(key, "USER") + "\n[layout]\nIfmapSRAMBankBandwidth: 4\nIfmapSRAMBankNum: 1\n"
                 "FilterSRAMBankBandwidth: 2\n")
    mem = read_scalesim_config(p).memory
    assert (mem.links, mem.link_bytes_per_cycle()) == ("per_operand", (4.0, 2.0, 10.0))
    p.write_text(_cfg_text(key, "USER"))                              # no [layout]: Bandwidth for all three
    assert read_scalesim_config(p).memory.link_bytes_per_cycle() == (10.0, 10.0, 10.0)
    p.write_text(_cfg_text(key, "FAST"))
    with pytest.raises(ValueError, match=r"InterfaceBandwidth = 'FAST' is not one of \['CALC', 'USER'\]"):
        read_scalesim_config(p)
    p.write_text(_cfg_text(key, "USER") + "\n[layout]\nFilterSRAMBankBandwidth: 0\n")
    with pytest.raises(ValueError, match=r"\[layout\] FilterSRAMBankBandwidth = 0.0 is out of range"):
        read_scalesim_config(p)


def test_yaml_links_fields(tmp_path):
    f = tmp_path / "hw.yaml"
    f.write_text("name: t\nmac_array: {rows: 8, cols: 8}\n"
                 "memory: {links: per_operand, filter_dram_bytes_per_cycle: 2}\n")
    mem = load_accelerator(str(f)).memory
    assert mem.link_bytes_per_cycle() == (8.0, 2.0, 8.0)
    assert Memory().links == "shared" and load_accelerator("edge-int8").memory.links == "shared"
    f.write_text("name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {ifmap_dram_bytes_per_cycle: 2}\n")
    with pytest.raises(ValueError, match="ifmap_dram_bytes_per_cycle = 2 needs memory.links: per_operand"):
        load_accelerator(str(f))
    f.write_text("name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {links: many}\n")
    with pytest.raises(ValueError, match="memory.links"):
        load_accelerator(str(f))


# -- properties on random layers, structures and accelerators --------------------------------
def _check_links(layer, choice, hw, mode):
    shared = simulate_layer(layer, choice, hw, mode)
    x = hw.memory.dram_bytes_per_cycle
    per = simulate_layer(layer, choice, _with_links(hw, "per_operand", (x, x, x)), mode)
    wide = simulate_layer(layer, choice, _with_links(hw, "shared", 3 * x), mode)
    calc = simulate_layer(layer, choice, _with_links(hw, "unlimited", x), mode)
    for r in (shared, per, wide, calc):
        assert r.dram_ifmap_bytes + r.dram_filter_bytes + r.dram_ofmap_bytes == r.dram_bytes
        # the traffic (and compute) does not depend on the links, only the stalls do
        assert (r.dram_ifmap_bytes, r.dram_filter_bytes, r.dram_ofmap_bytes, r.cycles_compute) == (
            shared.dram_ifmap_bytes, shared.dram_filter_bytes, shared.dram_ofmap_bytes, shared.cycles_compute)
    assert calc.cycles_stall == 0
    # three links of x bytes/cycle: never slower than one of x, never faster than one of 3x
    assert wide.cycles_total <= per.cycles_total <= shared.cycles_total, (wide, per, shared)
    # every link is busy for at least its own bytes
    for o, b in zip(OPS, (x, x, x)):
        assert per.cycles_total >= math.ceil(getattr(per, f"dram_{o}_bytes") / b), o


@settings(max_examples=60, deadline=None)
@given(layers(), accelerators(), st.sampled_from(["analytical", "cycle"]))
def test_links_order_dense(layer, hw, mode):
    _check_links(layer, None, hw, mode)


@settings(max_examples=60, deadline=None)
@given(st.data(), layers(), accelerators(), st.sampled_from(["analytical", "cycle"]))
def test_links_order_structured(data, layer, hw, mode):
    _check_links(layer, data.draw(structures(layer)), hw, mode)


@settings(max_examples=40, deadline=None)
@given(st.data(), layers(), accelerators(), st.sampled_from(["analytical", "cycle"]),
       st.sampled_from([0.25, 1.0, 64.0]), st.sampled_from([0.25, 1.0, 64.0]),
       st.sampled_from([0.25, 1.0, 64.0]))
def test_slow_link_bounds_the_layer(data, layer, hw, mode, bi, bf, bo):
    """Unequal per-operand links: each one alone bounds the layer from below."""
    choice = data.draw(st.one_of(st.none(), structures(layer)))
    r = simulate_layer(layer, choice, _with_links(hw, "per_operand", (bi, bf, bo)), mode)
    for o, b in zip(OPS, (bi, bf, bo)):
        assert r.cycles_total >= math.ceil(getattr(r, f"dram_{o}_bytes") / b), o
