"""A real 2-worker search against a private PostgreSQL server on loopback (tests/support/pg_server.py)."""
import json
import os
import subprocess
import sys
import time

import pytest

from structconv.search.study import resolve_storage_spec
from tests.support import ROOT
from tests.support.search_problems import small_problem


def test_two_workers_share_one_postgres_study(pg_url, tmp_path):
    import optuna
    from optuna.trial import TrialState

    cmd = [sys.executable, "-m", "structconv", "search", "resnet20", "--max-cycles-ratio", "0.7",
           "--trials", "200", "--workers", "2", "--storage", pg_url, "--study", "pg2", "--out", str(tmp_path),
           "--proxies", "kept_dof,params", "--population", "20", "--json", "--no-progress"]
    r = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                       text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert res["trials"]["complete"] >= 200 and res["storage"].startswith("postgresql")
    url = resolve_storage_spec(pg_url, None)[1]
    study = optuna.load_study(study_name="pg2", storage=url)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert 200 <= len(done) <= 201  # MaxTrialsCallback: at most one extra per other worker
    assert len({t.number for t in study.trials}) == len(study.trials)
    workers = {t.user_attrs["breakdown"]["worker"] for t in done}
    assert len(workers) == 2, workers
    assert all(all(v <= 0 for v in t.constraints.values()) == t.user_attrs["breakdown"]["feasible"]
               for t in done)
    # resuming with the same target runs nothing new
    r2 = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                        text=True, timeout=400)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert len(optuna.load_study(study_name="pg2", storage=url).trials) == len(study.trials)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_stale_trial_of_a_killed_worker_is_retried(pg_url):
    import optuna
    from optuna.trial import TrialState

    from structconv.search import run_search
    from structconv.search.study import open_storage

    pb = small_problem({"cycles_total": 0.7})
    st = open_storage(*resolve_storage_spec(pg_url, None), heartbeat_interval=1)
    study = optuna.create_study(study_name="stale", storage=st, directions=["minimize"] * 3)
    t = study.ask()
    params = {n: t.suggest_int(n, 0, k - 1) for n, k in zip(pb.names, pb.sizes)}
    st.record_heartbeat(t._trial_id)                   # the worker dies right after: no more heartbeats
    time.sleep(4.0)                                     # > grace period (3 x 1 s)
    res = run_search(pb, trials=5, storage=pg_url, study="stale", heartbeat_interval=1, seed=0)
    assert res.n_complete == 5
    trials = optuna.load_study(study_name="stale", storage=st).trials
    assert trials[t.number].state == TrialState.FAIL
    retried = [x for x in trials if x.system_attrs.get("failed_trial") == t.number]
    assert len(retried) == 1 and retried[0].params == params and retried[0].state == TrialState.COMPLETE


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_live_workers_trial_is_not_failed_by_another_search(pg_url):
    """A trial whose worker still beats (heartbeat within the grace period) survives another search's run."""
    import optuna
    from optuna.trial import TrialState

    from structconv.search import run_search
    from structconv.search.study import open_storage

    pb = small_problem({"cycles_total": 0.7})
    st = open_storage(*resolve_storage_spec(pg_url, None), heartbeat_interval=10)
    study = optuna.create_study(study_name="live", storage=st, directions=["minimize"] * 3)
    t = study.ask()
    for n, k in zip(pb.names, pb.sizes):
        t.suggest_int(n, 0, k - 1)
    st.record_heartbeat(t._trial_id)                   # alive: grace period is 30 s
    res = run_search(pb, trials=5, storage=pg_url, study="live", heartbeat_interval=10, seed=0)
    assert res.n_complete == 5
    assert optuna.load_study(study_name="live", storage=st).trials[t.number].state == TrialState.RUNNING
    study.tell(t, [1.0, 1.0, 1.0])                     # the live worker finishes its trial normally
