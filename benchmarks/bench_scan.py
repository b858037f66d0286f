"""Benchmark the scan on this machine, each workload against a naive baseline in the same run.

Workloads (the default model, models loaded once, a warm-up first):

- a 4-second 720p clip, as the marginal time per clip in a folder of five, with both
  classifier runtimes (``--runtime onnx``, the CPU default, and ``torch``), and per stage;
- a 10-second 1080p clip;
- a folder of 200 face photos (media/s);
- memory: the peak RSS of a scan of the 4-second clip and of a one-hour 360p video, each in
  its own process (the scan and its decoding worker), so that their ratio shows whether
  memory stays flat with length;
- provenance: the sample media (``examples/media``, one of them C2PA-signed) scanned with the
  provenance stage and with it replaced by one that reads nothing, in alternating rounds: what
  reading Content Credentials, XMP and generator traces adds to a scan; and the reader alone
  per file (``--provenance-only`` runs this workload alone).

The naive baseline reads every frame with OpenCV, runs facenet-pytorch's MTCNN as it ships on
each frame at full size and scores each crop alone with PyTorch. Figures are ratios against it,
measured in the same run (the one-hour video's baseline would take most of an hour: it is
skipped).

    python benchmarks/bench_scan.py [--threads N] [--photos DIR] [--json out.json] [--skip-baseline] [--skip-hour]
                                 [--candidate WEIGHTS ...] [--keyframe-every K] [--repeat 3] [--provenance-only]

The clip and photo workloads run ``--repeat`` rounds, each round every scanner in turn, and
their figures are the medians over the rounds (this shared 2-core machine drifts by as much as
40% between runs: two single runs ten minutes apart put the same default at 5.6 s and 3.8 s on the clip).

``--candidate`` times other weights (a distilled student, another backbone) on the clip and the
photos beside the default, with ONNX Runtime, in the same run: their figures are keyed by the
file's stem, with their cost relative to the default's. ``--keyframe-every K`` also times the
default with faces searched whole on every K-th sampled frame and followed between (key
``keyframe<K>``).

The photos come from ../shared/data/faces/stylegan-ffhq when it is there, else they are
generated from the astronaut picture.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from common import (
    REPO,
    SHARED_FACES,
    astronaut,
    make_clip,
    manipulated,
    write_clip,
    write_figures,
    write_image,
)

from forensics.config import ScanConfig
from forensics.engines.local import LocalEngine
from forensics.faces.align import crop_face
from forensics.faces.detect import FaceFollower
from forensics.media.decode import Video, sample_indices
from forensics.media.discover import discover


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_of_scan(clip: Path, threads: int | None) -> dict[str, float]:
    """Peak RSS (MiB) of a fresh process scanning ``clip`` (VmHWM: getrusage's figure would
    include this benchmark's own memory, inherited through fork and exec), and the largest of
    its children's (the decoding worker; an upper bound, for the same reason)."""
    code = ("import json, re, resource, sys\n"
            "from forensics.config import ScanConfig\n"
            "from forensics.engines.local import LocalEngine\n"
            "from forensics.media.discover import discover\n"
            f"config = ScanConfig(threads={threads!r})\n"
            "result = list(LocalEngine(config).scan(discover([sys.argv[1]]).items))[0]\n"
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
            "print(json.dumps({'scan_mib': hwm / 1024,\n"
            "                  'worker_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,\n"
            "                  'status': result.status, 'frames': result.frames_sampled}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(clip)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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


def stage_times(scanner: LocalEngine, clip: Path, config: ScanConfig) -> dict[str, float]:
    """Seconds per stage for one pass over the clip, stages run one after another."""
    times = {}
    t = time.perf_counter()
    video = Video(str(clip))
    idx = sample_indices(video.info.frame_count, video.info.fps, config.frames)
    frames = [f for chunk in video.frames(idx, config.detect_batch) for f in chunk]
    times["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    detections = []
    follower = FaceFollower(scanner.detector, config.keyframe_every)
    for start in range(0, len(frames), config.detect_batch):
        detections += follower.detect([f.image for f in frames[start : start + config.detect_batch]])
    times["detect"] = time.perf_counter() - t
    t = time.perf_counter()
    crops = np.stack([crop_face(f.image, d.box, d.landmarks, scanner.crop_policy)
                      for f, found in zip(frames, detections) for d in found])
    times["crop"] = time.perf_counter() - t
    t = time.perf_counter()
    scanner.scorer.score(crops)
    times["score"] = time.perf_counter() - t
    return times


def naive_baseline(scanner: LocalEngine, clip: Path) -> tuple[float, int]:
    """Every frame with OpenCV, facenet-pytorch's MTCNN at full size per frame, one crop per forward pass."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, post_process=False, device=scanner.device)
    started = time.perf_counter()
    capture = cv2.VideoCapture(str(clip))
    count = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        boxes, probs, points = mtcnn.detect(rgb, landmarks=True)
        for box, prob, landmarks in zip(*((boxes, probs, points) if boxes is not None else ((), (), ()))):
            if prob >= 0.9:
                scanner.scorer.score(crop_face(rgb, box, landmarks, scanner.crop_policy)[None])
        count += 1
    capture.release()
    return time.perf_counter() - started, count


def timed_scan(scanner: LocalEngine, paths: list[str], config: ScanConfig) -> tuple[float, list]:
    items = discover(paths).items
    started = time.perf_counter()
    results = list(scanner.scan(items))
    return time.perf_counter() - started, results


def marginal_clip_s(scanner: LocalEngine, clip: Path, config: ScanConfig, copies: int = 5) -> float:
    """Seconds per clip when a folder of ``copies`` copies is scanned (after a warm-up)."""
    folder = clip.parent / f"{clip.stem}-x{copies}"
    folder.mkdir(exist_ok=True)
    for k in range(copies):  # copies, not links: discovery scans a file once however it is reached
        target = folder / f"{k}{clip.suffix}"
        if not target.exists():
            shutil.copy(clip, target)
    seconds, results = timed_scan(scanner, [str(folder)], config)
    assert len(results) == copies and all(r.status == "ok" for r in results), [r.error for r in results]
    return seconds / copies


def provenance_cost(config: ScanConfig, repeat: int) -> dict:
    """The sample media scanned with and without the provenance stage (``repeat`` alternating
    rounds, medians), and the reader alone on each file (milliseconds, in this process)."""
    import forensics.pipeline as local  # the stage reads provenance through pipeline.provenance_of
    from forensics.media.provenance import Provenance, read_provenance

    samples = REPO / "examples" / "media"
    items = discover([str(samples)]).items
    engine = LocalEngine(config)
    reading = local.provenance_of

    def reading_nothing(media, trust_anchors, worker):  # the stage's cost removed, nothing else
        return Provenance()

    timed_scan(engine, [str(samples)], config)  # warm-up
    runs: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(repeat):
        for name, stage in (("with", reading), ("without", reading_nothing)):
            local.provenance_of = stage
            try:
                runs[name].append(timed_scan(engine, [str(samples)], config)[0])
            finally:
                local.provenance_of = reading
    with_s, without_s = statistics.median(runs["with"]), statistics.median(runs["without"])
    reader_ms = {}
    for item in items:
        started = time.perf_counter()
        for _ in range(5):
            found = read_provenance(item.path, item.kind)
        reader_ms[Path(item.path).name] = {"ms": round((time.perf_counter() - started) / 5 * 1000, 2),
                                           "status": found.status, "ai": found.ai}
    return {"media": len(items), "with_s": round(with_s, 2), "without_s": round(without_s, 2),
            "runs_with_s": [round(x, 2) for x in runs["with"]], "runs_without_s": [round(x, 2) for x in runs["without"]],
            "added_fraction": round(with_s / without_s - 1, 4), "reader_ms": reader_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--photos", type=Path, default=None, help="folder of face photos (default: see above)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of the clip and photo workloads; figures are their medians (default 3)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-hour", action="store_true", help="leave out the one-hour video's memory run")
    parser.add_argument("--candidate", type=Path, action="append", default=[], metavar="WEIGHTS",
                        help="also time these weights (.safetensors with their card) beside the default")
    parser.add_argument("--keyframe-every", type=int, default=None, metavar="K",
                        help="also time the default with key frames every K sampled frames")
    parser.add_argument("--provenance-only", action="store_true",
                        help="run only the provenance workload (the samples with and without the stage)")
    args = parser.parse_args()

    config = ScanConfig(threads=args.threads)
    figures: dict = {"torch_threads": config.torch_threads, "torch": torch.__version__}
    figures["provenance_samples"] = provenance_cost(config, args.repeat)
    if args.provenance_only:
        write_figures(figures, args.json)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip4 = make_clip(folder, 4.0, 720)
        clip10 = make_clip(folder, 10.0, 1080)
        photos = args.photos or photo_folder(folder)
        scanners = {}
        for runtime in ("onnx", "torch"):
            t = time.perf_counter()
            scanners[runtime] = LocalEngine(ScanConfig(threads=args.threads, runtime=runtime))
            figures[f"model_load_s_{runtime}"] = round(time.perf_counter() - t, 3)
        variants = {weights.stem: ScanConfig(threads=args.threads, runtime="onnx", weights=str(weights))
                    for weights in args.candidate}
        if args.keyframe_every:
            variants[f"keyframe{args.keyframe_every}"] = ScanConfig(threads=args.threads, runtime="onnx",
                                                                    keyframe_every=args.keyframe_every)
        for name, variant in variants.items():
            scanners[name] = LocalEngine(variant)
        scanner = scanners["onnx"]
        figures["runtime"] = scanner.scorer.runtime
        timed_scan(scanner, [str(clip4)], config)  # warm-ups
        for name, one in scanners.items():
            if name != "onnx":
                timed_scan(one, [str(clip4)], one.config)

        # Rounds: every scanner once per round, so that this machine's drifts (as much as 40%
        # between runs) fall on all of them alike; the figure is the median over the rounds.
        clip_runs: dict[str, list[float]] = {name: [] for name in scanners}
        for _ in range(args.repeat):
            for runtime, one in scanners.items():
                clip_runs[runtime].append(marginal_clip_s(one, clip4, one.config))
        for runtime, one in scanners.items():
            figures[f"clip_720p_4s_marginal_s_{runtime}"] = round(statistics.median(clip_runs[runtime]), 3)
            figures[f"clip_720p_4s_marginal_s_{runtime}_runs"] = [round(s, 3) for s in clip_runs[runtime]]
            figures[f"clip_720p_4s_stages_s_{runtime}"] = {k: round(v, 3) for k, v in stage_times(one, clip4, one.config).items()}
        clip10_runs = [timed_scan(scanner, [str(clip10)], config) for _ in range(args.repeat)]
        clip10_s, results = statistics.median(s for s, _ in clip10_runs), clip10_runs[0][1]
        figures["clip_1080p_10s"] = {"seconds": round(clip10_s, 3), "runs": [round(s, 3) for s, _ in clip10_runs],
                                     "frames_sampled": results[0].frames_sampled,
                                     "faces": results[0].faces_detected, "status": results[0].status}
        photo_paths = sorted(str(p) for p in Path(photos).iterdir())
        photo_runs: dict[str, list[tuple[float, list]]] = {name: [] for name in scanners}
        for _ in range(args.repeat):
            for runtime, one in scanners.items():
                photo_runs[runtime].append(timed_scan(one, photo_paths, one.config))
        for runtime, runs in photo_runs.items():
            photos_s, results = statistics.median(s for s, _ in runs), runs[0][1]
            figures[f"photos_{runtime}"] = {"count": len(results), "seconds": round(photos_s, 2),
                                            "runs_s": [round(s, 2) for s, _ in runs],
                                            "media_per_s": round(len(results) / photos_s, 1),
                                            "statuses": {s: sum(r.status == s for r in results) for s in ("ok", "no_face", "error")}}
        for name in variants:
            figures[f"{name}_vs_default"] = {
                "clip_720p_4s_time_ratio": round(figures[f"clip_720p_4s_marginal_s_{name}"]
                                                 / figures["clip_720p_4s_marginal_s_onnx"], 2),
                "score_stage_ratio": round(figures[f"clip_720p_4s_stages_s_{name}"]["score"]
                                           / figures["clip_720p_4s_stages_s_onnx"]["score"], 2),
                "photos_rate_ratio": round(figures[f"photos_{name}"]["media_per_s"]
                                           / figures["photos_onnx"]["media_per_s"], 2)}
        figures["peak_rss_mib_this_process"] = round(peak_rss_mib())
        if not args.skip_baseline:
            for name, clip in (("720p_4s", clip4), ("1080p_10s", clip10)):
                naive_s, naive_frames = naive_baseline(scanners["torch"], clip)
                figures[f"naive_{name}"] = {"seconds": round(naive_s, 2), "frames": naive_frames}
            figures["speedup_720p_4s_vs_naive"] = round(figures["naive_720p_4s"]["seconds"]
                                                        / figures["clip_720p_4s_marginal_s_onnx"], 1)
            figures["speedup_1080p_10s_vs_naive"] = round(figures["naive_1080p_10s"]["seconds"] / clip10_s, 1)
        del scanners, scanner
        figures["memory_720p_4s"] = peak_rss_of_scan(clip4, args.threads)
        if not args.skip_hour:
            hour = write_clip(folder / "hour-360p.mp4", [astronaut()], seconds=3600.0, fps=1.0, size=(640, 360),
                              face_height=280)
            figures["memory_360p_1h"] = peak_rss_of_scan(hour, args.threads)
            figures["memory_ratio_1h_vs_4s"] = round(figures["memory_360p_1h"]["scan_mib"]
                                                     / figures["memory_720p_4s"]["scan_mib"], 2)
    write_figures(figures, args.json)


if __name__ == "__main__":
    main()
