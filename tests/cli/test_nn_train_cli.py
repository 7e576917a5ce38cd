"""`structconv train`: files written, --json, resume, one-line errors (exit 2)."""
from __future__ import annotations

import json

import pytest
import torch

from structconv.cli import main
from structconv.nn import build_module, evaluate, load_checkpoint, load_dataset, structure_

FAST = ["--epochs", "1", "--input-size", "8", "--batch-size", "128", "--threads", "1", "--lr", "0.05"]


def test_train_small_cnn_json_and_files(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "small_cnn", "--preset", "uniform-n2", "--lam", "0.5", "--out", str(out), "--json",
               *FAST])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    d = json.loads(captured.out)
    assert d["model"] == "small_cnn" and d["plan"]["name"] == "uniform-n2"
    assert set(d["residuals"]) == {"conv2", "conv3"}                 # the first conv stays dense
    # the reported accuracies are the trained and the projected model's on the digits validation split
    model = build_module("small_cnn", num_classes=10, in_channels=1)
    model.load_state_dict(load_checkpoint(out / "final.pt")["state_dict"])
    val = load_dataset("digits", size=8, channels=1).val
    assert d["acc_before"] == evaluate(model, val)["acc"]
    assert d["acc_after"] == evaluate(structure_(model, "uniform-n2"), val)["acc"]
    for f in ("metrics.jsonl", "checkpoint.pt", "final.pt", "summary.json"):
        assert (out / f).is_file()
    assert json.loads((out / "summary.json").read_text())["acc_after"] == d["acc_after"]
    ck = load_checkpoint(out / "final.pt")
    assert ck["model"] == "small_cnn" and ck["meta"]["num_classes"] == 10
    assert ck["meta"]["input_shape"] == [1, 8, 8]

    # the same command with --resume has nothing left to do and keeps the weights
    rc = main(["train", "small_cnn", "--preset", "uniform-n2", "--lam", "0.5", "--out", str(out), "--json",
               "--resume", *FAST])
    assert rc == 0
    again = load_checkpoint(out / "final.pt")
    assert all(torch.equal(again["state_dict"][k], v) for k, v in ck["state_dict"].items())

    rc = main(["train", "small_cnn", "--preset", "uniform-n2", "--lam", "1.0", "--out", str(out), "--resume",
               *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "lam: checkpoint 0.5 vs now 1.0" in err


def test_train_zoo_model_with_preset(tmp_path, capsys):
    rc = main(["train", "resnet20", "--preset", "uniform-n2", "--out", str(tmp_path), "--json", *FAST])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    d = json.loads(captured.out)
    assert len(d["residuals"]) == 18 and "layer1.0.conv1" in d["residuals"]


@pytest.mark.parametrize("argv, match", [
    (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "does not exist"),
    (["--dataset", "cifar10"], "data_dir is required"),
    (["--epochs", "-1"], "--epochs = -1"),
    (["--preset", "no-such-preset"], "preset"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, match):
    rc = main(["train", "small_cnn", "--out", str(tmp_path / "o"), *FAST, *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and match in err


def test_plan_file_that_does_not_fit(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: bad\nlayers:\n  conv7: {c: 1, n: 1}\n")
    rc = main(["train", "small_cnn", "--plan", str(plan), "--out", str(tmp_path / "o"), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and "conv7" in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_train_on_a_local_cifar10_copy(tmp_path, capsys):
    from tests.support.fake_data import write_fake_cifar

    write_fake_cifar(tmp_path / "cifar-10-batches-py", n=8)
    rc = main(["train", "small_cnn", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--preset",
               "uniform-n2",
               "--out", str(tmp_path / "o"), "--json", "--epochs", "1", "--batch-size", "16", "--threads",
               "1"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    d = json.loads(captured.out)
    assert d["epochs_trained"] == 1 and d["eval_split"] == "val"
    ck = load_checkpoint(tmp_path / "o" / "final.pt")
    assert ck["meta"]["input_shape"] == [3, 32, 32] and ck["meta"]["dataset"]["train_size"] == 40


def test_train_on_mnist_format_files_with_a_design_plan(tmp_path, capsys):
    """`--dataset idx` reads MNIST-format files; a plan mixing a structure and a design trains and
    decomposes."""
    import numpy as np

    from structconv.core import count_network
    from structconv.nn import network_from_module, write_idx

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 8)
    images = (rng.random((80, 28, 28)) * 40 + labels[:, None, None] * 20).astype(np.uint8)   # classes differ
    for split in ("train", "t10k"):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels)
    plan = tmp_path / "plan.yaml"
    plan.write_text("layers:\n  conv2: {design: dw_pw}\n  conv3: {c: 8, n: 2}\n")
    rc = main(["train", "small_cnn", "--dataset", "idx", "--data-dir", str(tmp_path), "--input-size", "16",
               "--epochs", "1", "--batch-size", "16", "--plan", str(plan), "--design-init", "scratch",
               "--out", str(tmp_path / "run"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["epochs_trained"] == 1 and out["plan"]["layers"]["conv2"] == {"design": "dw_pw"}
    assert set(out["residuals"]) == {"conv3"} and out["distillation"] == {"conv2": None}   # scratch: no fit
    ck = load_checkpoint(tmp_path / "run" / "final.pt")
    assert ck["meta"]["dataset"]["name"] == "idx"
    assert main(["decompose", str(tmp_path / "run" / "final.pt"), "--out", str(tmp_path / "dec.pt")]) == 0
    from structconv.nn import SmallCNN, load_decomposed

    net = network_from_module(SmallCNN(1, 10), torch.zeros(1, 1, 16, 16), name="small_cnn")
    want = count_network(net, {"conv2": {"design": "dw_pw"}, "conv3": {"c": 8, "n": 2}}).structured.params
    dec = load_decomposed(tmp_path / "dec.pt")
    dec = dec[0] if isinstance(dec, tuple) else dec
    assert sum(p.numel() for p in dec.parameters()) == want         # the deployable form is what core counts


@pytest.mark.parametrize("field, flag, value, bound", [
    ("epochs", "--epochs", -1, "[0, inf)"),
    ("lr", "--lr", 0.0, "(0, inf)"),               # the CLI once allowed 0 here, the API did not
    ("world_size", "--nproc", 0, "[1, inf)"),
    ("batch_size", "--batch-size", 0, "[1, inf)"),
    ("lam", "--lam", -1.0, "[0, inf)"),
])
def test_one_set_of_bounds_for_the_api_and_the_command_line(field, flag, value, bound, tmp_path, capsys):
    from structconv.nn import SettingError, TrainSettings

    with pytest.raises(SettingError) as e:
        TrainSettings(**{field: value})
    assert str(e.value) == f"{field} = {value!r} is out of range {bound}"
    rc = main(["train", "small_cnn", flag, str(value), "--out", str(tmp_path / "o")])
    assert rc == 2 and (capsys.readouterr().err
                        == f"structconv: error: {flag} = {value!r} is out of range {bound}\n")
    assert not (tmp_path / "o").exists()  # checked before anything is written


def test_a_run_at_chance_is_flagged_and_its_weights_warned_about(tmp_path, capsys):
    """lr 1e-9 leaves the initial weights as they are: the summary flags an accuracy near chance, and
    training again from those weights warns before it starts (issue 20)."""
    still = ["--epochs", "1", "--input-size", "8", "--threads", "1", "--lr", "1e-9", "--json"]
    rc = main(["train", "small_cnn", "--out", str(tmp_path / "a"), *still])
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert rc == 0 and d["chance_acc"] == 10.0 and d["acc_before"] <= 15.0
    assert d["warnings"] and "near chance (10.00%)" in d["warnings"][0]
    assert err.count("structconv: warning: the trained model's val accuracy") == 1
    rc = main(["train", "small_cnn", "--weights", str(tmp_path / "a" / "final.pt"), "--out",
               str(tmp_path / "b"), *still])
    err = capsys.readouterr().err
    assert rc == 0 and "the --weights score" in err and "look untrained" in err


def test_a_trained_run_is_not_flagged(tmp_path, capsys):
    rc = main(["train", "small_cnn", "--out", str(tmp_path / "a"), "--json", "--epochs", "3", "--input-size",
               "8", "--threads", "1", "--lr", "0.05"])
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert rc == 0 and d["acc_before"] > 15.0, d["acc_before"]     # digits learn in 3 epochs
    assert d["warnings"] == [] and "warning" not in err


def test_train_takes_input_shape_like_every_command(tmp_path, capsys):
    """--input-shape N,C,H,W (issue 19); --input-size H stays its alias; a non-square or disagreeing shape
    is a one-line error before anything is written."""
    fast = [a if a != "--input-size" else "--input-shape" for a in FAST]
    fast[fast.index("--input-shape") + 1] = "1,1,8,8"
    assert main(["train", "small_cnn", "--out", str(tmp_path / "run"), "--json", *fast]) == 0
    capsys.readouterr()
    assert load_checkpoint(tmp_path / "run" / "final.pt")["meta"]["input_shape"] == [1, 8, 8]
    for bad in (["--input-shape", "1,1,8,9"], ["--input-shape", "1,1,8,8", "--input-size", "16"],
                ["--input-shape", "8,8"]):
        rc = main(["train", "small_cnn", "--epochs", "1", "--out", str(tmp_path / "bad"), *bad])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "--input-shape" in err, err
        assert not (tmp_path / "bad").exists()
