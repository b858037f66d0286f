"""The embedded engine: one process, streaming, no services to start.

A helper thread hashes and decodes the next media item's frames (in chunks, through a
bounded queue) while the main thread detects and scores the current one, so decoding
overlaps detection and memory stays bounded by a few chunks of frames.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch

from forensics.config import ScanConfig
from forensics.faces.detect import FaceDetector, resolve_device
from forensics.media.decode import DecodeError, Frame
from forensics.media.discover import MediaItem
from forensics.pipeline import Extraction, extract, file_facts, finish, open_frames
from forensics.result import MediaResult
from forensics.score import FaceScorer

ProgressCallback = Callable[[str, int], None]  # (event "frames" | "media", count)


class Scanner:
    """The models of a scan, loaded once: MTCNN and the face classifier with its weights."""

    def __init__(self, config: ScanConfig):
        self.config = config
        torch.set_num_threads(config.torch_threads)
        self.device = resolve_device(config.device)
        self.scorer = FaceScorer(config.model, config.weights, self.device, config.batch_size)
        self.detector = FaceDetector(self.device, config.detect_size, config.min_face_prob, config.min_face_px)

    @property
    def crop_policy(self):
        return self.scorer.crop_policy

    def audit(self) -> dict[str, Any]:
        """What the report's metadata records about the model."""
        return {
            "model": self.scorer.spec.name,
            "weights": self.scorer.weights_path,
            "weights_sha256": self.scorer.weights_sha256,
            "crop_policy": self.crop_policy.to_dict(),
            "device": str(self.device),
        }


@dataclass
class _Opened:
    item: MediaItem
    sha256: str | None
    size_bytes: int | None
    started: float
    info: Any = None
    frame_count: int = 0
    error: str | None = None


_END = object()


def _decode_messages(items: Iterable[MediaItem], config: ScanConfig) -> Iterator[Any]:
    """For each item: an ``_Opened`` header, then its frame chunks, then ``_END`` (or an error)."""
    for item in items:
        started = time.perf_counter()
        opened = _Opened(item, None, None, started)
        if item.problem is None:
            try:
                opened.sha256, opened.size_bytes = file_facts(item.path)
            except OSError as exc:
                opened.error = f"cannot read the file: {exc.strerror or exc}"
        if opened.error is None:
            try:
                opened.info, opened.frame_count, chunks = open_frames(item, config)
            except DecodeError as exc:
                opened.error = str(exc)
        yield opened
        if opened.error is not None:
            continue
        try:
            for chunk in chunks:
                yield chunk
        except DecodeError as exc:
            yield exc
            continue
        yield _END


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
            if isinstance(message, BaseException) and not isinstance(message, DecodeError):
                raise message
            yield message
    finally:
        stop.set()


def scan_local(
    items: Iterable[MediaItem],
    config: ScanConfig,
    scanner: Scanner | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[MediaResult]:
    """Scan media items in order, yielding one result per item as soon as it is done."""
    scanner = scanner or Scanner(config)
    notify = progress or (lambda event, n: None)
    messages = _prefetch(_decode_messages(items, config), depth=2)
    for opened in messages:
        assert isinstance(opened, _Opened)
        if opened.error is not None:
            x = Extraction(item=opened.item, sha256=opened.sha256, size_bytes=opened.size_bytes, error=opened.error)
            yield finish(x, None, config, time.perf_counter() - opened.started)
            notify("media", 1)
            continue

        def chunks() -> Iterator[list[Frame]]:
            for message in messages:
                if message is _END:
                    return
                if isinstance(message, DecodeError):
                    raise message
                notify("frames", len(message))
                yield message

        try:
            x = extract(opened.item, opened.info, opened.frame_count, chunks(), scanner.detector,
                        scanner.crop_policy, config)
            scores = scanner.scorer.score(x.crops)
        except DecodeError as exc:
            x, scores = Extraction(item=opened.item, info=opened.info, error=str(exc)), None
        x.sha256, x.size_bytes = opened.sha256, opened.size_bytes
        yield finish(x, scores, config, time.perf_counter() - opened.started)
        notify("media", 1)
