"""Face manipulations made by the project's own code.

``swap_face`` puts one person's face on another's head, aligned by landmarks, colour-matched
and blended, as face-swap tools do: the sample fakes of the quick start.

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


OUTLINES: tuple[str, ...] = ("forehead", "face", "inner", "lower", "mouth")
"""The face regions :func:`face_outline` draws, largest first."""


def face_outline(landmarks: np.ndarray, rng: np.random.Generator | None = None, kind: str | None = None) -> np.ndarray:
    """Points around the face, (n, 2) float32, extrapolated from five landmarks (left eye,
    right eye, nose, left and right mouth corner) in the face's own frame.

    ``kind`` is ``forehead`` (the whole face with the forehead), ``face`` (brows to chin),
    ``inner`` (eyes, nose and mouth with a margin), ``lower`` (below the eyes: nose, mouth
    and jaw, what lip-sync tools paste) or ``mouth`` (the mouth and its surround); None draws
    one of the first three from ``rng``, as Self-Blended Images choose among landmark subsets.
    """
    left_eye, right_eye, nose, mouth_l, mouth_r = (np.asarray(p, np.float64) for p in landmarks)
    eyes, mouth = (left_eye + right_eye) / 2, (mouth_l + mouth_r) / 2
    across = right_eye - left_eye
    d = max(float(np.linalg.norm(across)), 1.0)
    u = across / d  # along the eyes
    down = mouth - eyes
    h = max(float(np.linalg.norm(down)), 1.0)
    v = down / h  # from the eyes to the mouth

    def at(origin: np.ndarray, x: float, y: float) -> np.ndarray:
        return origin + x * d * u + y * h * v

    if kind is None:
        kind = str((rng or np.random.default_rng()).choice(["forehead", "face", "inner"], p=[0.35, 0.4, 0.25]))
    if kind not in OUTLINES:
        raise ValueError(f"unknown face region {kind!r}; choose from {', '.join(OUTLINES)}")
    if kind == "lower":
        points = [at(left_eye, -0.6, 0.45), at(right_eye, 0.6, 0.45), at(right_eye, 0.62, 0.8),
                  at(mouth_r, 0.35, 0.45), at(mouth, 0, 0.75), at(mouth_l, -0.35, 0.45), at(left_eye, -0.62, 0.8)]
    elif kind == "mouth":
        points = [at(nose, -0.45, 0.25), at(nose, 0.45, 0.25), at(mouth_r, 0.22, 0.0), at(mouth_r, 0.12, 0.35),
                  at(mouth, 0, 0.45), at(mouth_l, -0.12, 0.35), at(mouth_l, -0.22, 0.0)]
    elif kind == "inner":
        points = [at(left_eye, -0.35, -0.35), at(right_eye, 0.35, -0.35), at(right_eye, 0.45, 0.3),
                  at(mouth_r, 0.2, 0.1), at(mouth, 0, 0.4), at(mouth_l, -0.2, 0.1), at(left_eye, -0.45, 0.3)]
    else:
        top = -1.1 if kind == "forehead" else -0.45
        points = [at(left_eye, -0.55, top * 0.8), at(eyes, 0, top), at(right_eye, 0.55, top * 0.8),
                  at(right_eye, 0.7, 0.25), at(right_eye, 0.62, 0.8), at(mouth_r, 0.35, 0.45),
                  at(mouth, 0, 0.75), at(mouth_l, -0.35, 0.45), at(left_eye, -0.62, 0.8), at(left_eye, -0.7, 0.25)]
    return np.array(points, np.float32)


def hull_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """A float32 (h, w) mask, 1 inside the convex hull of ``points`` (n, 2), 0 outside."""
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1.0)
    return mask


def colour_transfer(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with the mean and spread of ``target`` inside ``mask``, channel by channel in
    Lab (Reinhard et al. 2001): the colour matching swap tools apply before blending."""
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    inside = mask > 0.5
    for c in range(3):
        s, d = src[..., c][inside], dst[..., c][inside]
        src[..., c] = (src[..., c] - s.mean()) * (d.std() / max(s.std(), 1e-6)) + d.mean()
    return cv2.cvtColor(np.clip(src, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def align_face(source: np.ndarray, source_landmarks: np.ndarray, target_landmarks: np.ndarray,
               shape: tuple[int, int], scales: tuple[float, float] | None = None) -> np.ndarray | None:
    """``source`` warped by the similarity transform that moves its five landmarks onto
    ``target_landmarks``, into an image of ``shape`` (h, w) pixels, the border reflected.

    None where no similarity fits, or where its scale falls outside ``scales`` (low, high;
    default: any scale).
    """
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(source_landmarks, np.float32),
                                            np.asarray(target_landmarks, np.float32))
    if matrix is None:
        return None
    if scales is not None and not scales[0] < np.sqrt(abs(np.linalg.det(matrix[:, :2]))) < scales[1]:
        return None
    h, w = shape
    return cv2.warpAffine(source, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def swap_face(target: np.ndarray, target_landmarks: np.ndarray, source: np.ndarray,
              source_landmarks: np.ndarray, feather: float = 0.06) -> np.ndarray:
    """``target`` with its face replaced by the face of ``source``, as face-swap tools do it.

    The source face is aligned to the target's five landmarks (a similarity transform), its
    colours matched to the target's face, and blended in through the face outline
    (:func:`face_outline`, brows to chin) with a soft edge.

    Args:
        target, source: RGB ``uint8`` pictures.
        target_landmarks, source_landmarks: each face's five landmarks (5, 2) in its picture.
        feather: Gaussian sigma of the mask's edge, as a fraction of 4 eye distances (default 0.06).
    """
    h, w = target.shape[:2]
    warped = align_face(source, source_landmarks, target_landmarks, (h, w))
    if warped is None:
        raise ValueError("no similarity transform maps the source face's landmarks onto the target's")
    mask = hull_mask((h, w), face_outline(target_landmarks, kind="face"))
    warped = colour_transfer(warped, target, mask)
    eyes = float(np.linalg.norm(np.subtract(target_landmarks[1], target_landmarks[0])))
    soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, feather * 4 * eyes))[..., None]
    out = warped.astype(np.float32) * soft + target.astype(np.float32) * (1 - soft)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
