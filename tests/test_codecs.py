"""Decoding across codecs and containers: H.264 in MP4, MKV and MOV, HEVC in MP4, VP9 in WebM,
MPEG-4 Part 2 in AVI.

A module fixture encodes the same 30 source frames (the astronaut's head sliding across a grey
320x240 frame at 15 fps, pure red, green and blue patches in a corner) into each file with PyAV.
Each file is decoded by the project's own code: in process (``open_video``, and the PyAV
fallback ``AvVideo`` directly) and through the decoding worker the way a scan does it
(``discover`` + ``open_frames``). What comes back must be what was written: size, frame count,
frame rate, the sampled indices in chunks, timestamps, channel order, pixels (PSNR against the
source frame of that index) and no warnings. Last, a real scan with the shipped weights finds
the face in all six files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from badinputs import encode_video
from PIL import Image
from samples import astronaut

from forensics.config import ScanConfig
from forensics.media.decode import AvVideo, Frame, Video, open_video, sample_indices
from forensics.media.discover import discover
from forensics.media.worker import DecodeWorker
from forensics.pipeline import open_frames
from forensics.runner import run_scan

WIDTH, HEIGHT, COUNT, FPS = 320, 240, 30, 15
HEAD = 160  # px side of the head-and-shoulders tile; the face is about 65 px
SAMPLED, CHUNK = 8, 3  # 8 frames in chunks of 3, 3 and 2: the last chunk is a partial one
EXPECTED = [0, 4, 8, 12, 17, 21, 25, 29]  # 8 evenly spaced over 0..29, first and last included
MIN_PSNR_DB = 30.0  # measured 38.7-42.3 dB; the neighbouring frame scores <= 19 dB, BGR order ~20 dB
PATCHES = {0: (0, 0), 1: (0, 16), 2: (0, 32)}  # channel -> (top, left) of a 16x16 patch of pure colour

X264 = {"preset": "ultrafast", "crf": "18"}
CASES = {  # id -> (file name, encoder, encoder options)
    "h264-mp4": ("h264.mp4", "libx264", X264),
    "hevc-mp4": ("hevc.mp4", "libx265", {"preset": "ultrafast", "crf": "18", "x265-params": "log-level=error"}),
    "vp9-webm": ("vp9.webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"}),
    "h264-mkv": ("h264.mkv", "libx264", X264),
    "h264-mov": ("h264.mov", "libx264", X264),
    "mpeg4-avi": ("mpeg4.avi", "mpeg4", {"b": "2M"}),
}


def source_frames() -> list[np.ndarray]:
    """The RGB frames every file is encoded from: frame ``k`` has the head ``k / 29`` of the way across."""
    head = np.asarray(Image.fromarray(astronaut()[0:256, 100:356]).resize((HEAD, HEAD), Image.Resampling.LANCZOS))
    top, travel = (HEIGHT - HEAD) // 2, WIDTH - HEAD
    frames = []
    for k in range(COUNT):
        frame = np.full((HEIGHT, WIDTH, 3), 96, np.uint8)
        left = round(travel * k / (COUNT - 1))
        frame[top : top + HEAD, left : left + HEAD] = head
        for channel, (y, x) in PATCHES.items():
            frame[y : y + 16, x : x + 16] = 0
            frame[y : y + 16, x : x + 16, channel] = 255
        frames.append(frame)
    return frames


def psnr(decoded: np.ndarray, source: np.ndarray) -> float:
    mse = np.mean((decoded.astype(np.float64) - source.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def check_frames(chunks: list[list[Frame]], source: list[np.ndarray]) -> None:
    """The sampled frames, in chunks, are the source frames of their indices, at their times, in RGB."""
    assert [len(chunk) for chunk in chunks] == [3, 3, 2]
    frames = [frame for chunk in chunks for frame in chunk]
    assert [frame.index for frame in frames] == EXPECTED
    times = [frame.timestamp_s for frame in frames]
    assert all(b > a for a, b in zip(times, times[1:])), times
    assert times == pytest.approx([i / FPS for i in EXPECTED], abs=1e-3)  # WebM and MKV keep milliseconds
    for frame in frames:
        assert frame.image.shape == (HEIGHT, WIDTH, 3) and frame.image.dtype == np.uint8 and frame.scale == 1.0
        for channel, (y, x) in PATCHES.items():
            colour = frame.image[y + 4 : y + 12, x + 4 : x + 12].reshape(-1, 3).mean(axis=0)
            assert int(np.argmax(colour)) == channel, f"frame {frame.index}: patch {channel} decoded as {colour}"
        quality = psnr(frame.image, source[frame.index])
        assert quality >= MIN_PSNR_DB, f"frame {frame.index}: {quality:.1f} dB against its source frame"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """The folder of the six encoded files, and the source frames they were encoded from."""
    folder = tmp_path_factory.mktemp("codecs")
    source = source_frames()
    for name, codec, options in CASES.values():
        encode_video(folder / name, source, codec, FPS, codec_options=options,
                     codec_tag="hvc1" if codec == "libx265" else None)  # the tag Apple players want
    return folder, source


@pytest.fixture(scope="module")
def worker() -> Iterator[DecodeWorker]:
    with DecodeWorker(timeout_s=120) as worker:
        yield worker


@pytest.mark.parametrize("case", CASES)
def test_open_video_decodes_what_was_written(clips, case):
    folder, source = clips
    video = open_video(str(folder / CASES[case][0]))
    assert isinstance(video, Video), "decord could not open it: the PyAV fallback took over"
    info = video.info
    assert (info.width, info.height, info.frame_count) == (WIDTH, HEIGHT, COUNT)
    assert info.fps == pytest.approx(FPS) and info.duration_s == pytest.approx(COUNT / FPS)
    indices = sample_indices(info.frame_count, info.fps, frames=SAMPLED)
    assert indices.tolist() == EXPECTED
    check_frames(list(video.frames(indices, chunk=CHUNK)), source)
    assert video.report.warnings == [] and video.report.failed == []


@pytest.mark.parametrize("case", CASES)
def test_the_pyav_fallback_decodes_the_same(clips, case):
    folder, source = clips
    video = AvVideo(str(folder / CASES[case][0]))
    assert (video.info.width, video.info.height, video.info.frame_count) == (WIDTH, HEIGHT, COUNT)
    assert video.info.fps == pytest.approx(FPS)
    check_frames(list(video.frames(np.array(EXPECTED), chunk=CHUNK)), source)
    assert video.report.warnings == [] and video.report.failed == []


@pytest.mark.parametrize("case", CASES)
def test_the_decoding_worker_gives_the_scan_what_was_written(clips, worker, case):
    folder, source = clips
    (item,) = discover([str(folder / CASES[case][0])]).items
    assert item.kind == "video" and item.problem is None
    opened = open_frames(item, ScanConfig(frames=SAMPLED, detect_batch=CHUNK).sampling, worker)
    assert (opened.info.width, opened.info.height, opened.info.frame_count) == (WIDTH, HEIGHT, COUNT)
    assert opened.info.fps == pytest.approx(FPS) and opened.frame_count == SAMPLED
    check_frames(list(opened.chunks), source)
    assert opened.warnings == []  # complete now that the chunks are exhausted: the decoder's log included


def test_a_scan_finds_the_face_in_every_container(clips, shipped_weights, tmp_path):
    folder, _ = clips
    outcome = run_scan([str(folder)], ScanConfig(frames=4, threads=1), tmp_path / "report.parquet", quiet=True)
    rows = {Path(row["path"]).name: row for row in outcome.media.to_pylist()}
    assert sorted(rows) == sorted(name for name, _, _ in CASES.values())
    for name, row in rows.items():
        assert row["status"] == "ok", f"{name}: {row['status']} ({row['error']})"
        assert (row["width"], row["height"], row["frames_sampled"]) == (WIDTH, HEIGHT, 4), name
        assert row["fps"] == pytest.approx(FPS), name
        assert (row["faces_detected"], row["tracks"]) == (4, 1), name  # the face in every sampled frame
        assert row["warnings"] == [], name
