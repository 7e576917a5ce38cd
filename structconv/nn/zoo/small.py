"""A small CNN for quick experiments (the digits data set, tests, benchmarks)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class SmallCNN(nn.Module):
    """conv1 (3x3, C -> w) - conv2 (3x3, w -> 2w, stride 2) - conv3 (3x3, 2w -> 4w, stride 2)
    - global average pool - fc (4w -> classes); BatchNorm + ReLU after each conv."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, bn: bool = True):
        super().__init__()
        w = int(width)
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.conv1, self.bn1 = nn.Conv2d(in_channels, w, 3, padding=1, bias=not bn), norm(w)
        self.conv2, self.bn2 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1, bias=not bn), norm(2 * w)
        self.conv3, self.bn3 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1, bias=not bn), norm(4 * w)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean(dim=(2, 3)))
