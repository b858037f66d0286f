"""What a scan says about one media item: its report row and its faces' rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forensics.families import FAMILIES
from forensics.media.decode import MediaInfo
from forensics.media.discover import MediaItem
from forensics.media.provenance import Provenance


def printable(text: str | None) -> str | None:
    """``text`` safe to store as UTF-8: bytes of a non-UTF-8 file name come back escaped (``\\xe9``).

    Paths read from disk keep undecodable bytes as lone surrogates (Python's
    ``surrogateescape``), which Arrow and JSON writers refuse.
    """
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class FaceRecord:
    """One scored face crop.

    Attributes:
        frame_index: frame number in the video (0 for an image).
        timestamp_s: time of the frame in seconds.
        track_id: the person the face belongs to within this media (from 0).
        box: (x1, y1, x2, y2) in original-frame pixels.
        det_prob: MTCNN face probability.
        landmarks: (5, 2) eye, nose and mouth-corner points in original-frame pixels.
        score: P(fake) of the crop, 0..1 (with a suite, the highest of its family scores).
        family_scores: the crop's calibrated score of each family the scorer has (see
            :data:`forensics.families.FAMILIES`); empty for a model without a family.
    """

    frame_index: int
    timestamp_s: float
    track_id: int
    box: np.ndarray
    det_prob: float
    landmarks: np.ndarray
    score: float
    family_scores: dict[str, float] = field(default_factory=dict)


@dataclass
class TrackScore:
    """One person's (track's) score in a media: what the verdict was made of.

    Attributes:
        track_id: the track (``FaceRecord.track_id``).
        faces: its scored faces.
        counted: whether it counts towards the media's score (tracks shorter than the
            aggregation's ``min_track_faces`` do not while a longer one exists).
        score: its score, 0..1: with a suite, the highest of its family scores; the media's
            score is the highest score of its counted tracks.
        family_scores: its calibrated score of each family that judged the media (empty for a
            model without a family).
    """

    track_id: int
    faces: int
    counted: bool
    score: float
    family_scores: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "faces": self.faces, "counted": self.counted, "score": self.score,
                **family_columns(self.family_scores)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "TrackScore":
        return cls(row["track_id"], row["faces"], row["counted"], row["score"], family_scores_of(row))


def family_columns(family_scores: dict[str, float]) -> dict[str, float | None]:
    """``score_<family>`` for every family this version knows, None where the scorer has none."""
    return {f"score_{name}": family_scores.get(name) for name in FAMILIES}


def family_scores_of(row: dict[str, Any]) -> dict[str, float]:
    """Inverse of :func:`family_columns`: the families a row (media, face or track) has a score for."""
    return {name: row[f"score_{name}"] for name in FAMILIES if row.get(f"score_{name}") is not None}


@dataclass
class MediaResult:
    """One media row of the report and the face rows behind it.

    ``status`` is ``ok`` (faces scored), ``no_face`` (decoded, no face found) or ``error``
    (``error`` says why). ``score`` and ``verdict`` are None unless status is ``ok``.
    ``warnings`` say what was wrong with the evidence short of an error (damaged data,
    frames that could not be decoded): a score with warnings rests on damaged evidence.
    ``family_scores`` holds each family's media score when the scorer has families (a suite);
    ``family`` names the family whose score made the verdict ``fake`` (None otherwise), or
    ``provenance`` when the media declares itself AI-generated: then the verdict is ``fake``
    whatever the status. ``provenance`` is what the file declares about its origin
    (the ``provenance_*`` columns). ``track_scores`` are the per-person scores the media's score
    was taken from (one aggregation: the report, the summary and the review page read these).
    """

    path: str
    kind: str
    status: str
    sha256: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    score: float | None = None
    verdict: str | None = None
    family: str | None = None
    family_scores: dict[str, float] = field(default_factory=dict)
    frames_sampled: int = 0
    faces_detected: int = 0
    tracks: int = 0
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    thumbnail: str | None = None
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    track_scores: list[TrackScore] = field(default_factory=list)
    faces: list[FaceRecord] = field(default_factory=list)

    def media_row(self) -> dict[str, Any]:
        """The media report's row (text made printable: see :func:`printable`)."""
        return {
            "path": printable(self.path),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "kind": self.kind,
            "status": self.status,
            "error": printable(self.error),
            "warnings": [printable(w) for w in self.warnings],
            "score": self.score,
            "verdict": self.verdict,
            "family": self.family,
            **family_columns(self.family_scores),
            "frames_sampled": self.frames_sampled,
            "faces_detected": self.faces_detected,
            "tracks": self.tracks,
            "track_scores": [t.row() for t in self.track_scores],
            "width": self.width,
            "height": self.height,
            "duration_s": self.duration_s,
            "fps": self.fps,
            "thumbnail": self.thumbnail,
            "elapsed_s": self.elapsed_s,
            **{k: printable(v) if isinstance(v, str) else [printable(t) for t in v] if isinstance(v, list) else v
               for k, v in self.provenance.columns().items()},
        }

    def face_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "path": printable(self.path),
                "frame_index": f.frame_index,
                "timestamp_s": f.timestamp_s,
                "track_id": f.track_id,
                "x1": float(f.box[0]),
                "y1": float(f.box[1]),
                "x2": float(f.box[2]),
                "y2": float(f.box[3]),
                "det_prob": f.det_prob,
                "landmarks": [float(v) for v in np.asarray(f.landmarks).reshape(-1)],
                "score": f.score,
                **family_columns(f.family_scores),
            }
            for f in self.faces
        ]

    @classmethod
    def from_media_row(cls, row: dict[str, Any]) -> "MediaResult":
        """Inverse of :meth:`media_row` (without the faces)."""
        row = dict(row)
        family_scores = family_scores_of(row)
        for name in FAMILIES:
            row.pop(f"score_{name}", None)
        provenance = Provenance.pop_columns(row)
        track_scores = [TrackScore.from_row(t) for t in row.pop("track_scores", None) or []]
        return cls(**row, family_scores=family_scores, provenance=provenance, track_scores=track_scores)


@dataclass
class Preview:
    """A downscaled copy of a sampled frame, for the thumbnail."""

    frame_index: int
    timestamp_s: float
    image: np.ndarray
    scale: float  # preview pixels per original pixel


@dataclass
class Extraction:
    """Everything known about one media item before its faces are scored.

    Face arrays are aligned: face ``i`` has ``boxes[i]``, ``crops[i]``, ``track_ids[i]``...
    """

    item: MediaItem
    sha256: str | None = None
    size_bytes: int | None = None
    info: MediaInfo | None = None
    error: str | None = None
    frame_indices: list[int] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    face_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    face_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    probs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2), np.float32))
    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    crops: np.ndarray | None = None
    previews: list[Preview] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    elapsed_s: float = 0.0
