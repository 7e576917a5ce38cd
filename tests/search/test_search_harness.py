"""The baseline harness: same problem for every method; the exact optimum is no worse than any of them."""
import numpy as np
import pytest

from structconv.search import compare, paired_test


def test_every_method_meets_the_same_budget_and_exact_is_optimal():
    from tests.support.search_problems import small_problem

    pb = small_problem({"cycles_total": 0.6}, objectives=("proxy", "cycles_total"))
    res = compare(pb, trials=120)
    assert {"exact", "sampler", "greedy", "greedy_lagrangian", "uniform", "rule_preset", "random"} <= set(res)
    got = {k: v for k, v in res.items() if v is not None}
    assert {"exact", "greedy", "greedy_lagrangian", "sampler"} <= set(got)
    for v in got.values():
        assert v.evaluation.ratios["cycles_total"] <= 0.6 + 1e-12
    loss = {k: v.evaluation.proxy_loss for k, v in got.items()}
    assert all(loss["exact"] <= x + 1e-12 for x in loss.values())
    # the Lagrangian rule only reaches the front's supported points: never better than exact
    assert loss["greedy_lagrangian"] >= loss["exact"] - 1e-12


def test_paired_test_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(0)
    base = rng.normal(80, 3, 8)                             # seed effects shared by both methods
    acc = {"exact": base + 2 + rng.normal(0, 0.3, 8), "greedy": base, "same": base + rng.normal(0, 0.3, 8)}
    r = paired_test(acc, "greedy")
    assert r["exact"]["p_wilcoxon"] < 0.01 and r["exact"]["p_ttest"] < 0.001 and r["exact"]["mean_diff"] > 1.5
    assert r["same"]["p_ttest"] > 0.05
    with pytest.raises(ValueError, match=r"accuracy\['x'\] has 2 seeds; 'greedy' has 8"):
        paired_test({**acc, "x": [1, 2]}, "greedy")
