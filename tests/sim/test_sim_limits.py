"""The simulator's limits: no int64 wrap-around, bounded kernel work, and one-line errors for
bad SCALE-Sim cfg / topology files and accelerator YAML (issue 10)."""
from __future__ import annotations

import dataclasses
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.cli import main
from structconv.core import Layer, Network, Structure, count_ops, get_network
from structconv.sim import (
    DATAFLOWS,
    SCHEMES,
    Accelerator,
    BatchSimulator,
    MacArray,
    Memory,
    SumPoolUnit,
    limits,
    load_accelerator,
    read_scalesim_config,
    simulate,
    simulate_layer,
)
from structconv.sim.results import ENERGY_KEYS
from tests.support.scalesim_inputs import TOPO_HEADER as HEADER

INT64_MAX = 2**63 - 1
COUNTS = ("cycles_compute", "cycles_stall", "spu_cycles", "mac_cycles", "macs", "spu_adds",
          "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes", "sram_ifmap_writes",
          "line_buffer_accesses", "dram_bytes")
CFG = ("[general]\nrun_name = mine\n[architecture_presets]\nArrayHeight = 32\nArrayWidth = 16\n"
       "IfmapSramSzkB = 64\nFilterSramSzkB = 32\nOfmapSramSzkB = 16\nDataflow = ws\nBandwidth = 20\n")


def _topology(tmp_path, row: str):
    p = tmp_path / "t.csv"
    p.write_text(HEADER + row + "\n")
    return p


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.count("\n") == 1 and "Traceback" not in cap.err
    return cap.err


# -- the two overflow cases of the issue ------------------------------------------------------
BIG = "conv9, 100000, 100000, 3, 3, 100000, 100000, 1,"           # wrapped: negative energy and utilisation
HUGE = "conv1, 10000000, 10000000, 3, 3, 100000, 64, 1,"          # OverflowError in sim/mapping.py


def test_a_layer_past_int64_is_a_value_error_naming_layer_and_field():
    layer = Layer.conv2d("conv9", 100000, 100000, 3, (100000, 100000))
    net = Network("big", (100000, 100000, 100000), (layer,))
    for mode in ("analytical", "cycle"):
        with pytest.raises(ValueError) as e:
            simulate(net, mode=mode)
        msg = str(e.value)
        assert msg.startswith("layer 'conv9': macs = 9.0e+20") and "[0, 9.2e+18]" in msg and "\n" not in msg


def test_an_ifmap_past_int64_is_a_value_error_not_an_overflow_error():
    layer = Layer.conv2d("conv1", 100000, 64, 3, (10**7, 10**7))
    with pytest.raises(ValueError,
                       match=r"layer 'conv1': ifmap elements per group = 1\.0e\+19 is out of range"):
        simulate(Network("huge", (100000, 10**7, 10**7), (layer,)))
    with pytest.raises(ValueError, match="layer 'conv1'"):
        simulate_layer(layer, Structure(2, 2))


@pytest.mark.parametrize("row, needle", [(BIG, "layer 'conv9': macs = 9.0e+20"),
                                         (HUGE, "layer 'conv1': ifmap elements per group")])
@pytest.mark.parametrize("mode", ["analytical", "cycle"])
def test_cli_topology_out_of_range_exits_2_with_one_line(tmp_path, capsys, row, needle, mode):
    err = _one_line_error(capsys, ["simulate", "--scalesim-topology", str(_topology(tmp_path, row)),
                                   "--mode", mode, "--json"])
    assert err.startswith("structconv: error: ") and needle in err and "64-bit" in err


def test_a_large_layer_that_fits_gives_exact_non_negative_counts():
    # 10^7 x 10^7 pixels, 3 -> 64 channels: 1.7e18 MACs fit int64; every count must be exact or non-negative
    layer = Layer.conv2d("conv1", 3, 64, 3, (10**7, 10**7))
    r = simulate_layer(layer)
    assert r.macs == count_ops(layer).mults == (10**7 - 2) ** 2 * 64 * 27
    assert all(getattr(r, f) >= 0 for f in COUNTS) and 0 < r.mac_utilization <= 1
    assert all(0 <= v < math.inf for v in r.energy_pj.to_dict().values())


def test_cycle_mode_refuses_work_it_cannot_finish():
    layer = Layer.conv2d("conv1", 3, 64, 3, (10**7, 10**7))
    with pytest.raises(ValueError,
                       match=r"layer 'conv1': the cycle kernel would take .* work units .*analytical"):
        simulate_layer(layer, mode="cycle")


def test_a_starved_dram_link_is_an_error_not_a_wrapped_stall():
    hw = Accelerator("slow", MacArray(16, 16), memory=Memory(dram_bytes_per_cycle=1e-300))
    with pytest.raises(ValueError, match="layer 'c': cycles_total could reach"):
        simulate_layer(Layer.conv2d("c", 64, 64, 3, (56, 56), padding=1), hw=hw)


def test_an_energy_table_that_overflows_float64_is_named():
    hw = load_accelerator("edge-int8")
    hw = hw.with_(energy=dataclasses.replace(hw.energy, dram_pj_per_byte=1e308))
    with pytest.raises(ValueError, match=r"layer 'c': energy_pj\.dram = inf is out of range"):
        simulate_layer(Layer.conv2d("c", 64, 64, 3, (56, 56), padding=1), hw=hw)


def test_batch_plan_sums_cannot_wrap():
    # each layer (2^60 MACs on one PE) fits int64, the ten together do not: evaluate_plans sums in int64
    layers = tuple(Layer.conv2d(f"l{i}", 2**30, 1, 1, (2**15, 2**15)) for i in range(10))
    net = Network("n", (2**30, 2**15, 2**15), layers)
    hw = Accelerator("one", MacArray(1, 1))
    assert simulate(net, hw=hw).cycles_total > INT64_MAX            # Python ints: exact
    with pytest.raises(ValueError, match="network 'n': cycles_total of a plan could reach"):
        BatchSimulator(net, hw)
    with pytest.raises(ValueError, match="network 'm'"):
        limits.check_plan_sum(np.array([[2**62, 1], [2**62, 0]]), "m")
    limits.check_plan_sum(np.array([[2**61, 1], [2**61, 0]]), "m")


def test_the_zoo_at_full_resolution_runs():
    for name, plan in (("pspnet101", None), ("pspnet101", "uniform-n2"),
                       ("hrnet_w18_small_v1", "uniform-n2")):
        r = simulate(get_network(name), plan, "tpu-like")
        assert r.cycles_total > 0 and r.energy_pj.total > 0


# -- property: a clean error, or exact non-negative counts -----------------------------------------
dims = st.one_of(st.integers(1, 64), st.integers(1, 10**4), st.integers(1, 10**7), st.integers(1, 10**10))


@st.composite
def huge_layers(draw):
    g = draw(st.sampled_from([1, 1, 2, 8]))
    cin, cout = g * draw(dims), g * draw(dims)
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (1, 7)]))
    s = draw(st.sampled_from([1, 2, 4]))
    h, w = draw(dims) + kh, draw(dims) + kw
    return Layer.conv2d("x", cin, cout, (kh, kw), (h, w), stride=s, groups=g)


@st.composite
def hardware(draw):
    return Accelerator("h",
                       MacArray(draw(st.sampled_from([1, 16, 256, 65536])),
                                draw(st.sampled_from([1, 16, 4096])),
                                     draw(st.sampled_from(DATAFLOWS))),
                       sum_pool=SumPoolUnit(draw(st.sampled_from([1, 16])), draw(st.sampled_from(SCHEMES)),
                                            draw(st.sampled_from([0, 1 << 20, 1 << 40]))),
                       memory=Memory(*(draw(st.sampled_from([2, 1 << 16, 1 << 40])) for _ in range(3)),
                                     draw(st.sampled_from([1e-3, 8.0, 1e6]))),
                       dtype=draw(st.sampled_from(["int8", "fp32"])),
                       leakage_mw=draw(st.sampled_from([0.0, 5.0])))


@settings(max_examples=150)
@given(st.data(), huge_layers(), hardware(), st.sampled_from(["analytical", "cycle"]))
def test_huge_layers_give_a_clean_error_or_exact_counts(data, layer, hw, mode):
    choice = None
    if data.draw(st.booleans()):
        c = data.draw(st.integers(1, min(layer.group_in_channels, 64)))
        choice = Structure(c,
                           (data.draw(st.integers(1, layer.kernel[0])),
                            data.draw(st.integers(1, layer.kernel[1]))))
        if choice.fits(layer) is not None:
            choice = None
    ref = count_ops(layer, choice).mults                   # Python ints: the exact reference
    with mock.patch.object(limits, "MAX_WORK", 10**7):    # keep each example fast; past it: a clean error
        try:
            r = simulate_layer(layer, choice, hw, mode)
        except ValueError as e:
            msg = str(e)
            assert msg.startswith("layer 'x': ") and "\n" not in msg and "out of range" in msg
            return
    assert r.macs == ref <= INT64_MAX
    if choice is None:
        (ho, wo), (kh, kw) = layer.output_size, layer.kernel
        assert r.macs == ho * wo * layer.out_channels * layer.group_in_channels * kh * kw
    assert all(0 <= getattr(r, f) <= INT64_MAX for f in COUNTS)
    assert r.cycles_total >= r.cycles_compute >= r.mac_cycles >= 0
    assert 0 <= r.mac_utilization and (r.mac_utilization <= 1 or hw.num_pes == 1)  # 1x1: SCALE-Sim's busy - 1
    e = r.energy_pj.to_dict()
    assert all(0 <= e[k] < math.inf for k in ENERGY_KEYS)


@settings(max_examples=60)
@given(huge_layers(), hardware())
def test_macs_past_int64_always_raise(layer, hw):
    if count_ops(layer).mults <= INT64_MAX:
        return
    with pytest.raises(ValueError, match="layer 'x': "):
        simulate_layer(layer, None, hw)


# -- SCALE-Sim cfg ------------------------------------------------------------------------------
def test_cfg_values_with_percent_are_literal(tmp_path):
    p = tmp_path / "a.cfg"
    p.write_text(CFG.replace("run_name = mine", "run_name = 100%(x)s util%"))
    assert read_scalesim_config(p).name == "100%(x)s util%"


@pytest.mark.parametrize("edit, needle", [
    (("ArrayWidth = 16", "ArrayWidth = 16%"),
     "[architecture_presets] ArrayWidth = '16%' is not an integer in [1, 65536]"),
    (("ArrayHeight = 32", "ArrayHeight = 100000"),
     "[architecture_presets] ArrayHeight = 100000 is out of range [1, 65536]"),
    (("Bandwidth = 20", "Bandwidth = nan"),
     "[architecture_presets] Bandwidth = nan is out of range [1e-09, inf)"),
    (("Bandwidth = 20", "Bandwidth = 1e400"), "[architecture_presets] Bandwidth = inf is out of range"),
    (("OfmapSramSzkB = 16", "OfmapSramSzkB = 0"),
     "[architecture_presets] OfmapSramSzkB = 0 is out of range [1, "),
    (("IfmapSramSzkB = 64", "IfmapSramSzkB = 1" + "0" * 31),
     "IfmapSramSzkB = 1" + "0" * 31 + " is out of range [1, 274877906944]"),
    (("Dataflow = ws\n", ""), "missing field [architecture_presets] Dataflow"),
    (("ArrayWidth = 16\n", "ArrayWidth = 16\nArrayWidth = 8\n"), "is not a valid config file"),
])
def test_cfg_errors_name_file_section_key_and_range(tmp_path, capsys, edit, needle):
    p = tmp_path / "a.cfg"
    p.write_text(CFG.replace(*edit))
    with pytest.raises(ValueError) as e:
        read_scalesim_config(p)
    msg = str(e.value)
    assert msg.startswith(f"SCALE-Sim config '{p}'") and needle in msg and "\n" not in msg
    assert "mac_array" not in msg and "memory." not in msg             # cfg keys, not our YAML fields
    topo = _topology(tmp_path, "c, 8, 8, 3, 3, 4, 4, 1,")
    err = _one_line_error(capsys, ["simulate", "--scalesim-topology", str(topo), "--scalesim-config", str(p)])
    assert needle in err


@pytest.mark.parametrize("flag", ["--scalesim-config", "--scalesim-topology"])
def test_binary_cfg_or_topology_names_the_file(tmp_path, capsys, flag):
    p = tmp_path / "blob.bin"
    p.write_bytes(bytes(range(256)) * 4)
    topo = _topology(tmp_path, "c, 8, 8, 3, 3, 4, 4, 1,")
    argv = ["simulate", "--scalesim-topology", str(p if flag == "--scalesim-topology" else topo)]
    if flag == "--scalesim-config":
        argv += ["--scalesim-config", str(p)]
    err = _one_line_error(capsys, argv)
    assert str(p) in err and "UTF-8" in err


def test_cfg_reads_are_bounded(tmp_path):
    with pytest.raises(ValueError, match="SCALE-Sim config '/dev/zero' is larger than"):
        read_scalesim_config("/dev/zero")
    big = tmp_path / "big.cfg"
    big.write_text(CFG + "# " + "x" * (9 << 20) + "\n")
    with pytest.raises(ValueError, match="cap"):
        read_scalesim_config(big)


# -- accelerator YAML ----------------------------------------------------------------------------
def test_accelerator_yaml_goes_through_the_bounded_reader(tmp_path):
    p = tmp_path / "hw.yaml"
    p.write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p_}, *{p_}, *{p_}, *{p_}, *{p_}, *{p_}, *{p_}, *{p_}, *{p_}]\n"
        for p_, c in zip("abcdefgh", "bcdefghi")))
    with pytest.raises(ValueError, match=str(p)):
        load_accelerator(str(p))
    with pytest.raises(ValueError, match="neither a preset"):
        load_accelerator("/dev/zero")
    p.write_bytes(b"\xff\xfe name")
    with pytest.raises(ValueError, match="UTF-8"):
        load_accelerator(str(p))


@pytest.mark.parametrize("text, needle", [
    ("name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {ifmap_sram_bytes: 1.0e+30}\n",
     "memory.ifmap_sram_bytes"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nmemory: {ifmap_sram_bytes: 1000000000000000000}\n",
     "memory.ifmap_sram_bytes = 1000000000000000000 is out of range [2, 281474976710656]"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\nsum_pool: {adder_lanes: 100000000000000000000}\n",
     "sum_pool.adder_lanes"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\n1: x\nfoo: y\n", "unknown field(s) ['1', 'foo']"),
    ("name: t\nmac_array: {rows: 8, cols: 8}\ndescription: [1]\n", "description must be a string"),
])
def test_accelerator_yaml_errors_name_file_and_field(tmp_path, text, needle):
    p = tmp_path / "hw.yaml"
    p.write_text(text)
    with pytest.raises(ValueError) as e:
        load_accelerator(str(p))
    msg = str(e.value)
    assert msg.startswith(f"accelerator file '{p}'") and needle in msg and "\n" not in msg


@settings(max_examples=80)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
                        st.sampled_from(["name", "mac_array", "rows", "cols", "memory", "sum_pool", "energy",
                                         "dtype", "clock_hz", "x", "dataflow", "ifmap_sram_bytes"]), kids,
                        max_size=4), max_leaves=12))
def test_random_accelerator_mappings_give_an_accelerator_or_a_clean_error(d):
    try:
        load_accelerator(d) if isinstance(d, dict) else None
    except ValueError as e:
        assert "\n" not in str(e)
