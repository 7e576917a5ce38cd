"""Small dataset files in real on-disk formats, written by the tests that load them."""
from __future__ import annotations

import pickle

import numpy as np


def write_batch(path, data, labels, label_key=b"labels"):
    d = {b"batch_label": b"fake batch", label_key: list(labels), b"data": data,
         b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


def write_fake_cifar(root, n=6, seed=0):
    """CIFAR-10's python version: data_batch_1..5, test_batch (dicts with bytes keys,
    'data' uint8 (N, 3072) row-major R,G,B planes, 'labels' list), batches.meta."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        write_batch(root / name, data, labels)
        batches[name] = (data, labels)
    meta = {b"num_cases_per_batch": n, b"label_names": [c.encode() for c in
            ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")],
            b"num_vis": 3072}
    with open(root / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return batches
