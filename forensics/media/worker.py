"""Decoding in a worker process, where a decoder that crashes or hangs cannot take a scan down.

```
scan process                               worker process (python -m forensics.media.worker)
DecodeWorker.open(item) ── ("open", …) ──>  Video / read_image
          <── ("opened", info, count) ────
chunks:   ── ("next",) ──────────────────>  decode the next chunk of sampled frames
          <── ("chunk", [Frame, …]) ──────   … until ("end", warnings) or ("failed", why, warnings)
DecodeWorker.provenance(item) ── ("provenance", …) ──> read_provenance (C2PA, XMP, tags)
          <── ("provenance", Provenance) ──
```
The scan asks for one chunk at a time, so the worker never runs ahead of it, and the time
spent waiting for answers is the media's decoding time: past ``timeout_s`` the worker is
killed and the media becomes an error row. A worker that dies (a decoder crash) makes its
media an error row too; the next media gets a fresh worker. The media's provenance is read
there first, as its own request: a reader that crashes or hangs on it costs a warning, not the
media.

The worker's standard error is a file it reads back after each media: FFmpeg's and libjpeg's
complaints about damaged data (decoder concealment) become the media's warnings.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from typing import Iterator

from forensics.config import Sampling
from forensics.media.decode import (
    DecodeError,
    Frame,
    MediaInfo,
    open_video,
    sample_indices,
)
from forensics.media.image import read_image
from forensics.media.discover import MediaItem
from forensics.media.provenance import Provenance

DEFAULT_TIMEOUT_S = 600.0  # decoding time allowed per media; a 10-minute 1080p video needs far less
_START_TIMEOUT_S = 120.0  # a worker that has not said hello by then is broken

# decoder log lines that mean damaged data: FFmpeg's "[h264 @ 0x...] ..." and libjpeg's
_FFMPEG_LINE = re.compile(r"^\[(?P<codec>[\w-]+) @ 0x[0-9a-f]+\] (?P<text>.+)$")
_JPEG_LINES = ("Corrupt JPEG data", "Premature end of JPEG", "Invalid JPEG", "Bogus", "Warning: unknown JFIF")


@dataclass
class OpenedMedia:
    """A media item opened by the worker.

    Attributes:
        info: geometry and timing from the file's header.
        frame_count: frames that will be sampled.
        chunks: the sampled frames, a chunk at a time (raises DecodeError).
        warnings: what was wrong with the data; complete once ``chunks`` is exhausted.
    """

    info: MediaInfo
    frame_count: int
    chunks: Iterator[list[Frame]]
    warnings: list[str] = field(default_factory=list)


def damage_warnings(log: str) -> list[str]:
    """Warnings from a decoder's log: FFmpeg error lines and libjpeg's corrupt-data messages."""
    video = [m.group("text").strip() for line in log.splitlines() if (m := _FFMPEG_LINE.match(line.strip()))]
    jpeg = [line.strip() for line in log.splitlines() if line.strip().startswith(_JPEG_LINES)]
    warnings = []
    if video:
        warnings.append(f"the video decoder reported damaged data ({len(video)} messages, first: {video[0]!r}): "
                        "frames near the damage may be concealed or garbled")
    if jpeg:
        warnings.append(f"the JPEG data is damaged ({jpeg[0]!r}): parts of the picture may be garbled")
    return warnings


# ---------------------------------------------------------------- worker side


class _Session:
    """One media item being decoded inside the worker."""

    def __init__(self, path: str, kind: str, sampling: Sampling):
        self.warnings: list[str] = []
        self.times: list[float] = []
        if kind == "image":
            if _is_jpeg(path):
                _check_jpeg(path)
            frame = read_image(path)
            h, w = frame.image.shape[:2]
            self.info = MediaInfo(width=round(w / frame.scale), height=round(h / frame.scale))
            self.count = 1
            self._chunks: Iterator[list[Frame]] = iter([[frame]])
            self._video = None
        else:
            self._video = open_video(path)
            self.info = self._video.info
            indices = sample_indices(self.info.frame_count or 0, self.info.fps or 0.0, sampling.frames,
                                     sampling.fps, sampling.max_frames)
            self.count = len(indices)
            self._chunks = self._video.frames(indices, chunk=sampling.chunk)

    def next(self) -> list[Frame] | None:
        chunk = next(self._chunks, None)
        if chunk is None:
            self._finish()
        else:
            self.times.extend(frame.timestamp_s for frame in chunk)
        return chunk

    def _finish(self) -> None:
        if self._video is not None:
            self.warnings.extend(self._video.report.warnings)
        if any(b <= a for a, b in zip(self.times, self.times[1:])):
            self.warnings.append("frame timestamps do not increase (a damaged or badly remuxed file): "
                                 "frame times in the report may be wrong")


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(3) == b"\xff\xd8\xff"


def _check_jpeg(path: str) -> None:
    """Decode a JPEG at 1/8 size with libjpeg through OpenCV, which logs damaged data (Pillow stays silent)."""
    import cv2
    import numpy as np

    cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)


def _read_log() -> str:
    size = os.fstat(2).st_size
    text = os.pread(2, min(size, 1 << 20), 0).decode("utf-8", "replace") if size else ""
    os.ftruncate(2, 0)
    os.lseek(2, 0, os.SEEK_SET)
    return text


def serve(conn: Connection) -> None:
    """The worker's loop: answer requests until the scan closes the connection."""
    log = tempfile.TemporaryFile()
    os.dup2(log.fileno(), 2)  # decoders write to fd 2: keep it, to read it back
    os.dup2(2, 1)  # a library's stray print must not reach the scan's terminal
    from forensics.media import decode

    decode.DECORD_LOG_LEVEL = "ERROR"
    conn.send(("hello", os.getpid()))
    session: _Session | None = None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        op = request[0]
        try:
            if op == "open":
                _read_log()
                session = None
                session = _Session(request[1], request[2], Sampling(**request[3]))
                conn.send(("opened", session.info, session.count))
            elif op == "next" and session is not None:
                chunk = session.next()
                if chunk is None:
                    conn.send(("end", session.warnings + damage_warnings(_read_log())))
                    session = None
                else:
                    conn.send(("chunk", chunk))
            elif op == "provenance":
                from forensics.media.provenance import read_provenance

                conn.send(("provenance", read_provenance(request[1], request[2], request[3])))
            elif op == "close":
                session = None
            elif op == "exit":
                return
            else:
                conn.send(("failed", f"internal error: unexpected request {op!r}", []))
        except DecodeError as exc:
            session = None
            conn.send(("failed", str(exc), damage_warnings(_read_log())))
        except Exception as exc:  # a bug or a library failure on one file: that file's error
            session = None
            conn.send(("failed", f"internal error while decoding: {type(exc).__name__}: {exc}",
                       damage_warnings(_read_log())))


# ---------------------------------------------------------------- scan side


class DecodeWorker:
    """The scan's handle on a decoding worker process, started on first use.

    Requests come from one thread (the scan's decode thread); :meth:`close` may come from
    another while a request is in flight (Ctrl-C, SIGTERM): it then kills the worker, and the
    request fails instead of starting a new one.

    Args:
        timeout_s: decoding time allowed per media, in seconds (default 600); past it the
            worker is killed and the media fails with a clear error.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.timeout_s = timeout_s
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self.restarts = 0  # workers replaced after a crash or a timeout
        self._asking = threading.Lock()  # held while a request waits for its answer
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        ours, theirs = Pipe(duplex=True)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
               "OMP_NUM_THREADS": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "forensics.media.worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        theirs.close()
        self._conn = ours
        if not ours.poll(_START_TIMEOUT_S):
            self._stop()
            raise DecodeError("the decoding worker process did not start")
        try:
            ours.recv()
        except (EOFError, OSError):
            code = self._stop()
            raise DecodeError(f"the decoding worker process failed to start ({_describe_exit(code)})") from None

    def _stop(self) -> int | None:
        """Kill the worker (if any); its exit code, negative for a signal."""
        process, self._process = self._process, None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        return process.wait()

    def close(self) -> None:
        """Ask the worker to exit, and make sure it did (killed at once if a request is in flight)."""
        self._closed = True
        if not self._asking.acquire(blocking=False):
            # The asking thread owns the pipe: killing the process wakes it, and it cleans up.
            process = self._process
            if process is not None and process.poll() is None:
                process.kill()
            return
        try:
            conn, process = self._conn, self._process
            if conn is not None and process is not None and process.poll() is None:
                try:
                    conn.send(("exit",))
                    process.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._stop()
        finally:
            self._asking.release()

    def __enter__(self) -> "DecodeWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ask(self, request: tuple, deadline: float, doing: str = "decoding", who: str = "decoder") -> tuple:
        """Send a request and wait for its answer until ``deadline`` (time.monotonic()); ``doing``
        and ``who`` name the work and the worker in the errors (what timed out, what crashed)."""
        with self._asking:
            if self._closed:
                raise DecodeError(f"the scan is stopping: {doing} was cancelled")
            if self._conn is None:
                self._start()
            conn = self._conn
            assert conn is not None
            try:
                conn.send(request)
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    self._stop()
                    self.restarts += 1
                    raise DecodeError(
                        f"{doing} took longer than the {self.timeout_s:g} s allowed per media "
                        f"(--timeout-per-media): the {who} was stopped (a damaged file that makes it hang?)")
                return conn.recv()
            except (EOFError, OSError):
                code = self._stop()
                if self._closed:
                    raise DecodeError(f"the scan is stopping: {doing} was cancelled") from None
                self.restarts += 1
                raise DecodeError(f"the {who} crashed on this file ({_describe_exit(code)}); "
                                  "the file is damaged or hostile") from None

    def open(self, item: MediaItem, sampling: Sampling) -> OpenedMedia:
        """Open ``item`` in the worker: its header facts now, its frames as they are asked for.

        Raises:
            DecodeError: the media cannot be opened, the decoder crashed, or time ran out.
        """
        deadline = time.monotonic() + self.timeout_s
        answer = self._ask(("open", item.path, item.kind, vars(sampling)), deadline)
        if answer[0] == "failed":
            raise DecodeError(answer[1])
        _, info, count = answer
        opened = OpenedMedia(info, count, iter(()))
        opened.chunks = self._chunks(opened, deadline)
        return opened

    def provenance(self, item: MediaItem, trust_anchors: str | None = None) -> Provenance:
        """What ``item`` declares about its origin (:func:`forensics.media.provenance.read_provenance`),
        read in the worker within the media's time allowance (apart from its decoding's).

        Raises:
            DecodeError: the reader crashed, hung past the allowance, or failed.
        """
        deadline = time.monotonic() + self.timeout_s
        answer = self._ask(("provenance", item.path, item.kind, trust_anchors), deadline,
                           doing="reading its provenance", who="provenance reader")
        if answer[0] != "provenance":
            raise DecodeError(answer[1])
        return answer[1]

    def _chunks(self, opened: OpenedMedia, deadline: float) -> Iterator[list[Frame]]:
        finished = False
        try:
            while True:
                answer = self._ask(("next",), deadline)
                if answer[0] == "chunk":
                    yield answer[1]
                    continue
                finished = True
                if answer[0] == "end":
                    opened.warnings.extend(answer[1])
                    return
                opened.warnings.extend(answer[2])
                raise DecodeError(answer[1])
        except DecodeError:
            finished = True
            raise
        finally:
            conn = self._conn
            if not finished and conn is not None and not self._closed:  # abandoned midway: the worker drops the media
                try:
                    conn.send(("close",))
                except OSError:
                    self._stop()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _main(argv: list[str]) -> None:
    conn = Connection(int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scan's to handle; it stops us itself
    serve(conn)


if __name__ == "__main__":
    _main(sys.argv)
