"""The one-of-each pieces of core: the resolver, the Pareto filter, the serializer, the JSONL reader."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import (
    Importer,
    Network,
    Plan,
    Structure,
    count_network,
    get_network,
    get_preset,
    pareto_mask,
    read_jsonl,
    register_importer,
    resolve_network,
    resolve_plan,
    to_jsonable,
)


# -- resolver ----------------------------------------------------------------------
def test_zoo_name_and_network_resolve_to_the_same_network():
    net = get_network("resnet20")
    assert resolve_network("resnet20") == net
    assert resolve_network(net) is net


def test_unknown_model_names_the_zoo():
    with pytest.raises(ValueError, match=r"model = 'resnet7' is not a zoo network \['efficientnet_b0'"):
        resolve_network("resnet7")
    with pytest.raises(TypeError, match="model must be a Network"):
        resolve_network(3.5)


def test_registered_importer_is_tried_first(monkeypatch, tmp_path):
    import structconv.core.resolve as resolve

    monkeypatch.setattr(resolve, "_IMPORTERS", [])
    register_importer(Importer("tiny", lambda ref: ref.endswith(".tiny"), lambda: get_network))
    # the importer's function gets the reference itself: get_network('x.tiny') is not a zoo name
    with pytest.raises(ValueError, match=r"model = 'x.tiny' is not a zoo network"):
        resolve_network("x.tiny")
    register_importer(Importer("tiny", lambda ref: ref.endswith(".tiny"), lambda: _tiny_importer))
    assert resolve_network("a.tiny", width=3).input_shape == (3, 8, 8)
    names = [i.name for i in resolve.importers()]       # replaced by name, tried before the installed ones
    assert names[0] == "tiny" and names.count("tiny") == 1
    # an option the importer does not take is named, with the ones it does (not a TypeError from inside it)
    with pytest.raises(ValueError,
                       match=r"model importer 'tiny' does not take input_shape \(it takes \['width'\]\)"):
        resolve_network("a.tiny", input_shape=(1, 3, 8, 8))


def _tiny_importer(ref, width=1):
    from structconv.core import Layer

    return Network(ref, (width, 8, 8), (Layer.conv2d("c", width, 4, 3, (8, 8), padding=1),))


@pytest.mark.parametrize("ref", ["uniform-n2", "file", "mapping", "plan", "layers-mapping"])
def test_every_plan_reference_gives_the_same_plan(tmp_path, ref):
    net = get_network("resnet20")
    want = get_preset("uniform-n2", net)
    path = want.save(tmp_path / "p.yaml")
    given_ = {"uniform-n2": "uniform-n2", "file": str(path), "mapping": dict(want.choices), "plan": want,
              "layers-mapping": want.to_dict()}[ref]
    got = resolve_plan(given_, net)
    assert dict(got.choices) == dict(want.choices)
    assert count_network(net, given_).structured == count_network(net, want).structured


def test_rule_preset_applies_to_any_network_by_name():
    from structconv.core import Layer

    net = Network("mine", (3, 16, 16), (Layer.conv2d("a", 3, 8, 3, (16, 16), padding=1),
                                        Layer.conv2d("b", 8, 8, 5, (16, 16), padding=2)))
    plan = resolve_plan("uniform-n2", net)
    assert dict(plan.choices) == {"b": Structure(8, 4)}


def test_bad_plan_references_say_what_is_allowed(tmp_path):
    net = get_network("resnet20")
    with pytest.raises(ValueError, match=r"plan = 'nope' is not a preset \["):
        resolve_plan("nope", net)
    with pytest.raises(ValueError, match=r"plan file '.*missing.yaml' cannot be read"):
        resolve_plan(str(tmp_path / "missing.yaml"), net)
    with pytest.raises(ValueError, match="names layer 'zz', which network 'resnet20' does not have"):
        resolve_plan({"zz": {"c": 1, "n": 1}}, net)
    with pytest.raises(TypeError, match="plan must be None, a Plan"):
        resolve_plan(7, net)
    assert resolve_plan(None, net) == Plan(name="dense")


# -- Pareto filter: against brute force ------------------------------------------
def _brute(values, directions):
    sign = [1 if d == "minimize" else -1 for d in directions]
    v = [[s * x for s, x in zip(sign, row)] for row in values]
    return [not any(all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p)) for q in v)
            for p in v]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3).flatmap(lambda k: st.tuples(
    st.lists(st.lists(st.integers(0, 5), min_size=k, max_size=k), min_size=1, max_size=12),
    st.lists(st.sampled_from(["minimize", "maximize"]), min_size=k, max_size=k))))
def test_pareto_mask_equals_brute_force(case):
    values, directions = case
    assert pareto_mask(values, directions).tolist() == _brute(values, directions)


def test_pareto_mask_defaults_to_minimising():
    assert pareto_mask([[1, 2], [2, 1], [2, 2], [1, 2]]).tolist() == [True, True, False, True]


# -- serializer and JSON-lines reader --------------------------------------------
def test_to_jsonable_gives_plain_json():
    obj = {"a": np.int64(3), "b": (np.float32(0.5), Path("x/y")), 4: Structure(2, 1), "c": np.arange(3),
           "d": {1, }}
    out = to_jsonable(obj)
    assert out == {"a": 3, "b": [0.5, "x/y"], "4": {"c": 2, "n": 1}, "c": [0, 1, 2], "d": [1]}
    assert type(out["a"]) is int and json.loads(json.dumps(out)) == out


def test_read_jsonl_skips_and_counts_torn_lines(tmp_path):
    f = tmp_path / "metrics.jsonl"
    f.write_text('{"epoch": 1}\n[1, 2]\n\n{"epoch": 2}\n{"epoch": 3, "lo')
    rows, skipped = read_jsonl(f)
    assert rows == [{"epoch": 1}, {"epoch": 2}] and skipped == 2
    with pytest.raises(ValueError, match="records file '.*nothing' cannot be read"):
        read_jsonl(tmp_path / "nothing")


def test_presets_for_lists_those_that_fit():
    from structconv.core import preset_kind, presets_for

    for name in ("resnet18", "mobilenet_v2"):
        net = get_network(name)
        fits = presets_for(net)
        assert "uniform-n2" in fits and all(p.model == name for p in fits.values())
        assert ("struct-mv2-a" in fits) == (name == "mobilenet_v2")
    assert preset_kind("uniform-n2") == "rule" and preset_kind("struct-mv2-a") == "table"


# -- bounded reads ------------------------------------------------------------------
def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nlayers: *a9\n")
    t0 = time.perf_counter()
    with pytest.raises(ValueError,
                       match=r"plan file '.*bomb.yaml' is not valid YAML: more than 64 YAML aliases"):
        Plan.load(bomb)
    assert time.perf_counter() - t0 < 2


def test_input_files_are_read_with_a_cap(tmp_path):
    from structconv.core import read_text

    with pytest.raises(ValueError, match=r"plan file '/dev/zero' is larger than the 8,388,608-byte cap"):
        Plan.load("/dev/zero")
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"layers: \xff\xfe")
    with pytest.raises(ValueError, match=r"plan file '.*bin.yaml' is not UTF-8 text \(byte 8"):
        Plan.load(f)
    f.write_text("x" * 11)
    with pytest.raises(ValueError, match="larger than the 10-byte cap"):
        read_text(f, "thing", max_bytes=10)
    assert read_text(f, "thing", max_bytes=11) == "x" * 11


def test_a_layer_named_layers_is_a_layer_not_a_saved_plan():
    from structconv.core import Layer

    net = Network("odd", (3, 8, 8), (Layer.conv2d("layers", 3, 4, 3, (8, 8), padding=1),))
    assert dict(resolve_plan({"layers": {"c": 2, "n": 2}}, net).choices) == {"layers": Structure(2, 2)}
    plan = resolve_plan({"layers": {"layers": {"c": 2, "n": 2}}}, net)
    assert dict(plan.choices) == {"layers": Structure(2, 2)}


# -- atomic writes -----------------------------------------------------------------
def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from structconv.core import atomic_write_text

    target = tmp_path / "report.html"
    code = ("import sys, time; from structconv.core import atomic_path\n"
            f"with atomic_path({str(target)!r}) as t:\n"
            "    t.write_text('half'); print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    live = [p.name for p in tmp_path.iterdir()]
    atomic_write_text(tmp_path / "report.html", "other")      # a live writer's temp file stays
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == live
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.05)
    assert not target.exists() or target.read_text() == "other"
    atomic_write_text(target, "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"] and target.read_text() == "whole"


@pytest.mark.parametrize("where", ["/dev/null/x.yaml", "DIR"])
def test_unwritable_paths_are_one_line_value_errors(tmp_path, where):
    path = tmp_path if where == "DIR" else where
    with pytest.raises(ValueError, match=r"^cannot write '.*': (Not a directory|Is a directory|File exists)"):
        Plan(name="p").save(path)
    assert list(tmp_path.iterdir()) == []


def test_a_scalesim_topology_file_is_a_model_reference(tmp_path):
    from structconv.core import read_topology, write_topology

    path = write_topology(get_network("resnet20"), tmp_path / "r20.csv")
    net = resolve_network(str(path))
    assert net == read_topology(path)
    assert count_network(str(path), "uniform-n2").structured.mults < count_network(net).original.mults


# -- a module called twice -------------------------------------------------------------
def _twice():
    from dataclasses import replace

    from structconv.core import Layer

    body = Layer.conv2d("body", 8, 8, 3, (16, 16), padding=1, bias=True)
    return Network("twice", (8, 16, 16), (body, replace(body, name="body#1", shares="body")))


def test_a_repeated_call_counts_its_compute_twice_and_its_weights_once():
    net = _twice()
    cost = count_network(net)
    assert cost.original.mults == 2 * 8 * 8 * 9 * 256
    assert cost.original.params == 8 * 8 * 9 + 8                 # one set of weights and bias
    assert cost.to_dict()["layers"][1]["shares"] == "body"


def test_a_plan_naming_the_module_applies_to_every_call():
    net = _twice()
    plan = resolve_plan({"body": {"c": 8, "n": 2}}, net)
    assert plan.choice_for("body#1") == Structure(8, 2)
    cost = count_network(net, {"body": {"c": 8, "n": 2}})
    assert cost.structured.mults == 2 * 8 * 8 * 4 * 256 and cost.structured.params == 8 * 8 * 4 + 8
    with pytest.raises(ValueError,
                       match=r"gives layer 'body#1' c=4,n=2 but the layer it repeats, 'body', c=8,n=2"):
        resolve_plan({"body": {"c": 8, "n": 2}, "body#1": {"c": 4, "n": 2}}, net)


def test_shared_weights_must_match_an_earlier_layer():
    from structconv.core import Layer

    a = Layer.conv2d("a", 8, 8, 3, (16, 16), padding=1)
    b = Layer("b", "conv2d", 8, 16, (3, 3), (1, 1), (1, 1), input_size=(16, 16), shares="a")
    with pytest.raises(ValueError, match=r"layer 'b' shares the weights of 'a' but their shapes differ"):
        Network("n", (8, 16, 16), (a, b))
    c = Layer("c", "conv2d", 8, 8, (3, 3), (1, 1), (1, 1), input_size=(16, 16), shares="zz")
    with pytest.raises(ValueError, match=r"shares = 'zz', which is not an earlier layer"):
        Network("n", (8, 16, 16), (a, c))


def test_a_transposed_conv_is_counted_but_stays_dense():
    from dataclasses import replace

    from structconv.core import Layer

    conv = Layer.conv2d("a", 8, 8, 3, (16, 16), padding=1)
    up = replace(Layer.conv2d("up", 8, 4, 3, (16, 16), padding=1), op="conv_transpose2d")
    net = Network("n", (8, 16, 16), (conv, up))
    # fvcore: Cin*Cout*k*k*H_in*W_in
    assert count_network(net).original.mults == 8 * 8 * 9 * 256 + 8 * 4 * 9 * 256
    assert dict(resolve_plan("uniform-n2", net).choices) == {}       # the first layer and the transposed one
    with pytest.raises(ValueError, match=r"op = 'conv_transpose2d' is not one of \['conv2d', 'linear'\]"):
        resolve_plan({"up": {"c": 4, "n": 2}}, net)
    assert up.kind == "transposed"
