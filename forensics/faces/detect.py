"""Face detection with facenet-pytorch's MTCNN (weights ship inside its wheel: works offline).

Large frames are downscaled before detection (``detect_size``, longest side in pixels) and
boxes and landmarks are mapped back to the original pixels. MTCNN's networks and thresholds are
facenet-pytorch's; its search runs through :func:`forensics.faces.mtcnn.detect_face`, which gives
the same faces with the candidates resampled in one pass (1.22x faster on 21 shared videos'
frames, ``benchmarks/bench_detect.py``). In videos, :class:`FaceFollower` can search key frames
whole and follow the faces found into the frames between (``--keyframe-every``: 2.4x faster
detection on the 177 shared videos, but faces that show only between key frames are missed and
5 of their verdicts change, so the default searches every frame; ``benchmarks/bench_tracking.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou

from forensics.faces.mtcnn import detect_face, follow_faces

if TYPE_CHECKING:
    from forensics.config import FaceSearch

MIN_DETECT_SIDE = 48  # pixels: the short side of a frame is not shrunk below this for detection
MIN_FRAME_SIDE = 20  # pixels: MTCNN's smallest face; a smaller frame is not searched
MTCNN_MIN_FACE = 20  # pixels of the detection image: the smallest face MTCNN's image pyramid looks for


@dataclass
class Detection:
    """One face found in one frame, in original-frame pixels.

    Attributes:
        box: (x1, y1, x2, y2), float32.
        prob: MTCNN face probability, 0..1.
        landmarks: (5, 2) float32: left eye, right eye, nose, left mouth corner, right mouth
            corner, as (x, y). "Left" is the left of the image.
        window: (x1, y1, x2, y2) float32, the square MTCNN's last stage looked at to find the
            face (what :meth:`FaceDetector.follow` looks at in the next frame).
    """

    box: np.ndarray
    prob: float
    landmarks: np.ndarray
    window: np.ndarray | None = None


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

    @classmethod
    def for_search(cls, search: "FaceSearch", device: torch.device | str = "cpu") -> "FaceDetector":
        """The detector a scan's face search asks for (``config.face_search``), on ``device``."""
        return cls(device, search.detect_size, search.min_face_prob, search.min_face_px)

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
        """Faces of every size MTCNN finds in each RGB ``uint8`` image; frames of one batch may
        differ in size. Frames too small to hold a face (:meth:`too_small`) give no detections."""
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
                boxes, points = detect_face(np.stack(batch), MTCNN_MIN_FACE, mtcnn.pnet,
                                            mtcnn.rnet, mtcnn.onet, mtcnn.thresholds, mtcnn.factor, self.device)
            for i, b, pts in zip(members, boxes, points):
                results[i] = self._to_detections(b, pts, scale)
        return results

    def follow(self, image: np.ndarray, faces: Sequence[Detection]) -> list[Detection]:
        """Where ``faces`` (found in a nearby frame, in its pixels) are in this RGB ``uint8`` frame.

        MTCNN's last stage alone, looking again at the window where each face was found
        (:func:`forensics.faces.mtcnn.follow_faces`): boxes and landmarks as :meth:`detect` gives them. A face that has gone, or moved by more
        than about a quarter to a third of its side, is missing from the list.
        """
        faces = [d for d in faces if d.window is not None]
        if not faces or self.too_small(*image.shape[:2]):
            return []
        scale = self._scale(*image.shape[:2])
        mtcnn = self._mtcnn
        with torch.inference_mode():
            known = np.stack([np.concatenate([d.box * scale, [d.prob], d.window * scale]) for d in faces])
            boxes, points = follow_faces(self._resize(image, scale), known, mtcnn.onet, mtcnn.thresholds[2], self.device)
        return self._to_detections(boxes, points, scale)

    @staticmethod
    def _resize(image: np.ndarray, scale: float) -> np.ndarray:
        if scale == 1.0:
            return image
        h, w = image.shape[:2]
        return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)

    def _to_detections(self, boxes: np.ndarray, points: np.ndarray, scale: float) -> list[Detection]:
        """MTCNN's (k, 9) boxes and (k, 5, 2) landmarks in the detection image, as detections in
        original pixels, less those under ``min_prob`` or ``min_face_px``."""
        found = []
        for row, pts in zip(np.asarray(boxes, dtype=np.float32), np.asarray(points, dtype=np.float32)):
            box, prob, window = row[:4] / scale, float(row[4]), row[5:9] / scale
            if prob < self.min_prob or min(box[2] - box[0], box[3] - box[1]) < self.min_face_px:
                continue
            found.append(Detection(box=box, prob=prob, landmarks=pts / scale, window=window))
        return found


class FaceFollower:
    """Faces of one video's sampled frames, in order: searched in full on key frames, followed between.

    Every ``keyframe_every``-th sampled frame (the first included) is searched whole for faces
    of every size, so that a face that has entered is found. On the frames between, each face of
    the previous frame is followed with MTCNN's last stage alone (:meth:`FaceDetector.follow`,
    a few ms a frame where a whole search costs 30-50 ms); it usually finds a face that moved
    by up to a quarter of its side. A frame where a followed face is lost, or whose previous frame
    had none, is searched whole: the faces followed there keep their boxes and the search adds
    the others, so that one person's faces do not depend on whether another was lost. A face
    that enters between key frames is found at the next key frame, or at a whole search before
    it. ``keyframe_every=1`` searches every frame whole.

    Attributes:
        full: frames searched whole so far; ``near``: frames whose faces were followed.
    """

    def __init__(self, detector: FaceDetector, keyframe_every: int = 1):
        if keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {keyframe_every}")
        self.detector, self.keyframe_every = detector, keyframe_every
        self.position, self.full, self.near = 0, 0, 0
        self._previous: list[Detection] = []  # the faces of the latest sampled frame

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each of the next sampled frames (RGB ``uint8``), in the frames' pixels."""
        keys = [i for i in range(len(images)) if (self.position + i) % self.keyframe_every == 0]
        at_key = dict(zip(keys, self._search(images, keys)))  # key frames in one batch
        results: list[list[Detection]] = []
        previous = self._previous
        for i, image in enumerate(images):
            if i in at_key:
                found = at_key[i]
            else:
                found = self.detector.follow(image, previous) if previous else []
                if previous and len(found) == len(previous):
                    self.near += 1
                else:  # a face lost: search the frame whole, keep the faces followed, add the others
                    found += [d for d in self._search(images, [i])[0] if not _overlaps(d, found)]
            results.append(found)
            previous = found
        self._previous = previous
        self.position += len(images)
        return results

    def _search(self, images: Sequence[np.ndarray], which: list[int]) -> list[list[Detection]]:
        if not which:
            return []
        self.full += len(which)
        return self.detector.detect([images[i] for i in which])


def _overlaps(face: Detection, others: Sequence[Detection], min_iou: float = 0.3) -> bool:
    """True when ``face``'s box overlaps one of ``others``' by ``min_iou`` or more (the same face)."""
    if not others:
        return False
    return bool((box_iou(torch.from_numpy(face.box[None]), torch.from_numpy(np.stack([d.box for d in others]))) >= min_iou).any())
