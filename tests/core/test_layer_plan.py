"""Validation of the data model and plan files."""
import json

import pytest

from structconv import Dense, Layer, Plan, Structure
from structconv.core import Network


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(in_channels=6, out_channels=4, groups=4), r"groups = 4 must divide in_channels = 6"),
    (dict(in_channels=0), r"in_channels = 0 is out of range \[1, inf\]"),
    (dict(kernel=9), r"output size = \(-1, -1\)"),
    (dict(stride=0), r"stride = 0 is out of range"),
    (dict(padding=-1), r"padding = -1 is out of range"),
    (dict(kernel=(3, 3, 3)), r"kernel must be an int or a pair"),
    (dict(in_channels=2.5), r"in_channels must be an integer"),
])
def test_layer_rejects_bad_input(kwargs, pattern):
    base = dict(name="x", in_channels=4, out_channels=4, kernel=3, input_size=(7, 7))
    base.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        Layer.conv2d(**base)


def test_layer_output_size_dilation_rectangular():
    l = Layer.conv2d("x", 4, 4, (3, 5), (20, 30), stride=(2, 1), padding=(1, 2), dilation=(2, 3))
    assert l.output_size == ((20 + 2 - 4 - 1) // 2 + 1, (30 + 4 - 12 - 1) + 1)


def test_structure_validation_against_layer():
    l = Layer.conv2d("x", 8, 8, 3, (7, 7), groups=2)
    Structure(4, 3).validate(l)
    with pytest.raises(ValueError, match=r"c = 5 is out of range \[1, 4\]"):
        Structure(5, 2).validate(l)
    with pytest.raises(ValueError, match=r"n = 4 is out of range \[1, 3\]"):
        Structure(2, 4).validate(l)
    with pytest.raises(ValueError, match=r"c = 0 is out of range"):
        Structure(0, 1)


def test_plan_roundtrip_yaml_and_json(tmp_path):
    p = Plan({"a": {"c": 3, "n": [2, 1]}, "b": "dense", "c": Structure(2, 2)}, name="mine", model="toy")
    for ext in ("yaml", "json"):
        f = p.save(tmp_path / f"p.{ext}")
        q = Plan.load(f)
        assert dict(q.choices) == {"a": Structure(3, (2, 1)), "c": Structure(2, 2)}
        assert q.choice_for("b") == Dense() and q.name == "mine" and q.model == "toy"


@pytest.mark.parametrize("text, pattern", [
    ("layers: [1, 2", "not valid YAML"),
    ("- a\n- b\n", "a plan is a mapping"),
    ("layers: {a: {c: 1, q: 2}}", r"unknown field\(s\) \['q'\] in a structure choice; allowed: c, n"),
    ("layers: {a: {n: 2}}", "needs field c"),
    ("layers: {a: {design: nope}}", "design = 'nope'"),
    ("layers: {a: 7}", "choice must be"),
    ("layers: {a: {c: -1, n: 1}}", r"c = -1 is out of range"),
])
def test_malformed_plan_file(tmp_path, text, pattern):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        Plan.load(f)


def test_plan_file_missing(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        Plan.load(tmp_path / "nope.yaml")


def test_network_rejects_duplicate_names():
    l = Layer.linear("fc", 4, 4)
    with pytest.raises(ValueError, match="appears twice"):
        Network("n", (4, 1, 1), (l, l))
    assert Network.from_dict(Network("n", (4, 1, 1), (l,)).to_dict()).layers == (l,)
    assert json.dumps(l.to_dict())
