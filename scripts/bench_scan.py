"""Benchmark the scan on this machine: a 10-second 720p clip and a folder of 200 face photos.

Reports media/s, frames/s, per-stage time and peak memory of the embedded engine (models
loaded once, a warm-up run first), and in the same process a naive baseline on the same
clip: every frame read with OpenCV, MTCNN on each frame at full size, each crop scored one
at a time. Figures are ratios against that baseline, measured in the same run.

    python scripts/bench_scan.py [--threads N] [--photos DIR] [--json out.json]

The photos come from ../shared/data/faces/stylegan-ffhq when it is there, else they are
generated from the astronaut picture.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from forensics.config import ScanConfig
from forensics.engines.local import Scanner, scan_local
from forensics.faces.align import crop_face
from forensics.media.decode import Video, sample_indices
from forensics.media.discover import discover
from forensics.samples import astronaut, manipulated, write_clip, write_image

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "stylegan-ffhq"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clip(folder: Path) -> Path:
    picture = astronaut()
    return write_clip(folder / "clip-720p-10s.mp4", [picture], seconds=10.0, fps=30.0, size=(1280, 720), face_height=560)


def photo_folder(folder: Path, wanted: int = 200) -> Path:
    if SHARED_FACES.is_dir():
        files = sorted(p for p in SHARED_FACES.rglob("*.jpg"))[:wanted]
        if len(files) == wanted:
            out = folder / "photos"
            out.mkdir()
            for p in files:
                (out / p.name).symlink_to(p)
            return out
    out = folder / "photos"
    rng = np.random.default_rng(0)
    base, fake = astronaut(), manipulated(astronaut())
    for k in range(wanted):
        picture = fake if k % 2 else base
        m = cv2.getRotationMatrix2D((256, 256), rng.uniform(-10, 10), rng.uniform(0.8, 1.1))
        write_image(out / f"p{k:03d}.jpg", cv2.warpAffine(picture, m, (512, 512), borderMode=cv2.BORDER_REFLECT101))
    return out


def stage_times(scanner: Scanner, clip: Path, config: ScanConfig) -> dict[str, float]:
    """Seconds per stage for one pass over the clip, stages run one after another."""
    times = {}
    t = time.perf_counter()
    video = Video(str(clip))
    idx = sample_indices(video.info.frame_count, video.info.fps, config.frames)
    frames = [f for chunk in video.frames(idx, config.detect_batch) for f in chunk]
    times["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    detections = []
    for start in range(0, len(frames), config.detect_batch):
        detections += scanner.detector.detect([f.image for f in frames[start : start + config.detect_batch]])
    times["detect"] = time.perf_counter() - t
    t = time.perf_counter()
    crops = np.stack([crop_face(f.image, d.box, d.landmarks, scanner.crop_policy)
                      for f, found in zip(frames, detections) for d in found])
    times["crop"] = time.perf_counter() - t
    t = time.perf_counter()
    scanner.scorer.score(crops)
    times["score"] = time.perf_counter() - t
    return times


def naive_baseline(scanner: Scanner, clip: Path) -> tuple[float, int]:
    """Every frame with OpenCV, MTCNN at full size per frame, one crop per forward pass."""
    from forensics.faces.detect import FaceDetector

    detector = FaceDetector(scanner.device, detect_size=0)
    started = time.perf_counter()
    capture = cv2.VideoCapture(str(clip))
    count = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for face in detector.detect([rgb])[0]:
            scanner.scorer.score(crop_face(rgb, face.box, face.landmarks, scanner.crop_policy)[None])
        count += 1
    capture.release()
    return time.perf_counter() - started, count


def timed_scan(scanner: Scanner, paths: list[str], config: ScanConfig) -> tuple[float, list]:
    items = discover(paths).items
    started = time.perf_counter()
    results = list(scan_local(items, config, scanner))
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--photos", type=Path, default=None, help="folder of face photos (default: see above)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    config = ScanConfig(threads=args.threads)
    figures: dict = {"torch_threads": config.torch_threads, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder)
        photos = args.photos or photo_folder(folder)
        t = time.perf_counter()
        scanner = Scanner(config)
        figures["model_load_s"] = round(time.perf_counter() - t, 3)
        timed_scan(scanner, [str(clip)], config)  # warm-up
        figures["rss_after_warmup_mib"] = round(peak_rss_mib())

        clip_s, results = timed_scan(scanner, [str(clip)], config)
        frames = results[0].frames_sampled
        figures["clip"] = {"seconds": round(clip_s, 3), "frames_sampled": frames,
                           "frames_per_s": round(frames / clip_s, 1), "faces": results[0].faces_detected,
                           "status": results[0].status}
        figures["clip_stages_s"] = {k: round(v, 3) for k, v in stage_times(scanner, clip, config).items()}
        photo_paths = sorted(str(p) for p in Path(photos).iterdir())
        photos_s, results = timed_scan(scanner, photo_paths, config)
        figures["photos"] = {"count": len(results), "seconds": round(photos_s, 2),
                             "media_per_s": round(len(results) / photos_s, 1),
                             "statuses": {s: sum(r.status == s for r in results) for s in ("ok", "no_face", "error")}}
        figures["peak_rss_mib"] = round(peak_rss_mib())
        if not args.skip_baseline:
            naive_s, naive_frames = naive_baseline(scanner, clip)
            figures["naive_clip"] = {"seconds": round(naive_s, 2), "frames": naive_frames,
                                     "frames_per_s": round(naive_frames / naive_s, 1)}
            figures["speedup_vs_naive"] = round(naive_s / clip_s, 1)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
