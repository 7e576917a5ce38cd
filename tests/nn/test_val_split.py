"""The validation split: carved from the training data, class-balanced, deterministic for a seed, disjoint
from the rest of the training data and from the test split; in-loop ranking never reads the test split."""
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

import structconv.nn as nn
from structconv.core import Plan, resolve_network, resolve_plan
from structconv.nn.data.validation import default_size


class Poisoned(Dataset):
    """A test split that fails the run on any access."""

    def __len__(self):
        raise AssertionError("the test split was read")

    def __getitem__(self, i):
        raise AssertionError("the test split was read")


def _bundle(n=200, val=None):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 10
    test = val if val is not None else nn.ArrayDataset(x[:50].clone(), y[:50].clone())
    return nn.DataBundle("toy", nn.ArrayDataset(x, y), test, 10, (1, 8, 8), info={"train_size": n})


def _rows(ds):
    return {bytes(ds.images[i].numpy()) for i in range(len(ds))}


def test_split_is_disjoint_balanced_and_recorded():
    b = _bundle()
    s = nn.split_validation(b, size=40, seed=3)
    assert len(s.val) == 40 and len(s.train) == 160 and s.test is b.val
    assert not (_rows(s.val) & _rows(s.train))                       # disjoint from the training rest
    assert _rows(s.val) | _rows(s.train) == _rows(b.train)            # nothing lost, nothing added
    assert np.bincount(s.val.labels.numpy(), minlength=10).tolist() == [4] * 10
    d = s.to_dict()
    assert (d["train_size"], d["val_size"], d["test_size"]) == (160, 40, 50)
    assert d["validation_seed"] == 3 and len(d["validation_digest"]) == 16


def test_split_is_deterministic_for_a_seed_and_moves_with_it():
    b = _bundle()
    a1, a2 = nn.split_validation(b, size=40, seed=1), nn.split_validation(b, size=40, seed=1)
    other = nn.split_validation(b, size=40, seed=2)
    assert torch.equal(a1.val.images, a2.val.images)
    assert a1.info["validation_digest"] == a2.info["validation_digest"] != other.info["validation_digest"]
    assert nn.split_validation(a1) is a1                                # split once, never again


def test_validation_split_disjoint_from_the_fashion_mnist_test_split():
    pytest.importorskip("numpy")
    try:
        b = nn.load_fashion_mnist(size=14, train_size=2000, val_size=500)
    except ValueError as e:
        pytest.skip(str(e))
    s = nn.split_validation(b)
    assert len(s.val) == default_size(2000) == 200
    assert not (_rows(s.val) & _rows(s.test)) and not (_rows(s.val) & _rows(s.train))
    assert nn.selection_bundle(b).test is None


def test_split_bad_size_is_one_line():
    with pytest.raises(ValueError, match=r"validation_size = 200 is out of range \[1, 199\]"):
        nn.split_validation(_bundle(), size=200)


def test_in_loop_evaluation_never_reads_the_test_split():
    from structconv.core import Structure
    from structconv.search import SRFineTune

    digits = nn.load_dataset("digits")
    b = nn.DataBundle("digits", digits.train, Poisoned(), 10, digits.input_shape, info=dict(digits.info))
    net = resolve_network("small_cnn", input_size=(8, 8), in_channels=1, num_classes=10)
    harsh = Plan({n: Structure(1, (1, 1)) for n in ("conv2", "conv3")}, name="harsh", model="small_cnn")
    ev = SRFineTune("small_cnn", b, device="cpu", model_kw={"num_classes": 10, "in_channels": 1})
    accs = [ev(p, 1) for p in (resolve_plan(None, net), harsh)]
    assert np.isfinite(accs).all() and ev.recipe["source"].startswith("accuracy benchmark")
