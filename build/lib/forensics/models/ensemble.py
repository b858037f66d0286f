"""Networks combined at scoring time: a mean over independently trained members, and
horizontal-flip test-time augmentation.

A model card asks for them (see :func:`forensics.models.weights.load_weights`):
``"ensemble": {"members": [...]}`` holds one state dict per member in the weights file, and
``"tta": "hflip"`` scores every crop and its mirror image. Both average logits, before the
card's temperature, so that the temperature is fitted to what the scan computes.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

TTA_MODES: tuple[str, ...] = ("none", "hflip")
"""Test-time augmentations: ``none``, or ``hflip`` (the mean logit of a crop and its mirror)."""


class LogitMean(nn.Module):
    """The mean of the members' logits. Members take the same input; their state dict keys
    are prefixed ``members.<i>.``."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


class FlipMean(nn.Module):
    """The mean logit of each crop and its horizontal mirror: faces are left-right symmetric
    in meaning but not in pixels, so the two views err differently. Costs two forward passes."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.network(x) + self.network(x.flip(-1))) / 2


def with_tta(network: nn.Module, tta: str) -> nn.Module:
    """``network`` scoring with the test-time augmentation ``tta`` (one of :data:`TTA_MODES`)."""
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose from {', '.join(TTA_MODES)}")
    return FlipMean(network) if tta == "hflip" else network
