"""Compact CNNs of the founding papers at 160x160: a VGG-like one and a MobileNet-like one.

Founding-paper figures to compare with: the MobileNet-style network reached 0.95 to 0.97
accuracy on real-vs-fake faces; a VGG-like stack with batch normalisation sits with the
custom CNNs (0.85 to 0.98 depending on the data set).

``dense-cnn``: five stages of two 3x3 convolutions (+ batch norm + ReLU), 16, 32, 64, 128
and 256 filters, each stage ended by 2x2 average pooling (160 -> 5 pixels); flatten; dense
512-512-128-16-16 with LeakyReLU (slope 0.1); dense 1 (the logit).

``mobile-cnn``: the same plan with depthwise-separable blocks (depthwise 3x3 + BN + ReLU6,
pointwise 1x1 + BN + ReLU6, as MobileNet v1): a 3x3 stem of 16 filters, then blocks of 32,
64, 128 and 256 filters each followed by 2x2 average pooling; global average pooling; the
same dense 512-512-128-16-16-1 LeakyReLU head.

Input of both: 160x160x3 scaled to [0, 1] (no mean/std shift).
"""

from __future__ import annotations

import torch
from torch import nn

from forensics.models.registry import register_model

WIDTHS = (16, 32, 64, 128, 256)
HEAD = (512, 512, 128, 16, 16)


def _dense_head(in_features: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for width in HEAD:
        layers += [nn.Linear(in_features, width), nn.LeakyReLU(0.1, inplace=True)]
        in_features = width
    layers.append(nn.Linear(in_features, 1))
    return nn.Sequential(*layers)


def _conv_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True)]


def _separable(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU6(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    ]


class DenseCNN(nn.Module):
    """VGG-like: (N, 3, S, S) in [0, 1] -> (N,) logits; S = ``input_size`` (default 160)."""

    def __init__(self, input_size: int = 160):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in WIDTHS:
            layers += _conv_bn(channels, width) + _conv_bn(width, width) + [nn.AvgPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        side = input_size // 2 ** len(WIDTHS)
        self.classifier = _dense_head(channels * side * side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).squeeze(1)


class MobileCNN(nn.Module):
    """MobileNet-like: (N, 3, S, S) in [0, 1] -> (N,) logits, for any S >= 32."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = _conv_bn(3, WIDTHS[0]) + [nn.AvgPool2d(2)]
        channels = WIDTHS[0]
        for width in WIDTHS[1:]:
            layers += _separable(channels, width) + [nn.AvgPool2d(2)]
            channels = width
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = _dense_head(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).squeeze(1)


@register_model(
    "dense-cnn",
    input_size=160,
    description="VGG-like CNN: 3x3 conv+BN pairs 16-256 filters, avg-pool, dense 512-512-128-16-16-1 LeakyReLU, 160x160",
)
def dense_cnn() -> nn.Module:
    """The VGG-like CNN at 160x160."""
    return DenseCNN(160)


@register_model(
    "mobile-cnn",
    input_size=160,
    description="MobileNet-like CNN: depthwise-separable blocks 16-256, avg-pool, dense 512-512-128-16-16-1, 160x160",
)
def mobile_cnn() -> nn.Module:
    """The MobileNet-like CNN at 160x160."""
    return MobileCNN()
