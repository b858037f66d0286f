"""Decode media into frames: videos with decord (evenly sampled), images with Pillow.

Videos are read in chunks of sampled frames, so memory stays bounded by the chunk size
whatever the video's length. Every failure is raised as :class:`DecodeError` with a message
a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

# A truncated JPEG must fail, not decode silently with a grey bottom half.
Image.LOAD_TRUNCATED_IMAGES = False


class DecodeError(Exception):
    """The media could not be decoded; the message says why."""


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        index: frame number in the video (0 for an image).
        timestamp_s: presentation time in seconds (0.0 for an image).
        image: RGB pixels, ``uint8`` array of shape (height, width, 3).
    """

    index: int
    timestamp_s: float
    image: np.ndarray


@dataclass
class MediaInfo:
    """Geometry and timing of a media item; video-only fields are None for images."""

    width: int
    height: int
    fps: float | None = None
    duration_s: float | None = None
    frame_count: int | None = None


def sample_indices(
    frame_count: int,
    video_fps: float,
    frames: int = 32,
    fps: float | None = None,
    max_frames: int = 2000,
) -> np.ndarray:
    """Frame indices to decode.

    ``frames`` indices evenly spaced from the first to the last frame (default 32), or, when
    ``fps`` is given, one every ``video_fps / fps`` frames, capped at ``max_frames``.
    Indices are unique and ascending; a video shorter than the request gives every frame.
    """
    if frame_count <= 0:
        return np.zeros(0, dtype=np.int64)
    if fps is not None and video_fps > 0:
        step = max(video_fps / fps, 1.0)
        indices = np.arange(0.0, frame_count, step)
        if len(indices) > max_frames:
            indices = np.linspace(0, frame_count - 1, max_frames)
    else:
        indices = np.linspace(0, frame_count - 1, min(frames, frame_count))
    return np.unique(np.round(indices).astype(np.int64))


class Video:
    """A video opened with decord; frames are decoded only when iterated."""

    def __init__(self, path: str):
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        try:
            # one decoder thread: the scan overlaps decoding with detection instead
            self._reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        except (RuntimeError, decord.DECORDError) as exc:
            raise DecodeError(f"cannot open video: {_first_line(exc)}") from None
        frame_count = len(self._reader)
        if frame_count == 0:
            raise DecodeError("video has no decodable frames")
        height, width = self._shape()
        fps = float(self._reader.get_avg_fps() or 0.0)
        duration = frame_count / fps if fps > 0 else None
        self.info = MediaInfo(width, height, fps or None, duration, frame_count)

    def _shape(self) -> tuple[int, int]:
        try:
            frame = self._reader.next()
        except Exception as exc:  # decord raises its own error types
            raise DecodeError(f"cannot decode the first frame: {_first_line(exc)}") from None
        self._reader.seek(0)
        return int(frame.shape[0]), int(frame.shape[1])

    def frames(self, indices: np.ndarray, chunk: int = 8) -> Iterator[list[Frame]]:
        """Decode the given frame indices, ``chunk`` frames at a time."""
        for start in range(0, len(indices), chunk):
            wanted = indices[start : start + chunk].tolist()
            try:
                pixels = self._reader.get_batch(wanted).asnumpy()
                times = self._reader.get_frame_timestamp(wanted)[:, 0]
            except Exception as exc:  # DECORDError, or IndexError on a truncated file
                raise DecodeError(
                    f"video decoding failed near frame {wanted[0]} of {self.info.frame_count} "
                    f"(truncated or corrupt file?): {_first_line(exc)}"
                ) from None
            yield [Frame(int(i), float(t), pixels[k]) for k, (i, t) in enumerate(zip(wanted, times))]


def read_image(path: str) -> Frame:
    """Decode an image as one RGB frame, EXIF orientation applied."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large to decode safely: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL raises these on corrupt data
        raise DecodeError(f"cannot decode image: {_first_line(exc)}") from None
    return Frame(0, 0.0, rgb)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
