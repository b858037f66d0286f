"""What a training step does to its crops: the augmentations by name, and self-blended
pseudo-fakes (:mod:`forensics.train.sbi`) made from the batch's real crops."""

from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from forensics.faces.align import CropPolicy
from forensics.train.codec import h264_keyframe
from forensics.train.config import AUGMENTATIONS, check_augmentations


def augmenter(seed: int, kinds: Sequence[str] = AUGMENTATIONS) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Per-crop augmentation of a ``uint8`` (3, H, W) tensor with the named ``kinds``; None when empty.

    Each kind applies with its own probability: flip 0.5, affine 0.5, colour 0.5, downscale 0.2,
    blur 0.15, jpeg 0.3, video 0.2.
    """
    from torchvision.transforms import v2

    check_augmentations(kinds)
    if not kinds:
        return None
    torch.manual_seed(seed)

    def downscale(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        factor = float(np.random.uniform(0.35, 0.8))
        small = v2.functional.resize(x, [max(8, int(h * factor)), max(8, int(w * factor))], antialias=True)
        return v2.functional.resize(small, [h, w], antialias=True)

    def jpeg(x: torch.Tensor) -> torch.Tensor:  # OpenCV's libjpeg: torchvision's JPEG codec is deprecated
        quality = int(np.random.randint(50, 96))
        _, data = cv2.imencode(".jpg", x.permute(1, 2, 0).numpy()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        return torch.from_numpy(np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])).permute(2, 0, 1)

    def video(x: torch.Tensor) -> torch.Tensor:
        crf = int(np.random.randint(18, 37))
        return torch.from_numpy(h264_keyframe(x.permute(1, 2, 0).numpy(), crf)).permute(2, 0, 1)

    transforms = {
        "flip": v2.RandomHorizontalFlip(),
        "affine": v2.RandomApply([v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.92, 1.08), shear=5)], p=0.5),
        "colour": v2.RandomApply([v2.ColorJitter(brightness=0.2, contrast=0.2)], p=0.5),
        "downscale": v2.RandomApply([v2.Lambda(downscale)], p=0.2),
        "blur": v2.RandomApply([v2.GaussianBlur(5, sigma=(0.2, 1.2))], p=0.15),
        "jpeg": v2.RandomApply([v2.Lambda(jpeg)], p=0.3),
        "video": v2.RandomApply([v2.Lambda(video)], p=0.2),
    }
    return v2.Compose([transforms[kind] for kind in AUGMENTATIONS if kind in kinds])


def self_blend_batch(crops: np.ndarray, labels: np.ndarray, policy: CropPolicy, rng: np.random.Generator,
                     share: float = 0.5, landmarks: np.ndarray | None = None,
                     regions: Sequence[str] | None = None, degrade: float = 0.0, swap: float = 0.0,
                     donors: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Turn a ``share`` of the real crops of a batch into self-blended pseudo-fakes (label 1).

    ``landmarks`` (n, 5, 2) are each crop's five landmarks in crop pixels (NaN where unknown:
    a template for the policy stands in); ``regions``, ``degrade`` and ``swap`` are
    :class:`forensics.train.sbi.SelfBlend`'s (default: the paper's masks, no degradation, no
    donor). A swapped pseudo-fake pastes a real face drawn at random from ``donors``: crops (may
    be memory-mapped), their landmarks and the rows that are real faces; default the batch's own
    real crops, the crop itself excepted.
    """
    from forensics.train.sbi import PAPER_REGIONS, SelfBlend

    blend = SelfBlend(policy, tuple(regions or PAPER_REGIONS), degrade, swap)
    reals = np.flatnonzero(labels == 0)
    pool, pool_landmarks, rows = donors if donors is not None else (crops, landmarks, reals)
    out, out_labels = crops.copy(), labels.copy()
    for i in reals:
        if rng.random() < share:
            donor = None
            if swap and len(rows) > (1 if donors is None else 0):  # the batch's own: another than itself
                pick = int(rng.integers(len(rows)))
                if donors is None and rows[pick] == i:  # never the crop itself
                    pick = (pick + 1) % len(rows)
                donor = int(rows[pick])
            out[i] = blend(crops[i], None if landmarks is None else landmarks[i], rng,
                           None if donor is None else np.asarray(pool[donor]),
                           None if donor is None or pool_landmarks is None else pool_landmarks[donor])
            out_labels[i] = 1.0
    return out, out_labels
