"""simulate / simulate_layer / BatchSimulator and the CLI: results, contract, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from structconv.cli import main
from structconv.core import Dense, Layer, Network, Plan, Structure, count_ops
from structconv.core.designs import DWPW, GCPWG
from structconv.sim import BatchSimulator, simulate, simulate_layer

LAYER_KEYS = {"name", "cycles_compute", "cycles_stall", "cycles_total", "spu_cycles", "mac_cycles",
              "mac_utilization", "energy_pj", "sram_reads", "sram_writes", "dram_bytes"}
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
    assert d["totals"]["energy_pj"]["total"] == pytest.approx(sum(l["energy_pj"]["total"] for l in d["layers"]))
    assert r.latency_s == pytest.approx(r.cycles_total / 500e6)
    json.dumps(d)                                                    # plain types only
    df = r.to_frame()
    assert list(df["name"]) == list(net.layer_names) and "energy_total_pj" in df
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
    with pytest.raises(ValueError, match="network must be a Network"):
        simulate([1, 2])


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
    batch = BatchSimulator(net, "eyeriss-like", choices)
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, len(c), 25) for c in choices], axis=1)
    cycles, energy = batch.evaluate(idx)
    assert cycles.shape == energy.shape == (25,)
    for p in range(25):
        plan = Plan({l.name: choices[i][idx[p, i]] for i, l in enumerate(net.layers)})
        r = simulate(net, plan, "eyeriss-like")
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
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                    "conv1, 16, 16, 3, three, 8, 8, 1,\n")
    assert main(["simulate", "--scalesim-topology", str(topo)]) == 2
    err = capsys.readouterr().err
    assert "three" in err and err.count("\n") == 1
