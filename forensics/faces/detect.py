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
REGION_SCALE = 2.5  # a tracked face is looked for again in a square this many face sides wide
MAX_REGION_SHARE = 0.4  # regions covering more of the frame than this: the whole frame is searched


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

    def detect_near(self, image: np.ndarray, boxes: np.ndarray) -> list[Detection] | None:
        """Faces of an RGB ``uint8`` image looked for only around ``boxes`` (n, 4), where faces
        were in the previous sampled frame: in a square :data:`REGION_SCALE` face sides wide
        around each, shrunk as the whole frame would be (``detect_size``), so that MTCNN sees
        the face at the same size as in a whole-frame search, on a fraction of the pixels.

        Returns:
            The faces found, in the image's pixels (a face found from two regions once), or
            None when a region holds no face (a face was lost) or when the regions would cover
            more than :data:`MAX_REGION_SHARE` of the frame: the caller searches the whole frame.
        """
        height, width = image.shape[:2]
        scale = self._scale(height, width)
        small = self._resize(image, scale)  # the very pixels a whole-frame search would see
        found: list[Detection] = []
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4) * scale
        sides = np.minimum(REGION_SCALE * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]),
                           min(small.shape[:2]))
        if float((sides ** 2).sum()) > MAX_REGION_SHARE * small.shape[0] * small.shape[1]:
            return None  # the regions are most of the frame: searching them saves nothing
        for box, side in zip(boxes, sides.tolist()):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            x0 = int(round(min(max(cx - side / 2, 0), small.shape[1] - side)))
            y0 = int(round(min(max(cy - side / 2, 0), small.shape[0] - side)))
            region = small[y0 : y0 + int(side), x0 : x0 + int(side)]
            if min(region.shape[:2]) < MIN_FRAME_SIDE:
                return None
            with torch.inference_mode():
                b, p, pts = self._mtcnn.detect(region[None], landmarks=True)
            if b[0] is None:
                return None
            offset = np.array([x0, y0], np.float32)
            near = self._to_detections(np.asarray(b[0], np.float32) + np.tile(offset, 2), p[0],
                                       np.asarray(pts[0], np.float32) + offset, scale)
            if not near:
                return None
            found += near
        return _distinct(found)

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


class FaceFollower:
    """Faces of one video's sampled frames, in order, detected in full on key frames only.

    Every ``keyframe_every``-th sampled frame (the first included) is searched whole, so that a
    face that has just entered is found; on the frames between, each face of the previous
    frame is looked for around where it was (:meth:`FaceDetector.detect_near`), and a frame
    where a face is lost, or where the previous one had none, is searched whole.
    ``keyframe_every=1`` searches every frame whole (batched), as a scan did before.

    Attributes:
        full: frames searched whole so far; ``near``: frames searched around known faces.
    """

    def __init__(self, detector: FaceDetector, keyframe_every: int = 1):
        if keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {keyframe_every}")
        self.detector, self.keyframe_every = detector, keyframe_every
        self.position, self.full, self.near = 0, 0, 0
        self._previous = np.zeros((0, 4), np.float32)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each of the next sampled frames (RGB ``uint8``), in the frames' pixels."""
        if self.keyframe_every == 1:
            self.position, self.full = self.position + len(images), self.full + len(images)
            return self.detector.detect(images)
        results = []
        for image in images:
            found = None
            if self.position % self.keyframe_every and len(self._previous):
                found = self.detector.detect_near(image, self._previous)
                self.near += found is not None
            if found is None:
                found = self.detector.detect([image])[0]
                self.full += 1
            self._previous = np.array([d.box for d in found], np.float32).reshape(-1, 4)
            self.position += 1
            results.append(found)
        return results


def _distinct(detections: list[Detection], max_iou: float = 0.5) -> list[Detection]:
    """One detection per face: of boxes overlapping by more than ``max_iou``, the most probable."""
    if len(detections) < 2:
        return detections
    from torchvision.ops import nms

    boxes = torch.from_numpy(np.stack([d.box for d in detections]))
    keep = nms(boxes, torch.tensor([d.prob for d in detections]), max_iou)
    return [detections[i] for i in sorted(keep.tolist())]
