"""The report's and the demo's settings: typed, frozen, checked once where they are built, and the
keyword wrappers (``build_report(model, **fields)``, ``run_demo(out, **fields)``) build nothing else."""
from __future__ import annotations

import dataclasses

import pytest

from structconv.analysis import DemoSettings, ReportSettings
from structconv.core import FieldError


class _Stop(Exception):
    pass


def test_report_settings_are_frozen_and_checked():
    s = ReportSettings(runs="runs/a", mode="cycle")
    assert s.runs == ("runs/a",) and ReportSettings().runs == () and ReportSettings(runs=None).runs == ()
    assert ReportSettings(runs=["a", "b"]).runs == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.mode = "analytical"
    with pytest.raises(ValueError, match=r"mode = 'fast' is not one of \['analytical', 'cycle'\]"):
        ReportSettings(mode="fast")
    with pytest.raises(ValueError, match=r"max_table_rows = 0 is out of range \[1, inf\]"):
        ReportSettings(max_table_rows=0)


def test_build_report_keywords_build_the_settings_and_nothing_else(monkeypatch):
    """The keyword form and the settings form hand the same settings to the report's reader."""
    import structconv.analysis.report as report

    seen = []

    def capture(model, settings, log):
        seen.append((model, settings, log))
        raise _Stop

    monkeypatch.setattr(report, "open_inputs", capture)
    log = print
    for call in (lambda: report.build_report("resnet20", hw="tpu-like", paper=False, runs="r", log=log),
                 lambda: report.build_report("resnet20", log=log,
                                             settings=ReportSettings(hw="tpu-like", paper=False,
                                                                     runs=("r",))),
                 lambda: report.build_report("resnet20", settings=ReportSettings(hw="tpu-like"), paper=False,
                                             runs="r", log=log)):
        with pytest.raises(_Stop):
            call()
    assert seen[0] == seen[1] == seen[2] == ("resnet20",
                                             ReportSettings(hw="tpu-like", paper=False, runs=("r",)), log)
    with pytest.raises(TypeError, match="bogus"):
        report.build_report("resnet20", bogus=1)


@pytest.mark.parametrize("fields, api, cli", [
    ({"trials": 0}, "trials = 0 is out of range [1, inf)", "--trials = 0 is out of range [1, inf)"),
    ({"epochs": 0, "pretrain_epochs": 0}, "epochs = 0 and pretrain_epochs = 0 must be >= 0",
     "--epochs = 0 and --pretrain-epochs = 0 must be >= 0"),
    ({"max_cycles_ratio": float("nan")}, "max_cycles_ratio = nan is out of range (0, inf)",
     "--max-cycles-ratio = nan is out of range (0, inf)"),
    ({"lam": -1.0}, "lam = -1.0 is out of range [0, inf)", "--lam = -1.0"),
    ({"train_size": 129}, "train_size = 129 is out of range [4, 128]", "--train-size = 129"),
    ({"train_samples": 0}, "train_samples = 0 is out of range [1, inf)", "--train-samples = 0"),
])
def test_demo_settings_name_the_field_for_the_api_and_the_flag_for_the_cli(fields, api, cli):
    from structconv.cli._errors import flag

    with pytest.raises(FieldError) as e:
        DemoSettings(**fields)
    assert str(e.value).startswith(api) and e.value.spelled(flag).startswith(cli)
    assert isinstance(e.value, ValueError)                  # callers that catch ValueError still do


def test_run_demo_checks_its_settings_before_making_out(tmp_path):
    from structconv.analysis import run_demo

    with pytest.raises(ValueError, match="trials"):
        run_demo(tmp_path / "out", trials=0, log=lambda m: None)
    with pytest.raises(ValueError, match="nosuchnet"):
        run_demo(tmp_path / "out", settings=DemoSettings(model="nosuchnet"), log=lambda m: None)
    assert not (tmp_path / "out").exists()
    with pytest.raises(dataclasses.FrozenInstanceError):
        DemoSettings().trials = 3
