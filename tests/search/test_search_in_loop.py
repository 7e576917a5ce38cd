"""Accuracy in the loop: pruners cut weak candidates early, workers share a journal, a real SR run at tiny
scale."""
import numpy as np
import pytest

from structconv.core import Plan, Structure
from structconv.search import run_in_loop

QUALITY = [60.0, 90.0, 70.0, 80.0, 50.0, 85.0, 65.0, 75.0]


class Curve:
    """Known accuracy curves: candidate i approaches QUALITY[i] as the budget grows; counts the work."""

    def __init__(self):
        self.calls = []

    def __call__(self, plan, budget):
        self.calls.append((plan.name, budget))
        q = QUALITY[int(plan.name[1:])]
        return q * (1 - 1 / (budget + 1))


def _plans():
    return [Plan({"conv": Structure(1, (1, 1))}, name=f"c{i}") for i in range(len(QUALITY))]


@pytest.mark.parametrize("pruner", ["sha", "hyperband"])
def test_pruner_cuts_weak_candidates_and_keeps_the_best(pruner):
    ev = Curve()
    res = run_in_loop(_plans(), ev, budgets=(1, 2, 4, 8), pruner=pruner, study_name=pruner)
    states = {r["plan"]: r["state"] for r in res.ranking}
    assert len(states) == len(QUALITY)
    assert res.best["plan"] == "c1" and res.best["budget_reached"] == 8
    pruned = [p for p, s in states.items() if s == "PRUNED"]
    assert pruned and "c1" not in pruned
    assert all(QUALITY[int(p[1:])] < 90 for p in pruned)
    assert len(ev.calls) < len(QUALITY) * 4                  # less work than running every budget


def test_without_a_pruner_every_candidate_runs_every_budget():
    ev = Curve()
    res = run_in_loop(_plans(), ev, budgets=(1, 2, 4), pruner="none", study_name="none")
    assert {r["state"] for r in res.ranking} == {"COMPLETE"} and len(ev.calls) == len(QUALITY) * 3
    assert [r["plan"] for r in res.ranking][:3] == ["c1", "c5", "c3"]


def test_two_workers_share_one_journal(tmp_path):
    res = run_in_loop(_plans(), Curve(), budgets=(1, 2, 4), pruner="sha", storage=str(tmp_path / "j.journal"),
                      study_name="w", workers=2)
    assert len(res.ranking) == len(QUALITY)                  # every candidate ran once, none twice
    assert sorted(r["candidate"] for r in res.ranking) == list(range(len(QUALITY)))
    assert res.best["plan"] == "c1"


def test_bad_budgets_and_pruner():
    with pytest.raises(ValueError, match=r"budgets = \[2, 1\] must be increasing"):
        run_in_loop(_plans(), Curve(), budgets=(2, 1))
    with pytest.raises(ValueError, match=r"pruner = 'median' is not one of"):
        run_in_loop(_plans(), Curve(), pruner="median")


def test_sr_fine_tuning_in_the_loop_on_digits():
    """Two real candidates, one SR epoch each: the dense plan decomposes to itself and must rank first."""
    import structconv.nn as nn
    from structconv.core import resolve_network, resolve_plan
    from structconv.search import SRFineTune

    net = resolve_network("small_cnn", input_size=(8, 8), in_channels=1, num_classes=10)
    harsh = Plan({n: Structure(1, (1, 1)) for n in ("conv2", "conv3")}, name="harsh", model="small_cnn")
    plans = [resolve_plan(None, net), harsh]
    ev = SRFineTune("small_cnn", nn.load_dataset("digits"), device="cpu",
                    model_kw={"num_classes": 10, "in_channels": 1})
    res = run_in_loop(plans, ev, budgets=(1,), pruner="none", study_name="sr")
    acc = {r["plan"]: r["accuracy"] for r in res.ranking}
    assert np.isfinite(list(acc.values())).all()
    assert res.ranking[0]["plan"] == plans[0].name and acc[plans[0].name] > acc["harsh"]
