"""Benchmark face detection against facenet-pytorch's own MTCNN search, in the same process.

For each workload the same frames go through ``MTCNN.detect`` as facenet-pytorch ships it (the
scan's search before 2026-12-02) and through the scan's :class:`FaceDetector` (the same networks
and thresholds, candidates resampled in one pass: :mod:`forensics.faces.mtcnn`), in batches of 8
frames as a scan sends them; photos also one at a time against batches of 16, as the embedded
engine now searches consecutive photos. Reports seconds, the ratio, and whether the faces are the
same (count, and the largest box difference in pixels).

Workloads: the 4-s 720p bench clip of ``bench_scan.py`` (32 frames), 8 frames of every 12th
video of ../shared/data/videos and of each of ../shared/data/clips, 200 face photos of
../shared/data/faces/stylegan-ffhq (the shared ones are skipped when the data is absent).

    python benchmarks/bench_detect.py [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from common import SHARED_DATA as SHARED
from common import SHARED_FACES, make_clip, write_figures

from forensics.faces.detect import FaceDetector
from forensics.media.decode import Video, sample_indices


def sampled_frames(path: Path, count: int, detector: FaceDetector) -> list[np.ndarray]:
    """``count`` evenly spaced frames, shrunk as the scan shrinks them for detection."""
    video = Video(str(path))
    frames = [f.image for chunk in video.frames(sample_indices(video.info.frame_count, video.info.fps, count), 8)
              for f in chunk]
    return [detector._resize(f, detector._scale(*f.shape[:2])) for f in frames]


def batches(frames: list[np.ndarray], size: int) -> list[list[np.ndarray]]:
    """Consecutive frames of one size, at most ``size`` per batch."""
    out: list[list[np.ndarray]] = []
    for frame in frames:
        if not out or len(out[-1]) == size or out[-1][0].shape != frame.shape:
            out.append([])
        out[-1].append(frame)
    return out


def compare(detector: FaceDetector, frames: list[np.ndarray], batch: int, reference_batch: int) -> dict:
    """Both searches over ``frames`` (same-size batches), best of two runs each."""
    mtcnn = detector._mtcnn
    ours, theirs = [], []
    times = {"reference_s": float("inf"), "scan_s": float("inf")}
    for _ in range(2):
        started = time.perf_counter()
        theirs = []
        for group in batches(frames, reference_batch):
            with torch.inference_mode():
                boxes, _, _ = mtcnn.detect(np.stack(group), landmarks=True)
            theirs += [np.zeros((0, 4)) if b is None else np.array(b, dtype=np.float64) for b in boxes]
        times["reference_s"] = min(times["reference_s"], time.perf_counter() - started)
        started = time.perf_counter()
        ours = []
        for group in batches(frames, batch):
            for found in detector.detect(group):
                ours.append(np.array([d.box for d in found], dtype=np.float64).reshape(-1, 4))
        times["scan_s"] = min(times["scan_s"], time.perf_counter() - started)
    same = sum(len(a) == len(b) for a, b in zip(ours, theirs))
    diffs = [float(np.abs(a - b).max()) for a, b in zip(ours, theirs) if len(a) == len(b) and len(a)]
    return {**{k: round(v, 3) for k, v in times.items()}, "speedup": round(times["reference_s"] / times["scan_s"], 2),
            "frames": len(frames), "faces": int(sum(len(b) for b in theirs)), "frames_with_same_count": same,
            "largest_box_difference_px": max(diffs, default=0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # every face MTCNN returns, so that the comparison is of the search itself
    detector = FaceDetector("cpu", min_prob=0.0, min_face_px=0)
    figures: dict = {"torch_threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp), 4.0, 720)
        figures["clip_720p_4s"] = compare(detector, sampled_frames(clip, 32, detector), 8, 8)
    videos = sorted((SHARED / "videos").rglob("*.mp4"))[::12] + sorted((SHARED / "clips").rglob("*.mp4"))
    if videos:
        frames = [f for v in videos for f in sampled_frames(v, 8, detector)]
        figures["shared_videos"] = {"videos": len(videos), **compare(detector, frames, 8, 8)}
    if SHARED_FACES.is_dir():
        photos = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(SHARED_FACES.rglob("*.jpg"))[:200]]
        figures["photos_one_at_a_time"] = compare(detector, photos, 1, 1)
        figures["photos_16_per_call"] = compare(detector, photos, 16, 1)
    write_figures(figures, args.json)


if __name__ == "__main__":
    main()
