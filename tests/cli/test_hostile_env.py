"""Hostile environments (issue 21, deliverable 7) and checks before work: each case runs `structconv` in a
subprocess and asserts exit 2 with exactly one stderr line and no traceback (or a clean success), no file
left behind, and bounded CPU time and memory of that one process.

- an ASCII locale (LANG=C without Python's UTF-8 mode): output escaped, files still UTF-8;
- standard output / error closed;
- a read-only package and no HOME (run as ``nobody``): Numba caches in a private temp directory, one note;
- a full disk (a real 512 KiB tmpfs, filled to a given slack) under search, train, report and decompose;
- files and flags that are wrong are refused before the proxies, the tracing or the training start.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.bounded_run import Bounded, run_bounded

ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30
KIB = 1 << 10
SEARCH_FAST = ["--proxies", "params", "--trials", "3", "--no-progress", "--population", "10"]
TRAIN_FAST = ["--preset", "uniform-n2", "--input-size", "8", "--batch-size", "128", "--threads", "1",
              "--quiet"]


def _env(**changes) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_cli(argv, cwd, env=None, close=(), as_nobody=False, timeout=600) -> Bounded:
    """``structconv ARGV`` in a fresh process: exit code, output, and that process's own CPU time and peak
    RSS."""
    cmd = [sys.executable, "-m", "structconv", *map(str, argv)]
    if as_nobody:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    return run_bounded(cmd, cwd=cwd, env=env or _env(), close=close, timeout=timeout)


def assert_refused(r: Bounded, *needles: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback; the line names every needle."""
    lines = r.err.splitlines()
    assert r.rc == 2, r.err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("structconv: error: "), r.err[-3000:]
    assert "Traceback" not in r.err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    assert r.peak_bytes < GIB, r.peak_bytes
    return lines[0]


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a directory)."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


# -- an ASCII locale ----------------------------------------------------------------------------------
C_LOCALE = dict(LANG="C", LC_ALL="C", PYTHONUTF8="0", PYTHONIOENCODING=None)


def test_c_locale_output_is_escaped_not_a_traceback(tmp_path):
    utf8 = run_cli(["zoo"], tmp_path, env=_env(LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8"))
    ascii_ = run_cli(["zoo"], tmp_path, env=_env(**C_LOCALE))
    assert utf8.rc == 0 and ascii_.rc == 0, ascii_.err
    assert "…" in utf8.out                                    # the case exists: a name cut with an ellipsis
    assert ascii_.err == "" and ascii_.out.isascii()
    assert ascii_.out.encode() == utf8.out.encode("ascii", "backslashreplace")


def test_c_locale_files_are_written_as_utf8(tmp_path):
    r = run_cli(["report", "small_cnn", "--no-paper", "--format", "md", "-o", "r.md", "-q"], tmp_path,
                env=_env(**C_LOCALE))
    assert r.rc == 0, r.err[-3000:]
    text = (tmp_path / "r.md").read_bytes().decode("utf-8")
    assert not text.isascii()                                 # the report has non-ASCII (·), written whole


# -- standard streams closed --------------------------------------------------------------------------
@pytest.mark.parametrize("closed, rc", [((1,), 2), ((1, 2), 2), ((2,), 0), ((0,), 0)],
                         ids=["stdout", "stdout+stderr", "stderr", "stdin"])
def test_closed_standard_streams(tmp_path, closed, rc):
    r = run_cli(["cost", "resnet20", "--json"], tmp_path, close=closed)
    assert r.rc == rc, r.err
    assert "Traceback" not in r.err
    if 1 in closed and 2 not in closed:
        assert_refused(r, "standard output is closed")
    if 2 in closed:
        assert r.err == ""
    if 1 not in closed:
        assert json.loads(r.out)["model"] == "resnet20"
    assert r.cpu_s < 30 and r.peak_bytes < GIB
    assert tree(tmp_path) == {}


# -- a read-only package, no HOME ---------------------------------------------------------------------
def _nobody_can_run() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
                            "-c", "import structconv, numba"], cwd="/", env=_env(), capture_output=True)
    return probe.returncode == 0


nobody = pytest.mark.skipif(not _nobody_can_run(), reason="needs root, setpriv and a package nobody can read")
NOBODY_UID = 65534


def _numba_note(r: Bounded) -> Path:
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("structconv: note: Numba cannot cache"), r.err[-3000:]
    return Path(lines[0].rsplit(" ", 1)[1])


@nobody
def test_read_only_package_and_no_home_caches_numba_in_temp(tmp_path):
    """As nobody, the package (root's, 755) is read-only and HOME unset points at /nonexistent."""
    r = run_cli(["zoo"], "/", env=_env(HOME=None, NUMBA_CACHE_DIR=None), as_nobody=True)
    assert r.rc == 0 and "Traceback" not in r.err
    where = _numba_note(r)
    st = where.lstat()
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == NOBODY_UID and not st.st_mode & 0o077
    assert r.out == run_cli(["zoo"], tmp_path).out


@pytest.fixture
def public_tmp():
    """A sticky world-writable directory nobody can reach (pytest's tmp_path is root's alone)."""
    tmp = Path(tempfile.mkdtemp(prefix="structconv-test-"))
    tmp.chmod(0o1777)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


@nobody
def test_numba_cache_never_uses_a_directory_planted_by_another_user(public_tmp):
    tmp = public_tmp
    planted = tmp / f"structconv-numba-{NOBODY_UID}"
    planted.mkdir()
    planted.chmod(0o777)                              # root's, writable by all: its pickles could be swapped
    r = run_cli(["zoo"], "/", env=_env(HOME=None, NUMBA_CACHE_DIR=None, TMPDIR=str(tmp)), as_nobody=True)
    assert r.rc == 0
    where = _numba_note(r)
    assert where != planted and where.parent == tmp and where.lstat().st_uid == NOBODY_UID
    assert list(planted.iterdir()) == []


@nobody
@pytest.mark.slow
def test_simulate_with_read_only_package_and_no_home(tmp_path):
    r = run_cli(["simulate", "small_cnn", "--json"], "/", env=_env(HOME=None, NUMBA_CACHE_DIR=None),
                as_nobody=True)
    assert r.rc == 0, r.err[-3000:]
    _numba_note(r)
    assert json.loads(r.out) == json.loads(run_cli(["simulate", "small_cnn", "--json"], tmp_path).out)


# -- a full disk --------------------------------------------------------------------------------------
@pytest.fixture
def disk(tmp_path):
    """A real 512 KiB tmpfs (root only), unmounted after the test."""
    d = tmp_path / "disk"
    d.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(d)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(d: Path, slack: int) -> None:
    """Fill the disk, then free ``slack`` bytes of it."""
    with open(d / ".fill", "wb", buffering=0) as f:
        try:
            while f.write(b"\0" * 4096):
                pass
        except OSError:
            pass
        size = f.seek(0, os.SEEK_END)
    os.truncate(d / ".fill", max(0, size - slack))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small_cnn checkpoint to decompose."""
    out = tmp_path_factory.mktemp("trained")
    r = run_cli(["train", "small_cnn", *TRAIN_FAST, "--epochs", "1", "--out", out / "run"], out)
    assert r.rc == 0, r.err[-3000:]
    return out / "run" / "checkpoint.pt"


FULL_DISK = [  # (id, argv on disk D with the checkpoint CK, slack in bytes)
    ("search-full", lambda d, ck: ["search", "small_cnn", *SEARCH_FAST, "--out", d / "s"], 0),
    ("search-journal", lambda d, ck: ["search", "small_cnn", *SEARCH_FAST, "--out", d / "s"], 8 * KIB),
    ("search-front", lambda d, ck: ["search", "small_cnn", *SEARCH_FAST, "--out", d / "s"], 16 * KIB),
    # 2 workers: the journal fills mid-run in a worker (was: a multiprocessing traceback per worker)
    ("search-workers-2", lambda d, ck: ["search", "small_cnn", *SEARCH_FAST, "--workers", "2",
                                        "--out", d / "s"], 16 * KIB),
    ("search-storage", lambda d, ck: ["search", "small_cnn", *SEARCH_FAST, "--out", "s",
                                      "--storage", d / "db" / "x.journal"], 4 * KIB),
    ("train-full", lambda d, ck: ["train", "small_cnn", *TRAIN_FAST, "--epochs", "2", "--out", d / "r" / "x"],
     0),
    ("train-room", lambda d, ck: ["train", "small_cnn", *TRAIN_FAST, "--epochs", "2", "--out", d / "r"],
     60 * KIB),
    ("train-epoch-2", lambda d, ck: ["train", "small_cnn", *TRAIN_FAST, "--epochs", "3", "--out", d / "r"],
     300 * KIB),
    ("report-full", lambda d, ck: ["report", "small_cnn", "--no-paper", "-q", "-o", d / "r.html"], 0),
    ("report-write", lambda d, ck: ["report", "small_cnn", "--no-paper", "-q", "-o", d / "r.html"], 64 * KIB),
    ("decompose-full", lambda d, ck: ["decompose", ck, "--preset", "uniform-n2", "--out", d / "d.pt"], 0),
    ("decompose-write", lambda d, ck: ["decompose", ck, "--preset", "uniform-n2", "--out", d / "d.pt"],
     8 * KIB),
]


def _whole(d: Path) -> None:
    """What a failed run kept on the disk is whole and resumable: a journal of complete records, a checkpoint
    that loads with the metrics of its epochs; nothing temporary, no lock, no empty directory."""
    from structconv.nn import load_checkpoint
    from structconv.search.study.journal import check_journal

    for p in d.rglob("*"):
        assert not p.name.endswith((".tmp", ".workers")) and not p.name.startswith((".save.", ".search")), p
        assert not (p.is_dir() and not any(p.iterdir())), f"empty directory {p}"
        if p.name == "study.journal.lock" or p.name.endswith(".journal.lock"):
            assert p.with_suffix("").exists(), f"lock without its journal: {p}"
        if p.suffix == ".journal":
            assert p.read_bytes().endswith(b"\n")
            check_journal(p)
        if p.name == "checkpoint.pt":
            epoch = load_checkpoint(p)["epoch"]
            lines = (p.parent / "metrics.jsonl").read_text().splitlines()
            assert [json.loads(line)["epoch"] for line in lines] == list(range(epoch + 1))


@pytest.mark.parametrize("make_argv, slack", [c[1:] for c in FULL_DISK], ids=[c[0] for c in FULL_DISK])
def test_full_disk_is_one_line_and_nothing_half_written(disk, tmp_path, trained, make_argv, slack):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    fill(disk, slack)
    r = run_cli(make_argv(disk, trained), cwd)
    assert_refused(r, "no space left")
    assert r.cpu_s < 120
    (disk / ".fill").unlink()
    _whole(disk)
    assert not (disk / "r.html").exists() and not (disk / "d.pt").exists()
    assert tree(cwd) == {}


# -- files and flags checked before the work ----------------------------------------------------------
BEFORE_WORK = [  # (id, argv, what the line names, CPU seconds it may take: the 30 s;
    # before this fix a garbage journal cost 36 s of proxies first)
    ("garbage-journal", ["search", "resnet20", "--storage", "garbage.journal"], ["garbage.journal", "line 1"],
     30),
    ("garbage-sqlite", ["search", "resnet20", "--storage", "sqlite:///garbage.db"], ["garbage.db"], 30),
    ("journal-is-dir", ["search", "resnet20", "--storage", "adir/"], ["adir"], 30),
    ("garbage-weights", ["search", "resnet20", "--weights", "junk.pt"], ["junk.pt"], 30),
    ("garbage-space", ["search", "resnet20", "--space", "bad.yaml"], ["bad.yaml"], 30),
    ("garbage-hw", ["search", "resnet20", "--hw", "bad.yaml"], ["bad.yaml"], 30),
    ("missing-data-dir", ["search", "resnet20", "--data", "cifar10", "--data-dir", "nowhere"], ["nowhere"],
     30),
    ("train-started", ["train", "small_cnn", "--out", "run"], ["checkpoint.pt", "--resume"], 30),
    ("train-data-dir", ["train", "small_cnn", "--out", "r2", "--dataset", "cifar10", "--data-dir", "nowhere"],
     ["nowhere"], 30),
    ("train-weights", ["train", "small_cnn", "--out", "r3", "--weights", "junk.pt"], ["junk.pt"], 30),
]


@pytest.mark.parametrize("argv, names, cpu_s", [c[1:] for c in BEFORE_WORK], ids=[c[0] for c in BEFORE_WORK])
def test_bad_files_are_refused_before_the_work(tmp_path, argv, names, cpu_s):
    (tmp_path / "garbage.journal").write_text("garbage\n")
    (tmp_path / "garbage.db").write_text("garbage\n")
    (tmp_path / "junk.pt").write_text("junk\n")
    (tmp_path / "bad.yaml").write_text("x: [\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_text("a run is already here\n")
    before = tree(tmp_path)
    r = run_cli([*argv, "--trials", "3"] if argv[0] == "search" else argv, tmp_path)
    assert_refused(r, *names)
    assert r.cpu_s < cpu_s, f"{r.cpu_s:.1f} s of CPU before the refusal"
    assert tree(tmp_path) == before                           # no lock, no out/ directory, nothing changed
