"""Hardening of the torch side (issue 10): devices, sizes checked before allocating, foreign
checkpoint files, small_cnn decomposition, uncounted compute warned at the caller's line, and
a diverged run's metrics. Every expected failure is one line naming the field, value and range."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from structconv.cli import main
from structconv.core import resolve_network
from structconv.nn import (
    NonFiniteError,
    SmallCNN,
    build_module,
    check_device,
    decompose,
    load_checkpoint,
    load_decomposed,
    load_digits_data,
    network_from_module,
    read_weights,
    save_checkpoint,
    save_decomposed,
    torch_load,
    train,
)
from tests.support.torch_helpers import tiny_digits

FAST = dict(lr=0.05, batch_size=32, quiet=True)
TORCH_ADVICE = ("weights_only=False", "will likely succeed", "add_safe_globals", "trust")




@pytest.fixture(scope="module")
def tiny():
    return tiny_digits(96, 32)


def _model():
    torch.manual_seed(0)
    return SmallCNN(1, 10, width=4)


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def cli(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


# -- 1. devices ----------------------------------------------------------------------------------
AVAILABLE = ", ".join(["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())])


@pytest.mark.parametrize("device, why", [
    ("foo", "is not a device name"),
    ("cuda:77", "is not available"),
    ("meta", "is a meta device, which structconv does not train on"),
    (3, "is not a device name"),
])
def test_bad_device_names_the_device_and_what_is_available(device, why, tiny, tmp_path):
    msg = f"device = {device!r} {why}"
    with pytest.raises(ValueError) as e:
        check_device(device)
    assert str(e.value).startswith(msg) and str(e.value).endswith(f"available: {AVAILABLE}")
    with pytest.raises(ValueError, match="^" + msg.replace("(", r"\(").replace(")", r"\)")):
        train(_model(), tiny, epochs=1, device=device, out_dir=tmp_path / "o", **FAST)
    assert not (tmp_path / "o").exists()                     # checked before anything is written


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CPU-only build")
@pytest.mark.parametrize("device", ["cuda", "cuda:7"])
def test_cuda_on_a_cpu_only_build_is_one_cli_line(device, tmp_path, capsys):
    rc, _, err = cli(["train", "small_cnn", "--epochs", "1", "--out", str(tmp_path / "o"), "--device",
                      device], capsys)
    assert rc == 2 and one_line(err)
    assert f"device = {device!r} is not available" in err and "available: cpu" in err


def test_good_devices_pass():
    assert check_device("cpu") == "cpu" and check_device(torch.device("cpu")) == "cpu"
    assert check_device(None) in ("cpu", "cuda")


# -- 2. sizes checked before allocating --------------------------------------------------------
GIB = 1 << 30


def test_digits_size_beyond_memory_names_field_value_and_range(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("structconv.nn.devices.available_memory", lambda device: GIB)
    # half of 1 GiB holds 1797 images of 1 x 273 x 273 float32, not of 274 x 274
    with pytest.raises(ValueError,
                       match=r"^size = 100000 is out of range \[8, 273\]: 1797 image\(s\) of 1 x 100000"):
        load_digits_data(size=100000)
    rc, _, err = cli(["train", "small_cnn", "--epochs", "1", "--out", str(tmp_path / "o"),
                      "--input-size", "100000"], capsys)
    assert rc == 2 and one_line(err) and "size = 100000 is out of range [8, 273]" in err
    assert not (tmp_path / "o").exists()
    assert load_digits_data(size=16).input_shape == (1, 16, 16)


def test_training_memory_is_checked_before_the_first_batch(monkeypatch, tiny):
    monkeypatch.setattr("structconv.nn.devices.available_memory", lambda device: 1 << 16)
    with pytest.raises(ValueError) as e:
        train(_model(), tiny, epochs=1, **FAST)
    msg = str(e.value)
    assert msg.startswith("input_shape = [1, 8, 8] with batch_size = 32 needs about ")
    assert "more than the 64 KiB free; allowed: an input side of at most about " in msg and "\n" not in msg


def test_real_sizes_pass_the_memory_check():
    from structconv.nn import check_training_memory
    check_training_memory(build_module("resnet20", num_classes=10), (3, 32, 32), 128, "cpu")


# -- 3. foreign checkpoint files ----------------------------------------------------------------
@pytest.fixture
def foreign(tmp_path):
    m = nn.Sequential(nn.Linear(2, 2))
    torch.save(m, tmp_path / "whole.pt")
    torch.save(m, tmp_path / "whole_legacy.pt", _use_new_zipfile_serialization=False)
    with warnings.catch_warnings():
        # torch 2.9+: jit is deprecated, files still exist
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(m), tmp_path / "script.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    return tmp_path


@pytest.mark.parametrize("name, says", [
    ("whole.pt", "holds a whole pickled model (Sequential, saved by torch.save(model)), not a state dict"),
    ("whole_legacy.pt",
     "holds a whole pickled model (Sequential, saved by torch.save(model)), not a state dict"),
    ("script.pt", "holds a TorchScript archive (torch.jit.save), not a state dict"),
    ("junk.pt", "is corrupt or not a torch checkpoint"),
])
def test_foreign_checkpoints_say_what_they_are_and_how_to_save_a_state_dict(foreign, name, says, capsys):
    path = foreign / name
    for load in (torch_load, read_weights, load_checkpoint):
        with pytest.raises(ValueError) as e:
            with warnings.catch_warnings():
                warnings.simplefilter("error")                  # no torch warning on the way either
                load(path)
        msg = str(e.value)
        assert msg.startswith(f"checkpoint {str(path)!r} {says}") and "\n" not in msg
        assert msg.endswith("save the weights with torch.save(model.state_dict(), path)")
        assert not any(a in msg for a in TORCH_ADVICE)
    rc, _, err = cli(["decompose", str(path), "--model", "resnet20", "--preset", "uniform-n2",
                      "--out", str(foreign / "d.pt")], capsys)
    assert rc == 2 and one_line(err) and says in err and not any(a in err for a in TORCH_ADVICE)
    assert not (foreign / "d.pt").exists()


def test_loading_stays_weights_only(foreign, monkeypatch):
    seen = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("weights_only")) or real(*a, **k))
    with pytest.raises(ValueError):
        torch_load(foreign / "whole.pt")
    assert seen == [True]


# -- 4. small_cnn decomposes ---------------------------------------------------------------------
def test_small_cnn_is_buildable_resolvable_and_decomposable(tmp_path, capsys):
    net = resolve_network("small_cnn")
    assert net.layer_names == ("conv1", "conv2", "conv3", "fc") and net.input_shape == (1, 16, 16)
    assert resolve_network("small_cnn", input_size=8, in_channels=3).input_shape == (3, 8, 8)
    torch.manual_seed(0)
    model = build_module("small_cnn", num_classes=10)
    ck = save_checkpoint(tmp_path / "ck.pt", "small_cnn", model.state_dict(), 0, plan=None,
                         meta={"num_classes": 10, "in_channels": 1, "input_shape": [1, 16, 16]})
    rc, out, err = cli(["decompose", str(ck), "--preset", "uniform-n2", "--out", str(tmp_path / "d.pt")],
                       capsys)
    assert rc == 0, err
    assert "layers decomposed" in out
    loaded = load_decomposed(tmp_path / "d.pt").eval()
    dec, _ = decompose(model.eval(), "uniform-n2")
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(loaded(x), dec(x))
    path = save_decomposed(dec, tmp_path / "d2.pt", "small_cnn", "uniform-n2", meta={"num_classes": 10})
    torch.testing.assert_close(load_decomposed(path).eval()(x), dec(x))
    with pytest.raises(ValueError, match=r"^in_channels = 1 is out of range \[3, 3\] for model 'resnet20'"):
        build_module("resnet20", in_channels=1)
    with pytest.raises(ValueError, match="^num_classes = 0"):
        build_module("small_cnn", num_classes=0)


# -- 5. compute network_from_module cannot count -----------------------------------------------
class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)
        self.w = nn.Parameter(torch.randn(4, 4, 3, 3))
        self.up = nn.ConvTranspose2d(4, 4, 2)
        self.lstm = nn.LSTM(4, 4, batch_first=True)
        self.gru = nn.GRU(4, 4, batch_first=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.c(x)
        x = F.conv2d(x, self.w, padding=1)
        x = F.conv2d(x, self.w, padding=1)                   # a second call: still one warning
        x = self.up(x)
        seq = x.flatten(2).transpose(1, 2)
        y, _ = self.lstm(seq)
        y, _ = self.gru(y)
        return self.fc(torch.einsum("bi,ij->bj", y[:, -1], torch.eye(4)))


def test_uncounted_compute_is_warned_once_per_kind_at_the_callers_line():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = network_from_module(Mixed(), torch.randn(1, 3, 8, 8)); line = _line()  # noqa: E702
    # a transposed conv and F.conv2d on a parameter are counted layers (issue 11); the rest is warned about
    assert net.layer_names == ("c", "w", "w#1", "up", "fc")
    assert net["up"].op == "conv_transpose2d" and net["w#1"].shares == "w"
    msgs = [str(w.message) for w in seen]
    assert all(w.filename == __file__ and w.lineno == line for w in seen), [(w.filename, w.lineno)
                                                                            for w in seen]
    for kind in ("nn.LSTM layers ['lstm']", "nn.GRU layers ['gru']", "torch.einsum ran outside"):
        assert sum(kind in m for m in msgs) == 1, (kind, msgs)
    assert len(msgs) == 3, msgs


def _line() -> int:
    import inspect
    return inspect.currentframe().f_back.f_lineno


def test_zoo_modules_trace_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        network_from_module(build_module("resnet20"), torch.randn(1, 3, 32, 32))
        network_from_module(SmallCNN(1, 10), torch.randn(1, 1, 16, 16))


# -- 6. divergence ----------------------------------------------------------------------------
def test_a_diverged_run_leaves_complete_metrics_and_says_so(tiny, tmp_path):
    with pytest.raises(NonFiniteError) as e:
        train(_model(), tiny, pretrain_epochs=1, pretrain_lr=0.05, epochs=1, lr=1e12, batch_size=32,
              quiet=True, out_dir=tmp_path)
    msg = str(e.value)
    assert msg.startswith(("training diverged: loss became ", "training diverged: loss rose to "))
    assert "at epoch 2, step " in msg
    assert "\n" not in msg
    records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    assert "loss" in records[0] and "diverged" not in records[0]
    assert records[1]["diverged"] is True and records[1]["error"] == msg
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 0     # the last good epoch
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _run_at(phase: int, num_classes: int = 10):
    from types import SimpleNamespace

    sched = SimpleNamespace(get_last_lr=lambda: [0.1])
    return SimpleNamespace(start_loss={}, opt_phase=phase, bundle=SimpleNamespace(num_classes=num_classes),
                           device=torch.device("cpu"), sched=sched, model=nn.Linear(2, 2))


def _step(run, value: float) -> None:
    from structconv.nn.training.epoch import check_loss

    t = torch.tensor(value)
    check_loss(run, t, t, None, "epoch 1, step 2")


def test_a_loss_over_ten_times_its_start_stops_training_finite_or_not():
    run = _run_at(1)
    _step(run, 2.5)                                   # the phase's start
    _step(run, 24.0)                                  # under 10x: goes on
    with pytest.raises(NonFiniteError, match=r"loss rose to 26, over 10x its start \(2\.5\) at epoch 1"):
        _step(run, 26.0)
    run.opt_phase = 2                                 # a new phase (SR added) has a start of its own
    _step(run, 200.0)
    with pytest.raises(NonFiniteError, match="loss became inf"):
        _step(run, float("inf"))


def test_a_model_that_starts_near_zero_loss_may_rise_to_ten_times_chance():
    run = _run_at(1, num_classes=10)
    _step(run, 0.01)                                  # a trained model: 10x its start would be 0.1
    _step(run, 1.5)                                   # worse, but not diverged
    with pytest.raises(NonFiniteError, match=r"over 10x its start \(2\.30259\)"):
        _step(run, 23.1)                              # 10 x log(10) = 23.03


def test_a_run_diverging_in_its_first_epoch_still_writes_metrics(tmp_path, capsys):
    rc, _, err = cli(["train", "small_cnn", "--epochs", "1", "--input-size", "8", "--lr", "1e12", "--threads",
                      "1", "--out", str(tmp_path)], capsys)
    assert rc == 2 and one_line(err) and ("training diverged: loss became" in err or
                                          "training diverged: loss rose to" in err)
    (rec,) = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rec["epoch"] == 0 and rec["diverged"] is True
