"""Face detection with facenet-pytorch's MTCNN (weights ship inside its wheel: works offline).

Large frames are downscaled before detection (``detect_size``, longest side in pixels) and
boxes and landmarks are mapped back to the original pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

MIN_DETECT_SIDE = 48  # pixels: the short side of a frame is not shrunk below this for detection
MIN_FRAME_SIDE = 20  # pixels: MTCNN's smallest face; a smaller frame is not searched


@dataclass
class Detection:
    """One face found in one frame, in original-frame pixels.

    Attributes:
        box: (x1, y1, x2, y2), float32.
        prob: MTCNN face probability, 0..1.
        landmarks: (5, 2) float32: left eye, right eye, nose, left mouth corner, right mouth
            corner, as (x, y). "Left" is the left of the image.
    """

    box: np.ndarray
    prob: float
    landmarks: np.ndarray


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` gives CUDA when it is available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA GPU")
    return torch.device(device)


class FaceDetector:
    """Batched MTCNN over frames of any size.

    Args:
        device: torch device the networks run on.
        detect_size: longest side (pixels) frames are shrunk to before detection; 0 or a
            frame already smaller means full size (default 640).
        min_prob: detections below this probability are dropped (default 0.9).
        min_face_px: detections whose shorter box side, in original pixels, is below this
            are dropped (default 24).
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        detect_size: int = 640,
        min_prob: float = 0.9,
        min_face_px: int = 24,
    ):
        from facenet_pytorch import MTCNN

        self.device = torch.device(device)
        self.detect_size = detect_size
        self.min_prob = min_prob
        self.min_face_px = min_face_px
        self._mtcnn = MTCNN(keep_all=True, select_largest=False, post_process=False, device=self.device)

    def _scale(self, height: int, width: int) -> float:
        longest = max(height, width)
        if self.detect_size <= 0 or longest <= self.detect_size:
            return 1.0
        # a long thin banner keeps a short side MTCNN can work on (it fails below 20 px)
        return max(self.detect_size / longest, min(1.0, MIN_DETECT_SIDE / min(height, width)))

    def too_small(self, height: int, width: int) -> bool:
        """True when a frame this size cannot hold a face of ``min_face_px`` (it is not searched)."""
        return min(height, width) < max(self.min_face_px, MIN_FRAME_SIDE)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each RGB ``uint8`` image; frames of one batch may differ in size.

        Frames too small to hold a face (:meth:`too_small`) give no detections.
        """
        results: list[list[Detection]] = [[] for _ in images]
        # MTCNN batches only frames of one size: group by shape (a video's frames share one)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            if not self.too_small(*image.shape[:2]):
                groups.setdefault(image.shape, []).append(i)
        for shape, members in groups.items():
            scale = self._scale(shape[0], shape[1])
            batch = [self._resize(images[i], scale) for i in members]
            with torch.inference_mode():
                boxes, probs, points = self._mtcnn.detect(np.stack(batch), landmarks=True)
            for i, b, p, pts in zip(members, boxes, probs, points):
                results[i] = self._to_detections(b, p, pts, scale)
        return results

    @staticmethod
    def _resize(image: np.ndarray, scale: float) -> np.ndarray:
        if scale == 1.0:
            return image
        h, w = image.shape[:2]
        return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)

    def _to_detections(self, boxes, probs, points, scale: float) -> list[Detection]:
        # facenet-pytorch returns None (or an object array) for a frame without faces
        if boxes is None or probs is None or points is None:
            return []
        found = []
        for box, prob, pts in zip(np.asarray(boxes, dtype=np.float32), np.asarray(probs, dtype=np.float32),
                                  np.asarray(points, dtype=np.float32)):
            box = box / scale
            pts = pts / scale
            if prob < self.min_prob or min(box[2] - box[0], box[3] - box[1]) < self.min_face_px:
                continue
            found.append(Detection(box=box, prob=float(prob), landmarks=pts))
        return found
