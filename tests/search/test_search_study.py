"""Study driver: constraints, seeding, determinism, baselines, storage, resume after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from structconv.core.zoo import get_network
from structconv.search import (
    best_random,
    greedy,
    hw_space_from_dict,
    lagrangian_for_budget,
    run_search,
    search,
    uniform,
)
from tests.support import ROOT
from tests.support.search_problems import small_problem


def test_constraints_front_is_exactly_the_feasible_nondominated_set(tmp_path):
    import optuna

    from structconv.search.study import open_storage

    pb = small_problem({"cycles_total": 0.6})
    res = run_search(pb, trials=120, seed=1, population=20, out=tmp_path, study="s")
    assert res.n_complete == 120
    assert 0 < res.n_feasible < 120                       # the budget binds: some trials are infeasible
    assert res.front and all(m.evaluation.ratios["cycles_total"] <= 0.6 + 1e-12 for m in res.front)
    assert res.best is not None and res.best.evaluation.ratios["cycles_total"] <= 0.6 + 1e-12
    assert len({m.index for m in res.front}) == len(res.front)
    # brute force over the stored trials: the front is every feasible point no feasible point dominates
    study = optuna.load_study(study_name="s",
                              storage=open_storage("journal", str(tmp_path / "study.journal")))
    feasible = [tuple(t.values) for t in study.trials
                if t.state == optuna.trial.TrialState.COMPLETE
                and all(c <= 0 for c in t.constraints.values())]
    assert len(feasible) == res.n_feasible

    def dominated(p):
        return any(all(q_ <= p_ for q_, p_ in zip(q, p)) and q != p for q in feasible)

    expected = {p for p in feasible if not dominated(p)}
    assert {tuple(m.values) for m in res.front} == expected


def test_seeds_and_breakdown_in_study(tmp_path):
    import optuna

    from structconv.search.study import open_storage

    pb = small_problem({"cycles_total": 0.7})
    res = run_search(pb, trials=40, seed=0, population=10, out=tmp_path, study="s")
    study = optuna.load_study(study_name="s",
                              storage=open_storage("journal", str(tmp_path / "study.journal")))
    trials = sorted(study.trials, key=lambda t: t.number)
    assert trials[0].user_attrs["seed"] == "preset:uniform-n2"
    assert trials[1].user_attrs["seed"].startswith("uniform:")
    assert any(t.user_attrs.get("seed", "").startswith("exact:") for t in trials)
    assert study.user_attrs["structconv_mode"] == "sampler"
    for t in trials:
        bd = t.user_attrs["breakdown"]
        assert set(t.constraints) == {"cycles_total"}
        assert (t.constraints["cycles_total"] <= 0) == bd["feasible"]
        assert abs(bd["ratios"]["cycles_total"] / 0.7 - 1 - t.constraints["cycles_total"]) < 1e-9
        assert t.params and len(t.params) == len(pb.names)
    assert (tmp_path / "study.journal").stat().st_size > 0
    path = res.save(tmp_path)
    import yaml
    front = yaml.safe_load(path.read_text())
    assert front["trials"]["complete"] == 40 and len(front["front"]) == len(res.front)
    from structconv.core import Plan
    for m in front["front"]:
        Plan.load(tmp_path / m["plan_file"]).validate(pb.space.network)
    assert (tmp_path / "best.yaml").exists()


def test_seeded_runs_are_reproducible():
    a = run_search(small_problem({"cycles_total": 0.6}), trials=60, seed=3, population=10, warm_start=False)
    b = run_search(small_problem({"cycles_total": 0.6}), trials=60, seed=3, population=10, warm_start=False)
    assert [m.index for m in a.front] == [m.index for m in b.front]
    assert [m.values for m in a.front] == [m.values for m in b.front]


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_other_samplers_single_objective(sampler):
    pb = small_problem({"cycles_total": 0.6}, objectives=("proxy",))
    res = run_search(pb, trials=40, seed=0, sampler=sampler)
    assert res.n_complete == 40 and res.best is not None
    assert len(res.front) == 1 and res.front[0].evaluation.feasible


def test_baselines_meet_the_budget():
    pb = small_problem({"cycles_total": 0.6}, objectives=("proxy", "cycles_total"))
    g = greedy(pb)
    assert g.feasible and g.evaluation.ratios["cycles_total"] <= 0.6
    best_u, allu = uniform(pb)
    assert any(b.name == "uniform-n2" for b in allu)
    assert best_u is None or best_u.feasible
    r = best_random(pb, 200, seed=0)
    assert r is None or r.feasible


def _hv(points, ref):
    from structconv.search.exact import hypervolume_2d

    return hypervolume_2d(np.array(points, float), ref)


def test_sampler_improves_a_cross_layer_objective_beyond_its_seeds():
    """cycles_pipelined (the slowest layer's cycles) is no sum: the sampler must find plans that none of
    its seeds (presets, uniform family) reaches. (The exact proxy/cycles_total seeds are left out: they
    leave NSGA-II nothing to add on this small network.) Set after seeing results: 200 trials of seed 0
    sufficed until the simulator's need-set change moved this network's cycles; then the front of 200
    trials was 0.6 % above the seeds' (1 sampled member) and seeds 2, 3 added nothing. At 400 trials
    seeds 0-4 gave 1.022, 1.052, 1.022, 1.028, 1.011 x the seeds' hypervolume (3-7 sampled members);
    the test runs seeds 0-2 and asserts each finds sampled members no seed reaches, and 2 % on average."""
    pb = small_problem(objectives=("proxy", "cycles_pipelined"))
    seed_pts = [pb.evaluate(list(idx)).values for idx in _seed_indices(pb)]
    ref = (max(p[0] for p in seed_pts) + 1.0, max(p[1] for p in seed_pts) + 1.0)
    gains = []
    for seed in range(3):
        res = run_search(pb, trials=400, seed=seed, population=20, warm_start=False)
        sampled = [m for m in res.front if m.origin == "search"]
        assert res.mode == "sampler" and res.sources["sampler"] == len(sampled) > 0
        for m in sampled:                                 # beyond the seeds: no seed is as good
            assert not any(all(s <= v for s, v in zip(sp, m.values)) for sp in seed_pts)
        gains.append(_hv([m.values for m in res.front], ref) / _hv(seed_pts, ref))
    assert min(gains) > 1.0 and sum(gains) / len(gains) > 1.02, gains


def _seed_indices(pb):
    from structconv.search.study import seed_params

    return [[p.get(n, 0) for n in pb.names] for p, _ in seed_params(pb, False, [])]


def test_lagrangian_meets_budget():
    loss = np.array([[0.0, 1.0, 3.0], [0.0, 0.5, 2.0]])
    cost = np.array([[1.0, 0.6, 0.2], [1.0, 0.7, 0.1]])
    idx = lagrangian_for_budget(loss, cost, 0.0, 1.4)
    assert cost[[0, 1], idx].sum() <= 1.4
    assert lagrangian_for_budget(loss, cost, 0.0, 0.1) is None


def test_bad_inputs_are_clear_errors(tmp_path):
    pb = small_problem({"cycles_total": 0.01})
    with pytest.raises(ValueError,
                       match=r"max_cycles_ratio = 0.01 cannot be met: the cheapest plan .* reaches"):
        run_search(pb, trials=5)
    pb = small_problem({"cycles_total": 0.7})
    with pytest.raises(ValueError, match=r"sampler = 'cmaes' is not one of"):
        run_search(pb, trials=5, sampler="cmaes")
    with pytest.raises(ValueError, match=r"scheme 'redis' is not one of"):
        run_search(pb, trials=5, storage="redis://localhost")
    with pytest.raises(ValueError, match=r"neither a URL"):
        run_search(pb, trials=5, storage="nonsense")
    with pytest.raises(ValueError, match=r"cannot be opened"):
        run_search(pb, trials=5, storage="postgresql://nobody@127.0.0.1:1/none")
    bad = tmp_path / "study.journal"
    bad.write_text('{"op_code": 0, "worker_id": "x", "study_name": "a", "directions": [1]}\nnot json\n{}\n')
    with pytest.raises(ValueError, match=r"study file .* is corrupt: line 2"):
        run_search(pb, trials=5, out=tmp_path)
    for kw, msg in [({"population": 1}, r"population = 1 is out of range \[2, 100000\]"),
                    ({"trials": 0}, r"trials = 0 is out of range \[1, 1000000\]"),
                    ({"workers": 0}, r"workers = 0 is out of range \[1, 256\]"),
                    ({"timeout": float("nan")}, r"timeout = nan is out of range \(0, inf\)"),
                    ({"seed": -1}, r"seed = -1 is out of range \[0, 4294967295\]"),
                    ({"trials": 2.5}, r"trials = 2.5 must be an integer in \[1, 1000000\]")]:
        with pytest.raises(ValueError, match=msg):
            run_search(pb, **{"trials": 5, **kw}, out=tmp_path / "new")
        assert not (tmp_path / "new").exists()                        # nothing made for a bad input
    with pytest.raises(ValueError, match=r"objectives \['speed'\] are unknown"):
        small_problem(objectives=("proxy", "speed"))
    with pytest.raises(ValueError, match=r"proxy = 'snip' is not available"):
        small_problem(proxy="snip")


def test_changed_settings_with_same_study_name(tmp_path):
    run_search(small_problem({"cycles_total": 0.7}), trials=10, out=tmp_path, study="x")
    with pytest.raises(ValueError, match="created with other settings"):
        run_search(small_problem({"cycles_total": 0.8}), trials=10, out=tmp_path, study="x")


def test_resume_in_process_runs_only_the_rest(tmp_path):
    a = run_search(small_problem({"cycles_total": 0.7}), trials=25, out=tmp_path, population=10)
    b = run_search(small_problem({"cycles_total": 0.7}), trials=40, out=tmp_path, population=10)
    assert a.n_complete == 25 and b.n_complete == 40
    assert any("resumed study" in n for n in b.notes)


def test_codesign_small_space():
    hs = hw_space_from_dict({"area_budget_mm2": 1.0,
                             "mac_array": {"rows": [8, 16], "cols": [8, 16], "dataflow": ["os", "ws"]},
                             "sum_pool": {"lanes_per_mac": [0.0625, 0.25, 1.0]}})
    pb = small_problem({"cycles_total": 2.0}, objectives=("proxy", "cycles_total", "area"), hw_space=hs)
    res = run_search(pb, trials=40, seed=0, population=10)
    assert res.front and all(m.evaluation.area_mm2 <= 1.0 for m in res.front)
    cd = res.codesign
    assert "answer" in cd and cd["best_dataflow_cycles"] in ("os", "ws", "is")
    assert {r["dataflow"] for r in cd["dataflow_sweep"]} == {"os", "ws", "is"}
    with pytest.raises(ValueError, match="area budget 0.0001 mm\\^2 cannot be met"):
        hs2 = hw_space_from_dict({"area_budget_mm2": 0.0001, "mac_array": {"rows": [8]}})
        run_search(small_problem(hw_space=hs2), trials=5)
    with pytest.raises(ValueError, match=r"unknown knob\(s\) \['mac_array.depth'\]"):
        hw_space_from_dict({"mac_array": {"depth": [1]}})


def _journal_trials(path):
    import optuna

    from structconv.search.study import open_storage

    st = open_storage("journal", str(path))
    names = st.get_all_studies()
    assert len(names) == 1
    return optuna.load_study(study_name=names[0].study_name, storage=st).trials


def _search_cmd(out, trials):
    return [sys.executable, "-m", "structconv", "search", "resnet20", "--max-cycles-ratio", "0.7",
            "--trials", str(trials), "--out", str(out), "--proxies", "kept_dof,params", "--no-progress",
            "--population", "20", "--json"]


def test_resume_after_sigkill(tmp_path):
    from optuna.trial import TrialState

    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(_search_cmd(out, 100000), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    journal = out / "study.journal"
    deadline = time.time() + 240
    try:
        while True:
            time.sleep(0.5)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            if journal.exists() and journal.read_bytes().count(b'"op_code":6') >= 150:
                break                                       # op 6: trial state set (finished)
            assert time.time() < deadline, "search did not start"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {t.number: t for t in _journal_trials(journal)}
    done = {n: t for n, t in before.items() if t.state == TrialState.COMPLETE}
    assert len(done) >= 40
    target = len(done) + 25
    r = subprocess.run(_search_cmd(out, target), cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    after = {t.number: t for t in _journal_trials(journal)}
    complete = [t for t in after.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == target == result["trials"]["complete"]
    for n, t in done.items():                              # every finished trial survived unchanged
        assert after[n].state == TrialState.COMPLETE
        assert after[n].params == t.params and after[n].values == t.values
    assert not [t for t in after.values() if t.state == TrialState.RUNNING]
    # seeds were enqueued once, not again on resume; a killed running trial is retried once at most
    seeds = [t.user_attrs.get("seed") for t in after.values() if t.user_attrs.get("seed")]
    assert seeds.count("preset:uniform-n2") == 1
    retried = [t.user_attrs["retry_of"] for t in after.values() if "retry_of" in t.user_attrs]
    assert len(retried) == len(set(retried))
    for n in retried:
        assert after[n].state == TrialState.FAIL


def test_two_local_workers_share_the_journal(tmp_path):
    from optuna.trial import TrialState

    # enough trials that one worker cannot finish them all while the other is still starting
    res = run_search(small_problem({"cycles_total": 0.7}), trials=200, out=tmp_path, workers=2, seed=0,
                     population=10, study="w2")
    assert res.n_complete >= 200
    trials = _journal_trials(tmp_path / "study.journal")
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 200 <= len(done) <= 201
    assert len({t.user_attrs["breakdown"]["worker"] for t in done if "seed" not in t.user_attrs}) == 2
    assert len({t.number for t in trials}) == len(trials)


def test_renamed_metric_names_say_the_new_name():
    with pytest.raises(ValueError, match=r"objective 'cycles' is now called 'cycles_total'"):
        small_problem(objectives=("proxy", "cycles"))
    with pytest.raises(ValueError, match=r"budget 'latency' is now called 'cycles_total'"):
        small_problem({"latency": 0.7})


def test_search_accepts_a_network_and_a_zoo_name(tmp_path):
    net = get_network("resnet20", input_size=(8, 8))
    kw = dict(max_cycles_ratio=0.8, trials=12, proxies=["kept_dof", "params"], population=6, seed=0)
    res, problem = search(net, "edge-int8", **kw)
    assert problem.space.network is net
    assert res.n_complete == 12 and res.budgets == {"cycles_total": 0.8}
    assert res.best is not None and res.best.evaluation.ratios["cycles_total"] <= 0.8
    res2, problem2 = search("resnet20", "edge-int8", **kw)
    assert problem2.space.network.name == "resnet20" and problem2.space.network.input_shape == (3, 32, 32)
    with pytest.raises(ValueError, match=r"max_cycles_ratio = 0 is out of range \(0, inf\)"):
        search(net, max_cycles_ratio=0, trials=5)
