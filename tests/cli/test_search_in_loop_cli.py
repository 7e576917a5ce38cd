"""`structconv search --in-loop N`: the front's most promising plans trained, decomposed and ranked."""
import json

import numpy as np
import pytest
import torch

from structconv.cli import main
from structconv.core import Plan
from structconv.core.zoo import get_network
from structconv.nn import build_module, write_idx
from structconv.search import SRFineTune, get_proxy, load_calibration

SEARCH = ["--max-cycles-ratio", "0.8", "--trials", "12", "--population", "6", "--proxies", "residual,params",
          "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Trained-looking weights of resnet20 at 8x8, a tiny MNIST-format dataset, a space without designs
    (design distillation would dominate the test's time)."""
    root = tmp_path_factory.mktemp("in_loop")
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("t10k", 32)):
        y = (np.arange(n) % 10).astype(np.uint8)
        # labels are learnable
        x = (rng.integers(0, 64, size=(n, 8, 8)) + 18 * y[:, None, None]).astype(np.uint8)
        write_idx(root / f"{split}-images-idx3-ubyte", x)
        write_idx(root / f"{split}-labels-idx1-ubyte", y)
    torch.manual_seed(0)
    w = root / "w.pt"
    torch.save({"state_dict": build_module(get_network("resnet20", input_size=(8, 8))).state_dict(),
                "meta": {"input_shape": [3, 8, 8], "num_classes": 10}}, w)
    space = root / "space.yaml"
    space.write_text("designs: false\n")
    return {"data": root, "weights": w, "space": space}


def _in_loop_args(files, out, *extra):
    return ["search", "resnet20", "--weights", str(files["weights"]), "--data", "idx", "--data-dir",
            str(files["data"]), "--space", str(files["space"]), *SEARCH, "--out", str(out), *extra]


def test_in_loop_trains_the_front_plans_the_proxy_likes_best(capsys, files, tmp_path):
    out = tmp_path / "s"
    rc = main(_in_loop_args(files, out, "--in-loop", "3", "--in-loop-epochs", "1,2", "--device", "cpu",
                            "--json"))
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    d = json.loads(stdout)
    loop = d["in_loop"]
    sign = 1 if get_proxy("residual").higher_is_better is False else -1
    by_loss = sorted(d["front"], key=lambda m: (sign * m["proxies"]["residual"], m["plan"]))
    assert {r["plan"] for r in loop["ranking"]} == {m["plan"] for m in by_loss[:3]}
    done = [r for r in loop["ranking"] if r["state"] == "COMPLETE"]
    assert done and all(r["budget_reached"] == 2 for r in done)
    assert loop["best"]["accuracy"] == max(r["accuracy"] for r in done)
    assert json.loads((out / "in_loop.json").read_text())["best"] == loop["best"]
    # the reported accuracy is a real, repeatable training run of the saved winner
    best = Plan.load(out / "in_loop_best.yaml")
    net = get_network("resnet20", input_size=(8, 8))
    again = SRFineTune("resnet20", load_calibration("idx", net, files["data"]), weights=files["weights"],
                       device="cpu")(best, loop["best"]["budget_reached"])
    assert again == pytest.approx(loop["best"]["accuracy"], abs=1e-9)


@pytest.mark.parametrize("extra, pattern", [
    (["--in-loop", "0"], r"--in-loop = 0 is out of range \[1, inf\)"),
    (["--in-loop", "2", "--in-loop-epochs", "2,1"], r"--in-loop-epochs = '2,1' must be increasing"),
    (["--in-loop", "2", "--in-loop-pruner", "median"], r"--in-loop-pruner = 'median' is not one of"),
    (["--in-loop", "2", "--device", "cuda:7"], r"cuda:7"),
    (["--in-loop", "2", "--train-size", "0"], r"--train-size = 0 needs --data fashion-mnist or idx"),
    (["--train-size", "10"], r"--train-size and --device apply to --in-loop only"),
])
def test_in_loop_bad_flags_are_one_line_before_any_work(capsys, files, tmp_path, extra, pattern):
    out = tmp_path / "s"
    rc = main(_in_loop_args(files, out, *extra))
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("structconv: error:"), err
    import re
    assert re.search(pattern, lines[0]), lines[0]
    assert not out.exists()


def test_in_loop_needs_weights_and_data_and_matching_weights(capsys, files, tmp_path):
    rc = main(["search", "resnet20", *SEARCH, "--out", str(tmp_path / "a"), "--in-loop", "2"])
    assert rc == 2 and "--in-loop needs --weights" in capsys.readouterr()[1]
    other = tmp_path / "other.pt"
    torch.save({"state_dict": build_module(get_network("resnet56", input_size=(8, 8))).state_dict()}, other)
    rc = main(["search", "resnet20", "--weights", str(other), "--data", "digits", *SEARCH, "--out",
               str(tmp_path / "b"), "--in-loop", "2"])
    err = capsys.readouterr()[1].strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "does not hold the parameters of 'resnet20'" in err[0] and not (tmp_path / "b").exists()
