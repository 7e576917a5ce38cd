"""Hostile inputs to core's readers, writer and per-channel loops (issue 21): each is refused with one
line naming the file, field or key and the bound, in bounded time, leaving no file behind; the same
files without the hostile part still read as before.

Tables: READERS x HOSTILE_FILES (every YAML/JSON reader refuses deep nesting, repeated keys and
oversized integers), ACCEPTED (what the strict readers still take), WRITERS (a full disk), HUGE_LAYERS
(divisors and designs of layers claiming 2**40 channels), SHAPES (input shapes in odd digits).
"""
from __future__ import annotations

import errno
import os
import random
import re
import time
from math import gcd
from pathlib import Path

import pytest

from structconv.core import (
    GCPWG,
    PWGDWPWG,
    Layer,
    Network,
    Plan,
    admissible_designs,
    basis_matrix,
    check_input_shape,
    get_network,
    get_preset,
    load_data_file,
    parse_json,
    parse_yaml,
    read_jsonl,
    read_topology,
    resolve_plan,
    write_data_file,
    write_topology,
)
from structconv.core import files as core_files
from structconv.core.designs import information_field
from structconv.core.readers import MAX_DEPTH
from tests.support.scalesim_inputs import TOPO_HEADER

sim = pytest.importorskip("structconv.sim")

SECONDS = 30.0          # the bound for an input under 10 kB; first calls import torch or optuna


def _one_line_error(call, *args, kind=ValueError) -> str:
    """The message of the one-line ``kind`` that ``call(*args)`` raises within SECONDS."""
    t = time.perf_counter()
    with pytest.raises(kind) as info:
        call(*args)
    assert time.perf_counter() - t < SECONDS
    msg = str(info.value)
    assert msg.strip() and "\n" not in msg and len(msg) < 600, msg
    return msg


# -- every YAML/JSON reader: nesting, repeated keys, huge integers --------------------------------------
def _block(depth: int) -> str:
    return "".join("  " * i + "k:\n" for i in range(depth)) + "  " * depth + "x: 1\n"


HOSTILE_FILES = [   # (id, file name, text, what the message must say)
    ("yaml-deep-flow", "f.yaml", "layers: " + "[" * 50_000 + "]" * 50_000,
     r"nesting deeper than 64 levels \(line 1\)"),
    ("yaml-deep-block", "f.yaml", _block(500), r"nesting deeper than 64 levels \(line 65\)"),
    ("yaml-deep-8mb", "f.yaml", "[" * (8 * 2**20 - 1), r"nesting deeper than 64 levels"),
    ("json-deep-list", "f.json", "[" * 50_000 + "]" * 50_000, r"nesting deeper than 64 levels \(line 1\)"),
    ("json-deep-object", "f.json", '{"a":\n' * 50_000 + "1" + "}" * 50_000,
     r"nesting deeper than 64 levels \(line 65\)"),
    ("yaml-repeated-key", "f.yaml", "name: a\nlayers: {}\nname: b\n",
     r"key 'name' appears twice in one mapping \(lines 1 and 3\)"),
    ("yaml-repeated-flow", "f.yaml", "{layers: {}, layers: {x: dense}}\n",
     r"key 'layers' appears twice in one mapping \(lines 1 and 1\)"),
    ("yaml-repeated-nested", "f.yaml", "layers:\n  conv1: {c: 2}\n  conv1: dense\n",
     r"key 'conv1' appears twice in one mapping \(lines 2 and 3\)"),
    ("json-repeated-key", "f.json", '{\n "name": "a",\n "layers": {},\n "name": "b"\n}\n',
     r"key 'name' appears twice in one object \(lines 2 and 4\)"),
    ("json-repeated-nested", "f.json", '{"layers": {"conv1": "dense",\n "conv1": {"c": 2}}}',
     r"key 'conv1' appears twice in one object \(lines 1 and 2\)"),
    ("yaml-int-5000-digits", "f.yaml", "layers: " + "9" * 5000 + "\n", r"4300 digits"),
    ("json-int-5000-digits", "f.json", '{"layers": ' + "9" * 5000 + "}", r"4300 digits"),
]


def _search():
    return pytest.importorskip("structconv.search")


READERS = {   # what a user passes as a file: every one reads through core.load_data_file
    "plan": lambda p: Plan.load(p),
    "accelerator": lambda p: sim.load_accelerator(p),
    "search-space": lambda p: _search().load_space_config(p),
    "hw-space": lambda p: _search().load_hw_space(p),
    "data-file": lambda p: load_data_file(p, "data file"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", HOSTILE_FILES, ids=[c[0] for c in HOSTILE_FILES])
def test_every_reader_refuses_hostile_files(tmp_path, reader, case):
    _, name, text, needle = case
    path = tmp_path / name
    path.write_text(text)
    msg = _one_line_error(READERS[reader], path)
    assert str(path) in msg and re.search(needle, msg), msg
    assert sorted(tmp_path.iterdir()) == [path]


ACCEPTED = [   # (id, text, parser, value): the strict readers still take these
    ("yaml-64-deep", "[" * MAX_DEPTH + "]" * MAX_DEPTH, parse_yaml, None),
    ("json-64-deep", "[" * MAX_DEPTH + "]" * MAX_DEPTH, parse_json, None),
    ("json-brackets-in-strings", '{"a": "' + "[{" * 100 + '", "b": ["]]"]}', parse_json,
     {"a": "[{" * 100, "b": ["]]"]}),
    ("json-escaped-quotes", '{"a": "\\"[[[\\"", "b": 1}', parse_json, {"a": '"[[["', "b": 1}),
    ("yaml-merge-key-override", "base: &b {x: 1, y: 2}\nv: {<<: *b, x: 3}\n", parse_yaml,
     {"base": {"x": 1, "y": 2}, "v": {"x": 3, "y": 2}}),
    ("yaml-same-key-two-mappings", "a: {k: 1}\nb: {k: 2}\n", parse_yaml, {"a": {"k": 1}, "b": {"k": 2}}),
    ("json-same-key-two-objects", '{"a": {"k": 1}, "b": {"k": 2}}', parse_json,
     {"a": {"k": 1}, "b": {"k": 2}}),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_strict_readers_accept_valid_files(case):
    _, text, parse, value = case
    got = parse(text)
    assert value is None or got == value


def test_unterminated_strings_scan_in_linear_time():
    """Two million escaped quotes and no closing one: the bracket scan does not restart at each."""
    text = '"' + '\\"' * 2_000_000 + "[" * 100
    msg = _one_line_error(parse_json, text)
    assert "nesting" in msg or "Unterminated" in msg


@pytest.mark.parametrize("name,text", [("p.yaml", "\ufeffname: bom\nlayers: {}\n"),
                                       ("p.json", '\ufeff{"name": "bom", "layers": {}}')])
def test_a_byte_order_mark_is_dropped(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert Plan.load(tmp_path / name).name == "bom"


def test_scalesim_files_with_a_byte_order_mark_read(tmp_path):
    cfg = ("\ufeff[architecture_presets]\nArrayHeight = 32\nArrayWidth = 16\nIfmapSramSzkB = 64\n"
           "FilterSramSzkB = 64\nOfmapSramSzkB = 64\nDataflow = ws\n")
    (tmp_path / "c.cfg").write_text(cfg, encoding="utf-8")
    assert sim.read_scalesim_config(tmp_path / "c.cfg").mac_array.cols == 16
    topo = "\ufeff" + TOPO_HEADER + "conv1, 34, 34, 3, 3, 3, 16, 1,\n"
    (tmp_path / "t.csv").write_text(topo, encoding="utf-8")
    assert read_topology(tmp_path / "t.csv").layer_names == ("conv1",)


CFG = "[architecture_presets]\nArrayHeight = 32\nArrayWidth = 32\nDataflow = ws\n"


@pytest.mark.parametrize("text,needle", [
    (CFG + "arrayheight = 8\n", r"key 'ArrayHeight' appears twice in section \[architecture_presets\] "
                                r"\(lines 2 and 5\)"),
    (CFG + "[architecture_presets]\nx = 1\n",
     r"section \[architecture_presets\] appears twice \(lines 1 and 5\)"),
])
def test_scalesim_config_repeats_name_both_lines(tmp_path, text, needle):
    (tmp_path / "c.cfg").write_text(text)
    msg = _one_line_error(sim.read_scalesim_config, tmp_path / "c.cfg")
    assert msg.startswith(f"SCALE-Sim config '{tmp_path}/c.cfg' is not a valid config file: ") and \
        re.search(needle, msg), msg


def test_jsonl_lines_past_the_bounds_are_skipped_and_counted(tmp_path):
    lines = ['{"epoch": 1}', "[" * 50_000, '{"epoch": 2, "epoch": 3}', '{"epoch": 4}']
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    rows, bad = read_jsonl(tmp_path / "m.jsonl")
    assert rows == [{"epoch": 1}, {"epoch": 4}] and bad == 2


# -- a full disk at any write ---------------------------------------------------------------------------
def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _net():
    return Network("n", (3, 8, 8), (Layer.conv2d("conv1", 3, 8, 3, (8, 8)),))


WRITERS = {   # every writer of core goes through files.atomic_path
    "atomic_write_text": lambda p: core_files.atomic_write_text(p, "x" * 100),
    "atomic_write_bytes": lambda p: core_files.atomic_write_bytes(p, b"x" * 100),
    "write_data_file-json": lambda p: write_data_file(p.with_suffix(".json"), {"a": 1}),
    "write_data_file-yaml": lambda p: write_data_file(p.with_suffix(".yaml"), {"a": 1}),
    "plan-save": lambda p: Plan({"conv1": {"c": 1}}, name="x").save(p.with_suffix(".yaml")),
    "write_topology": lambda p: write_topology(_net(), p.with_suffix(".csv")),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, writer):
    monkeypatch.setattr(Path, "write_text", _enospc)      # what atomic_write_text/_bytes write with
    monkeypatch.setattr(Path, "write_bytes", _enospc)
    msg = _one_line_error(WRITERS[writer], tmp_path / "out")
    where = re.escape(str(tmp_path))
    assert re.fullmatch(rf"no space left on '{where}/out\.?\w*'", msg), msg
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text("old")
    monkeypatch.setattr(Path, "write_text", _enospc)
    _one_line_error(core_files.atomic_write_text, tmp_path / "p.yaml", "new")
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"] and (tmp_path / "p.yaml").read_text() == "old"


# -- per-channel loops: divisors and designs of layers claiming 2**40 channels -----------------------------
def _brute_divisors(n):
    return tuple(d for d in range(1, n + 1) if n % d == 0)


def test_divisors_equal_the_brute_force():
    from structconv.core._divisors import divisors

    rng = random.Random(21)
    for n in list(range(1, 2000)) + [rng.randrange(1, 10**6) for _ in range(200)]:
        assert divisors(n) == _brute_divisors(n), n


HUGE = [2**40, 963_761_198_400, 2**61 - 1, 4_294_967_291 * 4_294_967_279, 897_612_484_786_617_600, 2**64]


@pytest.mark.parametrize("n", HUGE)
def test_divisors_of_huge_counts_are_quick_and_right(n):
    from structconv.core._divisors import divisors

    t = time.perf_counter()
    d = divisors(n)
    assert time.perf_counter() - t < SECONDS
    assert d[0] == 1 and d[-1] == n and list(d) == sorted(set(d)) and all(n % x == 0 for x in d)
    assert len(d) == {2**40: 41, 963_761_198_400: 6720, 2**61 - 1: 2, 897_612_484_786_617_600: 103_680,
                      2**64: 65}.get(n, 4)


def test_divisors_past_the_bound_are_refused():
    from structconv.core._divisors import divisors

    msg = _one_line_error(divisors, 2**64 + 1)
    assert "channel count = 18446744073709551617 is out of range [1, 18446744073709551616]" in msg


HUGE_LAYERS = [(2**40, 2**40), (2**40, 3 * 2**40), (963_761_198_400, 963_761_198_400), (2**64, 2**64)]


@pytest.mark.parametrize("C,F", HUGE_LAYERS)
def test_designs_of_huge_layers_are_bounded(C, F):
    layer = Layer.conv2d("l", C, F, 3, (8, 8))
    t = time.perf_counter()
    opts = admissible_designs(layer, max_options=6)
    every = admissible_designs(layer)
    assert time.perf_counter() - t < SECONDS
    assert len(opts) == 6 and {o.kind for o in opts} == {"dw_pw", "gc_pwg", "pw_dw_pw", "pwg_dw_pwg"}
    for o in opts:
        o.validate(layer)
    assert every[0] == opts[0] and len(every) <= 4 * 1024 + 4


def test_all_pairs_of_a_huge_layer_are_refused_not_listed():
    layer = Layer.conv2d("l", 963_761_198_400, 963_761_198_400, 3, (8, 8))
    msg = _one_line_error(admissible_designs, layer, None, False)
    assert re.search(r"efficient_only=False would list up to 45,151,680 designs of layer 'l'", msg)


def _brute_best(layer, cls):
    """The fewest-parameter (M, N) over every admissible pair, found as the designs found it before."""
    C, F, k2 = layer.in_channels, layer.out_channels, layer.kernel[0] * layer.kernel[1]
    if cls is GCPWG:
        pairs = [(m, n) for m in _brute_divisors(C) for n in _brute_divisors(gcd(C, F)) if m * n <= C]
        return min(pairs, key=lambda p: (k2 * C * (C // p[0]) + F * (C // p[1]), p))
    K = max(1, F // 4)
    pairs = [(m, n) for m in _brute_divisors(gcd(C, K)) for n in _brute_divisors(gcd(K, F)) if m * n <= K]
    return min(pairs, key=lambda p: (K * (C // p[0]) + F * (K // p[1]), p))


def test_chosen_group_numbers_equal_the_brute_force():
    rng = random.Random(3)
    for _ in range(300):
        C, F = rng.choice([rng.randrange(1, 200), 360, 720, 512]), rng.randrange(1, 400)
        layer = Layer.conv2d("l", C, F, rng.choice([3, 5]), (6, 6))
        g, p = GCPWG().resolved(layer), PWGDWPWG().resolved(layer)
        assert (g.M, g.N) == _brute_best(layer, GCPWG) and (p.M, p.N) == _brute_best(layer, PWGDWPWG)


BOUNDED = [   # (id, call, what the message must say): refused at once, not after hours or terabytes
    ("field-trace-channels", lambda: information_field("DW+PW", 2**40), r"C = 1099511627776 .*\[1, 16384\]"),
    ("field-trace-out", lambda: information_field("PW(out=1099511627776)", 16), r"PW out = 1099511627776"),
    ("design-field", lambda: GCPWG().information_field(Layer.conv2d("l", 2**40, 2**40, 3, (8, 8))),
     r"C = 1099511627776 is out of range \[1, 16384\]"),
    ("topology-group-split",
     lambda: write_topology(Network("n", (2**40, 8, 8), (Layer.conv2d("l", 2**40, 2**40, 3, (8, 8),
                                                                     groups=2**39),)), "/nonexistent/t.csv"),
     r"groups = 549755813888 would make the topology longer than 100,000 rows"),
    ("basis-matrix", lambda: basis_matrix(2**20, 3, 2**19, 2), r"has 19,791,209,299,968 entries"),
]


@pytest.mark.parametrize("case", BOUNDED, ids=[c[0] for c in BOUNDED])
def test_per_channel_work_is_bounded(case):
    _, call, needle = case
    assert re.search(needle, _one_line_error(call))


# -- a plan made for another model ----------------------------------------------------------------------
@pytest.fixture
def plan_for_resnet50(tmp_path):
    plan = Plan({"layer1.0.conv1": {"c": 32, "n": 1}}, name="p", model="resnet50")
    return plan.save(tmp_path / "p.yaml")


def test_a_plan_for_another_model_is_refused(plan_for_resnet50):
    msg = _one_line_error(resolve_plan, plan_for_resnet50, get_network("resnet18"))
    assert msg == (f"plan file '{plan_for_resnet50}' is for model 'resnet50', not 'resnet18': pass --force "
                   "(force=True) to apply it to 'resnet18' anyway")


def test_force_applies_it_and_a_plan_object_is_taken_as_given(plan_for_resnet50):
    net = get_network("resnet18")
    assert resolve_plan(plan_for_resnet50, net, force=True).choices["layer1.0.conv1"].c == 32
    assert resolve_plan(Plan.load(plan_for_resnet50), net).choices["layer1.0.conv1"].c == 32
    assert len(resolve_plan(plan_for_resnet50, get_network("resnet50"))) == 1


def test_a_foreign_json_plan_is_refused_and_a_mapping_taken_as_given(tmp_path):
    """A file is refused; a mapping or a Plan is the caller's own (a checkpoint's plan)."""
    (tmp_path / "q.json").write_text('{"name": "q", "model": "vgg16", "layers": {}}')
    msg = _one_line_error(resolve_plan, tmp_path / "q.json", get_network("resnet18"))
    assert msg.startswith(f"plan file '{tmp_path}/q.json' is for model 'vgg16', not 'resnet18'")
    assert resolve_plan({"name": "q", "model": "vgg16", "layers": {}}, get_network("resnet18")).name == "q"


@pytest.mark.parametrize("plan_model,net_name", [("m:build", "dir/m.py:build"), ("m:build", "./m.py:build"),
                                                  ("mod:build", "pkg.mod:build"), ("resnet18", "resnet18"),
                                                  ("m", "dir/m.py:build"), ("m:build", "m")])
def test_one_model_named_two_ways_is_the_same_model(tmp_path, plan_model, net_name):
    net = Network(net_name, (3, 8, 8), (Layer.conv2d("conv1", 3, 8, 3, (8, 8)),))
    path = Plan({"conv1": {"c": 1}}, name="p", model=plan_model).save(tmp_path / "p.yaml")
    assert resolve_plan(path, net).choices["conv1"].c == 1


@pytest.mark.parametrize("plan_model,net_name", [("m:small", "m.py:large"), ("m", "n.py:build"),
                                                  ("resnet18", "resnet34"), ("a.b:build", "a.c:build")])
def test_two_models_are_told_apart(tmp_path, plan_model, net_name):
    net = Network(net_name, (3, 8, 8), (Layer.conv2d("conv1", 3, 8, 3, (8, 8)),))
    path = Plan({"conv1": {"c": 1}}, name="p", model=plan_model).save(tmp_path / "p.yaml")
    assert "pass --force" in _one_line_error(resolve_plan, path, net)


def test_presets_and_dense_are_never_foreign():
    net = get_network("resnet18")
    assert resolve_plan("uniform-n2", net).model == "resnet18"
    assert len(resolve_plan(None, net)) == 0 and resolve_plan(get_preset("uniform-n2", net), net)


@pytest.mark.parametrize("model", ["5", "[a, b]", "{x: 1}", "true"])
def test_the_model_field_is_a_name(tmp_path, model):
    (tmp_path / "p.yaml").write_text(f"name: p\nmodel: {model}\nlayers: {{}}\n")
    assert "field 'model' must be the name of the network" in _one_line_error(Plan.load, tmp_path / "p.yaml")


# -- input shapes written in other digits ---------------------------------------------------------------
SHAPES = ["1,3,²,8", "1,3,1_0,8", "١,3,8,8", "1,3,8,8\u202e", ("1", "3", "²", "8"), "1,3,8,-8", "1e3,3,8,8"]


@pytest.mark.parametrize("shape", SHAPES)
def test_input_shapes_take_ascii_digits_only(shape):
    msg = _one_line_error(check_input_shape, shape)
    assert msg.startswith("input_shape = ") and re.search(r"N,C,H,W|integers in \[1, 65536\]", msg), msg


def test_input_shapes_in_ascii_digits_read_as_before():
    assert check_input_shape("1,3,224,224") == check_input_shape("1x3x224x224") == (1, 3, 224, 224)
    assert check_input_shape((1, 3.0, 8, 8)) == (1, 3, 8, 8)
