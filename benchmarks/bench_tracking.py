"""Detect less, track more: the faces, boxes, tracks and verdicts of key-frame detection against
full detection of every sampled frame, and what each costs, in one run.

For each video, the scan's sampled frames (32 by default) are decoded once, then faces are
detected twice: in every frame whole (``--keyframe-every 1``, the scan's default) and with
key frames every K frames and, between them, the faces found followed
(``--keyframe-every K``). Reported:
the faces of the full detection found again (a box overlapping by IoU >= 0.5), faces found
only by one, the largest box difference in original pixels, the tracks, the detection time
of each, and the media score and verdict of a whole scan with each setting.

    python benchmarks/bench_tracking.py [VIDEO_OR_FOLDER ...] [--keyframe-every 8] [--videos 24] [--json out.json]

Without paths: the 6 clips of ../shared/data/clips, the sample clips of examples/media and
``--videos`` clips of ../shared/data/videos, spread over its sources (whichever are there).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import REPO, write_figures
from common import SHARED_DATA as SHARED
from torchvision.ops import box_iou

from forensics.api import Scanner
from forensics.faces.detect import FaceDetector, FaceFollower
from forensics.faces.track import link_tracks
from forensics.media.decode import Video, sample_indices


def default_videos(count: int) -> list[Path]:
    paths = sorted((SHARED / "clips").glob("*/*.mp4")) + sorted((REPO / "examples" / "media").glob("*.mp4"))
    manifest = SHARED / "videos" / "manifest.csv"
    if count and manifest.exists():
        table = pd.read_csv(manifest).sort_values(["source", "path"])
        picked = table.iloc[np.linspace(0, len(table) - 1, count).round().astype(int)]
        paths += [SHARED / "videos" / p for p in picked.path]
    return paths


def detect_all(detector: FaceDetector, frames: list, keyframe_every: int, batch: int = 8):
    follower = FaceFollower(detector, keyframe_every)
    start = time.perf_counter()
    found = []
    for i in range(0, len(frames), batch):
        found += follower.detect([f.image for f in frames[i : i + batch]])
    seconds = time.perf_counter() - start
    boxes = [np.array([d.box / f.scale for d in faces], np.float32).reshape(-1, 4) for f, faces in zip(frames, found)]
    return boxes, seconds, follower


def compare(full: list[np.ndarray], fewer: list[np.ndarray]) -> dict[str, float]:
    found_again, missed, extra, worst = 0, 0, 0, 0.0
    for a, b in zip(full, fewer):
        if len(a) and len(b):
            iou = box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
            match = iou.max(axis=1) >= 0.5
            found_again += int(match.sum())
            missed += int((~match).sum())
            extra += int((iou.max(axis=0) < 0.5).sum())
            for i in np.flatnonzero(match):
                worst = max(worst, float(np.abs(a[i] - b[iou[i].argmax()]).max()))
        else:
            missed, extra = missed + len(a), extra + len(b)
    return {"faces_full": sum(len(a) for a in full), "found_again": found_again, "missed": missed, "extra": extra,
            "max_box_diff_px": round(worst, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--keyframe-every", type=int, default=8)
    parser.add_argument("--videos", type=int, default=24, help="clips of ../shared/data/videos to add (default 24)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    paths = [p for given in args.paths for p in (sorted(given.rglob("*.mp4")) if given.is_dir() else [given])]
    paths = paths or default_videos(args.videos)
    if not paths:
        raise SystemExit("no videos: give some, or put the shared data beside the project")
    scanners = {k: Scanner(keyframe_every=k) for k in (1, args.keyframe_every)}
    config = scanners[1].config
    detector = FaceDetector("cpu", config.detect_size, config.min_face_prob, config.min_face_px)
    rows = []
    for path in paths:
        video = Video(str(path))
        frames = [f for chunk in video.frames(sample_indices(video.info.frame_count, video.info.fps, config.frames), 8)
                  for f in chunk]
        full, full_s, _ = detect_all(detector, frames, 1)
        fewer, fewer_s, follower = detect_all(detector, frames, args.keyframe_every)
        row = {"video": path.name, "frames": len(frames), **compare(full, fewer),
               "tracks_full": len({t for ids in link_tracks(full) for t in ids.tolist()}),
               "tracks_fewer": len({t for ids in link_tracks(fewer) for t in ids.tolist()}),
               "detect_s_full": round(full_s, 3), "detect_s_fewer": round(fewer_s, 3),
               "searched_whole": follower.full, "searched_near": follower.near}
        for k, scanner in scanners.items():
            result = scanner.scan([str(path)]).results[0]
            row[f"score_k{k}"] = None if result.score is None else round(result.score, 4)
            row[f"verdict_k{k}"] = result.verdict
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    both = table.dropna(subset=["score_k1", f"score_k{args.keyframe_every}"])
    summary = {
        "videos": len(table), "keyframe_every": args.keyframe_every,
        "faces_full": int(table.faces_full.sum()), "found_again": int(table.found_again.sum()),
        "missed": int(table.missed.sum()), "extra": int(table.extra.sum()),
        "max_box_diff_px": float(table.max_box_diff_px.max()),
        "same_track_count": int((table.tracks_full == table.tracks_fewer).sum()),
        "same_verdict": int((table.verdict_k1 == table[f"verdict_k{args.keyframe_every}"]).sum()),
        "max_score_diff": float((both.score_k1 - both[f"score_k{args.keyframe_every}"]).abs().max()),
        "detect_s_full": round(float(table.detect_s_full.sum()), 2),
        "detect_s_fewer": round(float(table.detect_s_fewer.sum()), 2),
    }
    summary["detect_speedup"] = round(summary["detect_s_full"] / summary["detect_s_fewer"], 2)
    write_figures(summary, args.json, saved={"summary": summary, "videos": rows})


if __name__ == "__main__":
    main()
