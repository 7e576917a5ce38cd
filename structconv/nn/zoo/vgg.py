"""VGG as a torch module, torchvision's layout."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ...core.zoo import VGGSpec
from .blocks import init_weights


class VGG(nn.Module):
    """torchvision.models.VGG for a ``VGGSpec``."""

    def __init__(self, spec: VGGSpec):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        cin = 3
        for k, v in spec.features():
            assert k == len(layers)
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, v, 3, padding=1))
            if spec.batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(spec.pool_size)
        self.classifier = nn.Sequential(
            nn.Linear(spec.classifier_in, spec.hidden), nn.ReLU(True), nn.Dropout(p=spec.dropout),
            nn.Linear(spec.hidden, spec.hidden), nn.ReLU(True), nn.Dropout(p=spec.dropout),
            nn.Linear(spec.hidden, spec.num_classes))
        init_weights(self, "normal")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
