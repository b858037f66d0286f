"""The face crop: eyes levelled, square box enlarged by a margin, resized to the model's input.

This is the one crop function of the project. Scanning, training and evaluation all call
it with the model's :class:`CropPolicy`, so a model sees at scan time exactly the crops it
was trained and evaluated on. The policy is recorded in every model card.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class CropPolicy:
    """How a face becomes a model input.

    Attributes:
        size: output side in pixels (square crop), the model's input size (default 224).
        margin: added on each side of the detector's box, as a fraction of its longer side
            (default 0.2: the crop is 1.4 times the face box).
        align: rotate about the box centre so the eyes are level (default True).
    """

    size: int = 224
    margin: float = 0.2
    align: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CropPolicy":
        return cls(size=int(data["size"]), margin=float(data["margin"]), align=bool(data["align"]))


def crop_transform(box: np.ndarray, landmarks: np.ndarray | None, policy: CropPolicy) -> np.ndarray:
    """The 2x3 affine matrix that maps frame pixels to crop pixels for one face."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * policy.margin)
    angle = 0.0
    if policy.align and landmarks is not None:
        (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, policy.size / max(side, 1.0))
    matrix[0, 2] += policy.size / 2.0 - cx
    matrix[1, 2] += policy.size / 2.0 - cy
    return matrix


def crop_face(
    image: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, policy: CropPolicy
) -> np.ndarray:
    """Aligned square face crop, ``uint8`` (size, size, 3); outside the frame is black."""
    matrix = crop_transform(box, landmarks, policy)
    return cv2.warpAffine(
        image,
        matrix,
        (policy.size, policy.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (n, 2) points."""
    return points @ matrix[:, :2].T + matrix[:, 2]
