"""ScanConfig: every knob of a scan, its default and its validation.

The whole config is stored, flat, in the report's Parquet metadata, so that a report can be
reproduced and audited. Each stage takes only its part of it (``config.sampling``,
``config.face_search``, ``config.scoring``, ``config.aggregation``, ``config.evidence``); the
cluster's options are :class:`Cluster`, not part of what a report records.

Each default is declared once, in the stage view that uses it (``Sampling.frames`` is 32);
ScanConfig's fields take theirs from the views.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Literal

# The detector `forensics scan` uses unless told otherwise: the shipped efficientnet-lite0
# ensemble has the best held-out figures on face swaps and StyleGAN faces, also after JPEG and
# video coding; it is blind to Photoshop composites (docs/models.md: Shipped weights, which also says
# where it fails).
DEFAULT_MODEL = "efficientnet-lite0"

AggregateStrategy = Literal["mean", "max", "topk", "confident"]
AGGREGATE_STRATEGIES: tuple[str, ...] = ("mean", "max", "topk", "confident")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
ENGINES: tuple[str, ...] = ("local", "ray")
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video to decode, and in chunks of how many (``ScanConfig.frames``,
    ``fps``, ``max_frames``, ``detect_batch``)."""

    frames: int = 32
    fps: float | None = None
    max_frames: int = 2000
    chunk: int = 8


@dataclass(frozen=True)
class FaceSearch:
    """How faces are found and followed: MTCNN's input size (px), its probability and size
    floors, key-frame spacing, and the IoU that links a face to a track."""

    detect_size: int = 640
    min_face_prob: float = 0.9
    min_face_px: int = 24
    keyframe_every: int = 1
    track_iou: float = 0.3


@dataclass(frozen=True)
class Scoring:
    """Which classifier scores the crops, and how it runs."""

    model: str | None = None
    weights: str | None = None
    batch_size: int = 64
    device: str = "auto"
    runtime: str = "auto"
    threads: int | None = None


@dataclass(frozen=True)
class Aggregation:
    """How face scores become a media's score and verdict."""

    aggregate: str = "confident"
    topk: int = 5
    min_track_faces: int = 2
    threshold: float = 0.5


@dataclass(frozen=True)
class Evidence:
    """What pictures a scan draws for the reviewer, and where (None: none)."""

    thumbnails: str | None = None
    evidence_faces: int = 4
    heatmaps: bool = False
    threshold: float = Aggregation.threshold


@dataclass(frozen=True)
class Cluster:
    """How a scan runs on Ray (``--engine ray``); not recorded in the report, which does not
    depend on it.

    Attributes:
        address: ``auto``, ``host:port`` or ``ray://host:10001``; None starts a local Ray
            instance for the scan, on 127.0.0.1, and stops it afterwards.
        workers: actors per model stage: N (fixed), ``(min, max)`` (pools that grow and
            shrink with the work), or None (default: start at what fits the cluster and grow
            as far as it grows).
        gpus_per_worker: GPUs per scoring actor (default 0.5 when the cluster has GPUs, else 0).
        extract_gpus: GPUs per decoding and detecting actor (default 0: CPU actors, on every
            node's CPUs, apart from the GPU scoring actors).
        media_per_batch: media per scoring call (default 8).
        max_task_retries: retries of a media whose worker died while scanning it (default 3); then it
            is an error row.
        num_cpus: CPUs of a local instance (default: the cores this process may use).
    """

    address: str | None = None
    workers: int | tuple[int, int] | None = None
    gpus_per_worker: float | None = None
    extract_gpus: float = 0.0
    media_per_batch: int = 8
    max_task_retries: int = 3
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        bounds = self.workers if isinstance(self.workers, tuple) else (self.workers or 1,) * 2
        if self.media_per_batch < 1 or min(bounds) < 1 or bounds[0] > bounds[1]:
            raise ValueError(f"workers (N or MIN <= MAX) and media_per_batch must be >= 1, got {self.workers} "
                             f"and {self.media_per_batch}")
        if (self.gpus_per_worker or 0) < 0 or self.extract_gpus < 0:
            raise ValueError(f"GPU shares must be >= 0, got {self.gpus_per_worker} and {self.extract_gpus}")


def parse_workers(text: str) -> int | tuple[int, int]:
    """``--workers``: ``N`` (fixed pools of N actors) or ``MIN-MAX`` (pools that grow and shrink).

    Raises:
        ValueError: anything else, or a bound below 1, or MIN above MAX.
    """
    low, sep, high = text.strip().partition("-")
    try:
        bounds = (int(low), int(high)) if sep else int(low)
    except ValueError:
        raise ValueError(f"--workers takes N or MIN-MAX (e.g. 4 or 1-32), got {text!r}") from None
    values = bounds if isinstance(bounds, tuple) else (bounds,)
    if min(values) < 1 or (isinstance(bounds, tuple) and bounds[0] > bounds[1]):
        raise ValueError(f"--workers takes N or MIN-MAX with 1 <= MIN <= MAX, got {text!r}")
    return bounds


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and cgroup pinning)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ScanConfig:
    """Every setting of a scan.

    Attributes:
        frames: frames sampled per video, evenly spaced over its whole length (default 32).
            Ignored when ``fps`` is set.
        fps: sample this many frames per second of video instead of a fixed count.
        max_frames: hard cap on frames sampled per video when ``fps`` is set (default 2000).
        detect_size: longest side, in pixels, a frame is downscaled to before face detection
            (default 640); boxes are mapped back to original pixels. 0 detects at full size.
        min_face_prob: MTCNN probability below which a detection is dropped (default 0.9).
        min_face_px: faces whose box is smaller than this many pixels (shorter side, in the
            original frame) are dropped (default 24).
        keyframe_every: in videos, every k-th sampled frame is searched whole for faces of
            every size; on the frames between, the previous frame's faces are followed with
            MTCNN's last stage alone, and a frame where one is lost is searched whole
            (:class:`forensics.faces.detect.FaceFollower`). Default 1: every frame searched whole.
        model: a registered model alone, with its shipped weights (or the ``weights`` given);
            None (the default) takes the one the weights' card names, or, without weights, the
            shipped suite of detectors (``weights/suite.json``; :data:`DEFAULT_MODEL` where no
            suite ships).
        weights: path to a ``.safetensors`` file, or to a suite card (``.json``, one detector
            per family: :class:`forensics.score.SuiteScorer`); None takes the shipped ones.
        threshold: a media whose score is >= this is ``fake`` (default 0.5).
        aggregate: how face scores in a track become a track score (default ``confident``);
            a media's score is always its most fake track's score.
        topk: faces averaged by the ``topk`` strategy (default 5).
        min_track_faces: in videos, tracks with fewer faces than this are ignored when
            longer tracks exist (default 2): a one-frame detection is usually a false face.
        track_iou: box IoU (0..1) that links a face to a track from an earlier frame (0.3).
        batch_size: face crops scored per forward pass (default 64).
        detect_batch: frames per MTCNN call and per decoded chunk (default 8).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        runtime: the classifier's runtime: ``auto`` (ONNX Runtime on a CPU, PyTorch on a GPU),
            ``torch`` or ``onnx`` (see :mod:`forensics.models.runtime`).
        threads: torch intra-op threads; None uses every core this process may run on.
        engine: ``local`` (in-process) or ``ray``.
        thumbnails: folder for annotated JPEG thumbnails and, beside each, its media's most
            fake face crops (see :mod:`forensics.report.evidence`); None writes none.
        evidence_faces: face crops kept per media in the thumbnails folder (default 4).
        heatmaps: also write a Grad-CAM heatmap of each kept crop (default False; needs
            ``thumbnails``; see :mod:`forensics.heatmap`).
        timeout_per_media: seconds of decoding allowed per media (default 600); past it the
            decoder is stopped and the media is an error row. A 10-minute 1080p video needs
            a few seconds at the default sampling. Reading the media's provenance has as long again.
        trust_anchors: a PEM file of the root (or intermediate) certificates a Content Credentials
            signer must chain to for ``provenance_status`` ``valid``; None (the default): no
            signer is trusted, a well-formed manifest is ``untrusted`` (its signer named).
    """

    frames: int = Sampling.frames
    fps: float | None = Sampling.fps
    max_frames: int = Sampling.max_frames
    detect_size: int = FaceSearch.detect_size
    min_face_prob: float = FaceSearch.min_face_prob
    min_face_px: int = FaceSearch.min_face_px
    keyframe_every: int = FaceSearch.keyframe_every
    model: str | None = Scoring.model
    weights: str | None = Scoring.weights
    threshold: float = Aggregation.threshold
    aggregate: str = Aggregation.aggregate
    topk: int = Aggregation.topk
    min_track_faces: int = Aggregation.min_track_faces
    track_iou: float = FaceSearch.track_iou
    batch_size: int = Scoring.batch_size
    detect_batch: int = Sampling.chunk
    device: str = Scoring.device
    runtime: str = Scoring.runtime
    threads: int | None = Scoring.threads
    engine: str = "local"
    thumbnails: str | None = Evidence.thumbnails
    evidence_faces: int = Evidence.evidence_faces
    heatmaps: bool = Evidence.heatmaps
    timeout_per_media: float = 600.0
    trust_anchors: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.frames < 1:
            problems.append(f"frames must be >= 1, got {self.frames}")
        if self.fps is not None and not self.fps > 0:
            problems.append(f"fps must be > 0, got {self.fps}")
        if self.max_frames < 1:
            problems.append(f"max_frames must be >= 1, got {self.max_frames}")
        if self.keyframe_every < 1:
            problems.append(f"keyframe_every must be >= 1, got {self.keyframe_every}")
        if self.detect_size < 0:
            problems.append(f"detect_size must be >= 0, got {self.detect_size}")
        if not 0.0 <= self.min_face_prob <= 1.0:
            problems.append(f"min_face_prob must be in [0, 1], got {self.min_face_prob}")
        if not 0.0 <= self.threshold <= 1.0:
            problems.append(f"threshold must be in [0, 1], got {self.threshold}")
        if self.aggregate not in AGGREGATE_STRATEGIES:
            problems.append(f"aggregate must be one of {', '.join(AGGREGATE_STRATEGIES)}, got {self.aggregate!r}")
        if self.topk < 1:
            problems.append(f"topk must be >= 1, got {self.topk}")
        if self.min_track_faces < 1:
            problems.append(f"min_track_faces must be >= 1, got {self.min_track_faces}")
        if not 0.0 < self.track_iou <= 1.0:
            problems.append(f"track_iou must be in (0, 1], got {self.track_iou}")
        if self.batch_size < 1 or self.detect_batch < 1:
            problems.append("batch_size and detect_batch must be >= 1")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.runtime not in RUNTIMES:
            problems.append(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be >= 1, got {self.threads}")
        if self.engine not in ENGINES:
            problems.append(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.evidence_faces < 0:
            problems.append(f"evidence_faces must be >= 0, got {self.evidence_faces}")
        if self.heatmaps and not self.thumbnails:
            problems.append("heatmaps are written beside the thumbnails: give a thumbnails folder too")
        if not self.timeout_per_media > 0:
            problems.append(f"timeout_per_media must be > 0 seconds, got {self.timeout_per_media}")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of setting ``name`` (what ``forensics scan`` uses when not told otherwise)."""
        return {f.name: f.default for f in dataclasses.fields(cls)}[name]

    @classmethod
    def from_preset(cls, preset: str = "default", **settings: Any) -> "ScanConfig":
        """The settings of :data:`PRESETS` ``[preset]``, with ``settings`` over them.

        Raises:
            ValueError: an unknown preset or setting, or an invalid value.
        """
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; settings: {', '.join(sorted(known))}")
        return cls(**{**PRESETS[preset], **settings})

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.frames, self.fps, self.max_frames, self.detect_batch)

    @property
    def face_search(self) -> FaceSearch:
        return FaceSearch(self.detect_size, self.min_face_prob, self.min_face_px, self.keyframe_every, self.track_iou)

    @property
    def scoring(self) -> Scoring:
        return Scoring(self.model, self.weights, self.batch_size, self.device, self.runtime, self.threads)

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation(self.aggregate, self.topk, self.min_track_faces, self.threshold)

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.thumbnails, self.evidence_faces, self.heatmaps, self.threshold)

    @property
    def torch_threads(self) -> int:
        return self.threads or available_cores()


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "fast": {  # screens a large collection
        "frames": 8,  # frames per video, evenly spaced
        "detect_size": 480,  # longest side (px) frames are shrunk to for detection
        "batch_size": 128,  # crops per forward pass
    },
    "thorough": {  # examines a smaller set closely
        "fps": 2.0,  # two frames per second of video ...
        "max_frames": 600,  # ... at most 600 per video (5 minutes)
        "detect_size": 0,  # detect at full resolution: small faces in 4K footage are kept
        "min_face_prob": 0.8,
        "min_face_px": 20,
    },
}
"""Named sets of settings (``forensics scan --preset``): ``default`` is ScanConfig's defaults,
``fast`` screens a large collection (8 frames per video, detection on frames shrunk to 480
px), ``thorough`` examines a smaller set closely (2 frames per second, detection at full
resolution, fainter and smaller faces kept). Options and ``--set`` go over a preset."""


def parse_setting(text: str) -> tuple[str, Any]:
    """``key=value`` -> (key, value) typed as ScanConfig's field is (``none`` is None), for ``--set``.

    Raises:
        ValueError: not ``key=value``, an unknown key, or a value of the wrong type.
    """
    key, sep, raw = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(ScanConfig)}
    if not sep or key not in fields:
        raise ValueError(f"--set takes key=value with key one of {', '.join(sorted(fields))}; got {text!r}")
    if raw.lower() in ("none", "null", ""):
        return key, None
    kind = str(fields[key].type)
    try:
        if kind.startswith("bool"):
            if raw.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise ValueError(raw)
            return key, raw.lower() in ("1", "true", "yes")
        if kind.startswith("int"):
            return key, int(raw)
        if kind.startswith("float"):
            return key, float(raw)
    except ValueError:
        what = {"bool": "true or false", "int": "a whole number", "float": "a number"}[kind.split(" ")[0]]
        raise ValueError(f"--set {key}: {raw!r} is not {what}") from None
    return key, raw
