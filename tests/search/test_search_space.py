"""Search space: construction, ordering, restriction from YAML, index <-> plan."""
import pytest

from structconv.core import Dense, Layer, Network, Plan, Structure, count_ops
from structconv.core.zoo import get_network
from structconv.search import SpaceConfig, build_space, load_space_config, space_config_from_dict
from structconv.search.space_config import c_grid


def tiny_net():
    return Network("tiny", (3, 8, 8), (
        Layer.conv2d("stem", 3, 16, 3, (8, 8), padding=1),
        Layer.conv2d("dw", 16, 16, 3, (8, 8), padding=1, groups=16),
        Layer.conv2d("pw", 16, 32, 1, (8, 8)),
        Layer.conv2d("conv", 32, 32, 3, (8, 8), padding=1),
        Layer.linear("fc", 32, 10),
    ))


def test_c_grid_rounds_dedups_and_clips():
    assert c_grid(64, (1, 0.75, 0.5, 0.375, 0.25, 0.125)) == [64, 48, 32, 24, 16, 8]
    assert c_grid(3, (1, 0.75, 0.5, 0.375, 0.25, 0.125)) == [3, 2, 1]
    assert c_grid(1, (1, 0.5)) == [1]


def test_default_space_per_layer_kind():
    sp = build_space(tiny_net())
    for ls in sp.layers:
        assert ls.choices[0] == Dense()
        assert len(set(ls.choices)) == len(ls.choices)          # no duplicates
        for ch in ls.choices[1:]:
            ch.validate(ls.layer)
            assert not (isinstance(ch, Structure) and ch.is_identity(ls.layer))
        # cheaper (or equal) after Dense: sorted by decreasing mults
        mults = [count_ops(ls.layer, ch).mults for ch in ls.choices[1:]]
        assert mults == sorted(mults, reverse=True)
    dw = sp["dw"]
    assert all(isinstance(c, Dense) or (c.c == 1 and c.n in ((1, 1), (2, 2))) for c in dw.choices)
    pw = sp["pw"]
    assert {c.c for c in pw.choices[1:]} == {12, 8, 6, 4, 2} and all(c.n == (1, 1) for c in pw.choices[1:])
    conv = sp["conv"]
    assert any(not isinstance(c, (Dense, Structure)) for c in conv.choices), "designs for a 3x3 standard conv"
    assert not any(not isinstance(c, (Dense, Structure)) for c in sp["dw"].choices + sp["pw"].choices)
    assert {c.c for c in sp["fc"].choices[1:]} == {24, 16, 12, 8, 4}
    assert sp.param_names == ("stem", "dw", "pw", "conv", "fc")


def test_restriction_from_yaml(tmp_path):
    f = tmp_path / "space.yaml"
    f.write_text("""
c_fractions: [0.5]
designs: false
exclude: [stem, "f*"]
kinds:
  depthwise: {c: [1], n: [2]}
layers:
  conv: {c: [4, 8], n: [1, 3]}
""")
    sp = build_space(tiny_net(), load_space_config(f))
    assert sp["stem"].choices == (Dense(),) and sp["fc"].choices == (Dense(),)
    assert sp.param_names == ("dw", "pw", "conv")
    assert sp["dw"].choices == (Dense(), Structure(1, 2))
    assert sp["pw"].choices == (Dense(), Structure(8, 1))
    assert set(sp["conv"].choices[1:]) == {Structure(8, 3), Structure(4, 3), Structure(8, 1), Structure(4, 1)}


@pytest.mark.parametrize("data, pattern", [
    ({"bogus": 1}, r"unknown field\(s\) \['bogus'\]"),
    ({"kinds": {"depthwise": {"c": [0]}}}, r"c = 0 is out of range .*kinds.depthwise"),
    ({"kinds": {"depthwise": {"k": [1]}}}, r"unknown field\(s\) \['k'\] .*kinds.depthwise.*allowed"),
    ({"kinds": {"dws": {"c": [1]}}}, r"unknown layer kind\(s\) \['dws'\]"),
    ({"c_fractions": [0]}, r"c_fractions = \[0.0\] must lie in \(0, 1\]"),
    ({"c_fractions": [1.5]}, r"c_fractions = 1.5 is out of range"),
    ({"n": "x"}, r"n must be a non-empty list"),
    ({"designs": "yes"}, r"designs must be true or false"),
    ({"exclude": [3]}, r"exclude must be a list"),
    ([1, 2], r"must hold a mapping"),
])
def test_bad_space_files_name_the_field(data, pattern):
    with pytest.raises(ValueError, match=pattern):
        space_config_from_dict(data)


def test_space_file_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        load_space_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_space_config(bad)


def test_unknown_layer_and_empty_space():
    with pytest.raises(ValueError, match=r"names layer\(s\) \['nope'\]"):
        build_space(tiny_net(), space_config_from_dict({"exclude": ["nope"]}))
    with pytest.raises(ValueError, match="search space of 'tiny' is empty"):
        build_space(tiny_net(), space_config_from_dict({"exclude": ["*"]}))
    with pytest.raises(ValueError, match="is empty"):
        kinds = {k: {"dense_only": True} for k in ("conv", "pointwise", "depthwise", "linear")}
        build_space(tiny_net(), space_config_from_dict({"kinds": kinds}))


def test_plan_index_roundtrip_and_presets():
    net = get_network("resnet20")
    from structconv.core.presets import get_preset

    preset = get_preset("uniform-n2", net)
    sp = build_space(net, extra_plans=[preset])
    params = sp.params_of(preset)
    plan = sp.plan(params)
    assert dict(plan.choices) == {k: v for k, v in preset.choices.items() if v != Dense()}
    idx = [params[n] for n in sp.param_names]
    assert sp.plan(idx).choices == plan.choices
    assert sp.params_of(Plan(name="dense")) == {n: 0 for n in sp.param_names}
    restricted = build_space(net, space_config_from_dict({"exclude": ["layer1.0.conv2"]}))
    assert not restricted.contains(preset)
    with pytest.raises(ValueError, match="keeps dense"):
        restricted.params_of(preset)


def test_resnet50_full_space_size():
    sp = build_space(get_network("resnet50"))
    assert len(sp.searched) == 54
    assert all(len(ls) >= 2 for ls in sp.searched)
    assert SpaceConfig().to_dict()["c_fractions"] == [1.0, 0.75, 0.5, 0.375, 0.25, 0.125]
