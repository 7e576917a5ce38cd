"""The exact front: equal to brute force on random tables, and no worse than any sampled front."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.search import brute_force_front, exact_front, pareto_front, run_search
from structconv.search.exact import dominates_or_equals, fold_sum, front_of, hypervolume_2d


@st.composite
def tables(draw, floats=False):
    L = draw(st.integers(1, 4))
    K = draw(st.integers(1, 4))
    d = draw(st.integers(2, 3))
    if floats:
        val = st.floats(0, 10, allow_nan=False, width=32)
    else:
        val = st.integers(0, 4)                          # small ints: many ties and equal costs
    out = np.array([[[draw(val) for _ in range(K)] for _ in range(L)] for _ in range(d)], dtype=float)
    for l in range(L):                                   # NaN padding: a layer with fewer choices
        n = draw(st.integers(1, K))
        out[:, l, n:] = np.nan
    return list(out)


def _check(tbs, limits=None, objectives=None):
    ex = pareto_front(tbs, limits, objectives)
    want, plans = brute_force_front(tbs, limits, objectives)
    got = {tuple(v) for v in ex.values}
    assert got == want
    assert len(ex) == len(want)                          # one plan per distinct front point
    k = ex.values.shape[1]
    for v, plan in zip(ex.values, ex.plans):
        assert tuple(fold_sum(tbs, plan)[:k]) == tuple(v)   # the plan reaches its point
        assert tuple(int(j) for j in plan) in plans[tuple(v)]


@settings(max_examples=150, deadline=None)
@given(tables())
def test_front_equals_brute_force_with_ties(tbs):
    _check(tbs)


@settings(max_examples=60, deadline=None)
@given(tables(floats=True))
def test_front_equals_brute_force_floats(tbs):
    _check(tbs)


@settings(max_examples=100, deadline=None)
@given(tables(), st.integers(0, 12), st.booleans())
def test_budgets_epsilon_constraint_equal_brute_force(tbs, lim, project):
    d = len(tbs)
    # a budget on the last column; with project it is a budget-only column, projected out
    _check(tbs, {d - 1: float(lim)}, d - 1 if project else None)


def test_budget_nobody_meets_gives_an_empty_front():
    t = [np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])]
    ex = pareto_front(t, {1: 2.0})
    assert len(ex) == 0 and ex.plans.shape == (0, 1)


def test_bad_tables_are_named():
    with pytest.raises(ValueError, match="layer row 1 has no choice"):
        pareto_front([np.array([[1.0], [np.nan]]), np.array([[1.0], [1.0]])])
    with pytest.raises(ValueError, match="max_points = 3"):
        pareto_front([np.arange(16.0).reshape(2, 8), -np.arange(16.0).reshape(2, 8)], max_points=3)


def test_hypervolume_2d_against_a_grid_count():
    pts = np.array([[1, 3], [2, 2], [3, 1], [2.5, 2.5]])
    xs = np.arange(0, 4, 0.01) + 0.005
    grid = np.array([[x, y] for x in xs for y in xs])
    dom = np.zeros(len(grid), bool)
    for p in pts:
        dom |= (grid >= p).all(axis=1)
    assert hypervolume_2d(pts, (4, 4)) == pytest.approx(dom.sum() * 1e-4, rel=1e-3)
    assert hypervolume_2d(pts, (4, 4)) == pytest.approx(3 + 2 + 1)


# -- on a network ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def problem():
    from tests.support.search_problems import small_problem

    return small_problem(objectives=("proxy", "cycles_total"))


def test_exact_front_dominates_every_nsga2_point(problem):
    ex = run_search(problem, mode="exact")
    assert ex.mode == "exact" and ex.to_dict()["mode"] == "exact"
    assert {m.origin for m in ex.front} == {"exact"} and ex.sources["exact"] == len(ex.front)
    ev = np.array([m.values for m in ex.front])
    assert len(front_of(ev)) == len(ev)                  # the exact front is non-dominated in itself
    sampled = run_search(problem, trials=300, seed=2, population=30, warm_start=False)
    assert sampled.mode == "sampler"
    pts = np.array([m.values for m in sampled.front])
    assert dominates_or_equals(ev, pts).all()
    ref = ev.max(axis=0) * 1.0001
    assert hypervolume_2d(pts, ref) < hypervolume_2d(ev, ref)


def test_exact_best_under_budget_is_optimal_against_every_baseline():
    from structconv.search import best_random, greedy, uniform
    from tests.support.search_problems import small_problem

    pb = small_problem({"cycles_total": 0.6}, objectives=("proxy", "cycles_total"))
    ex = run_search(pb, mode="auto")
    assert ex.mode == "exact" and ex.best is not None
    assert ex.best.evaluation.ratios["cycles_total"] <= 0.6
    best = ex.best.evaluation.proxy_loss
    loss = pb.proxies.tables["kept_dof"].loss
    rivals = [greedy(pb), best_random(pb, 300, seed=0), uniform(pb)[0]]
    rivals = [r for r in rivals if r is not None]
    assert all(best <= loss(list(r.index)) + 1e-12 for r in rivals)
    # brute force is out of reach here; the single-objective DP must agree with the 2-D front's best
    single = exact_front(pb, ("proxy",))
    table = pb.proxies.tables["kept_dof"]
    assert len(single) == 1 and single.values[0, 0] + table.loss([0] * len(pb.names)) \
        - table.loss_terms()[:, 0].sum() == pytest.approx(best, abs=1e-9)


def test_exact_mode_refuses_cross_layer_objectives_and_auto_picks_the_sampler():
    from tests.support.search_problems import small_problem

    pb = small_problem(objectives=("proxy", "cycles_pipelined"))
    with pytest.raises(ValueError, match="cycles_pipelined.*cross-layer"):
        run_search(pb, mode="exact")
    res = run_search(pb, trials=20, population=10, mode="auto")
    assert res.mode == "sampler"
    with pytest.raises(ValueError, match=r"mode = 'fast' is not one of"):
        run_search(pb, mode="fast")
    three = small_problem(objectives=("proxy", "cycles_total", "energy_pj"))
    assert run_search(three, trials=12, population=6, mode="auto").mode == "sampler"


@pytest.mark.parametrize("proxy", ["params", "mults"])
def test_a_proxy_named_like_a_cost_is_optimised_as_the_proxy(proxy):
    """--proxy params predicts accuracy from kept parameters (more is better): the exact best under a budget
    keeps the most parameters it can, the one the evaluator scores best, not the fewest (found by the
    accuracy benchmark v2, whose params front picked the cheapest plan at every budget)."""
    from tests.support.search_problems import small_problem

    pb = small_problem({"cycles_total": 0.7}, objectives=("proxy", "cycles_total"), proxy=proxy)
    ex = run_search(pb, mode="exact")
    table = pb.proxies.tables[proxy]
    assert table.higher_is_better
    best = ex.best.evaluation
    fewest = min(getattr(m.evaluation, proxy) for m in ex.front)
    assert getattr(best, proxy) == max(getattr(m.evaluation, proxy) for m in ex.front) > fewest
    assert best.proxy_loss == min(m.evaluation.proxy_loss for m in ex.front)
