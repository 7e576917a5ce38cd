"""Accelerator presets, YAML validation, SCALE-Sim .cfg import, energy and area tables."""
from __future__ import annotations

import pytest

from structconv.sim import (
    Accelerator,
    MacArray,
    Memory,
    SumPoolUnit,
    list_accelerators,
    load_accelerator,
    read_scalesim_config,
)
from structconv.sim.memory_cost import horowitz_pj_per_byte as sram_pj_per_byte

GOOD = """name: t
mac_array: {rows: 8, cols: 4, dataflow: ws}
sum_pool: {adder_lanes: 4, scheme: sliding, line_buffer_bytes: 1024}
memory: {ifmap_sram_bytes: 4096, filter_sram_bytes: 4096, ofmap_sram_bytes: 2048, dram_bytes_per_cycle: 4}
clock_hz: 1.0e+9
dtype: fp16
overlap: sequential
leakage_mw: 3
energy: {dram_pj_per_byte: 100}
"""


def test_presets_load_and_are_listed():
    names = list(list_accelerators())
    assert {"edge-int8", "small-os-168pe", "tpu-like"} <= set(names)
    assert all(list_accelerators().values())                       # every preset has a description
    assert load_accelerator().name == "edge-int8"                  # the default
    eye = load_accelerator("small-os-168pe")
    assert (eye.mac_array.rows, eye.mac_array.cols) == (12, 14)
    tpu = load_accelerator("tpu-like")
    assert (tpu.mac_array.rows, tpu.mac_array.cols) == (256, 256)
    assert tpu.area_mm2() > eye.area_mm2() > 0


def test_yaml_file_with_partial_energy_override(tmp_path):
    p = tmp_path / "hw.yaml"
    p.write_text(GOOD)
    hw = load_accelerator(str(p))
    assert hw.mac_array == MacArray(8, 4, "ws") and hw.dtype == "fp16" and hw.overlap == "sequential"
    assert hw.energy.dram_pj_per_byte == 100
    assert hw.energy.mult_pj == 1.1 and hw.energy.add_pj == 0.9           # Horowitz fp16 mult, fp32 add
    assert hw.bytes_per_element == 2
    assert load_accelerator(hw) is hw


@pytest.mark.parametrize("text, needle", [
    ("mac_array: {rows: 8, cols: 8}\n", "missing field 'name'"),
    ("name: t\n", "missing field 'mac_array'"),
    ("name: t\nmac_array: {rows: 8}\n", "mac_array.cols"),
    ("name: t\nmac_array: {rows: 0, cols: 8}\n", "mac_array.rows = 0 is out of range"),
    ("name: t\nmac_array: {rows: -3, cols: 8}\n", "mac_array.rows = -3"),
    ("name: t\nmac_array: {rows: 8.5, cols: 8}\n", "mac_array.rows must be an integer"),
    ("name: t\nmac_array: {rows: 8, cols: 8, dataflow: rs}\n", "mac_array.dataflow = 'rs' is not one of"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nsum_pool: {scheme: magic}\n", "sum_pool.scheme"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {ifmap_sram_bytes: 0}\n",
     "memory.ifmap_sram_bytes = 0"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {dram_bytes_per_cycle: 0}\n",
     "memory.dram_bytes_per_cycle"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nclock_hz: 500e6\n", "clock_hz must be a number"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\ndtype: int4\n", "dtype = 'int4'"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\noverlap: maybe\n", "overlap = 'maybe'"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nenergy: {mult_pj: -1}\n", "energy.mult_pj = -1"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nenergy: {bogus: 1}\n", "energy.bogus"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\ncolour: red\n", "unknown field(s) ['colour']"),
    ("name: t\nmac_array: [8, 8]\n", "'mac_array' must be a mapping"),
    ("- just\n- a list\n", "is a mapping"),
    ("name: t\nmac_array: {rows: 8, cols: 8\n", "not valid YAML"),
])
def test_bad_yaml_gives_one_line_naming_the_field(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ValueError) as e:
        load_accelerator(str(p))
    msg = str(e.value)
    assert needle in msg and "\n" not in msg


def test_unknown_preset_or_missing_file():
    with pytest.raises(ValueError, match="neither a preset"):
        load_accelerator("no-such-chip")


def test_constructor_validation():
    with pytest.raises(ValueError, match="mac_array.cols = 0"):
        MacArray(4, 0)
    with pytest.raises(ValueError, match="sum_pool.adder_lanes = 0"):
        SumPoolUnit(0)
    with pytest.raises(ValueError, match="must be a MacArray"):
        Accelerator("x", mac_array=(4, 4))


def test_sram_energy_interpolates_horowitz_points():
    assert sram_pj_per_byte(8 * 1024) == pytest.approx(10 / 8)
    assert sram_pj_per_byte(32 * 1024) == pytest.approx(20 / 8)
    assert sram_pj_per_byte(1 << 20) == pytest.approx(100 / 8)
    assert sram_pj_per_byte(1024) == pytest.approx(10 / 8)
    sizes = [2 ** k for k in range(10, 26)]
    vals = [sram_pj_per_byte(s) for s in sizes]
    assert vals == sorted(vals)


def test_area_grows_with_every_resource():
    base = load_accelerator("edge-int8")
    bigger = [base.with_(mac_array=MacArray(32, 16)),
              base.with_(sum_pool=SumPoolUnit(64, "separable", 32768)),
              base.with_(memory=Memory(1 << 20, 65536, 32768, 8.0)),
              base.with_(dtype="fp32")]
    assert all(b.area_mm2() > base.area_mm2() for b in bigger)


CFG = """[general]
run_name = mine
[architecture_presets]
ArrayHeight = 32
ArrayWidth = 16
IfmapSramSzkB = 64
FilterSramSzkB = 32
OfmapSramSzkB = 16
Dataflow = is
Bandwidth = 20
"""


def test_scalesim_cfg(tmp_path):
    p = tmp_path / "a.cfg"
    p.write_text(CFG)
    hw = read_scalesim_config(p)
    assert hw.name == "mine" and hw.mac_array == MacArray(32, 16, "is")
    assert (hw.memory.ifmap_sram_bytes, hw.memory.filter_sram_bytes, hw.memory.ofmap_sram_bytes) == \
        (65536, 32768, 16384)
    assert hw.memory.dram_bytes_per_cycle == 20


@pytest.mark.parametrize("edit, needle", [
    (("Dataflow = is", "Dataflow = rs"), "Dataflow = 'rs'"),
    (("ArrayHeight = 32\n", ""), "missing field [architecture_presets] ArrayHeight"),
    (("ArrayWidth = 16", "ArrayWidth = wide"), "ArrayWidth = 'wide' is not an integer"),
    (("IfmapSramSzkB = 64", "IfmapSramSzkB = 0"), "IfmapSramSzkB = 0 is out of range"),
    (("[architecture_presets]", "[arch]"), "missing section [architecture_presets]"),
])
def test_scalesim_cfg_errors(tmp_path, edit, needle):
    p = tmp_path / "a.cfg"
    p.write_text(CFG.replace(*edit))
    with pytest.raises(ValueError) as e:
        read_scalesim_config(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_no_preset_claims_a_dataflow_it_does_not_model():
    """"eyeriss-like" ran output-stationary, not Eyeriss's row-stationary: renamed, and the old
    name says so in one line instead of loading."""
    assert not any("eyeriss" in n for n in list_accelerators())
    with pytest.raises(ValueError, match="renamed 'small-os-168pe'.*not Eyeriss's row-stationary"):
        load_accelerator("eyeriss-like")
    assert "formerly eyeriss-like" in list_accelerators()["small-os-168pe"]
