"""Dataset loaders: digits, CIFAR-10 in its real python-pickle format (a tiny fake one), image folders."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from structconv.nn import ArrayDataset, load_cifar10, load_dataset, load_digits_data, load_image_folder
from tests.support.fake_data import write_batch, write_fake_cifar


# -- digits -------------------------------------------------------------------------
def test_digits_default_split_and_normalization():
    b = load_digits_data()
    assert b.num_classes == 10 and b.input_shape == (1, 8, 8)
    assert len(b.train) + len(b.val) == 1797
    assert len(b.val) == 360                                    # 20 %, stratified
    x, y = b.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.long
    xs = torch.stack([b.train[i][0] for i in range(len(b.train))])
    assert abs(float(xs.mean())) < 1e-4 and abs(float(xs.std()) - 1.0) < 1e-3
    counts = torch.bincount(b.val.labels, minlength=10)
    assert int(counts.min()) >= 34                               # every class in the validation split


@pytest.mark.parametrize("mode", ["resize", "pad"])
def test_digits_resized_three_channels(mode):
    b = load_digits_data(size=16, channels=3, mode=mode)
    x, _ = b.train[3]
    assert b.input_shape == (3, 16, 16) and x.shape == (3, 16, 16)
    assert torch.equal(x[0], x[2])
    if mode == "pad":                                            # border is background (the min value)
        assert torch.allclose(x[:, 0, :], x.min().expand(3, 16))


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        load_digits_data(size=4)
    with pytest.raises(ValueError, match="channels"):
        load_digits_data(channels=2)
    with pytest.raises(ValueError, match="mode"):
        load_digits_data(mode="crop")
    with pytest.raises(ValueError, match="dataset"):
        load_dataset("mnist")


# -- CIFAR-10 in the real format ------------------------------------------------------
def test_fake_cifar_loads_in_the_standard_layout(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    batches = write_fake_cifar(root)
    for where in (root, tmp_path):                               # the folder itself or its parent
        b = load_cifar10(where, augment=False)
        assert b.num_classes == 10 and b.input_shape == (3, 32, 32)
        assert len(b.train) == 30 and len(b.val) == 6
        assert b.classes[0] == "airplane" and b.classes[9] == "truck"
    data, labels = batches["data_batch_2"]
    x, y = b.train[6]                                            # first image of batch 2
    raw = torch.from_numpy(data[0].reshape(3, 32, 32)).float() / 255.0
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    assert torch.allclose(x, (raw - mean) / std, atol=1e-6)
    assert int(y) == labels[0]
    assert int(b.val[5][1]) == batches["test_batch"][1][5]


def test_cifar_augmentation_depends_on_seed_epoch_index_only(tmp_path):
    write_fake_cifar(tmp_path)
    a = load_cifar10(tmp_path, augment=True, seed=3)
    b = load_cifar10(tmp_path, augment=True, seed=3)
    a.train.set_epoch(2)
    b.train.set_epoch(2)
    for i in (0, 7, 29):
        assert torch.equal(a.train[i][0], b.train[i][0])
    first = torch.stack([a.train[i][0] for i in range(30)])
    a.train.set_epoch(3)
    assert not torch.equal(first, torch.stack([a.train[i][0] for i in range(30)]))
    assert a.train[0][0].shape == (3, 32, 32)


def test_cifar_missing_directory_and_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_cifar10(tmp_path / "nope")
    write_fake_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(ValueError, match=r"missing file\(s\) \['data_batch_4'\]"):
        load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="data_dir is required"):
        load_cifar10(None)


def test_cifar_wrong_key_names_file_and_key(tmp_path):
    write_fake_cifar(tmp_path)
    write_batch(tmp_path / "data_batch_3", np.zeros((4, 3072), np.uint8), [0] * 4, label_key=b"fine_labels")
    with pytest.raises(ValueError) as e:
        load_cifar10(tmp_path)
    msg = str(e.value)
    assert "data_batch_3" in msg and "'labels'" in msg and "\n" not in msg


@pytest.mark.parametrize("data, labels, match", [
    (np.zeros((4, 1024), np.uint8), [0] * 4, r"\(N, 3072\).*\(4, 1024\)"),
    (np.zeros((4, 3072), np.float32), [0] * 4, "uint8"),
    (np.zeros((4, 3072), np.uint8), [0] * 3, "'labels' has shape"),
    (np.zeros((4, 3072), np.uint8), [0, 1, 2, 10], r"\[0, 9\]"),
])
def test_cifar_wrong_shapes(tmp_path, data, labels, match):
    write_fake_cifar(tmp_path)
    write_batch(tmp_path / "test_batch", data, labels)
    with pytest.raises(ValueError, match=match) as e:
        load_cifar10(tmp_path)
    assert "test_batch" in str(e.value)


def test_cifar_not_a_pickle_and_meta_checks(tmp_path):
    write_fake_cifar(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match="data_batch_1.*not a python pickle"):
        load_cifar10(tmp_path)
    write_fake_cifar(tmp_path)
    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"a", b"b"]}, f, protocol=2)
    with pytest.raises(ValueError, match="batches.meta.*10 names"):
        load_cifar10(tmp_path)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_pickle_cannot_run_code(tmp_path):
    write_fake_cifar(tmp_path)
    with open(tmp_path / "data_batch_5", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(ValueError, match="data_batch_5.*not allowed"):
        load_cifar10(tmp_path)


# -- image folders --------------------------------------------------------------------
def _write_npy_folder(root, classes=("cat", "dog", "eel"), per_class=5, shape=(6, 6, 3), seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            np.save(root / c / f"{i}.npy", rng.integers(0, 256, size=shape, dtype=np.uint8))


def test_folder_npy_split_and_resize(tmp_path):
    _write_npy_folder(tmp_path)
    b = load_image_folder(tmp_path, size=8, val_fraction=0.4)
    assert b.classes == ("cat", "dog", "eel") and b.num_classes == 3
    assert b.input_shape == (3, 8, 8)
    assert len(b.train) == 9 and len(b.val) == 6
    x, y = b.train[0]
    assert x.shape == (3, 8, 8) and int(y) == 0
    assert not set(b.train.samples) & set(b.val.samples)
    b1 = load_image_folder(tmp_path, channels=1)                   # native size, gray
    assert b1.input_shape == (1, 6, 6) and b1.train[0][0].shape == (1, 6, 6)


def test_folder_train_val_layout_and_chw_gray(tmp_path):
    _write_npy_folder(tmp_path / "train", shape=(5, 5), per_class=2)
    _write_npy_folder(tmp_path / "val", shape=(5, 5), per_class=1, seed=1)
    b = load_image_folder(tmp_path)
    assert len(b.train) == 6 and len(b.val) == 3 and b.input_shape == (1, 5, 5)
    x, _ = b.val[2]
    raw = torch.from_numpy(np.load(b.val.samples[2][0])).float()[None] / 255.0
    assert torch.allclose(x, (raw - b.val.mean) / b.val.std, atol=1e-5)


def test_folder_bad_directories(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class subdirectories"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    np.save(tmp_path / "a" / "bad.npy", np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="bad.npy.*shape"):
        load_image_folder(tmp_path)


def test_folder_png_reads_like_the_same_pixels_as_npy(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for fmt in ("png", "npy"):
        for c in ("a", "b"):
            (tmp_path / fmt / c).mkdir(parents=True)
    for c in ("a", "b"):
        for i in range(3):
            px = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
            Image.fromarray(px).save(tmp_path / "png" / c / f"{i}.png")
            np.save(tmp_path / "npy" / c / f"{i}.npy", px)
    png = load_image_folder(tmp_path / "png", val_fraction=0.34)
    npy = load_image_folder(tmp_path / "npy", val_fraction=0.34)
    assert png.input_shape == npy.input_shape == (3, 6, 6)
    for (xp, yp), (xn, yn) in zip(png.train, npy.train):
        assert int(yp) == int(yn) and torch.allclose(xp, xn)


def test_folder_corrupt_png_and_missing_pillow(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ValueError, match=r"x.png.*cannot be read"):
        load_image_folder(tmp_path)
    import structconv.nn.data.folder as folder

    monkeypatch.setattr(folder, "have_pil", lambda: False)
    with pytest.raises(ValueError, match="Pillow"):
        load_image_folder(tmp_path)


def test_array_dataset_validates_shapes():
    with pytest.raises(ValueError, match="images"):
        ArrayDataset(torch.zeros(3, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        ArrayDataset(torch.zeros(3, 1, 8, 8), torch.zeros(4))


# -- IDX files and Fashion-MNIST (small files written here; the real data only in benchmarks) ---------
from structconv.nn import FASHION_CLASSES, load_fashion_mnist, read_idx, write_idx  # noqa: E402


def _idx_bytes(code: int, dims, payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes() + payload


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_every_type_gz_or_raw(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(3, 4, 5)) * 50).astype(np.dtype(dtype).newbyteorder("="))
    p = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), a)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == gz
    b = read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)


def test_idx_reads_the_bytes_of_the_format_itself(tmp_path):
    """A file built byte by byte (big-endian int16), independent of write_idx."""
    p = tmp_path / "x"
    p.write_bytes(_idx_bytes(0x0B, [2, 2], np.asarray([1, -2, 300, 7], ">i2").tobytes()))
    assert read_idx(p).tolist() == [[1, -2], [300, 7]]


@pytest.mark.parametrize("raw, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "does not start with two zero bytes"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "type code 0x07 is not one of"),
    (b"\x00\x00\x08\x00", "number of dimensions = 0"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "dimensions: expected 8 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x00", "hold a zero size"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", "expected 3 bytes, the file ends after 2"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "bytes after the data"),
    (b"\x00\x00\x0d\x02\xff\xff\xff\xff\x00\x00\x00\x02", "out of range"),
    (b"\x00\x00", "magic number: expected 4 bytes"),
])
def test_idx_bad_files_are_one_line_errors_naming_the_file(tmp_path, raw, match):
    for name, data in (("bad", raw), ("bad.gz", __import__("gzip").compress(raw))):
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ValueError, match=match) as e:
            read_idx(p)
        assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_idx_truncated_gzip_and_missing_file(tmp_path):
    p = tmp_path / "t.gz"
    p.write_bytes(__import__("gzip").compress(_idx_bytes(8, [100], bytes(100)))[:-12])
    with pytest.raises(ValueError, match="t.gz"):
        read_idx(p)
    with pytest.raises(ValueError, match="no such file"):
        read_idx(tmp_path / "nope")


def _fake_mnist(root, n_train=60, n_val=30, side=28, gz=True, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_val)):
        x = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        y = (np.arange(n) % classes).astype(np.uint8)
        sfx = ".gz" if gz else ""
        write_idx(root / f"{split}-images-idx3-ubyte{sfx}", x)
        write_idx(root / f"{split}-labels-idx1-ubyte{sfx}", y)
        out[split] = (x, y)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_idx_files(tmp_path, gz):
    raw = _fake_mnist(tmp_path / "fm", gz=gz)
    b = load_dataset("fashion-mnist", tmp_path / "fm")
    assert b.name == "fashion-mnist" and b.num_classes == 10 and b.classes == FASHION_CLASSES
    assert b.input_shape == (1, 28, 28) and (len(b.train), len(b.val)) == (60, 30)
    xt = raw["train"][0].astype(np.float64) / 255
    assert b.train.mean.flatten().item() == pytest.approx(xt.mean(), rel=1e-6)   # stored as float32
    assert b.train.std.flatten().item() == pytest.approx(xt.std(ddof=1), rel=1e-6)
    x, y = b.val[7]                                           # t10k is the validation split, in order
    want = (raw["t10k"][0][7] / 255 - xt.mean()) / xt.std(ddof=1)
    assert int(y) == raw["t10k"][1][7] and np.allclose(x[0].numpy(), want, atol=1e-5)


def test_fashion_mnist_balanced_subset_resize_and_channels(tmp_path):
    _fake_mnist(tmp_path / "fm", n_train=200)
    b = load_fashion_mnist(tmp_path / "fm", size=16, channels=3, train_size=50, val_size=20, subset_seed=3)
    assert b.input_shape == (3, 16, 16) and b.train[0][0].shape == (3, 16, 16)
    counts = np.bincount(b.train.labels.numpy(), minlength=10)
    assert counts.tolist() == [5] * 10 and np.bincount(b.val.labels.numpy()).tolist() == [2] * 10
    again = load_fashion_mnist(tmp_path / "fm", size=16, channels=3, train_size=50, val_size=20,
                               subset_seed=3)
    other = load_fashion_mnist(tmp_path / "fm", size=16, channels=3, train_size=50, val_size=20,
                               subset_seed=4)
    assert torch.equal(again.train.images, b.train.images)
    assert not torch.equal(other.train.images, b.train.images)


def test_idx_folder_has_numbered_classes_and_fashion_checks_labels(tmp_path):
    _fake_mnist(tmp_path / "m", classes=12, n_train=24, n_val=12)
    b = load_dataset("idx", tmp_path / "m")
    assert b.name == "idx" and b.num_classes == 12 and b.classes[-1] == "11"
    with pytest.raises(ValueError, match=r"label 11 is out of range \[0, 9\]"):
        load_dataset("fashion-mnist", tmp_path / "m")


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 4}, "size = 4"), ({"channels": 2}, "channels = 2"), ({"train_size": 0}, "train_size = 0"),
    ({"subset_seed": -1}, "subset_seed = -1"),
])
def test_fashion_mnist_bad_options(tmp_path, kwargs, match):
    _fake_mnist(tmp_path / "fm", n_train=20, n_val=10)
    with pytest.raises(ValueError, match=match):
        load_fashion_mnist(tmp_path / "fm", **kwargs)


def test_fashion_mnist_missing_or_mismatched_files(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        load_fashion_mnist(tmp_path / "none")
    _fake_mnist(tmp_path / "fm", n_train=20, n_val=10)
    (tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path / "fm")
    write_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    with pytest.raises(ValueError, match="9 labels for 10 images"):
        load_fashion_mnist(tmp_path / "fm")
