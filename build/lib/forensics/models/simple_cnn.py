"""A small Keras-style CNN from the founding papers: three convolutions and a dense head.

Founding-paper figures to compare with: custom CNNs of this size reached 0.85 to 0.98
accuracy on real-vs-fake faces, depending on the data set (highest on StyleGAN faces, lowest
on face swaps and Photoshop composites).

Layout (Keras ``padding="valid"``): conv 32 3x3 + ReLU, max-pool 2; conv 64 3x3 + ReLU,
max-pool 2; conv 64 3x3 + ReLU, max-pool 2; dropout 0.2; flatten; dense 64 + ReLU;
dropout 0.2; dense 1 (the logit). Input 256x256x3 scaled to [0, 1] (no mean/std shift).
"""

from __future__ import annotations

import torch
from torch import nn

from forensics.models.registry import register_model


class SimpleCNN(nn.Module):
    """(N, 3, S, S) in [0, 1] -> (N,) logits; S = ``input_size`` (default 256)."""

    def __init__(self, input_size: int = 256):
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = 3, input_size
        for out_channels in (32, 64, 64):
            layers += [nn.Conv2d(channels, out_channels, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels, side = out_channels, (side - 2) // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(0.2),
            nn.Flatten(),
            nn.Linear(channels * side * side, 64),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(64, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).squeeze(1)


@register_model(
    "simple-cnn",
    input_size=256,
    description="Small CNN: conv 32-64-64 (3x3, max-pool), dense 64-1, dropout 0.2, 256x256, [0,1] input",
)
def simple_cnn() -> nn.Module:
    """The simple CNN at 256x256 (about 3.7 M parameters, most in the first dense layer)."""
    return SimpleCNN(256)
