"""Fault suite for the search: SIGKILLed workers on a shared journal, and resume after a kill.

Real ``structconv search`` subprocesses; every wait polls the journal for progress
(no fixed sleeps) under generous deadlines, so a loaded 2-core machine only makes
the tests slower, not flaky.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from structconv.search.study import resume_seed
from tests.support import ROOT

ENV = dict(os.environ, PYTHONPATH=str(ROOT))
DEADLINE = 180.0
BASE = [sys.executable, "-m", "structconv", "search", "resnet20", "--max-cycles-ratio", "0.7",
        "--proxies", "kept_dof,params", "--population", "20", "--no-progress", "--json"]


def _start(tmp_path, name, args):
    out = open(tmp_path / f"{name}.stdout", "wb")
    err = open(tmp_path / f"{name}.stderr", "wb")
    return subprocess.Popen(BASE + args, cwd=ROOT, env=ENV, stdout=out, stderr=err)


def _tag(proc) -> bytes:
    """How a trial of ``proc`` is marked in the journal (its breakdown's worker)."""
    return f'"worker":"{socket.gethostname()}:{proc.pid}"'.encode()


def _wait_for(journal, procs, count, what: str) -> None:
    """Poll until ``count(journal bytes)`` is true; every process in ``procs`` must stay alive."""
    deadline = time.monotonic() + DEADLINE
    while True:
        for p in procs:
            assert p.poll() is None, f"search exited early ({p.returncode}) while waiting for {what}"
        if journal.exists() and count(journal.read_bytes()):
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def _trials(journal, owners=None):
    """The study's trials; ``owners`` (a dict) gets trial number -> lease token of its RUNNING owner."""
    import optuna

    from structconv.search.study import open_storage

    st = open_storage("journal", str(journal), check=False)
    studies = st.get_all_studies()
    assert len(studies) == 1
    trials = optuna.load_study(study_name=studies[0].study_name, storage=st).trials
    if owners is not None:
        owners.update({t.number: st.owner_token(t._trial_id) for t in trials})
    return trials


def _key(t):
    return tuple(sorted(t.params.items()))


def _assert_finished_kept(before, after) -> None:
    from optuna.trial import TrialState

    assert len({t.number for t in after}) == len(after)
    for t in before:
        if t.state == TrialState.COMPLETE:
            a = after[t.number]
            assert a.state == TrialState.COMPLETE and a.params == t.params and a.values == t.values


def _assert_no_finished_plan_evaluated_again(trials) -> None:
    """A COMPLETE trial repeating a plan that was already finished when it started reuses its values."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE]
    first_done = {}
    for t in sorted(done, key=lambda t: t.datetime_complete):
        first_done.setdefault(_key(t), t)
    for t in done:
        u = first_done[_key(t)]
        if u.number != t.number and u.datetime_complete < t.datetime_start:
            assert "same_as" in t.user_attrs, f"trial {t.number} evaluated the plan of trial {u.number} again"
            assert list(t.values) == list(trials[t.user_attrs["same_as"]].values)


def test_killed_worker_on_a_shared_journal_spares_the_survivor(tmp_path):
    from optuna.trial import TrialState

    journal = tmp_path / "shared.journal"
    common = ["--storage", str(journal), "--study", "shared"]
    victim = _start(tmp_path, "victim", common + ["--out", str(tmp_path / "a"), "--trials", "1000000"])
    survivor = None
    try:
        _wait_for(journal, [victim], lambda b: b.count(_tag(victim)) >= 20, "the first worker's trials")
        survivor = _start(tmp_path, "survivor", common + ["--out", str(tmp_path / "b"), "--trials", "1500"])
        # both run at once: the survivor's start-up recovery must not fail the victim's live trials
        _wait_for(journal, [victim, survivor], lambda b: b.count(_tag(survivor)) >= 20 and
                  b.count(_tag(victim)) >= 40, "both workers' trials")
        assert victim.poll() is None, (tmp_path / "victim.stderr").read_text()[-2000:]
        _kill(victim)
        owners = {}
        before = _trials(journal, owners)
        rc = survivor.wait(timeout=DEADLINE)
        assert rc == 0, (tmp_path / "survivor.stderr").read_text()[-3000:]
    finally:
        for p in (victim, survivor):
            if p is not None and p.poll() is None:
                _kill(p)
    after = _trials(journal)
    _assert_finished_kept(before, after)
    done = [t for t in after if t.state == TrialState.COMPLETE]
    assert 1500 <= len(done) <= 1501
    assert json.loads((tmp_path / "survivor.stdout").read_text())["trials"]["complete"] == len(done)
    assert not [t for t in after if t.state == TrialState.RUNNING]
    # the victim's interrupted trial(s): failed once, retried once with the same parameters
    for t in before:
        if t.state == TrialState.RUNNING and f".{victim.pid}." in owners[t.number]:
            assert after[t.number].state == TrialState.FAIL
            retries = [r for r in after if r.user_attrs.get("retry_of") == t.number]
            assert len(retries) == (1 if t.params else 0)
            assert all(r.params.items() >= t.params.items() for r in retries)
    _assert_no_finished_plan_evaluated_again(after)
    assert not (tmp_path / "shared.journal.workers").exists()           # every lease released or swept


def test_resume_after_kill_evaluates_no_finished_plan_again(tmp_path):
    from optuna.trial import TrialState

    out = tmp_path / "run"
    journal = out / "study.journal"
    proc = _start(tmp_path, "first", ["--out", str(out), "--trials", "1000000"])
    try:
        _wait_for(journal, [proc], lambda b: b.count(b'"op_code":6') >= 150, "finished trials")
    finally:
        _kill(proc)
    before = _trials(journal)
    done_before = {_key(t) for t in before if t.state == TrialState.COMPLETE}
    n_done = len([t for t in before if t.state == TrialState.COMPLETE])
    running = [t.number for t in before if t.state == TrialState.RUNNING]
    target = n_done + 150
    r = subprocess.run(BASE + ["--out", str(out), "--trials", str(target)], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    after = _trials(journal)
    _assert_finished_kept(before, after)
    assert len([t for t in after if t.state == TrialState.COMPLETE]) == target == res["trials"]["complete"]
    assert not [t for t in after if t.state == TrialState.RUNNING]
    _assert_no_finished_plan_evaluated_again(after)
    # the resumed sampler does not replay the killed run's stream: few new trials repeat a finished plan
    new = [t for t in after if t.number >= len(before) and t.state == TrialState.COMPLETE]
    repeats = [t for t in new if _key(t) in done_before]
    assert len(repeats) <= max(3, len(new) // 20), \
        f"{len(repeats)} of {len(new)} new trials repeat a finished plan"
    # the note tells what happened to the interrupted trial, and it is true
    notes = " ".join(res["notes"])
    if running:
        assert f"trial(s) {running} were running" in notes
        retried = {t.user_attrs["retry_of"]: t for t in after if "retry_of" in t.user_attrs}
        for n in running:
            assert after[n].state == TrialState.FAIL
            if before[n].params:
                assert retried[n].state == TrialState.COMPLETE
                assert f"re-enqueued as trial(s) [{retried[n].number}" in notes


def test_resume_seed_differs_from_a_fresh_run():
    assert resume_seed(0, 0) == 0 and resume_seed(7, 0) == 7 and resume_seed(None, 5) is None
    seeds = {resume_seed(0, n) for n in range(1, 200)}
    assert len(seeds) == 199 and 0 not in seeds and all(0 <= s < 2**32 for s in seeds)


def test_a_dead_workers_trial_is_failed_and_a_live_ones_is_not(tmp_path):
    """In-process: a RUNNING trial of a live lease is left alone; once its lease is gone it is retried."""
    import optuna
    from optuna.trial import TrialState

    from structconv.search.study import open_storage, recover_dead_trials

    path = tmp_path / "s.journal"
    live = open_storage("journal", str(path))
    study = optuna.create_study(study_name="s", storage=live)
    t = study.ask()
    t.suggest_int("x", 0, 9)
    st = open_storage("journal", str(path))
    other = optuna.load_study(study_name="s", storage=st)
    assert recover_dead_trials(other, st) == ([], {}, [])                  # owner alive: untouched
    assert other.trials[t.number].state == TrialState.RUNNING
    live.lease.release()                                              # the owner is gone
    failed, retried, unknown = recover_dead_trials(other, st)
    assert failed == [t.number] and unknown == [] and list(retried) == [t.number]
    trials = other.trials
    assert trials[t.number].state == TrialState.FAIL
    assert trials[retried[t.number]].state == TrialState.WAITING
    assert trials[retried[t.number]].user_attrs["retry_of"] == t.number
    assert recover_dead_trials(other, st) == ([], {}, [])             # failed once only
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial"):
        study.tell(t, 1.0)                                            # the dead owner could not finish it


def test_a_journal_write_failing_inside_a_trial_is_one_line(tmp_path, capfd, monkeypatch):
    """The disk fills while a trial writes its parameters: Optuna logged its own warning with a traceback
    before our one line (seen once in CI, where the slack of the tmpfs row fell inside a trial)."""
    import errno

    from optuna.storages.journal._storage import JournalOperation

    import structconv.search.study.journal as journal
    from structconv.cli import main

    real, calls = journal._append, []
    suggest = f'"op_code":{int(JournalOperation.SET_TRIAL_PARAM)}'.encode()

    def filling(path, data, fsync):
        calls.append(data)
        if suggest in data:                           # a running trial's suggest_int: inside optimize
            raise journal.write_error(OSError(errno.ENOSPC, "No space left on device"), path)
        return real(path, data, fsync)

    monkeypatch.setattr(journal, "_append", filling)
    rc = main(["search", "small_cnn", "--proxies", "params", "--trials", "6", "--population", "10",
               "--no-progress", "--out", str(tmp_path / "s")])
    err = capfd.readouterr().err                      # fd level: Optuna's handler holds the real stderr
    assert rc == 2 and any(suggest in c for c in calls)
    assert err.count("\n") == 1 and err.startswith("structconv: error: ") and "no space left" in err, err
