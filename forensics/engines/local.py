"""The embedded engine: one process for the models, no services to start.

A helper thread hashes each media item (downloads it, from a bucket) and asks the decoding worker process for its frames
(in chunks, through a bounded queue) while the main thread detects and scores the item
before it, so decoding overlaps detection and memory stays bounded by a few chunks of frames.
Consecutive photos are searched for faces in one detector call, and the crops of consecutive
media are scored in one classifier pass.
Whatever fails on one item (decoding, detection, cropping, scoring, drawing) becomes that
item's error row; only a broken model stops the scan.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import torch

from forensics.config import ScanConfig
from forensics.engines.base import ProgressCallback, score_and_finish
from forensics.faces.detect import Detection, FaceDetector, resolve_device
from forensics.media.decode import DecodeError, Frame
from forensics.media.discover import MediaItem
from forensics.media.provenance import Provenance, load_trust_anchors, trust_anchors_sha256
from forensics.media.worker import DecodeWorker
from forensics.pipeline import StageError, extract, fetched, open_frames, provenance_of
from forensics.result import Extraction, MediaResult
from forensics.score import open_scorer, scorer_audit


class LocalEngine:
    """The embedded engine: MTCNN and the face classifier with its weights, loaded once in
    this process, for any number of scans (:class:`~forensics.engines.base.Engine`)."""

    def __init__(self, config: ScanConfig):
        self.config = config
        # first: an unreadable --trust-anchors file is a usage error before any model loads
        self.trust_anchors = load_trust_anchors(config.trust_anchors)
        torch.set_num_threads(config.torch_threads)
        self.device = resolve_device(config.device)
        self.scorer = open_scorer(config.model, config.weights, self.device, config.batch_size, config.runtime)
        self.detector = FaceDetector(self.device, config.detect_size, config.min_face_prob, config.min_face_px)

    @property
    def crop_policy(self):
        return self.scorer.crop_policy

    def audit(self) -> dict[str, Any]:
        """What the report's metadata records about the model."""
        return dict(scorer_audit(self.scorer), device=str(self.device),
                    trust_anchors_sha256=trust_anchors_sha256(self.trust_anchors))

    def notes(self) -> list[str]:
        """What the user should know about how the models run, e.g. why ONNX Runtime is not used."""
        return [self.scorer.runtime_note] if self.scorer.runtime_note else []

    def scan(self, items: Iterable[MediaItem], progress: ProgressCallback | None = None,
             ordered: bool = True) -> Iterator[MediaResult]:
        """Scan media items in order, yielding one result per item (media finish in input
        order here, so ``ordered`` changes nothing).

        Crops of consecutive media are scored together, in passes of about ``config.batch_size``
        crops (a folder of photos, one face each, would otherwise run one tiny pass per photo);
        a media waits for at most :data:`MAX_WAITING` others before its result is yielded.

        Raises:
            BrokenModelError: the classifier gave a score that is not a number; the scan stops.
        """
        config, notify = self.config, progress or (lambda event, n: None)
        with DecodeWorker(config.timeout_per_media) as worker:
            messages = _photos_searched_together(
                _prefetch(_decode_messages(items, config, worker, self.trust_anchors), depth=2), self.detector)
            waiting: list[tuple[Extraction, float]] = []  # extracted, not yet scored: (extraction, seconds so far)
            for opened in messages:
                assert isinstance(opened, _Opened)
                waiting.append(_extract_one(opened, messages, self, notify))
                crops = sum(len(x.crops) for x, _ in waiting if x.crops is not None)
                if crops >= config.batch_size or len(waiting) >= MAX_WAITING:
                    yield from self._score_and_finish(waiting, notify)
                    waiting = []
            yield from self._score_and_finish(waiting, notify)

    def scan_extraction(self, extraction: Extraction, elapsed_s: float = 0.0) -> MediaResult:
        """Score and finish one media extracted elsewhere (e.g. from in-memory frames)."""
        return score_and_finish([(extraction, elapsed_s)], self.scorer, self.config)[0]

    def close(self) -> None:
        """Nothing to release: each scan's decoding worker ends with the scan."""

    def _score_and_finish(self, waiting: list[tuple[Extraction, float]], notify: ProgressCallback) -> Iterator[MediaResult]:
        for result in score_and_finish(waiting, self.scorer, self.config):
            yield result
            notify("media", 1)


@dataclass
class _Opened:
    """The decode thread's header message for one item; its chunks follow, then ``_End``."""

    item: MediaItem
    sha256: str | None
    size_bytes: int | None
    started: float
    info: Any = None
    frame_count: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # filled by the decode thread before ``_End``
    faces: list[list[Detection]] | None = None  # each frame's faces, when searched with other photos'
    provenance: Provenance = field(default_factory=Provenance)


@dataclass
class _End:
    """The last message of an item: decoding finished, or failed with ``error``."""

    error: str | None = None


def _decode_messages(items: Iterable[MediaItem], config: ScanConfig, worker: DecodeWorker,
                     trust_anchors: str | None = None) -> Iterator[Any]:
    """For each item: an ``_Opened`` header (with the item's provenance), then its frame chunks,
    then an ``_End``. An object in a bucket is downloaded first, and its temporary file lives
    until its ``_End``."""
    for item in items:
        started = time.perf_counter()
        with fetched(item) as media:
            opened = _Opened(media.item, media.sha256, media.size_bytes, started,
                             provenance=provenance_of(media, trust_anchors, worker))
            chunks: Iterator[list[Frame]] = iter(())
            try:
                frames = open_frames(media.file, config.sampling, worker)
                opened.info, opened.frame_count, chunks = frames.info, frames.frame_count, frames.chunks
                opened.warnings = frames.warnings  # the same list: decoding adds to it
            except DecodeError as exc:
                opened.error = str(exc)
            yield opened
            if opened.error is not None:
                continue
            try:
                for chunk in chunks:
                    yield chunk
            except DecodeError as exc:
                yield _End(str(exc))
                continue
            yield _End()


def _prefetch(messages: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run ``messages`` on a daemon thread, at most ``depth`` messages ahead of the consumer."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for message in messages:
                while not stop.is_set():
                    try:
                        buffer.put(message, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # surface a bug in the producer instead of hanging
            buffer.put(exc)
        buffer.put(done)

    thread = threading.Thread(target=produce, name="forensics-decode", daemon=True)
    thread.start()
    try:
        while (message := buffer.get()) is not done:
            if isinstance(message, BaseException):
                raise message
            yield message
    finally:
        stop.set()


PHOTO_BATCH = 16
"""Photos whose faces are searched in one MTCNN call: same-size photos share its batches
(1.74x faster detection on 256-pixel face photos than one at a time, `benchmarks/bench_detect.py`)."""

PHOTO_BATCH_PIXELS = 1 << 24
"""At most this many decoded pixels are held back for one such call (about 48 MiB of RGB)."""


def _photos_searched_together(messages: Iterator[Any], detector: FaceDetector) -> Iterator[Any]:
    """Pass the decode messages through, holding up to :data:`PHOTO_BATCH` consecutive photos
    back so that their frames are searched for faces in one call: each photo's ``_Opened``
    then carries its ``faces``. If that call fails, the photos are searched one by one later
    (and each fails on its own)."""
    held: list[Any] = []
    photos: list[tuple[_Opened, list[Frame]]] = []
    pixels = 0
    holding = False

    def release() -> Iterator[Any]:
        nonlocal pixels
        frames = [frame.image for _, own in photos for frame in own]
        try:
            found = detector.detect(frames) if frames else []
        except Exception:  # each photo is searched again alone, and fails alone
            found = None
        for opened, own in photos:
            if found is not None:
                opened.faces, found = found[: len(own)], found[len(own) :]
        yield from held
        held.clear()
        photos.clear()
        pixels = 0

    for message in messages:
        if isinstance(message, _Opened):
            holding = message.item.kind == "image" and message.error is None
            if photos and (not holding or len(photos) >= PHOTO_BATCH or pixels >= PHOTO_BATCH_PIXELS):
                yield from release()
            if holding:
                photos.append((message, []))
        if not holding:
            yield message
            continue
        held.append(message)
        if isinstance(message, list):
            photos[-1][1].extend(message)
            pixels += sum(frame.image.shape[0] * frame.image.shape[1] for frame in message)
    yield from release()


MAX_WAITING = 16
"""Media whose crops may wait to be scored together (a bound on latency and memory)."""


def _extract_one(opened: _Opened, messages: Iterator[Any], engine: LocalEngine,
                 notify: ProgressCallback) -> tuple[Extraction, float]:
    """Detect and crop one item whose chunks come next in ``messages``; its seconds so far."""
    if opened.error is not None:
        x = Extraction(item=opened.item, sha256=opened.sha256, size_bytes=opened.size_bytes, error=opened.error,
                       provenance=opened.provenance)
        return x, time.perf_counter() - opened.started
    end: list[_End] = []

    def chunks() -> Iterator[list[Frame]]:
        for message in messages:
            if isinstance(message, _End):
                end.append(message)
                if message.error is not None:
                    raise DecodeError(message.error)
                return
            notify("frames", len(message))
            yield message

    try:
        x = extract(opened.item, opened.info, opened.frame_count, chunks(), engine.detector,
                    engine.crop_policy, engine.config.face_search, opened.faces)
    except (DecodeError, StageError) as exc:
        x = Extraction(item=opened.item, info=opened.info, error=str(exc))
    if not end:  # extraction stopped early: skip the item's remaining chunks
        for message in messages:
            if isinstance(message, _End):
                break
    x.sha256, x.size_bytes = opened.sha256, opened.size_bytes
    x.warnings = list(opened.warnings) + x.warnings
    x.provenance = opened.provenance
    return x, time.perf_counter() - opened.started
