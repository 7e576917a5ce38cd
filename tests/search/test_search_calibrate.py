"""Proxy calibration and held-out validation on synthetic ground truth whose true relation is known."""
import csv

import numpy as np
import pytest

from structconv.search.proxies.calibrate import fit, read_ground_truth, validate


def _write(path, n=60, seed=0, flip_calibration=False):
    """accuracy = 90 - 8 * good + noise; 'noise' is unrelated; params is weakly related."""
    rng = np.random.default_rng(seed)
    good = rng.uniform(0, 1, n)
    params = good + rng.normal(0, 1.5, n)
    noise = rng.uniform(0, 1, n)
    split = np.where(np.arange(n) % 2 == 0, "calibration", "held_out")
    acc = 90 - 8 * good + rng.normal(0, 0.3, n)
    if flip_calibration:                     # on calibration plans only, the relation is reversed
        acc = np.where(split == "calibration", 90 + 8 * good, acc)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["plan_id", "plan_file", "split", "cycles_ratio", "params", "good", "noise",
                    "accuracy_mean"])
        for i in range(n):
            w.writerow([f"p{i}", f"plans/p{i}.yaml", split[i], 0.5, params[i], good[i], noise[i], acc[i]])
    return path


def test_a_true_proxy_beats_params_and_noise_does_not(tmp_path):
    gt = read_ground_truth(_write(tmp_path / "gt.csv"))
    rep = validate(gt, n_boot=500)
    P = rep["proxies"]
    assert rep["held_out_plans"] == 30 and rep["calibration_plans"] == 30
    assert P["good"]["tau"] > 0.7 and P["good"]["tau_ci"][0] > 0.5        # oriented: lower 'good' = better
    assert P["good"]["p_vs_params"] < 0.01
    assert P["noise"]["p_vs_params"] > 0.05 and P["noise"]["tau_ci"][0] < 0 < P["noise"]["tau_ci"][1]
    assert P["params"]["p_vs_params"] is None
    assert rep["winner"]["proxy"] in ("good", "calibrated") and rep["winner"]["beats_params"]
    model = fit(gt)
    assert abs(model.weights[model.names.index("good")]) > 5 * abs(model.weights[model.names.index("noise")])


def test_fit_sees_only_calibration_rows_and_validation_only_held_out(tmp_path):
    gt = read_ground_truth(_write(tmp_path / "gt.csv", flip_calibration=True))
    rep = validate(gt, n_boot=200)
    # directions learned on the (reversed) calibration plans score negatively on held-out plans
    assert rep["model"]["signs"]["good"] == 1
    assert rep["proxies"]["good"]["tau"] < -0.7 and rep["proxies"]["calibrated"]["tau"] < -0.5


def test_calibrated_model_as_an_additive_table():
    from structconv.search import ProxyTable
    from structconv.search.proxies.calibrate import Calibrated

    a = ProxyTable("a", np.array([[1.0, 2.0], [3.0, 5.0]]), base=1.0, reduce="mean")
    b = ProxyTable("b", np.array([[0.0, 4.0], [1.0, 1.0]]), base=0.0, reduce="sum")
    m = Calibrated(("a", "b"), np.array([2.0, -1.0]), np.array([1.0, 0.5]), np.array([2.0, 4.0]), 3.0)
    t = m.table({"a": a, "b": b})
    for idx in ([0, 0], [1, 0], [0, 1], [1, 1]):
        want = m.predict({"a": np.array([a.score(idx)]), "b": np.array([b.score(idx)])})[0]
        assert t.score(idx) == pytest.approx(want)


@pytest.mark.parametrize("edit, msg", [
    (lambda r: r[2].__setitem__(2, "train"), r"line 3: split = 'train' is not one of"),
    (lambda r: r[1].__setitem__(5, "abc"), r"line 2: good = 'abc' is not a number"),
])
def test_bad_ground_truth_is_one_line(tmp_path, edit, msg):
    p = _write(tmp_path / "gt.csv", n=8)
    rows = list(csv.reader(open(p)))
    edit(rows)
    csv.writer(open(p, "w", newline="")).writerows(rows)
    with pytest.raises(ValueError, match=msg):
        read_ground_truth(p)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['accuracy_mean'\]"):
        (tmp_path / "x.csv").write_text("plan_id,plan_file,split,cycles_ratio,params\na,b,held_out,1,2\n")
        read_ground_truth(tmp_path / "x.csv")


def test_a_constant_proxy_gets_direction_plus_one_instead_of_failing():
    """A proxy that is the same on every calibration plan (field_ratio at a small input) has no tau."""
    import numpy as np

    from structconv.search.proxies.calibrate import _direction

    y = np.array([1.0, 3.0, 2.0, 5.0])
    assert _direction(np.ones(4), y) == 1
    assert _direction(-y, y) == -1 and _direction(y, y) == 1
