"""Face detection with facenet-pytorch's MTCNN (weights ship inside its wheel: works offline).

Large frames are downscaled before detection (``detect_size``, longest side in pixels) and
boxes and landmarks are mapped back to the original pixels. MTCNN's networks and thresholds are
facenet-pytorch's; its search runs through :func:`forensics.faces.mtcnn.detect_face`, which gives
the same faces with the candidates resampled in one pass (1.22x faster on 21 shared videos'
frames, ``scripts/bench_detect.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

from forensics.faces.mtcnn import detect_face

MIN_DETECT_SIDE = 48  # pixels: the short side of a frame is not shrunk below this for detection
MIN_FRAME_SIDE = 20  # pixels: MTCNN's smallest face; a smaller frame is not searched
MTCNN_MIN_FACE = 20  # pixels of the detection image: the smallest face MTCNN's image pyramid looks for
FOLLOW_FACE_SHARE = 0.7  # between key frames, faces under this share of the key frame's smallest are not looked for


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
        self._mtcnn = MTCNN(min_face_size=MTCNN_MIN_FACE, keep_all=True, select_largest=False, post_process=False,
                           device=self.device)

    def _scale(self, height: int, width: int) -> float:
        longest = max(height, width)
        if self.detect_size <= 0 or longest <= self.detect_size:
            return 1.0
        # a long thin banner keeps a short side MTCNN can work on (it fails below 20 px)
        return max(self.detect_size / longest, min(1.0, MIN_DETECT_SIDE / min(height, width)))

    def too_small(self, height: int, width: int) -> bool:
        """True when a frame this size cannot hold a face of ``min_face_px`` (it is not searched)."""
        return min(height, width) < max(self.min_face_px, MIN_FRAME_SIDE)

    def detect(self, images: Sequence[np.ndarray], min_face: float = 0.0) -> list[list[Detection]]:
        """Faces in each RGB ``uint8`` image; frames of one batch may differ in size.

        Args:
            images: the frames.
            min_face: the smallest face side (original pixels) to look for. Larger values stop
                MTCNN's image pyramid sooner: fewer, smaller levels, a faster search (faces a
                little smaller are still found; much smaller ones are not). Default 0: MTCNN's
                smallest, 20 pixels of the detection image.

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
            mtcnn = self._mtcnn
            with torch.inference_mode():
                boxes, points = detect_face(np.stack(batch), max(MTCNN_MIN_FACE, int(min_face * scale)), mtcnn.pnet,
                                            mtcnn.rnet, mtcnn.onet, mtcnn.thresholds, mtcnn.factor, self.device)
            for i, b, pts in zip(members, boxes, points):
                results[i] = self._to_detections(b[:, :4], b[:, 4], pts, scale)
        return results

    @staticmethod
    def _resize(image: np.ndarray, scale: float) -> np.ndarray:
        if scale == 1.0:
            return image
        h, w = image.shape[:2]
        return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)

    def _to_detections(self, boxes: np.ndarray, probs: np.ndarray, points: np.ndarray, scale: float) -> list[Detection]:
        found = []
        for box, prob, pts in zip(np.asarray(boxes, dtype=np.float32), np.asarray(probs, dtype=np.float32),
                                  np.asarray(points, dtype=np.float32)):
            box = box / scale
            pts = pts / scale
            if prob < self.min_prob or min(box[2] - box[0], box[3] - box[1]) < self.min_face_px:
                continue
            found.append(Detection(box=box, prob=float(prob), landmarks=pts))
        return found


class FaceFollower:
    """Faces of one video's sampled frames, in order, searched in full on key frames only.

    Every ``keyframe_every``-th sampled frame (the first included) is searched for faces of
    every size, so that a face that has just entered is found. The frames between are searched
    whole too, but only for faces at least :data:`FOLLOW_FACE_SHARE` times the side of the
    smallest face of their key frame: MTCNN's image pyramid stops sooner, which is most of its
    cost, and frames keep being searched in batches. A frame where fewer faces turn up than its
    key frame had (a face lost, or shrunk) is searched again in full, and so are the frames after
    a key frame without faces. A face much smaller than the key frame's that enters between key
    frames is found at the next key frame. ``keyframe_every=1`` searches every frame in full.

    Attributes:
        full: frames searched in full so far; ``near``: frames searched for the key frame's
            faces only.
    """

    def __init__(self, detector: FaceDetector, keyframe_every: int = 1):
        if keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {keyframe_every}")
        self.detector, self.keyframe_every = detector, keyframe_every
        self.position, self.full, self.near = 0, 0, 0
        self._key: list[Detection] = []  # the faces of the latest key frame

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each of the next sampled frames (RGB ``uint8``), in the frames' pixels."""
        results: list[list[Detection] | None] = [None] * len(images)
        keys = [i for i in range(len(images)) if (self.position + i) % self.keyframe_every == 0]
        at_key = dict(zip(keys, self._search(images, keys)))
        # each key frame's faces with the frames after it; the chunk's first frames follow the
        # previous chunk's last key frame
        runs: list[tuple[list[Detection], list[int]]] = [(self._key, [])]
        for i in range(len(images)):
            if i in at_key:
                results[i] = at_key[i]
                runs.append((at_key[i], []))
            else:
                runs[-1][1].append(i)
        again = []
        for key, members in runs:
            if not members:
                continue
            if not key:
                again += members
                continue
            smallest = min(min(d.box[2] - d.box[0], d.box[3] - d.box[1]) for d in key)
            for i, found in zip(members, self._search(images, members, FOLLOW_FACE_SHARE * float(smallest))):
                results[i] = found
                if len(found) < len(key):
                    again.append(i)
                else:
                    self.near += 1
        for i, found in zip(again, self._search(images, again)):
            results[i] = found
        self._key = runs[-1][0]
        self.position += len(images)
        return results

    def _search(self, images: Sequence[np.ndarray], which: list[int], min_face: float = 0.0) -> list[list[Detection]]:
        if not which:
            return []
        if not min_face:
            self.full += len(which)
        return self.detector.detect([images[i] for i in which], min_face)
