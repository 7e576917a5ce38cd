"""Search settings and records: one rule per setting for the API and the CLI; an Evaluation's stored form."""
import pytest

from structconv.cli import main
from structconv.search import Evaluation, SearchSettings, SettingError

BAD = [("trials", "--trials", 0), ("population", "--population", 1), ("workers", "--workers", 300),
       ("seed", "--seed", -1), ("timeout", "--timeout", -1.0),
       ("max_cycles_ratio", "--max-cycles-ratio", 0.0), ("sampler", "--sampler", "cmaes")]


@pytest.mark.parametrize("field, flag, bad", BAD)
def test_the_cli_and_the_api_check_a_setting_with_one_rule(field, flag, bad, tmp_path, capsys):
    with pytest.raises(SettingError) as info:
        SearchSettings.of("resnet20", **{field: bad}, out=str(tmp_path / "a"))
    api = str(info.value)
    assert api.startswith(f"{field} = ") and "\n" not in api
    rc = main(["search", "resnet20", flag, str(bad), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and err == f"structconv: error: {flag}{api[len(field):]}\n"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_evaluation_round_trips_through_its_stored_form():
    """Evaluation.to_dict writes the keys journals and front files hold; from_dict reads them back."""
    ev = Evaluation(cycles_total=10.0, latency_s=1e-8, energy_pj=5.0, mults=3.0, params=2.0, area_mm2=0.5,
                    ratios={"cycles_total": 0.5}, proxies={"params": 2.0}, proxy_loss=-2.0, feasible=True,
                    eval_us=1.5, worker="h:1", adds=7.0, values=(-2.0, 10.0),
                    constraints={"cycles_total": -0.1})
    stored = ev.to_dict()
    assert list(stored) == ["cycles_total", "latency_s", "energy_pj", "mults", "params", "area_mm2", "ratios",
                            "proxies", "proxy_loss", "feasible", "eval_us", "worker"]
    assert (Evaluation.from_dict(stored, ev.values, ev.constraints)
            == Evaluation(**{**ev.__dict__, "adds": None}))
    full = ev.to_dict(values=True)
    assert full["values"] == [-2.0, 10.0] and Evaluation.from_dict(full).constraints == ev.constraints
