"""Damaged and hostile checkpoints (issue 21, deliverable 8): every mutation of a saved checkpoint or
decomposed model is either loaded correctly or refused with one line (a ValueError naming the file),
never a traceback, never a silently wrong model, and never more memory than the file could hold.

The mutations: truncation at every interesting length, single flipped bytes across the whole file
(zip headers, pickle opcodes, tensor data), and well-formed files whose fields have the wrong type or
a hostile value (a tensor expanded to 2**40 elements by a zero stride, a class count of 10**9).
"""
from __future__ import annotations

import random

import pytest
import torch

from structconv.nn import (
    SmallCNN,
    decompose,
    load_checkpoint,
    load_decomposed,
    read_weights,
    save_checkpoint,
    save_decomposed,
)

PLAN = {"conv2": {"c": 8, "n": 2}}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    model = SmallCNN(3, 10)
    ck = save_checkpoint(d / "ck.pt", "small_cnn", model.state_dict(), epoch=1)
    dec, _ = decompose(SmallCNN(3, 10), PLAN, distill=False)
    dm = save_decomposed(dec, d / "dec.pt", "small_cnn", PLAN, meta={"num_classes": 10, "in_channels": 3})
    return {"ck": (ck, ck.read_bytes(), model.state_dict()), "dec": (dm, dm.read_bytes(), dec.state_dict())}


def _load(kind: str, path):
    if kind == "ck":
        return load_checkpoint(path)["state_dict"]
    return load_decomposed(path).state_dict()


def _one_line_or_correct(kind: str, path, expected: dict) -> str:
    """'refused' (a one-line ValueError naming the file) or 'loaded' (exactly the saved weights)."""
    try:
        got = _load(kind, path)
    except ValueError as e:
        msg = str(e)
        assert "\n" not in msg and str(path) in msg and "Traceback" not in msg, msg
        assert "weights_only=False" not in msg                  # never advise the unsafe load
        return "refused"
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in got), "a damaged file loaded different weights"
    return "loaded"


@pytest.mark.parametrize("kind", ["ck", "dec"])
def test_truncated_files_are_refused(saved, tmp_path, kind):
    _, data, expected = saved[kind]
    cuts = sorted({0, 1, 4, 22, 30, 64, 100, 512, len(data) // 3, len(data) // 2, len(data) - 22,
                   len(data) - 1})
    for n in cuts:
        p = tmp_path / f"t{n}.pt"
        p.write_bytes(data[:n])
        assert _one_line_or_correct(kind, p, expected) == "refused", n


@pytest.mark.parametrize("kind", ["ck", "dec"])
def test_flipped_bytes_are_refused_or_load_the_same_weights(saved, tmp_path, kind):
    """A flipped byte in a zip header, the pickle or a record either breaks the file (one line) or, where
    the reader does not look (zip comments, padding, an unused CRC), changes nothing we load; a flip
    inside tensor data that the zip's CRC does not catch is the one case that may load other weights,
    so those offsets are kept out (torch does not check the CRC of tensor records)."""
    _, data, expected = saved[kind]
    rng = random.Random(21)
    data_spans = _tensor_spans(data)
    offsets = [o for o in rng.sample(range(len(data)), 120) if not any(a <= o < b for a, b in data_spans)]
    seen = set()
    for o in offsets[:60]:
        bad = bytearray(data)
        bad[o] ^= 0xFF
        p = tmp_path / f"f{o}.pt"
        p.write_bytes(bytes(bad))
        seen.add(_one_line_or_correct(kind, p, expected))
    assert "refused" in seen


def _tensor_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the tensor records (``archive/data/N``) inside the zip."""
    import io
    import zipfile

    spans = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            if "/data/" in info.filename:
                start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
                spans.append((start - 64, start + info.compress_size + 64))
    return spans


BAD_CHECKPOINTS = [  # (id, checkpoint dict change, what the line names)
    ("state-dict-list", lambda ck: ck.update(state_dict=[1, 2]), "state_dict"),
    ("state-dict-empty", lambda ck: ck.update(state_dict={}), "state_dict"),
    ("state-dict-str-values", lambda ck: ck.update(state_dict={"a": "b"}), "state_dict"),
    ("state-dict-int-keys", lambda ck: ck.update(state_dict={1: torch.zeros(1)}), "state_dict"),
    ("epoch-str", lambda ck: ck.update(epoch="1"), "epoch"),
    ("epoch-huge-negative", lambda ck: ck.update(epoch=-10**30), "epoch"),
    ("model-int", lambda ck: ck.update(model=5), "model"),
    ("plan-str", lambda ck: ck.update(plan="x"), "plan"),
    ("meta-list", lambda ck: ck.update(meta=[1]), "meta"),
    ("top-level-list", None, "holds a list"),
    ("expanded-2**40", lambda ck: ck["state_dict"].update(
        {"conv1.weight": torch.zeros(1).expand(2**40)}), "conv1.weight"),
]


@pytest.mark.parametrize("change, needle", [c[1:] for c in BAD_CHECKPOINTS],
                         ids=[c[0] for c in BAD_CHECKPOINTS])
def test_wrong_types_in_a_checkpoint_are_one_line(saved, tmp_path, change, needle):
    ck = torch.load(saved["ck"][0], weights_only=True)
    if change is None:
        ck = [ck]
    else:
        change(ck)
    p = tmp_path / "w.pt"
    torch.save(ck, p)
    with pytest.raises(ValueError, match=needle) as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value)
    try:                                    # read_weights looks at the weights, the model, plan and meta only
        model, sd, plan, meta = read_weights(p)
    except ValueError as e:
        assert "\n" not in str(e) and str(p) in str(e)
    else:
        assert needle == "epoch" and sd.keys() == saved["ck"][2].keys() and isinstance(meta, dict)


BAD_DECOMPOSED = [  # (id, change to the saved dict, what the line names)
    ("plan-int", lambda b: b.update(plan=5), "plan"),
    ("plan-other-layer", lambda b: b.update(plan={"name": "p", "layers": {"nope": {"c": 8}}}), "nope"),
    ("method-int", lambda b: b.update(method=5), "method"),
    ("method-unknown", lambda b: b.update(method="<script>"), "method"),
    ("num-classes-10**9", lambda b: b["meta"].update(num_classes=10**9), "num_classes"),
    ("num-classes-str", lambda b: b["meta"].update(num_classes="ten"), "num_classes"),
    ("in-channels-0", lambda b: b["meta"].update(in_channels=0), "in_channels"),
    ("state-dict-missing-key", lambda b: b["state_dict"].pop("conv1.weight"), "conv1.weight"),
    ("state-dict-wrong-shape", lambda b: b["state_dict"].update({"fc.bias": torch.zeros(3)}), "fc.bias"),
    ("state-dict-list", lambda b: b.update(state_dict=[1]), "state_dict"),
    ("expanded-2**40", lambda b: b["state_dict"].update({"fc.bias": torch.zeros(1).expand(2**40)}),
     "fc.bias"),
]


@pytest.mark.parametrize("change, needle", [c[1:] for c in BAD_DECOMPOSED],
                         ids=[c[0] for c in BAD_DECOMPOSED])
def test_wrong_types_in_a_decomposed_model_are_one_line(saved, tmp_path, change, needle):
    blob = torch.load(saved["dec"][0], weights_only=True)
    change(blob)
    p = tmp_path / "d.pt"
    torch.save(blob, p)
    with pytest.raises(ValueError, match=needle) as e:
        load_decomposed(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value), str(e.value)


def test_a_checkpoint_over_the_size_cap_is_refused_before_reading(tmp_path, monkeypatch):
    import structconv.nn.weights as W

    p = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(64)}, p)
    monkeypatch.setattr(W, "MAX_CHECKPOINT_BYTES", 100)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("read a file over the cap"))
    with pytest.raises(ValueError, match=r"big\.pt' is \d+ bytes, over the 100-byte cap"):
        read_weights(p)


TRAINED_META = [  # (id, model, state dict, meta, what the line names)
    ("small-num-classes-10**9", "small_cnn", None, {"input_shape": [3, 8, 8], "num_classes": 10**9},
     r"the weights do not fit small_cnn built with .*: fc\.weight is \[1000000000, 64\] there, the file "
     r"holds \[10, 64\]"),
    ("zoo-num-classes-10**9-no-fc", "resnet18", {"conv1.weight": torch.zeros(64, 3, 7, 7)},
     {"num_classes": 10**9}, r"resnet18 built with \{'num_classes': 1000000000\} needs .* free memory"),
    ("zoo-num-classes-other", "resnet18", {"fc.weight": torch.zeros(10, 512)}, {"num_classes": 7},
     r"fc\.weight is \[7, 512\] there, the file holds \[10, 512\]"),
    ("zoo-num-classes-str", "resnet18", {"fc.weight": torch.zeros(10, 512)}, {"num_classes": "ten"},
     r"num_classes"),
]


@pytest.mark.parametrize("model, sd, meta, needle", [c[1:] for c in TRAINED_META],
                         ids=[c[0] for c in TRAINED_META])
def test_a_checkpoints_meta_is_checked_before_the_model_is_built(saved, tmp_path, capsys, model, sd, meta,
                                                                 needle):
    """`decompose` builds the model the checkpoint names with the class count its meta records: a forged
    count is refused on the meta device, before a byte of the classifier is allocated."""
    from structconv.cli import main

    p = save_checkpoint(tmp_path / "m.pt", model, sd or saved["ck"][2], epoch=0, meta=meta,
                        plan={"name": "p", "layers": {}})
    assert main(["decompose", str(p), "--preset", "uniform-n2", "--out", str(tmp_path / "d.pt")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and str(p) in err[0], err
    assert __import__("re").search(needle, err[0]), err[0]
    assert not (tmp_path / "d.pt").exists()
