"""train(): metrics, checkpoints, resume == uninterrupted, determinism, DDP == one process, bad input."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from torch.utils.data import TensorDataset

from structconv.core import Plan
from structconv.nn import (
    CHECKPOINT_KEYS,
    DataBundle,
    NonFiniteError,
    SmallCNN,
    evaluate,
    load_checkpoint,
    recipe_for,
    structural_residuals,
    structure_,
    train,
)
from tests.support.torch_helpers import tiny_digits

PLAN = {"conv2": {"c": 2, "n": 2}, "conv3": {"c": 4, "n": 2}, "fc": {"c": 12}}
FAST = dict(lr=0.05, batch_size=32, quiet=True)




@pytest.fixture(scope="module")
def tiny():
    return tiny_digits(192, 64)


def _model(seed=0, bn=True):
    torch.manual_seed(seed)
    return SmallCNN(1, 10, width=4, bn=bn)


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class Stop(Exception):
    pass


def test_two_epochs_write_metrics_checkpoints_summary(tiny, tmp_path):
    m = _model()
    r = train(m, tiny, PLAN, lam=0.1, epochs=2, out_dir=tmp_path, **FAST)
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [0, 1] and lines == r.history
    for key in ("loss", "task_loss", "sr_loss", "train_acc", "val_acc", "lr", "phase", "lam"):
        assert key in lines[0]
    assert abs(lines[1]["loss"] - lines[1]["task_loss"] - 0.1 * lines[1]["sr_loss"]) < 1e-6
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert set(ck) == set(CHECKPOINT_KEYS) and ck["epoch"] == 1 and ck["model"] == "SmallCNN"
    assert Plan.from_dict(ck["plan"]).choices.keys() == {"conv2", "conv3", "fc"}
    assert ck["meta"]["num_classes"] == 10 and ck["meta"]["config"]["lam"] == 0.1
    final = load_checkpoint(tmp_path / "final.pt")
    assert all(torch.equal(final["state_dict"][k], v) for k, v in m.state_dict().items())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["acc_before"] == r.acc_before and summary["acc_after"] == r.acc_after
    assert set(summary["residuals"]) == {"conv2", "conv3", "fc"}
    # the accuracies are the trained model's and the projected model's (weight = A A^+ W), measured apart
    assert r.acc_before == evaluate(m, tiny.val)["acc"]
    projected = structure_(copy.deepcopy(m), PLAN).eval()
    assert r.acc_after == evaluate(projected, tiny.val)["acc"]
    x = torch.stack([tiny.val[i][0] for i in range(16)])
    with torch.no_grad():
        torch.testing.assert_close(r.decomposed_model.eval()(x), projected(x), atol=1e-4, rtol=1e-4)
    # the decomposed model really is a different architecture, evaluated on its own
    assert type(r.decomposed_model.conv2) is not torch.nn.Conv2d


def test_a_short_sr_run_lowers_the_structural_residual(tiny):
    m, plain = _model(), _model()
    before = structural_residuals(m, PLAN)
    train(m, tiny, PLAN, lam=1.0, epochs=2, evaluate_decomposition=False, **FAST)
    train(plain, tiny, PLAN, lam=0.0, epochs=2, evaluate_decomposition=False, **FAST)
    after, without = structural_residuals(m, PLAN), structural_residuals(plain, PLAN)
    assert all(after[k] < before[k] for k in PLAN), (before, after)
    assert all(after[k] < without[k] for k in PLAN), (without, after)       # SR did it, not the task loss


def test_same_seed_same_weights(tiny):
    a, b = _model(), _model()
    train(a, tiny, PLAN, lam=0.1, epochs=1, seed=5, evaluate_decomposition=False, **FAST)
    train(b, tiny, PLAN, lam=0.1, epochs=1, seed=5, evaluate_decomposition=False, **FAST)
    assert _same(a, b)
    c = _model()
    train(c, tiny, PLAN, lam=0.1, epochs=1, seed=6, evaluate_decomposition=False, **FAST)
    assert not _same(a, c)                                        # the seed drives the sample order


@pytest.mark.parametrize("pretrain", [0, 1])
def test_resume_after_interruption_gives_identical_weights(tiny, tmp_path, pretrain):
    kw = dict(lam=0.1, epochs=2 - pretrain, pretrain_epochs=pretrain, evaluate_decomposition=False, **FAST)
    ref = _model()
    ref_r = train(ref, tiny, PLAN, out_dir=tmp_path / "ref", **kw)

    def stop_after_first(rec):
        if rec["epoch"] == 0:
            raise Stop

    m = _model()
    with pytest.raises(Stop):
        train(m, tiny, PLAN, out_dir=tmp_path / "run", callback=stop_after_first, **kw)
    m2 = _model(seed=123)                                        # a fresh process would rebuild the model
    r = train(m2, tiny, PLAN, out_dir=tmp_path / "run", resume=True, **kw)
    assert r.start_epoch == 1 and len(r.history) == 2
    assert _same(ref, m2)
    assert [h["phase"] for h in r.history] == ([1, 2] if pretrain else [2, 2])
    strip = lambda hs: [{k: v for k, v in h.items() if k != "seconds"} for h in hs]  # noqa: E731
    assert strip(r.history) == strip(ref_r.history)


class _Dies(torch.utils.data.Dataset):
    """Raises after ``after`` items: a kill in the middle of an epoch."""

    def __init__(self, base, after):
        self.base, self.after, self.n = base, after, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.n += 1
        if self.n > self.after:
            raise Stop
        return self.base[i]


def test_resume_after_a_crash_mid_epoch(tiny, tmp_path):
    kw = dict(lam=0.1, epochs=2, evaluate_decomposition=False, **FAST)
    ref = _model()
    train(ref, tiny, PLAN, **kw)
    dying = DataBundle("d", _Dies(tiny.train, 192 + 100), tiny.val, 10, (1, 8, 8))
    with pytest.raises(Stop):
        train(_model(), dying, PLAN, out_dir=tmp_path, **kw)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 0
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    m = _model(seed=9)
    train(m, tiny, PLAN, out_dir=tmp_path, resume=True, **kw)
    assert _same(ref, m)


def test_resume_refuses_other_settings_and_fresh_run_refuses_existing(tiny, tmp_path):
    train(_model(), tiny, PLAN, lam=0.1, epochs=1, out_dir=tmp_path, evaluate_decomposition=False, **FAST)
    with pytest.raises(ValueError, match="lam: checkpoint 0.1 vs now 1.0"):
        train(_model(), tiny, PLAN, lam=1.0, epochs=1, out_dir=tmp_path, resume=True, **FAST)
    with pytest.raises(ValueError, match="already exists.*resume"):
        train(_model(), tiny, PLAN, lam=0.1, epochs=1, out_dir=tmp_path, **FAST)


def test_corrupt_checkpoint_is_a_one_line_error(tiny, tmp_path):
    train(_model(), tiny, PLAN, lam=0.1, epochs=1, out_dir=tmp_path, evaluate_decomposition=False, **FAST)
    ck = tmp_path / "checkpoint.pt"
    blob = ck.read_bytes()
    ck.write_bytes(blob[: len(blob) // 2])                        # truncated by a crash or a full disk
    with pytest.raises(ValueError) as e:
        train(_model(), tiny, PLAN, lam=0.1, epochs=2, out_dir=tmp_path, resume=True, **FAST)
    assert "corrupt" in str(e.value) and "\n" not in str(e.value)
    ck.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(ck)
    torch.save({"state_dict": {}}, ck)
    with pytest.raises(ValueError, match="missing key"):
        load_checkpoint(ck)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_nan_weights_and_nan_loss_are_clear_errors(tiny):
    m = _model()
    with torch.no_grad():
        m.conv2.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="conv2.weight.*NaN"):
        train(m, tiny, PLAN, epochs=1, **FAST)
    x = torch.randn(64, 1, 8, 8)
    x[5] = float("inf")
    data = (TensorDataset(x, torch.randint(0, 10, (64,))), None)
    with pytest.raises(NonFiniteError, match="loss became nan at epoch 1, step [0-9]"):
        train(_model(), data, None, epochs=1, **FAST)


def test_plan_that_does_not_fit_the_model(tiny):
    with pytest.raises(ValueError, match="'conv9'"):
        train(_model(), tiny, {"conv9": {"c": 1, "n": 1}}, epochs=1, **FAST)
    with pytest.raises(ValueError, match="c = 9 is out of range"):
        train(_model(), tiny, {"conv2": {"c": 9, "n": 2}}, epochs=1, **FAST)


def test_bad_settings():
    with pytest.raises(ValueError, match="lam"):
        train(_model(), (TensorDataset(torch.zeros(4, 1, 8, 8), torch.zeros(4).long()), None), lam=-1,
              epochs=1)
    with pytest.raises(ValueError, match="batch_size = 30 must be a multiple of world_size = 4"):
        train(_model(), (TensorDataset(torch.zeros(4, 1, 8, 8), torch.zeros(4).long()), None), epochs=1,
              batch_size=30, world_size=4)
    with pytest.raises(ValueError, match="nothing to train"):
        train(_model(), (TensorDataset(torch.zeros(4, 1, 8, 8), torch.zeros(4).long()), None), epochs=0)


def test_recipes_follow_the_supplementary():
    assert recipe_for("resnet20")["weight_decay"] == 1e-4 and recipe_for("resnet20")["batch_size"] == 128
    mv2 = recipe_for("mobilenet_v2")
    assert (mv2["pretrain_epochs"], mv2["epochs"], mv2["pretrain_lr"], mv2["lr"], mv2["weight_decay"]) == \
        (90, 150, 0.5, 0.1, 4e-5)


def test_two_process_ddp_matches_one_process(tiny, tmp_path):
    """Global batch 64 as 2 x 32 (gloo, CPU) vs 64 in one process; no BatchNorm so batch
    statistics cannot differ; same global sample order by construction."""
    kw = dict(lam=0.1, epochs=2, lr=0.05, batch_size=64, quiet=True, evaluate_decomposition=False)
    one, two = _model(bn=False), _model(bn=False)
    r1 = train(one, tiny, PLAN, **kw)
    r2 = train(two, tiny, PLAN, world_size=2, out_dir=tmp_path, **kw)
    for k, v in one.state_dict().items():
        assert torch.allclose(v, two.state_dict()[k], rtol=1e-4, atol=1e-5), k
    assert not _same(one, _model(bn=False))                        # it did train
    assert len(r2.history) == 2
    ck = load_checkpoint(tmp_path / "checkpoint.pt")                 # written by rank 0, both RNG states
    assert ck["epoch"] == 1 and len(ck["rng"]["per_rank"]) == 2
    assert all(torch.equal(ck["state_dict"][k], v) for k, v in two.state_dict().items())
    for h1, h2 in zip(r1.history, r2.history):
        # weights agree to float tolerance, so at most one borderline logit of 64 may flip
        assert abs(h1["val_acc"] - h2["val_acc"]) <= 100.0 / len(tiny.val) + 1e-9
        assert abs(h1["loss"] - h2["loss"]) < 1e-4


def test_every_torch_test_runs_on_one_intra_op_thread():
    """tests/conftest.py gives each test that runs with torch loaded one thread (tiny models, shared CPUs)."""
    assert torch.get_num_threads() == 1
