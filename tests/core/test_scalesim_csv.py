"""SCALE-Sim topology CSV: parsing, strict errors, writing and round trips.

``_scalesim_rows`` is a slow, obviously-correct re-statement of how SCALE-Sim 3.0.0's
``topology_utils.load_arrays_conv`` reads a file (split on ',', drop the field after the last
comma, split 'DP' rows per channel) and ``topo_calc_hyperparams`` sizes a layer
(ofmap = ceil((ifmap - filter + stride) / stride), MACs = ofmap_h * ofmap_w * fh * fw * C * F).
"""
from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from structconv.core import Layer, Network, count_network
from structconv.core.scalesim_csv import CONV_COLUMNS, read_topology, topology_rows, write_topology
from structconv.core.zoo import get_network
from tests.support.scalesim_inputs import TOPO_HEADER as HEADER


def _scalesim_rows(path):
    """[(name, ofmap_h, ofmap_w, macs)] as SCALE-Sim computes them from a conv topology."""
    out = []
    lines = open(path).read().splitlines()
    for row in lines[1:]:
        row = row.strip()
        if not row:
            continue
        e = row.split(",")[:-1]
        name, (h, w, fh, fw, ch, nf, s) = e[0].strip(), [int(v) for v in e[1:8]]
        oh, ow = math.ceil((h - fh + s) / s), math.ceil((w - fw + s) / s)
        copies, ch = (ch, 1) if "DP" in name else (1, ch)
        out.append((name, oh, ow, copies * oh * ow * fh * fw * ch * nf))
    return out


def _dense_mults(network):
    return [r.original.mults for r in count_network(network).layers]


def test_reads_scalesim_style_file(tmp_path):
    p = tmp_path / "mobile.csv"
    p.write_text(HEADER + "\n"
                 "Conv1, 225, 225, 3, 3, 3, 32, 2,\n"
                 "Conv2_DP, 114, 114, 3, 3, 32, 1, 1,#dw\n"
                 "\tConv3,112,112,1,1,32,64,1,\n"
                 "FC, 1, 1, 1, 1, 1024, 1000, 1,\n\n")
    n = read_topology(p)
    assert n.name == "mobile" and n.input_shape == (3, 225, 225) and n.extra_params == 0
    c1, dw, c3, fc = n.layers
    assert (c1.in_channels, c1.out_channels, c1.kernel, c1.stride, c1.padding, c1.output_size) == \
        (3, 32, (3, 3), (2, 2), (0, 0), (112, 112))
    assert (dw.groups, dw.in_channels, dw.out_channels, dw.is_depthwise, dw.output_size) == \
        (32, 32, 32, True, (112, 112))
    assert c3.name == "Conv3" and c3.kernel == (1, 1)
    assert (fc.op, fc.in_channels, fc.out_channels, fc.bias) == ("linear", 1024, 1000, False)
    assert _dense_mults(n) == [r[3] for r in _scalesim_rows(p)]


def test_reads_sparsity_column_and_gemm(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(HEADER.rstrip(",\n") + ", Sparsity,\nCONV_1, 5, 5, 3, 3, 2, 6, 1, 1:1,\n")
    assert read_topology(p)["CONV_1"].out_channels == 6
    g = tmp_path / "g.csv"
    g.write_text("Layer, M, N, K,\nqkv, 128, 2304, 768,\nproj, 128, 768, 768,\n")
    n = read_topology(g, name="gpt")
    assert n.name == "gpt"
    qkv = n["qkv"]
    assert (qkv.in_channels, qkv.out_channels, qkv.kernel, qkv.input_size) == (768, 2304, (1, 1), (128, 1))
    assert count_network(n).original.mults == 128 * 768 * (2304 + 768)


# -- strict errors: file, row (line number), column and value -------------------------------

@pytest.mark.parametrize("row, line, match", [
    ("c1, 10, 10, 3, 3, 4, 8, x,", 2, r"row 2, column 'Strides': value 'x' is not an integer"),
    ("c1, 10, 10, 3, 3, 4.0, 8, 1,", 2, r"row 2, column 'Channels': value '4.0' is not an integer"),
    ("c1, 10, 0, 3, 3, 4, 8, 1,", 2, r"row 2, column 'IFMAP Width': value 0 must be >= 1"),
    ("c1, 10, 10, 3, 3, 4, -8, 1,", 2, r"row 2, column 'Num Filter': value -8 must be >= 1"),
    ("c1, 10, 10, 11, 3, 4, 8, 1,", 2,
     r"row 2, column 'Filter Height': value 11 is larger than IFMAP Height = 10"),
    ("c1, 10, 2, 3, 3, 4, 8, 1,", 2, r"row 2, column 'Filter Width': value 3 is larger than IFMAP Width = 2"),
    ("c1, 10, 10, 3, 3, 4, 8, 1", 2, r"row 2: the row must end with a comma"),
    ("c1, 10, 10, 3, 3, 4, 8,", 2, r"row 2: expected 8 fields"),
    ("c1, 10, 10, 3, 3, 4, 8, 1, 1:1, 7,", 2, r"row 2: expected 8 fields"),
    ("c1, 10, 10, 3, 3, 4, 8, 1, 2:4,", 2, r"row 2, column 'Sparsity': value '2:4' is not supported"),
    (", 10, 10, 3, 3, 4, 8, 1,", 2, r"row 2, column 'Layer name': value '' is empty"),
    ("ok, 10, 10, 3, 3, 4, 8, 1,\n\nok, 8, 8, 3, 3, 8, 8, 1,", 4,
     r"row 4, column 'Layer name': value 'ok' repeats "
                                                             r"the name of row 2"),
])
def test_malformed_row_names_file_row_column_and_value(tmp_path, row, line, match):
    p = tmp_path / "bad.csv"
    p.write_text(HEADER + row + "\n")
    with pytest.raises(ValueError, match=match) as e:
        read_topology(p)
    assert str(p) in str(e.value) and f"row {line}" in str(e.value)


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("\n\n", "empty"),
    (HEADER, "no layer rows"),
    ("Layer, IFMAP Height, Width,\nx, 1, 2,\n", r"row 1: header .* is neither the conv header"),
    ("Layer, M, N, K,\nmm, 4, 0, 2,\n", r"row 2, column 'N': value 0 must be >= 1"),
    ("Layer, M, N, K,\nmm, 4, 2,\n", r"row 2: expected 4 fields"),
])
def test_malformed_files(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        read_topology(p)
    assert str(p) in str(e.value)


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        read_topology(tmp_path / "nope.csv")


# -- writing ------------------------------------------------------------------------------

def test_written_file_has_header_and_trailing_commas(tmp_path):
    p = write_topology(get_network("resnet18"), tmp_path / "r.csv")
    lines = p.read_text().splitlines()
    assert lines[0] == ", ".join(CONV_COLUMNS) + ","
    assert all(ln.endswith(",") for ln in lines)
    # conv1: 7x7 stride 2 padding 3 on 224: padded 230, trimmed to the 229 rows its 112 windows read
    assert lines[1] == "conv1, 229, 229, 7, 7, 3, 64, 2,"
    assert lines[-1] == "fc, 1, 1, 1, 1, 512, 1000, 1,"


@pytest.mark.parametrize("name",
                         ["resnet18", "mobilenet_v2", "efficientnet_b0", "hrnet_w18_small_v1", "vgg16"])
def test_round_trip_matches_scalesim_geometry_and_macs(tmp_path, name):
    net = get_network(name)
    p = write_topology(net, tmp_path / f"{name}.csv")
    back = read_topology(p)
    # SCALE-Sim's own ofmap formula on what we wrote equals our output size, and its MACs ours
    sim = _scalesim_rows(p)
    assert [(r[1], r[2]) for r in sim] == [l.output_size for l in back.layers]
    assert [r[1:3] for r in sim] == [l.output_size for l in net.layers]
    assert [r[3] for r in sim] == _dense_mults(net) == _dense_mults(back)
    for a, b in zip(net.layers, back.layers):
        assert b.name in (a.name, f"{a.name}_DP")
        assert (b.in_channels, b.out_channels, b.groups, b.kernel, b.stride) == \
            (a.in_channels, a.out_channels, a.groups, a.kernel, a.stride)
        assert b.padding == (0, 0)
    # a fixed point: writing what was read gives the same text
    assert write_topology(back, tmp_path / "again.csv").read_text() == p.read_text()


def test_grouped_convs_split_per_group_or_raise(tmp_path):
    n = Network("g", (8, 10, 10), (Layer.conv2d("gc", 8, 16, 3, (10, 10), padding=1, groups=4),))
    rows = topology_rows(n)
    assert rows == [(f"gc.g{g}", 12, 12, 3, 3, 2, 4, 1) for g in range(4)]
    back = read_topology(write_topology(n, tmp_path / "g.csv"))
    assert sum(_dense_mults(back)) == sum(_dense_mults(n))
    with pytest.raises(ValueError, match=r"layer 'gc' .*groups = 4 cannot be written"):
        write_topology(n, tmp_path / "x.csv", groups="raise")
    with pytest.raises(ValueError, match="groups = 'merge'"):
        topology_rows(n, groups="merge")


@pytest.mark.parametrize("layer, match", [
    (Layer.conv2d("dil", 4, 4, 3, (16, 16), padding=2, dilation=2), r"layer 'dil' .*dilation = \(2, 2\)"),
    (Layer.conv2d("st", 4, 4, 3, (16, 16), stride=(1, 2)), r"layer 'st' .*stride = \(1, 2\)"),
    (Layer.conv2d("myDPconv", 4, 4, 3, (16, 16)), r"layer 'myDPconv' .*'DP' as depthwise"),
    (Layer.conv2d("a,b", 4, 4, 3, (16, 16)), r"cannot contain a comma"),
])
def test_write_rejects_what_scalesim_cannot_express(tmp_path, layer, match):
    with pytest.raises(ValueError, match=match):
        write_topology(Network("n", (4, 16, 16), (layer,)), tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_single_channel_dp_row_round_trips(tmp_path):
    p = tmp_path / "dp.csv"
    p.write_text(HEADER + "x_DP, 8, 8, 3, 3, 1, 4, 1,\n")
    n = read_topology(p)
    assert n["x_DP"].groups == 1 and n["x_DP"].out_channels == 4
    again = write_topology(n, tmp_path / "again.csv").read_text()
    assert again.splitlines()[1] == "x_DP, 8, 8, 3, 3, 1, 4, 1,"


def test_depthwise_is_written_as_one_dp_row(tmp_path):
    n = get_network("mobilenet_v2")
    rows = {r[0]: r for r in topology_rows(n)}
    assert rows["features.1.conv.0.0_DP"] == ("features.1.conv.0.0_DP", 114, 114, 3, 3, 32, 1, 1)
    assert rows["features.2.conv.1.0_DP"][1:] == (113, 113, 3, 3, 96, 1, 2)   # stride 2: 114 trimmed to 113


@given(h=st.integers(1, 40), w=st.integers(1, 40), k=st.integers(1, 7), kw=st.integers(1, 7),
       s=st.integers(1, 4), p=st.integers(0, 3), c=st.integers(1, 9), f=st.integers(1, 9))
def test_property_write_read_preserves_geometry(h, w, k, kw, s, p, c, f):
    import tempfile
    from pathlib import Path

    if h + 2 * p < k or w + 2 * p < kw:
        return
    layer = Layer.conv2d("L", c, f, (k, kw), (h, w), stride=s, padding=p)
    n = Network("n", (c, h, w), (layer,))
    with tempfile.TemporaryDirectory() as d:
        path = write_topology(n, Path(d) / "t.csv")
        (name, oh, ow, macs), = _scalesim_rows(path)
        back = read_topology(path)
    assert (oh, ow) == layer.output_size == back.layers[0].output_size
    assert macs == _dense_mults(n)[0] == _dense_mults(back)[0]
    assert re.fullmatch(r"L|L_DP", back.layers[0].name)
