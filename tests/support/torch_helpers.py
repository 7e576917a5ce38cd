"""Shared by the torch tests: tiny digit bundles and timm's Conv2dSame (the one-thread fixture is in
tests/conftest.py)."""
from __future__ import annotations

import torch


def tiny_digits(n_train: int, n_val: int):
    """The first ``n_train`` / ``n_val`` of scikit-learn's digits at 8x8, one channel, ten classes."""
    from structconv.nn import ArrayDataset, DataBundle, load_digits_data

    b = load_digits_data()
    tr, va = b.train, b.val
    return DataBundle("digits-tiny", ArrayDataset(tr.images[:n_train], tr.labels[:n_train], tr.mean, tr.std),
                      ArrayDataset(va.images[:n_val], va.labels[:n_val], va.mean, va.std), 10, (1, 8, 8))


class Conv2dSame(torch.nn.Conv2d):
    """timm's Conv2dSame, written out: TF 'same' padding computed from the input size inside forward."""

    def forward(self, x):
        import math

        import torch.nn.functional as F

        pads = [max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
                for i, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation)]
        x = F.pad(x, [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
