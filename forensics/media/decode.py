"""Decode media into frames: videos with decord (evenly sampled; PyAV where decord cannot),
images with Pillow (:mod:`forensics.media.image`).

Videos are read in chunks of sampled frames, so memory stays bounded by the chunk size
whatever the video's length, and frames larger than :data:`VIDEO_MAX_SIDE` are decoded at
reduced size (images: :data:`forensics.media.image.IMAGE_MAX_SIDE`), so that an 8K clip or a
12000-pixel PNG costs about what a Full HD one does. Every failure is raised as :class:`DecodeError` with a message
a person can act on; damage that still leaves frames to look at (a truncated tail, frames
that fail to decode) is reported as warnings instead.

These are in-process primitives: a scan runs them in a worker process
(:mod:`forensics.media.worker`), where a decoder that crashes or hangs cannot take it down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

DECORD_LOG_LEVEL = "QUIET"  # the decoding worker sets ERROR, to read the decoder's complaints back
VIDEO_MAX_SIDE = 1920  # pixels: longer video frames are decoded at this longest side


class DecodeError(Exception):
    """The media could not be decoded; the message says why."""


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        index: frame number in the video (0 for an image).
        timestamp_s: presentation time in seconds (0.0 for an image).
        image: RGB pixels, ``uint8`` array of shape (height, width, 3).
        scale: decoded pixels per original pixel (1.0 unless a large frame was reduced).
    """

    index: int
    timestamp_s: float
    image: np.ndarray
    scale: float = 1.0


@dataclass
class MediaInfo:
    """Geometry and timing of a media item, as its header says; video-only fields are None for images."""

    width: int
    height: int
    fps: float | None = None
    duration_s: float | None = None
    frame_count: int | None = None


@dataclass
class DecodeReport:
    """What went wrong while decoding, short of a failure: frames lost, odd timing.

    Attributes:
        failed: sampled frame indices that could not be decoded.
        stopped_at: the frame from which decoding was abandoned (the rest of the file is
            unreadable), or None.
        warnings: sentences for the report's ``warnings`` column.
    """

    failed: list[int] = field(default_factory=list)
    stopped_at: int | None = None
    warnings: list[str] = field(default_factory=list)

    def summarise(self, frame_count: int | None, sampled: int) -> None:
        """Add the warning that says which sampled frames were lost, if any."""
        if self.stopped_at is not None and self.failed:
            self.warnings.append(
                f"decoding stopped at frame {self.stopped_at} of the {frame_count} the header promises "
                f"(truncated or damaged file): {len(self.failed)} of {sampled} sampled frames are missing")
        elif self.failed:
            self.warnings.append(
                f"{len(self.failed)} of {sampled} sampled frames could not be decoded (damaged data "
                f"near frame {self.failed[0]}); they were skipped")


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


def reduced_size(width: int, height: int, max_side: int) -> tuple[int, int, float]:
    """(width, height, scale) of a frame whose longest side is brought down to ``max_side``.

    Scale 1.0 (the size unchanged) when the frame is not larger, or ``max_side`` is 0.
    """
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height, 1.0
    scale = max_side / longest
    # even sizes: the decoder's scaler works in 2x2 chroma blocks
    w, h = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    return w, h, w / width


class Video:
    """A video opened with decord; frames are decoded only when iterated.

    Args:
        path: the video file.
        max_side: frames whose longest side exceeds this many pixels are decoded at that
            size (default :data:`VIDEO_MAX_SIDE`; 0 never reduces). ``info`` keeps the
            original size and each frame says its scale.
    """

    def __init__(self, path: str, max_side: int = VIDEO_MAX_SIDE):
        import decord

        decord.logging.set_level(getattr(decord.logging, DECORD_LOG_LEVEL))
        self.path = path
        self._decord = decord
        self._reader = self._open(-1, -1)
        frame_count = len(self._reader)
        if frame_count == 0:
            raise DecodeError("the video has no frames (an empty or unfinished recording?)")
        height, width = self._shape()
        fps = float(self._reader.get_avg_fps() or 0.0)
        duration = frame_count / fps if fps > 0 else None
        self.info = MediaInfo(width, height, fps or None, duration, frame_count)
        self.size = reduced_size(width, height, max_side)  # (width, height, scale) of decoded frames
        self._decoded_wh = self.size[:2] if self.size[2] != 1.0 else (-1, -1)
        if self.size[2] != 1.0:
            self._reader = self._open(*self._decoded_wh)
        self.report = DecodeReport()
        promised = header_frame_count(path)
        if promised is not None and promised > frame_count + 1:
            self.report.warnings.append(
                f"the header promises {promised} frames but only {frame_count} can be read "
                "(a truncated or cut file?): the missing part was not scanned")

    def _open(self, width: int, height: int):
        """A decord reader of the file, at ``width`` x ``height`` (-1: the stored size)."""
        decord = self._decord
        try:
            # one decoder thread: the scan overlaps decoding with detection instead
            return decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1, width=width, height=height)
        except (RuntimeError, decord.DECORDError) as exc:
            raise DecodeError(f"cannot open the video: {explain_decoder_error(exc)}") from None

    def _shape(self) -> tuple[int, int]:
        try:
            frame = self._reader.next()
        except Exception as exc:  # decord raises its own error types
            raise DecodeError(f"cannot decode the first frame: {explain_decoder_error(exc)}") from None
        if len(frame.shape) != 3 or frame.shape[2] != 3:  # decord garbles very small frames
            raise DecodeError(f"the decoder returned a malformed first frame {tuple(frame.shape)}")
        self._reader.seek(0)
        return int(frame.shape[0]), int(frame.shape[1])

    def _batch(self, wanted: list[int]) -> tuple[np.ndarray, np.ndarray]:
        pixels = self._reader.get_batch(wanted).asnumpy()
        times = self._reader.get_frame_timestamp(wanted)[:, 0]
        if pixels.shape[0] != len(wanted):
            raise DecodeError(f"got {pixels.shape[0]} frames for {len(wanted)}")
        return pixels, times

    def frames(self, indices: np.ndarray, chunk: int = 8) -> Iterator[list[Frame]]:
        """Decode the given frame indices, ``chunk`` frames at a time.

        A chunk that fails is retried frame by frame; frames that still fail are skipped and
        listed in ``self.report``. When every frame of a chunk fails, the rest of the video
        is taken as unreadable (a truncated or cut file) and decoding stops there.

        Raises:
            DecodeError: no sampled frame at all could be decoded.
        """
        scale = self.size[2]
        decoded = 0
        lost_chunks, lost_from = 0, 0  # consecutive chunks of which no frame decoded, from this frame
        first_error: BaseException | None = None
        for start in range(0, len(indices), chunk):
            wanted = [int(i) for i in indices[start : start + chunk]]
            try:
                pixels, times = self._batch(wanted)
                got = list(zip(wanted, times, pixels))
            except Exception as exc:  # DECORDError, or IndexError on a truncated file
                first_error = first_error or exc
                got = self._one_by_one(wanted)
            if not got and lost_chunks == 0:
                lost_from = wanted[0]
            lost_chunks = 0 if got else lost_chunks + 1
            if lost_chunks == 2:  # the rest of the file is unreadable: do not try every frame of it
                self.report.stopped_at = lost_from
                self.report.failed.extend(int(i) for i in indices[start + len(wanted):])
                break
            if got:
                decoded += len(got)
                yield [Frame(i, float(t), p, scale) for i, t, p in got]
        if decoded == 0:
            why = probe_problem(self.path)
            raise DecodeError(f"cannot decode the video: {why}" if why else
                              "no sampled frame could be decoded (truncated or corrupt file?): "
                              + (explain_decoder_error(first_error) if first_error else "unknown error"))
        self.report.summarise(self.info.frame_count, len(indices))

    def _one_by_one(self, wanted: list[int]) -> list[tuple[int, float, np.ndarray]]:
        got = []
        for index in wanted:  # cheap when the file is fine; a truncated tail fails fast
            try:
                # a decoder that failed may be left in a bad state: start a fresh one
                self._reader = self._open(*self._decoded_wh)
                pixels, times = self._batch([index])
                got.append((index, times[0], pixels[0]))
            except Exception:
                self.report.failed.append(index)
        return got



class AvVideo:
    """A video decoded with PyAV, for files decord cannot open (AV1, very small frames, a cut
    file whose index is at the front). Same interface as :class:`Video`; frames are decoded
    in order from the start, keeping the sampled ones.
    """

    def __init__(self, path: str, max_side: int = VIDEO_MAX_SIDE):
        import av

        self.path = path
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise DecodeError("the file has no video stream")
                stream = container.streams.video[0]
                width, height = stream.codec_context.width, stream.codec_context.height
                fps = float(stream.average_rate or stream.guessed_rate or 0.0)
                duration = float(stream.duration * stream.time_base) if stream.duration else (
                    container.duration / 1e6 if container.duration else None)
                frame_count = int(stream.frames or (round(duration * fps) if duration and fps else 0))
        except av.FFmpegError as exc:
            raise DecodeError(f"cannot open the video: {exc}") from None
        if frame_count <= 0 or width <= 0 or height <= 0:
            raise DecodeError("the video stream has no frames")
        self.info = MediaInfo(width, height, fps or None, duration, frame_count)
        self.size = reduced_size(width, height, max_side)
        self.report = DecodeReport()

    def frames(self, indices: np.ndarray, chunk: int = 8) -> Iterator[list[Frame]]:
        """Decode the given frame indices (in order), ``chunk`` frames at a time; see :meth:`Video.frames`."""
        import av

        wanted = {int(i) for i in indices}
        last = max(wanted, default=-1)
        width, height, scale = self.size
        pending: list[Frame] = []
        got: set[int] = set()
        position = -1
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_count = 1  # the scan overlaps decoding with detection instead
                for position, frame in enumerate(container.decode(stream)):
                    if position > last:
                        break
                    if position in wanted:
                        image = frame.to_ndarray(format="rgb24", width=width, height=height)
                        time_s = float(frame.time) if frame.time is not None else position / (self.info.fps or 1.0)
                        pending.append(Frame(position, time_s, image, scale))
                        got.add(position)
                        if len(pending) == chunk:
                            yield pending
                            pending = []
        except av.FFmpegError:
            self.report.stopped_at = position + 1
        if pending:
            yield pending
        self.report.failed = sorted(wanted - got)
        if self.report.failed and self.report.stopped_at is None:
            self.report.stopped_at = position + 1
        if not got:
            raise DecodeError("no sampled frame could be decoded (truncated or corrupt file?)")
        self.report.summarise(self.info.frame_count, len(wanted))


def open_video(path: str, max_side: int = VIDEO_MAX_SIDE) -> Video | AvVideo:
    """The video at ``path``, with decord, or with PyAV where decord cannot open it.

    Raises:
        DecodeError: neither can; the message says why in a person's words.
    """
    try:
        return Video(path, max_side)
    except DecodeError as decord_error:
        try:
            return AvVideo(path, max_side)
        except DecodeError:
            why = probe_problem(path)
            raise DecodeError(f"cannot open the video: {why}" if why else str(decord_error)) from None


def header_frame_count(path: str) -> int | None:
    """Frames the container's header declares for the first video stream (PyAV); None when unknown."""
    import av

    try:
        with av.open(path) as container:
            return int(container.streams.video[0].frames) or None
    except Exception:  # only a cross-check: no answer is not an error
        return None


def probe_problem(path: str) -> str | None:
    """Why a video cannot be decoded, from its container (read with PyAV); None when it looks fine.

    Gives a person's reason where the decoder only says "cannot find video stream with wanted
    index: -1": no video stream, a codec the decoder lacks, frames too small, no frames.
    """
    import av

    try:
        with av.open(path) as container:
            streams = container.streams.video
            if not streams:
                kinds = sorted({s.type for s in container.streams})
                held = f"it holds {', '.join(kinds)} streams only" if kinds else "it holds no streams at all"
                return f"the file has no video stream ({held})"
            stream = streams[0]
            codec = stream.codec_context.name
            width, height = stream.codec_context.width, stream.codec_context.height
            if codec in _UNSUPPORTED_CODECS:
                return (f"the video is coded as {_UNSUPPORTED_CODECS[codec]}, which this build of the decoder "
                        f"(decord) cannot decode: convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`")
            if 0 < min(width, height) < 32:
                return f"the frames are {width}x{height} px: too small to decode here, and to hold a face"
            if stream.frames == 0 and container.duration in (None, 0):
                return "the video stream has no frames"
    except av.FFmpegError as exc:
        return f"the container is unreadable, cut short or corrupt ({getattr(exc, 'strerror', None) or exc})"
    except Exception:  # the probe only explains; it must never fail the explanation itself
        return None
    return None


# codecs that PyAV names and decord's build cannot decode
_UNSUPPORTED_CODECS = {"av1": "AV1", "libdav1d": "AV1", "libaom-av1": "AV1"}


# decord's messages for common failures, and what they mean to a person
_DECODER_MESSAGES = (
    ("cannot find video stream", "the file has no video stream it can decode (audio only, or a codec such as AV1 "
                                 "that this build of the decoder does not support)"),
    ("st_nb >= 0", "the file has no video stream (audio only?)"),
    ("cannot find stream", "the file has no video stream"),
    ("Invalid data found", "the container is invalid or cut short"),
    ("moov atom not found", "the file is cut short: its index (moov atom) is missing"),
    ("Cannot create buffer source", "the video stream cannot be decoded (truncated, corrupt, or an unsupported "
                                    "frame size or codec)"),
    ("Error sending packet", "the video data is corrupt"),
    ("ERROR opening", "the file cannot be opened as a video"),
)


def explain_decoder_error(exc: BaseException) -> str:
    """A decoder exception as a sentence a person understands (the decoder's own words kept short)."""
    text = str(exc)
    for needle, meaning in _DECODER_MESSAGES:
        if needle.lower() in text.lower():
            return meaning
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    """An exception's first non-empty line, at most 300 characters."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else text)[:300]
