"""SRAM energy and area that follow the configured sizes (sram_model: horowitz | cacti-45nm).

The peer is CACTI 7 (from zigzag-dse), run by benchmarks/cacti_sram_grid.py; its answers are
pinned in tests/data/cacti_sram_45nm.json.
"""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.cli import main as cli_main
from structconv.core import Layer, Structure
from structconv.sim import SRAM_MODELS, list_accelerators, load_accelerator, simulate_layer
from structconv.sim import memory_cost as mc
from tests.support import DATA
from tests.support.sim_reference import accelerators, layers, structures

GRID = json.loads((DATA / "cacti_sram_45nm.json").read_text())
ROWS = GRID["grid"]
KNOTS = [r for r in ROWS if r["bytes"] & (r["bytes"] - 1) == 0]
OFF_KNOTS = [r for r in ROWS if r["bytes"] & (r["bytes"] - 1)]
MODEL = {"read_nj": lambda b: mc.cacti_read_pj(b) / 1e3, "write_nj": lambda b: mc.cacti_write_pj(b) / 1e3,
         "area_mm2": lambda b: mc.cacti_area_um2(b) / 1e6}


def test_pinned_grid_is_cacti_at_45nm_from_the_script():
    assert GRID["meta"]["made_by"] == "benchmarks/cacti_sram_grid.py"
    config = GRID["meta"]["config"]
    assert config["technology (u)"] == 0.045 and config["output/input bus width"] == 64
    assert len(ROWS) == 73 and len(KNOTS) == 19
    assert [r["bytes"] for r in KNOTS] == [2 ** k for k in range(8, 27)]


def test_module_knots_are_the_pinned_grid():
    assert [(r["bytes"], r["read_nj"], r["write_nj"], r["area_mm2"]) for r in KNOTS] == list(mc._CACTI_45NM)


@pytest.mark.parametrize("key", sorted(MODEL))
def test_interpolation_equals_the_grid_at_the_knots(key):
    for r in KNOTS:
        assert MODEL[key](r["bytes"]) == pytest.approx(r[key], rel=1e-12), r["bytes"]


@pytest.mark.parametrize("key", sorted(MODEL))
def test_knots_rise_strictly_with_size(key):
    vals = [r[key] for r in KNOTS]
    assert all(a < b for a, b in zip(vals, vals[1:]))


# CACTI's own answers between the knots scatter (its optimiser picks another organisation); the
# knots' interpolation stays within these stated bounds of every one (memory_cost's docstring).
BOUNDS = {"read_nj": (-0.15, 0.28), "write_nj": (-0.22, 0.13), "area_mm2": (-0.07, 0.15)}


@pytest.mark.parametrize("key", sorted(MODEL))
def test_interpolation_is_within_the_stated_bound_of_cactis_off_knot_answers(key):
    lo, hi = BOUNDS[key]
    errs = [MODEL[key](r["bytes"]) / r[key] - 1 for r in OFF_KNOTS]
    assert lo <= min(errs) and max(errs) <= hi


sizes = st.integers(1, 2 ** 28)


@settings(max_examples=200, deadline=None)
@given(sizes, sizes)
def test_every_model_is_monotone_in_size(a, b):
    a, b = min(a, b), max(a, b)
    for f in (mc.cacti_read_pj, mc.cacti_write_pj, mc.cacti_area_um2, mc.horowitz_pj_per_byte):
        assert f(a) <= f(b), f.__name__
    for model in SRAM_MODELS:
        for role in mc.SRAM_ROLES:
            assert mc.sram_pj_per_byte(model, role, a) <= mc.sram_pj_per_byte(model, role, b)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(KNOTS) - 2), st.floats(0.0, 1.0))
def test_between_two_knots_the_value_lies_between_theirs(i, t):
    s0, s1 = KNOTS[i]["bytes"], KNOTS[i + 1]["bytes"]
    size = s0 * (s1 / s0) ** t
    for key, f in MODEL.items():
        assert KNOTS[i][key] * (1 - 1e-12) <= f(size) <= KNOTS[i + 1][key] * (1 + 1e-12)
        # log-log straight: the value is the knots' geometric interpolation
        assert f(size) == pytest.approx(KNOTS[i][key] * (KNOTS[i + 1][key] / KNOTS[i][key]) ** t, rel=1e-9)


def test_outside_the_grid():
    assert mc.cacti_read_pj(1) == mc.cacti_read_pj(256) == pytest.approx(1.271)
    assert mc.cacti_area_um2(0) == 0.0 and mc.cacti_area_um2(1) == pytest.approx(1621.84)
    # above 64 MiB the last octave's slope goes on
    slope = math.log(KNOTS[-1]["read_nj"] / KNOTS[-2]["read_nj"]) / math.log(2)
    assert mc.cacti_read_pj(2 ** 28) == pytest.approx(KNOTS[-1]["read_nj"] * 1e3 * 4 ** slope)


def test_each_sram_is_charged_the_access_it_is_counted_for():
    s = 65536
    assert mc.sram_pj_per_byte("cacti-45nm", "ifmap", s) == pytest.approx(21.2026 / 8)
    assert mc.sram_pj_per_byte("cacti-45nm", "filter", s) == pytest.approx(21.2026 / 8)
    assert mc.sram_pj_per_byte("cacti-45nm", "ofmap", s) == pytest.approx(18.6882 / 8)
    assert mc.sram_pj_per_byte("cacti-45nm", "line_buffer", s) == pytest.approx((21.2026 + 18.6882) / 16)
    assert mc.sram_pj_per_byte("horowitz", "ofmap", 32 * 1024) == pytest.approx(20 / 8)


# -- the accelerator follows its sizes --------------------------------------------------------------
def test_presets_keep_horowitz_and_their_numbers():
    hw = load_accelerator("edge-int8")
    assert hw.sram_model == "horowitz"
    assert hw.energy.ofmap_sram_pj_per_byte == pytest.approx(20 / 8)       # 32 KiB: Horowitz's point
    assert hw.area_mm2() == pytest.approx(0.886864)  # 256 PEs, 16 lanes, 192 KiB x 4049


def test_cacti_model_follows_each_configured_size():
    hw = load_accelerator("small-os-168pe").with_(sram_model="cacti-45nm")
    by_role = {s.role: s for s in hw.srams()}
    assert by_role["filter"].bytes == 32768 and by_role["filter"].pj_per_byte == pytest.approx(16.998 / 8)
    assert by_role["filter"].area_um2 == pytest.approx(106242.0)
    assert by_role["line_buffer"].area_um2 == pytest.approx(54928.8)           # 16 KiB knot
    a = hw.area
    assert hw.area_mm2() == pytest.approx((168 * (a.mult_um2 + a.add_um2) + 14 * a.add_um2
                                           + sum(s.area_um2 for s in hw.srams())) / 1e6)
    bigger = hw.with_(memory=dataclasses.replace(hw.memory, filter_sram_bytes=1 << 20))
    assert bigger.sram_model == "cacti-45nm"                                 # the model survives with_
    assert bigger.energy.filter_sram_pj_per_byte == pytest.approx(77.1867 / 8)
    assert bigger.area_mm2() > hw.area_mm2()


@settings(max_examples=25, deadline=None)
@given(st.data(), layers(), accelerators(), st.sampled_from(["ifmap", "filter", "ofmap", "line_buffer"]),
       st.floats(0.0, 50.0))
def test_layer_energy_moves_with_sram_pj_per_byte_as_the_counts_say(data, layer, hw, role, pj):
    choice = data.draw(st.one_of(st.none(), structures(layer)))
    name = {"line_buffer": "line_buffer_pj_per_byte"}.get(role, f"{role}_sram_pj_per_byte")
    base = simulate_layer(layer, choice, hw)
    hot = simulate_layer(layer, choice, hw.with_(energy=dataclasses.replace(hw.energy, **{name: pj})))
    counts = {"ifmap": base.sram_ifmap_reads + base.sram_ifmap_writes, "filter": base.sram_filter_reads,
              "ofmap": base.sram_ofmap_writes, "line_buffer": base.line_buffer_accesses}[role]
    delta = hw.bytes_per_element * counts * (pj - getattr(hw.energy, name))
    assert hot.energy_pj.sram - base.energy_pj.sram == pytest.approx(delta, rel=1e-9, abs=1e-6)
    for k in ("mac", "add", "dram", "leakage"):
        assert getattr(hot.energy_pj, k) == getattr(base.energy_pj, k)


def test_switching_the_model_changes_only_sram_energy_by_counts_times_the_difference():
    layer = Layer.conv2d("c", 16, 32, 3, (14, 14), padding=1)
    hw = load_accelerator("edge-int8")
    cacti = hw.with_(sram_model="cacti-45nm")
    a, b = simulate_layer(layer, Structure(8, 2), hw), simulate_layer(layer, Structure(8, 2), cacti)
    assert (a.cycles_total, a.dram_bytes) == (b.cycles_total, b.dram_bytes)
    want = sum(hw.bytes_per_element * n * (ps.pj_per_byte - ph.pj_per_byte)
               for n, ph, ps in zip((a.sram_ifmap_reads + a.sram_ifmap_writes, a.sram_filter_reads,
                                     a.sram_ofmap_writes, a.line_buffer_accesses), hw.srams(), cacti.srams()))
    assert b.energy_pj.sram - a.energy_pj.sram == pytest.approx(want, rel=1e-9)
    assert b.energy_pj.sram < a.energy_pj.sram and b.energy_pj.mac == a.energy_pj.mac


# -- YAML -------------------------------------------------------------------------------------------
BASE = "name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {ifmap_sram_bytes: 8192, filter_sram_bytes: 32768}\n"


def _load(tmp_path, text):
    p = tmp_path / "hw.yaml"
    p.write_text(text)
    return load_accelerator(str(p))


def test_yaml_selects_the_model_and_explicit_numbers_win(tmp_path):
    hw = _load(tmp_path, BASE + "sram_model: cacti-45nm\n")
    assert hw.energy.ifmap_sram_pj_per_byte == pytest.approx(6.04792 / 8)
    assert hw.area.sram_um2_per_kib is None and hw.srams()[0].area_um2 == pytest.approx(29402.9)
    hw = _load(tmp_path, BASE + "sram_model: cacti-45nm\nenergy: {filter_sram_pj_per_byte: 9}\n"
                                "area: {sram_um2_per_kib: 5000}\n")
    assert hw.energy.filter_sram_pj_per_byte == 9
    assert hw.energy.ifmap_sram_pj_per_byte == pytest.approx(6.04792 / 8)      # the rest from the model
    assert hw.srams()[0].area_um2 == pytest.approx(8 * 5000)
    assert hw.to_dict()["sram_model"] == "cacti-45nm" and len(hw.to_dict()["srams"]) == 4


@pytest.mark.parametrize("text, needle", [
    ("sram_model: cacti\n", "sram_model = 'cacti' is not one of"),
    ("sram_model: 45\n", "sram_model"),
    ("sram_model: [cacti-45nm]\n", "sram_model"),
    ("sram_model: cacti-45nm\narea: {sram_um2_per_kib: -1}\n", "area.sram_um2_per_kib = -1"),
    ("sram_model: cacti-45nm\narea: {sram_um2_per_kib: big}\n", "area.sram_um2_per_kib must be a number"),
    ("sram_model: cacti-45nm\nenergy: {ofmap_sram_pj_per_byte: -2}\n", "energy.ofmap_sram_pj_per_byte = -2"),
    ("energy: {sram: cacti-45nm}\n", "energy.sram"),
])
def test_bad_yaml_gives_one_line_naming_the_field(tmp_path, text, needle):
    with pytest.raises(ValueError) as e:
        _load(tmp_path, BASE + text)
    assert needle in str(e.value) and "\n" not in str(e.value)


# -- structconv zoo --hw ----------------------------------------------------------------------------
def test_zoo_hw_shows_every_srams_size_energy_and_area(capsys):
    assert cli_main(["zoo", "--hw"]) == 0
    out = capsys.readouterr().out
    for name in list_accelerators():
        assert out.count(name + " ") >= 4
    row = next(line.split() for line in out.splitlines() if line.startswith("tpu-like")
               and " filter " in line)
    # KiB, model, pJ/B, pJ/64b, mm^2, horowitz pJ/B, cacti pJ/B, horowitz mm^2, cacti mm^2
    assert row[2:] == ["256", "horowitz", "6.566", "52.53", "1.0365", "6.566", "5.745", "1.0365", "0.8948"]


def test_zoo_hw_json(capsys, tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(BASE + "sram_model: cacti-45nm\n")
    assert cli_main(["zoo", "--hw", "edge-int8", str(p), "--json"]) == 0
    acc = json.loads(capsys.readouterr().out)["accelerators"]
    assert list(acc) == ["edge-int8", "t"] and acc["t"]["sram_model"] == "cacti-45nm"
    ifm = acc["t"]["srams"][0]
    assert ifm["sram"] == "ifmap" and ifm["bytes"] == 8192
    assert ifm["pj_per_byte"] == ifm["cacti-45nm"]["pj_per_byte"] == pytest.approx(6.04792 / 8)
    assert ifm["pj_per_64bit_access"] == pytest.approx(6.04792)
    assert ifm["horowitz"]["pj_per_byte"] == pytest.approx(10 / 8)
    assert acc["edge-int8"]["area_mm2"] == pytest.approx(0.886864)


def test_zoo_hw_bad_reference_is_one_line_exit_2(capsys):
    assert cli_main(["zoo", "--hw", "no-such-chip"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-chip" in err and "\n" not in err
