"""Face manipulations made by the project's own code.

``blend_face`` replaces a face region by a warped, colour-shifted copy of itself, blended
through a soft elliptical mask: the artefacts of a face swap (a blending boundary, a colour
mismatch, a slight misalignment) without a second identity. It makes the sample fakes, the
test media, and (in the manner of Self-Blended Images, Shiohara & Yamasaki 2022) pseudo-fakes
for training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BlendParams:
    """How strong a manipulation is.

    Attributes:
        scale: size of the pasted copy relative to the original (1.0 = same size).
        shift: (dx, dy) offset of the copy, as a fraction of the face box side.
        colour: per-channel gain of the copy (R, G, B), 1.0 = unchanged.
        brightness: added to the copy, in 0..255 pixel units.
        blur: Gaussian sigma of the mask edge, as a fraction of the face box side.
        opacity: 0..1, peak weight of the copy inside the mask.
    """

    scale: float = 1.05
    shift: tuple[float, float] = (0.02, 0.03)
    colour: tuple[float, float, float] = (1.12, 0.95, 0.9)
    brightness: float = 8.0
    blur: float = 0.08
    opacity: float = 1.0

    @classmethod
    def random(cls, rng: np.random.Generator) -> "BlendParams":
        """Random, mostly subtle parameters, for training pseudo-fakes."""
        return cls(
            scale=float(rng.uniform(0.95, 1.08)),
            shift=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04))),
            colour=tuple(float(g) for g in rng.uniform(0.88, 1.12, size=3)),
            brightness=float(rng.uniform(-12, 12)),
            blur=float(rng.uniform(0.03, 0.12)),
            opacity=float(rng.choice([1.0, rng.uniform(0.5, 1.0)])),
        )


def face_mask(shape: tuple[int, int], box: np.ndarray, blur: float) -> np.ndarray:
    """A soft elliptical mask over the inner face, float32 in [0, 1], of the image's (h, w)."""
    h, w = shape
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    mask = np.zeros((h, w), np.float32)
    centre = (int(round((x1 + x2) / 2)), int(round(y1 + bh * 0.55)))
    axes = (max(1, int(round(bw * 0.42))), max(1, int(round(bh * 0.47))))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1)
    sigma = max(1.0, blur * max(bw, bh))
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def blend_face(image: np.ndarray, box: np.ndarray, params: BlendParams = BlendParams()) -> np.ndarray:
    """The image with the face in ``box`` replaced by a warped, colour-shifted copy of itself.

    Args:
        image: RGB ``uint8`` (h, w, 3).
        box: (x1, y1, x2, y2) face box in pixels, e.g. from the face detector.
        params: strength of the manipulation.

    Returns:
        A new ``uint8`` image of the same shape.
    """
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    warp = cv2.getRotationMatrix2D(centre, 0.0, params.scale)
    warp[:, 2] += (params.shift[0] * side, params.shift[1] * side)
    source = cv2.warpAffine(image, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    source = source.astype(np.float32) * np.asarray(params.colour, np.float32) + params.brightness
    mask = face_mask((h, w), box, params.blur)[..., None] * params.opacity
    out = source * mask + image.astype(np.float32) * (1.0 - mask)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
