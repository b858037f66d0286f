"""Distillation: a teacher (shipped weights, scored as the scan scores them) gives each
training crop a soft target instead of its label."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from forensics.faces.align import CropPolicy
from forensics.models.weights import Card, WeightsError
from forensics.score import FaceScorer, check_finite
from forensics.train.calibrate import sigmoid


def check_teacher(teacher: str | os.PathLike[str], policy: CropPolicy) -> None:
    """Raise ValueError unless ``teacher`` has a model card and cuts ``policy``'s crops
    (cheap: reads the card only, so a wrong teacher fails before any face is detected)."""
    try:
        card = Card.read(teacher)
    except WeightsError as exc:
        raise ValueError(f"teacher: {exc}") from None
    if card.crop_policy != policy:
        raise ValueError(f"teacher {Path(teacher).name} scores {card.crop_policy} crops, "
                         f"the student trains on {policy}: distil into a model of the same crop policy")


class Teacher:
    """The ``teacher`` weights, loaded once, scoring crops as the scan's own scorer does (ONNX
    Runtime on a CPU), its ensemble and test-time augmentation included and its temperature left
    out. Raises ValueError when the teacher was made for other crops than ``policy``'s."""

    def __init__(self, teacher: str | os.PathLike[str], policy: CropPolicy, device: torch.device | str = "cpu"):
        check_teacher(teacher, policy)
        try:
            self.scorer = FaceScorer(weights=teacher, device=device)
        except WeightsError as exc:
            raise ValueError(f"teacher: {exc}") from None

    def targets(self, crops: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Float32 soft targets (n,) in [0, 1] for ``uint8`` crops (n, S, S, 3): sigmoid of the
        teacher's logits (before its own temperature) divided by ``temperature`` (default 1)."""
        logits = self.scorer.logits(crops)
        check_finite(logits, self.scorer.weights_path, f"{len(crops)} training crop(s)")
        return sigmoid(logits / temperature).astype(np.float32)
