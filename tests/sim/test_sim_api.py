"""simulate / simulate_layer / BatchSimulator and the CLI: results, contract, errors."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.cli import main
from structconv.core import (
    DWPW,
    GCPWG,
    Choice,
    Dense,
    Layer,
    Network,
    Part,
    Plan,
    Structure,
    count_ops,
    get_network,
    get_preset,
    register_choice,
)
from structconv.core.choice import _KINDS
from structconv.sim import DATAFLOWS, MODES, Accelerator, BatchSimulator, MacArray, simulate, simulate_layer
from structconv.sim._tier import twin
from structconv.sim.mapping import hw_record, jobs_for
from tests.support.scalesim_inputs import TOPO_HEADER
from tests.support.sim_reference import layers, structures

K = twin()  # the Numba-compiled kernels (the interpreted tier is the same source: test_sim_tiers.py)

LAYER_KEYS = {"name", "cycles_compute", "cycles_stall", "cycles_total", "spu_cycles", "mac_cycles",
              "mac_utilization", "energy_pj", "sram_reads", "sram_writes", "dram_bytes",
              "dram_bandwidth_needed"}
ENERGY_KEYS = {"mac", "add", "sram", "dram", "leakage", "total"}


def small_net():
    layers = (Layer.conv2d("conv1", 3, 16, 3, (16, 16), padding=1),
              Layer.conv2d("conv2", 16, 32, 3, (16, 16), stride=2, padding=1),
              Layer.conv2d("dw", 32, 32, 3, (8, 8), padding=1, groups=32),
              Layer.conv2d("pw", 32, 32, 1, (8, 8)),
              Layer.conv2d("conv3", 32, 32, 3, (8, 8), padding=1),        # same geometry as conv4
              Layer.conv2d("conv4", 32, 32, 3, (8, 8), padding=1),
              Layer.linear("fc", 32, 10))
    return Network("small", (3, 16, 16), layers)


def test_network_result_contract_and_totals():
    net = small_net()
    plan = Plan({"conv2": {"c": 8, "n": 2}, "conv3": {"c": 16, "n": 1}, "fc": {"c": 16}}, name="p")
    r = simulate(net, plan, "edge-int8")
    d = r.to_dict()
    assert set(d) == {"model", "plan", "hw", "layers", "totals"}
    assert (d["model"], d["plan"], d["hw"]) == ("small", "p", "edge-int8")
    assert set(d["totals"]) == {"cycles_total", "latency_s", "energy_pj"}
    for l in d["layers"]:
        assert set(l) == LAYER_KEYS and set(l["energy_pj"]) == ENERGY_KEYS
    assert d["totals"]["cycles_total"] == sum(l["cycles_total"] for l in d["layers"])
    assert d["totals"]["energy_pj"]["total"] == pytest.approx(sum(l["energy_pj"]["total"]
                                                                  for l in d["layers"]))
    assert r.latency_s == pytest.approx(r.cycles_total / 500e6)
    json.dumps(d)                                                    # plain types only
    df = r.to_frame()
    assert list(df["name"]) == list(net.layer_names) and "energy_total_pj" not in df
    assert list(df["energy_pj"]) == [l["energy_pj"]["total"] for l in d["layers"]]
    assert list(df["spu_adds"]) == [r[l.name].spu_adds for l in net.layers]
    assert r["conv2"].choice == "c=8,n=2" and r["conv2"].spu_cycles > 0
    # MACs are core's mults
    for layer in net.layers:
        assert r[layer.name].macs == count_ops(layer, plan.choice_for(layer.name)).mults


def test_identical_layers_share_results():
    r = simulate(small_net())
    a, b = r["conv3"], r["conv4"]
    assert a.cycles_total == b.cycles_total and a.energy_pj == b.energy_pj


def test_designs_are_costed_as_their_expanded_layers():
    layer = Layer.conv2d("c", 32, 64, 3, (12, 12), padding=1)
    for design in (DWPW(), GCPWG()):
        parts = design.expand(layer)
        whole = simulate_layer(layer, design, "tpu-like")
        pieces = [simulate_layer(p, None, "tpu-like") for p in parts]
        assert whole.cycles_total == sum(p.cycles_total for p in pieces)
        assert whole.energy_pj.total == pytest.approx(sum(p.energy_pj.total for p in pieces))
        assert whole.macs == count_ops(layer, design).mults


def test_modes_and_errors():
    net = small_net()
    assert simulate(net, mode="cycle").cycles_compute == simulate(net).cycles_compute   # dense: exact
    with pytest.raises(ValueError, match="mode = 'fast' is not one of"):
        simulate(net, mode="fast")
    with pytest.raises(ValueError, match="names layer 'nope'"):
        simulate(net, {"nope": "dense"})
    with pytest.raises(ValueError, match="c = 99 is out of range"):
        simulate_layer(net["conv3"], Structure(99, 1))
    with pytest.raises(TypeError, match="model must be a Network"):
        simulate([1, 2])
    with pytest.raises(ValueError, match="is not a zoo network"):
        simulate("nonesuch")


def test_batch_matches_simulate_on_random_plans():
    net = small_net()
    choices = []
    for layer in net.layers:
        opts = [Dense()]
        if layer.op == "conv2d" and layer.kernel == (3, 3):
            opts += [Structure(c, n) for c in (1, layer.group_in_channels // 2 or 1) for n in (1, 2)]
        if layer.op == "linear":
            opts += [Structure(8), Structure(16)]
        choices.append(opts)
    batch = BatchSimulator(net, "small-os-168pe", choices)
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, len(c), 25) for c in choices], axis=1)
    cycles, energy = batch.evaluate(idx)
    assert cycles.shape == energy.shape == (25,)
    for p in range(25):
        plan = Plan({l.name: choices[i][idx[p, i]] for i, l in enumerate(net.layers)})
        r = simulate(net, plan, "small-os-168pe")
        assert cycles[p] == r.cycles_total
        assert energy[p] == pytest.approx(r.energy_pj.total, rel=1e-12)
    with pytest.raises(ValueError, match=r"index\[0, 0\] = 9 is out of range"):
        batch.evaluate(np.full((1, len(net)), 9))
    with pytest.raises(ValueError, match="must have shape"):
        batch.evaluate(np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="choices_per_layer has 1 entries"):
        BatchSimulator(net, "edge-int8", [[Dense()]])


def test_cli_json_and_table(capsys):
    assert main(["simulate", "resnet18", "--hw", "tpu-like", "--preset", "uniform-n2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "resnet18" and d["plan"] == "uniform-n2" and d["hw"] == "tpu-like"
    assert all(set(l) == LAYER_KEYS for l in d["layers"])
    assert main(["simulate", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "edge-int8" in out and "total:" in out


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "resnet18", "--hw", "nonesuch"], "neither a preset"),
    (["simulate"], "give a MODEL"),
    (["simulate", "resnet18", "--mode", "fast"], "invalid choice"),
    (["simulate", "resnet18", "--scalesim-topology", "x.csv"], "either MODEL or --scalesim-topology"),
    (["simulate", "--scalesim-config", "x.cfg"], "--scalesim-config needs --scalesim-topology"),
])
def test_cli_errors_are_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_cli_bad_hw_file_and_bad_topology(tmp_path, capsys):
    hw = tmp_path / "hw.yaml"
    hw.write_text("name: x\nmac_array: {rows: 8, cols: 8, dataflow: xx}\n")
    assert main(["simulate", "resnet18", "--hw", str(hw)]) == 2
    err = capsys.readouterr().err
    assert "mac_array.dataflow = 'xx'" in err and err.count("\n") == 1
    topo = tmp_path / "t.csv"
    topo.write_text(TOPO_HEADER + "conv1, 16, 16, 3, three, 8, 8, 1,\n")
    assert main(["simulate", "--scalesim-topology", str(topo)]) == 2
    err = capsys.readouterr().err
    assert "three" in err and err.count("\n") == 1


def test_model_and_plan_references_go_through_the_resolver():
    """A zoo name works as well as a Network, a preset name as well as a Plan."""
    net = get_network("resnet20")
    by_name = simulate("resnet20", "uniform-n2", "tpu-like")
    by_object = simulate(net, get_preset("uniform-n2", net), "tpu-like")
    assert by_name.to_dict() == by_object.to_dict()
    assert by_name.plan == "uniform-n2" and by_name.model == "resnet20"
    assert simulate("resnet20").plan == "dense"
    batch = BatchSimulator("resnet20", "tpu-like")
    assert batch.evaluate(np.zeros(len(net), np.int64))[0][0] == simulate(net, None, "tpu-like").cycles_total


def test_simulate_layer_reads_saved_choices():
    layer = Layer.conv2d("c", 32, 64, 3, (12, 12), padding=1)
    assert simulate_layer(layer, {"c": 8, "n": 2}) == simulate_layer(layer, Structure(8, 2))
    assert simulate_layer(layer, {"design": "dw_pw"}) == simulate_layer(layer, DWPW())
    assert simulate_layer(layer, "dense") == simulate_layer(layer, None) == simulate_layer(layer, Dense())


def test_a_plug_in_kind_simulates_as_its_parts():
    """A kind defined here, known to sim only through the Choice protocol: a sum-pool
    structure on the layer, then a 1x1 conv. It costs exactly its two parts."""

    @register_choice
    @dataclass(frozen=True)
    class PoolThenMix(Choice):
        c: int = 4
        kind = "test_pool_then_mix"

        def parts(self, layer):
            mix = Layer.conv2d(layer.name + ".mix", layer.out_channels, layer.out_channels, 1,
                               layer.output_size)
            return (Part(layer, Structure(self.c, 1)), Part(mix))

    try:
        layer = Layer.conv2d("c", 16, 16, 3, (10, 10), padding=1)
        mix = Layer.conv2d("m", 16, 16, 1, (10, 10))
        for mode in ("analytical", "cycle"):
            whole = simulate_layer(layer, PoolThenMix(), "edge-int8", mode)
            a = simulate_layer(layer, Structure(4, 1), "edge-int8", mode)
            b = simulate_layer(mix, None, "edge-int8", mode)
            assert whole.cycles_total == a.cycles_total + b.cycles_total
            assert whole.spu_adds == a.spu_adds > 0 and whole.macs == a.macs + b.macs
            assert whole.fused == a.fused and whole.choice == "test_pool_then_mix(c=4)"
        net = Network("n", (16, 10, 10), (layer,))
        r = simulate(net, {"c": {"kind": "test_pool_then_mix", "c": 4}})
        assert r["c"].cycles_total == simulate_layer(layer, PoolThenMix()).cycles_total
        batch = BatchSimulator(net, "edge-int8", [[Dense(), PoolThenMix()]])
        assert batch.evaluate([[1]])[0][0] == r.cycles_total
    finally:
        _KINDS.pop("test_pool_then_mix", None)


@settings(max_examples=60, deadline=None)
@given(layers(), st.data())
def test_named_records_are_the_kernels_plain_rows(layer, data):
    """The kernels see the plain view of the same memory the named records hold:
    run_jobs equals the kernel on a hand-packed matrix, field by field."""
    choice = data.draw(st.one_of(st.none(), structures(layer)))
    jobs = jobs_for(layer, choice)
    plain = K.as_plain(jobs)
    assert np.shares_memory(plain, jobs) and plain.shape == (len(jobs), K.NJ)
    for f in K.JOB_FIELDS:
        assert (plain[:, K.JOB_FIELDS.index(f)] == jobs[f]).all()
    hw = Accelerator("h", MacArray(8, 4, data.draw(st.sampled_from(DATAFLOWS))))
    rec = hw_record(hw)
    for mode in MODES:
        counts = K.run_jobs(jobs, rec, mode)
        direct = {"analytical": K.analytical_jobs, "cycle": K.cycle_jobs}[mode](plain, K.as_plain(rec)[0])
        assert counts.dtype == K.COUNTS and np.array_equal(K.as_plain(counts), direct)
        cols = K.columns(counts)
        assert all(np.array_equal(cols[f], counts[f]) for f in K.COUNT_FIELDS)
    assert np.array_equal(K.concat([jobs, jobs]), np.concatenate([jobs, jobs]))
