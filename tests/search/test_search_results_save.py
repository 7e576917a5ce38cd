"""A front too large for one YAML file per member (a 3-objective exact front of resnet20 has ~28,000):
plan files for MAX_PLAN_FILES members spread evenly, every other member with its layers in one JSON file,
and no member lost."""
import json

import yaml

import structconv.search.results as results
from structconv.cli import main
from structconv.core import Plan, resolve_network, resolve_plan


def test_a_large_front_keeps_every_member_and_files_a_spread_of_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(results, "MAX_PLAN_FILES", 20)
    out = tmp_path / "s"
    assert main(["search", "resnet20", "--mode", "exact", "--objectives", "proxy,cycles_total", "--proxies",
                 "kept_dof", "--no-progress", "--json", "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    n = len(d["front"])
    assert n > 100                                                    # the case exists
    front = yaml.safe_load((out / "front.yaml").read_text())
    files = sorted((out / "plans").glob("*.yaml"))
    rest = json.loads((out / "plans" / results.REST_FILE).read_text())
    assert len(files) == len(front["front"]) == 20 and len(rest) == n - 20
    names = {m["plan"] for m in front["front"]} | set(rest)
    assert names == {m["plan"] for m in d["front"]}                   # every member, once
    ends = [front["front"][i]["plan"] for i in (0, -1)]
    assert ends == [d["front"][i]["plan"] for i in (0, -1)]            # spread over the whole front
    net = resolve_network("resnet20")
    name, member = next(iter(rest.items()))
    plan = Plan.from_dict({"name": name, "model": "resnet20", "layers": member["layers"]})
    assert resolve_plan(plan, net).choices                            # a usable plan
    assert any("plans/rest.json" in note for note in front["notes"])
