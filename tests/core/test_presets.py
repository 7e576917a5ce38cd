"""Presets: the uniform rule, the paper's A.4 rules and the OCR'd Tables 6-8 as YAML."""
from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml

from structconv.core import Dense, Layer, Network, Plan, Structure, count_network
from structconv.core.presets import get_preset, layer_dim, list_presets, preset_table
from structconv.core.zoo import get_network

PRESET_NETWORK = {
    "uniform-n2": "resnet18",
    "struct-hr-a": "hrnet_w18_small_v1",
    "struct-hr-a-literal": "hrnet_w18_small_v1",
    "struct-psp-a": "pspnet101",
    "struct-psp-a-literal": "pspnet101",
    "struct-mv2-a": "mobilenet_v2",
    "struct-mv2-b": "mobilenet_v2",
    "struct-effnet": "efficientnet_b1",
}
TABLES = {"struct-mv2-a": ("mobilenet_v2", 53), "struct-mv2-b": ("mobilenet_v2", 53),
          "struct-effnet": ("efficientnet_b1", 70)}

_NETS: dict[str, Network] = {}


def net(name: str) -> Network:
    if name not in _NETS:
        _NETS[name] = get_network(name)
    return _NETS[name]


def test_list_presets():
    presets = list_presets()
    assert set(presets) == set(PRESET_NETWORK)
    assert all(isinstance(v, str) and v for v in presets.values())


@pytest.mark.parametrize("name", sorted(PRESET_NETWORK))
def test_each_preset_validates_against_its_network(name):
    n = net(PRESET_NETWORK[name])
    plan = get_preset(name, n)
    assert isinstance(plan, Plan) and plan.name == name and plan.model == n.name and len(plan) > 0
    plan.validate(n)
    cost = count_network(n, plan)
    assert cost.structured.mults <= cost.original.mults
    assert cost.structured.params <= cost.original.params


def test_unknown_preset_names_it_and_the_allowed_list():
    with pytest.raises(ValueError, match=r"preset = 'struct-x' is not one of \[.*'uniform-n2'"):
        get_preset("struct-x", net("resnet18"))


@pytest.mark.parametrize("name, network, match", [
    ("struct-mv2-a", "resnet18", r"'struct-mv2-a' does not apply to network 'resnet18'.*mobilenet_v2"),
    ("struct-mv2-b", "efficientnet_b1", r"'struct-mv2-b' does not apply.*mobilenet_v2"),
    ("struct-effnet", "efficientnet_b0", r"'struct-effnet' does not apply to network 'efficientnet_b0'.*"
                                         r"efficientnet_b1.*features\.1\.1\.block\.0\.0"),
    ("struct-effnet", "mobilenet_v2", r"does not apply.*efficientnet_b1"),
    ("struct-hr-a", "resnet18", r"'struct-hr-a' does not apply.*HRNet"),
    ("struct-psp-a", "hrnet_w18_small_v1", r"'struct-psp-a' does not apply.*PSPNet"),
])
def test_preset_on_the_wrong_network_raises(name, network, match):
    with pytest.raises(ValueError, match=match):
        get_preset(name, net(network))


def test_table_preset_dimension_mismatch_names_row_and_layer():
    n = get_network("mobilenet_v2", num_classes=10)
    with pytest.raises(ValueError,
                       match=r"row classifier is 1000x1280x1x1 but layer 'classifier.1' is 10x1280x1x1"):
        get_preset("struct-mv2-a", n)


# -- uniform-n2 -------------------------------------------------------------------------

def _toy() -> Network:
    return Network("toy", (3, 32, 32), (
        Layer.conv2d("stem", 3, 16, 3, (32, 32), padding=1),
        Layer.conv2d("dw", 16, 16, 5, (32, 32), padding=2, groups=16),
        Layer.conv2d("grouped", 16, 32, 3, (32, 32), padding=1, groups=4),
        Layer.conv2d("rect", 32, 32, (1, 7), (32, 32), padding=(0, 3)),
        Layer.conv2d("dilated", 32, 32, 3, (32, 32), padding=2, dilation=2, stride=2),
        Layer.conv2d("pw", 32, 8, 1, (16, 16)),
        Layer.linear("fc", 8, 10),
    ))


@pytest.mark.parametrize("network",
                         ["toy", "resnet18", "mobilenet_v2", "efficientnet_b0", "hrnet_w18_small_v1",
                                     "pspnet101", "vgg16"])
def test_uniform_n2_rule(network):
    n = _toy() if network == "toy" else net(network)
    plan = get_preset("uniform-n2", n)
    for i, layer in enumerate(n.layers):
        choice = plan.choice_for(layer.name)
        if i == 0 or layer.op == "linear" or layer.kernel == (1, 1):
            assert isinstance(choice, Dense), layer.name
        else:
            kh, kw = layer.kernel
            assert choice == Structure(layer.group_in_channels, (max(kh - 1, 1), max(kw - 1, 1))), layer.name
            if layer.is_depthwise:
                assert choice.c == 1


def test_uniform_n2_on_the_toy_network():
    plan = get_preset("uniform-n2", _toy())
    assert {k: v.label for k, v in plan.choices.items()} == {
        "dw": "c=1,n=4", "grouped": "c=4,n=2", "rect": "c=32,n=1x6", "dilated": "c=32,n=2"}


# -- the YAML tables --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_row_maps_to_a_layer_with_its_printed_dimension(name):
    network, nrows = TABLES[name]
    n = net(network)
    rows = preset_table(name)
    assert len(rows) == nrows
    assert [r["idx"] for r in rows] == list(range(1, nrows)) + ["classifier"]
    assert len({r["layer"] for r in rows}) == nrows
    for r in rows:
        layer = n[r["layer"]]
        assert layer_dim(layer) == r["dim"], r
        assert 1 <= r["c"] <= r["dim"][1] and 1 <= r["n"] <= r["dim"][2], r
        if layer.is_depthwise:
            assert r["c"] == 1
    # the table covers the whole network except squeeze-and-excitation, in execution order
    non_se = [l.name for l in n.layers if not re.search(r"\.fc[12]$", l.name)]
    assert [r["layer"] for r in rows] == non_se


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_plan_equals_rows_and_dense_equivalent_rows_are_kept(name):
    network, _ = TABLES[name]
    n = net(network)
    plan = get_preset(name, n)
    rows = preset_table(name)
    assert dict(plan.choices) == {r["layer"]: Structure(r["c"], r["n"]) for r in rows}
    cost = {r.layer.name: r for r in count_network(n, plan).layers}
    for r in rows:
        row = cost[r["layer"]]
        if (r["c"], r["n"]) == (r["dim"][1], r["dim"][2]):  # dense-equivalent: same counts, 0 sum-pool adds
            assert row.structured.sumpool_adds == 0 and row.structured.mults == row.original.mults
        else:
            assert row.structured.mults < row.original.mults


def test_struct_effnet_se_layers_stay_dense():
    n = net("efficientnet_b1")
    plan = get_preset("struct-effnet", n)
    se = [l.name for l in n.layers if re.search(r"\.fc[12]$", l.name)]
    assert len(se) == 2 * 23
    assert all(isinstance(plan.choice_for(s), Dense) for s in se)


def test_struct_effnet_is_efficientnet_b1():
    """The table's 69 rows have B1's stage repeats [2, 3, 3, 4, 4, 5, 2], not B0's."""
    rows = preset_table("struct-effnet")
    blocks = sorted({tuple(r["layer"].split(".")[1:3]) for r in rows if ".block." in r["layer"]},
                    key=lambda t: (int(t[0]), int(t[1])))
    repeats = [sum(1 for s, _ in blocks if s == str(k)) for k in range(1, 8)]
    assert repeats == [2, 3, 3, 4, 4, 5, 2]
    assert len(rows) - 1 == 69


def test_struct_mv2_a_changes_only_the_last_three_layers():
    rows = preset_table("struct-mv2-a")
    reduced = [r["layer"] for r in rows if (r["c"], r["n"]) != (r["dim"][1], r["dim"][2])]
    assert reduced == ["features.17.conv.2", "features.18.0", "classifier.1"]


def _out_size(size, k, stride, pad, dil):
    """Textbook conv output length: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _table_totals_by_hand(name: str, n: Network) -> tuple[int, int, int]:
    """(mults, params, adds) of ``name`` on ``n`` from the preset YAML itself and the layer geometry.

    Table row "C_out x C x N x N" with (c, n): every output pixel is a c*n*n-tap dot product
    over the sum-pooled input, so C_out*c*n*n*Ho*Wo mults and C_out*(c*n*n + bias) params. The
    sum pool sums windows of (C - c + 1) channels x (N - n + 1)^2 taps (K values: K - 1 adds)
    at every stride-1 position of the padded input, for each of the c channel offsets of every
    group. Layers the table does not list stay dense: C_out*(C/g)*kh*kw mults per output pixel.
    """
    text = resources.files("structconv").joinpath("data", "presets", f"{name}.yaml").read_text()
    rows = {r["layer"]: r for r in yaml.safe_load(text)["rows"]}
    mults = adds = params = 0
    for layer in n.layers:
        (H, W), (kh, kw) = layer.input_size, layer.kernel
        (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
        pixels = _out_size(H, kh, sh, ph, dh) * _out_size(W, kw, sw, pw, dw)
        bias = 1 if layer.bias else 0
        r = rows.pop(layer.name, None)
        if r is None:
            taps = layer.in_channels // layer.groups * kh * kw
            mults += layer.out_channels * taps * pixels
            adds += layer.out_channels * (taps - 1 + bias) * pixels
            params += layer.out_channels * (taps + bias)
            continue
        C_out, C, N, N2 = (int(v) for v in str(r["dim"]).split("x"))
        assert N == N2 == kh == kw and C_out == layer.out_channels, r
        c, nn_ = r["c"], r["n"]
        taps = c * nn_ * nn_
        mults += C_out * taps * pixels
        params += C_out * (taps + bias)
        a = N - nn_ + 1                                    # spatial window side
        window = (C - c + 1) * a * a
        H1, W1 = H + 2 * ph - dh * (a - 1), W + 2 * pw - dw * (a - 1)
        adds += C_out * (taps - 1 + bias) * pixels + layer.groups * c * H1 * W1 * (window - 1)
    assert not rows, f"rows naming no layer: {sorted(rows)}"
    return mults, params + n.extra_params, adds


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_preset_totals_equal_a_derivation_from_the_yaml(name):
    network, _ = TABLES[name]
    n = net(network)
    cost = count_network(n, get_preset(name, n))
    s, o = cost.structured, cost.original
    mults, params, adds = _table_totals_by_hand(name, n)
    assert (s.mults, s.params, s.adds) == (mults, params, adds)
    assert s.mults < o.mults and s.params < o.params


# every row whose OCR text was garbled carries a "CORRECTED" comment right above it
CORRECTED = {
    "struct-mv2-a": {2, 3, 41, 42, "classifier"},
    "struct-mv2-b": {19, 21, 22, 23, 24, 25, 26, 27, 29},
    "struct-effnet": {6, 7, 8, 14, 15, 16, 17, 23, 24, 25, 31, 32, 33, 39, 40, 41, 46, 47, 48, 49, 54, 55,
                      56, 61, 62, 63, 64},
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_corrected_rows_carry_a_comment(name):
    text = resources.files("structconv").joinpath("data", "presets", f"{name}.yaml").read_text()
    lines = text.splitlines()
    commented = set()
    for prev, line in zip(lines, lines[1:]):
        m = re.match(r"\s*- \{idx: \"?(\w+)\"?,", line)
        if m and prev.strip().startswith(f"# CORRECTED row {m.group(1)}:"):
            commented.add(int(m.group(1)) if m.group(1).isdigit() else m.group(1))
    assert commented == CORRECTED[name]
    assert yaml.safe_load(text)["network"] == TABLES[name][0]


# -- the seed's A.4 rules for HRNet and PSPNet -------------------------------------------

def test_struct_hr_a_rules():
    n = net("hrnet_w18_small_v1")
    plan, literal = get_preset("struct-hr-a", n), get_preset("struct-hr-a-literal", n)
    for layer in n.layers:
        choice = plan.choice_for(layer.name)
        if layer.name in ("conv1", "conv2", "last_layer.3", "layer1.0.conv2"):
            assert isinstance(choice, Dense), layer.name
        elif layer.kernel == (3, 3):                       # strided transition/fuse convs included
            assert choice == Structure(layer.in_channels, 2), layer.name
        else:                                              # 1x1: c = C, n = 1 (dense-equivalent)
            assert choice == Structure(layer.in_channels, 1), layer.name
    diff = {k for k in set(plan.choices) | set(literal.choices)
            if plan.choice_for(k) != literal.choice_for(k)}
    assert diff == {"layer1.0.conv2"}
    assert literal.choice_for("layer1.0.conv2") == Structure(32, 2)


@pytest.mark.parametrize("aux", [True, False])
def test_struct_psp_a_rules(aux):
    n = get_network("pspnet101", aux=aux)
    plan, literal = get_preset("struct-psp-a", n), get_preset("struct-psp-a-literal", n)
    for layer in n.layers:
        choice, lit = plan.choice_for(layer.name), literal.choice_for(layer.name)
        C = layer.in_channels
        if layer.name in ("layer0.0", "cls.4", "aux.4"):
            assert isinstance(choice, Dense) and isinstance(lit, Dense), layer.name
        elif layer.kernel == (3, 3):                       # dilated, strided and aux.0 included
            assert choice == lit == Structure(C, 2), layer.name
        else:
            assert lit == Structure(round(2 * C / 3), 1), layer.name
            want = Structure(round(2 * C / 3), 1) if layer.name.startswith("ppm.") else Structure(C, 1)
            assert choice == want, layer.name
    assert plan.choice_for("ppm.features.0.1") == Structure(1365, 1)
    assert ("aux.0" in plan.choices) == aux


def test_preset_plan_round_trips_through_yaml(tmp_path):
    n = net("mobilenet_v2")
    plan = get_preset("struct-mv2-b", n)
    again = Plan.load(plan.save(tmp_path / "p.yaml"))
    assert dict(again.choices) == dict(plan.choices) and again.name == "struct-mv2-b"
