"""The accuracy benchmark's CPU-scale network as a model reference (ResNet-20, widths 8/16/32, 3x14x14):

    structconv score benchmarks/accuracy/reference.py:build --input-shape 1,3,14,14 \\
        --weights RUNS/dense-s0/dense.pt --data fashion-mnist --plans a.yaml b.yaml --force

(--force: the benchmark's plans name its network 'resnet20', which this reference builds under another name.)

``--data fashion-mnist`` is then read at the network's 14x14, gray repeated to 3 channels (bilinear
resizing, where the benchmark averages 2x2 blocks).
"""
from __future__ import annotations

from config import Scale
from data_prep import network


def build():
    from structconv.nn import build_module

    return build_module(network(Scale("cpu")))
