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
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch

from forensics.config import ScanConfig
from forensics.engines.base import ProgressCallback, score_and_finish
from forensics.faces.detect import Detection, FaceDetector, resolve_device
from forensics.media.decode import DecodeError, Frame
from forensics.media.discover import MediaItem
from forensics.media.provenance import load_trust_anchors, trust_anchors_sha256
from forensics.media.worker import DecodeWorker
from forensics.pipeline import OpenedItem, extract_opened, opened_item
from forensics.result import Extraction, MediaResult
from forensics.score import scorer_audit, scorer_for


class LocalEngine:
    """The embedded engine: MTCNN and the face classifier with its weights, loaded once in
    this process, for any number of scans (:class:`~forensics.engines.base.Engine`)."""

    def __init__(self, config: ScanConfig):
        self.config = config
        # first: an unreadable --trust-anchors file is a usage error before any model loads
        self.trust_anchors = load_trust_anchors(config.trust_anchors)
        torch.set_num_threads(config.torch_threads)
        self.device = resolve_device(config.device)
        self.scorer = scorer_for(config.scoring, self.device)
        self.detector = FaceDetector.for_search(config.face_search, self.device)

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
    """The decode thread's header message for one item (:class:`~forensics.pipeline.OpenedItem`);
    its chunks follow, then ``_End``."""

    opened: OpenedItem
    faces: list[list[Detection]] | None = None  # each frame's faces, when searched with other photos'


@dataclass
class _End:
    """The last message of an item: decoding finished, or failed with ``error``."""

    error: str | None = None


def _decode_messages(items: Iterable[MediaItem], config: ScanConfig, worker: DecodeWorker,
                     trust_anchors: str | None = None) -> Iterator["Message"]:
    """For each item: an ``_Opened`` header (:func:`~forensics.pipeline.opened_item`), then its
    frame chunks, then an ``_End``. An object in a bucket is downloaded first, and its temporary
    file lives until its ``_End``."""
    for item in items:
        with opened_item(item, config.sampling, worker, trust_anchors) as opened:
            yield _Opened(opened)
            if opened.error is not None:
                continue
            try:
                for chunk in opened.chunks:
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


Message = _Opened | list[Frame] | _End
"""What the decode thread sends: an item's header, its chunks of frames, its end."""


def _photos_searched_together(messages: Iterator[Message], detector: FaceDetector) -> Iterator[Message]:
    """Pass the decode messages through, holding up to :data:`PHOTO_BATCH` consecutive photos
    back so that their frames are searched for faces in one call: each photo's ``_Opened``
    then carries its ``faces``. If that call fails, the photos are searched one by one later
    (and each fails on its own)."""
    held: list[Message] = []
    photos: list[tuple[_Opened, list[Frame]]] = []
    pixels = 0
    holding = False

    def release() -> Iterator[Message]:
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
            holding = message.opened.item.kind == "image" and message.opened.error is None
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


def _extract_one(header: _Opened, messages: Iterator[Message], engine: LocalEngine,
                 notify: ProgressCallback) -> tuple[Extraction, float]:
    """Detect and crop one item whose chunks come next in ``messages``
    (:func:`~forensics.pipeline.extract_opened`); its seconds so far are the extraction's own."""

    def chunks() -> Iterator[list[Frame]]:
        ended = False
        try:
            for message in messages:
                if isinstance(message, _End):
                    ended = True
                    if message.error is not None:
                        raise DecodeError(message.error)
                    return
                notify("frames", len(message))
                yield message
        finally:
            if not ended:  # extraction stopped early: skip the item's remaining chunks
                for message in messages:
                    if isinstance(message, _End):
                        break

    opened = header.opened
    x = extract_opened(opened, engine.detector, engine.crop_policy, engine.config.face_search,
                       chunks() if opened.error is None else None, header.faces)
    return x, 0.0
