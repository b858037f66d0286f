"""Self-blended images (SBI; Shiohara and Yamasaki, CVPR 2022): pseudo-fakes made from real faces.

A real face crop is blended into itself: one copy (the *source*) is colour- and
frequency-jittered and slightly moved, then pasted back over the other (the *target*) through a
soft face mask drawn from the face's landmarks. What is left is what every swap leaves — a
blending boundary and a statistics mismatch inside it — without any one generator's look.

The paper outlines the face with 81 dlib landmarks; MTCNN gives five (eyes, nose, mouth
corners), so the face outline is extrapolated from them (:func:`forensics.manipulate.face_outline`), in the
face's own frame (eye axis and eye-to-mouth axis), then deformed at random as the paper's masks
are (elastic warp, erosion or dilation, two blurs, a random blend ratio).

With ``swap`` above 0, that share of the pseudo-fakes pastes *another* real face instead of the
crop's own (a donor of the training set, aligned on the five landmarks and, as swap tools do,
colour-matched to the target inside the mask): the blended images of Face X-ray (Li et al.,
CVPR 2020), a face swap between two real people through the same deformed masks. What they add
is what a self-blend cannot have: a second identity's skin, age and texture inside the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forensics.faces.align import CropPolicy
from forensics.manipulate import align_face, colour_transfer, face_outline, hull_mask

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
"""The peak weight of the source inside the mask, drawn uniformly from these (as the paper)."""


def template_landmarks(policy: CropPolicy) -> np.ndarray:
    """Where MTCNN's five landmarks fall on average in a crop of ``policy``, (5, 2) float32 pixels:
    left eye, right eye, nose, left and right mouth corner. Used when a crop's own are unknown."""
    side = policy.size / (1.0 + 2.0 * policy.margin)  # the detector's box inside the crop
    lo = (policy.size - side) / 2
    relative = np.array([[0.32, 0.40], [0.68, 0.40], [0.50, 0.58], [0.36, 0.76], [0.64, 0.76]], np.float32)
    return lo + relative * side


def _elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float = 50.0, sigma: float = 7.0) -> np.ndarray:
    """A smooth random displacement field of ``alpha`` pixels scale, blurred by ``sigma`` (as albumentations')."""
    h, w = mask.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, x + dx, y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _odd(rng: np.random.Generator, lo: int = 5, hi: int = 26) -> int:
    return int(rng.integers(lo, hi)) | 1


def blend_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper's soft blend mask from a hard one: blurred, cut back to its sure inside, blurred
    again with another kernel, normalised to a peak of 1, then scaled by a random blend ratio."""
    h, w = mask.shape
    small = cv2.resize(mask, (int(rng.integers(192, 257)), int(rng.integers(192, 257))))
    blurred = cv2.GaussianBlur(small, (_odd(rng), _odd(rng)), 0)
    blurred[blurred < 1] = 0
    blurred = cv2.GaussianBlur(blurred, (_odd(rng), _odd(rng)), 0)
    peak = float(blurred.max())
    if peak <= 0:  # the cut removed everything (tiny mask): fall back to one blur
        blurred, peak = cv2.GaussianBlur(small, (_odd(rng), _odd(rng)), 0), max(float(small.max()), 1e-6)
    soft = cv2.resize(blurred / peak, (w, h))
    return np.clip(soft, 0, 1) * float(rng.choice(BLEND_RATIOS))


def _colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB shift (±20), hue/saturation/value (±30%) and brightness/contrast (±30%), each with p=0.3."""
    out = image.astype(np.float32)
    if rng.random() < 0.3:
        out += rng.uniform(-20, 20, size=3)
    if rng.random() < 0.3:
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.3, 0.3) * 18) % 180  # hue: a 30% share of ±30 degrees
        hsv[..., 1:] *= rng.uniform(0.7, 1.3, size=2)
        out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < 0.3:
        mean = out.mean()
        out = (out - mean) * rng.uniform(0.7, 1.3) + mean + rng.uniform(-0.3, 0.3) * 255 * 0.5
    return np.clip(out, 0, 255).astype(np.uint8)


def _frequency_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of: down-scaling by 2 or 4 and back (loses high frequencies), or sharpening (adds them)."""
    h, w = image.shape[:2]
    if rng.random() < 0.5:
        factor = int(rng.choice([2, 4]))
        small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha, lightness = rng.uniform(0.2, 0.5), rng.uniform(0.5, 1.0)
    kernel = np.array([[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]], np.float32)
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1
    kernel = (1 - alpha) * identity + alpha * kernel / max(kernel.sum(), 1e-6)
    return np.clip(cv2.filter2D(image.astype(np.float32), -1, kernel), 0, 255).astype(np.uint8)


def degrade_as_generated(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` as a face generator's output looks once pasted into a larger frame: made at
    a lower resolution (downscaled 2-4x and scaled back up, as 96-256 px swap and lip-sync
    generators are), sometimes blurred (sigma 0.4-1.5 px), sometimes JPEG-coded (quality 40-90)."""
    h, w = image.shape[:2]
    factor = rng.uniform(2.0, 4.0)
    small = cv2.resize(image, (max(8, round(w / factor)), max(8, round(h / factor))), interpolation=cv2.INTER_AREA)
    up = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
    out = cv2.resize(small, (w, h), interpolation=up)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.5))
    if rng.random() < 0.3:
        ok, code = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
        if ok:
            out = cv2.imdecode(code, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)


PAPER_REGIONS: tuple[str, ...] = ("forehead", "face", "inner")
"""The face regions of the paper's masks (landmark subsets), drawn 35/40/25%."""


@dataclass
class SelfBlend:
    """Makes SBI pseudo-fakes of aligned face crops.

    Attributes:
        policy: the crops' policy (used for the landmark template when a crop's are unknown).
        regions: the face regions a mask covers, drawn uniformly from these names of
            :data:`forensics.manipulate.OUTLINES`; the default (the paper's) draws
            ``forehead``/``face``/``inner`` 35/40/25%. ``lower`` and ``mouth`` are what
            lip-sync tools paste.
        degrade: the probability that the pasted copy is also degraded as a generator's
            output is (:func:`degrade_as_generated`); default 0 (the paper's recipe).
        swap: the probability that the pasted face is a donor's (another real face, when one
            is given) instead of the crop's own; default 0 (self-blends only, the paper's).
    """

    policy: CropPolicy
    regions: tuple[str, ...] = PAPER_REGIONS
    degrade: float = 0.0
    swap: float = 0.0

    def __post_init__(self) -> None:
        from forensics.manipulate import OUTLINES

        unknown = sorted(set(self.regions) - set(OUTLINES))
        if unknown or not self.regions:
            raise ValueError(f"unknown face region(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(OUTLINES)}")
        for name in ("degrade", "swap"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], not {value}")

    def _landmarks(self, landmarks: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        points = None if landmarks is None else np.asarray(landmarks, np.float32)
        # unknown, or eyes closer than 5% of the crop (no outline can be drawn on them): a template
        if (points is None or not np.isfinite(points).all()
                or np.linalg.norm(points[1] - points[0]) < 0.05 * self.policy.size):
            return template_landmarks(self.policy) + rng.normal(0, 0.015 * self.policy.size, (5, 2))
        return points

    def _donor_face(self, crop: np.ndarray, landmarks: np.ndarray, donor: np.ndarray,
                    donor_landmarks: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """``donor``'s face moved onto ``crop``'s five landmarks, colour-matched to it (Lab mean
        and spread inside the face outline) 80% of the time."""
        h, w = crop.shape[:2]
        # the crops share one policy, so they nearly line up as they are: a fit far from that is a bad one
        moved = align_face(donor, self._landmarks(donor_landmarks, rng), landmarks, (h, w), scales=(0.5, 2.0))
        if moved is None:
            moved = donor
        if rng.random() < 0.8:
            moved = colour_transfer(moved, crop, hull_mask((h, w), face_outline(landmarks, kind="face")))
        return moved

    def __call__(self, crop: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator,
                 donor: np.ndarray | None = None, donor_landmarks: np.ndarray | None = None) -> np.ndarray:
        """A pseudo-fake of ``crop`` (``uint8`` (S, S, 3)); ``landmarks`` are its five, in crop
        pixels. ``donor`` (another real crop of the same policy, with its ``donor_landmarks``)
        is pasted instead of the crop's own face with probability ``swap``."""
        landmarks = self._landmarks(landmarks, rng)
        h, w = crop.shape[:2]
        target, source, swapped = crop, crop.copy(), None
        if donor is not None and self.swap and rng.random() < self.swap:
            source = swapped = self._donor_face(crop, landmarks, donor, donor_landmarks, rng)
        # either copy takes the jitter: the paper's choice, so that the inside is not always the odd one
        jittered = _frequency_jitter(_colour_jitter(source, rng), rng)  # drawn first: a self-blend's draws as before swaps
        if rng.random() < 0.5:
            source = jittered
        else:
            target = jittered if swapped is None else _frequency_jitter(_colour_jitter(target, rng), rng)
        if self.degrade and rng.random() < self.degrade:
            source = degrade_as_generated(source, rng)
        region = None if tuple(self.regions) == PAPER_REGIONS else str(rng.choice(list(self.regions)))
        mask = hull_mask((h, w), face_outline(landmarks, rng, region))
        # move source and mask together (translate 3% / 1.5%, scale 0.95-1.05), then warp the mask alone
        scale = rng.uniform(0.95, 1 / 0.95)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
        matrix[:, 2] += (rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.015, 0.015) * h)
        source = cv2.warpAffine(source, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        mask = cv2.warpAffine(mask, matrix, (w, h))
        mask = _elastic(mask, rng)
        if rng.random() < 0.5:  # the paper's random erosion or dilation of the hull
            kernel = np.ones((_odd(rng, 3, 12), _odd(rng, 3, 12)), np.uint8)
            mask = (cv2.erode if rng.random() < 0.5 else cv2.dilate)(mask, kernel)
        soft = blend_mask(mask, rng)[..., None]
        blended = source.astype(np.float32) * soft + target.astype(np.float32) * (1 - soft)
        return np.clip(np.round(blended), 0, 255).astype(np.uint8)
