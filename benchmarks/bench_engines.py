"""Compare the Ray engine with the embedded one on the same media, on this machine.

Both engines scan the same folder (face photos and 720p clips generated from the astronaut
picture) with their defaults: the embedded engine with torch threads on every core, the Ray
engine on a local Ray instance it starts (one single-thread actor per core, split between the
extract and score pools). Reported:

- start-up: embedded model loading; Ray ``ray.init`` + weights check, and actor start-up
  (time to the first result minus the embedded engine's time to its first result);
- throughput in media/s, end to end (start-up included) and over the second half of the
  results (start-up excluded; results come in input order), and the ratio Ray / embedded
  of each;
- agreement: the largest score difference between the two reports (should be < 1e-5).

With ``--many N`` it also scans N small face photos (128x128) with the Ray engine alone and
samples memory every half second: the driver's RSS, the RSS of every process of the local
Ray instance, and the object store in use; bounded figures mean the scan streams.

    python benchmarks/bench_engines.py [--photos 40] [--clips 4] [--many 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from common import astronaut, manipulated, write_clip, write_figures, write_image

from forensics.config import Cluster, ScanConfig, available_cores
from forensics.media.discover import discover


def make_media(folder: Path, photos: int, clips: int) -> Path:
    """``photos`` 512x512 face photos (half manipulated) and ``clips`` 5 s 720p clips."""
    rng = np.random.default_rng(0)
    base = astronaut()
    fake = manipulated(base)
    for k in range(photos):
        picture = fake if k % 2 else base
        m = cv2.getRotationMatrix2D((256, 256), rng.uniform(-10, 10), rng.uniform(0.8, 1.1))
        write_image(folder / f"photo-{k:03d}.jpg", cv2.warpAffine(picture, m, (512, 512),
                                                                  borderMode=cv2.BORDER_REFLECT101))
    for k in range(clips):
        write_clip(folder / f"clip-{k:02d}.mp4", [fake if k % 2 else base], seconds=5.0, fps=30.0,
                   size=(1280, 720), face_height=480)
    return folder


def run_local(items, config: ScanConfig) -> dict:
    from forensics.engines.local import LocalEngine

    started = time.perf_counter()
    scanner = LocalEngine(config)
    loaded = time.perf_counter()
    results, arrivals = [], []
    for result in scanner.scan(items):
        arrivals.append(time.perf_counter())
        results.append(result)
    done = time.perf_counter()
    return {"startup_s": loaded - started, "first_result_s": arrivals[0] - loaded, "scan_s": done - loaded,
            "total_s": done - started, "arrivals": arrivals, "results": results}


def run_ray(items, config: ScanConfig, workers: int | None) -> dict:
    from forensics.engines.ray import RayEngine

    started = time.perf_counter()
    runner = RayEngine(config, Cluster(workers=workers))
    connected = time.perf_counter()
    results, arrivals = [], []
    for result in runner.scan(items):
        arrivals.append(time.perf_counter())
        results.append(result)
    done = time.perf_counter()  # the local Ray instance is stopped by now
    return {"startup_s": connected - started, "first_result_s": arrivals[0] - connected, "scan_s": done - connected,
            "total_s": done - started, "arrivals": arrivals, "plan": runner.plan.__dict__, "results": results}


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def stream_check(folder: Path, count: int, weights: str | None) -> dict:
    """Scan ``count`` 128x128 face photos with the Ray engine; peak memory while it runs."""
    import ray

    from forensics.engines.ray import RayEngine

    face = cv2.resize(astronaut()[0:256, 128:384], (128, 128), interpolation=cv2.INTER_AREA)
    write_image(folder / "face.jpg", face)
    data = (folder / "face.jpg").read_bytes()
    for k in range(count):
        (folder / f"f{k:05d}.jpg").write_bytes(data)
    (folder / "face.jpg").unlink()
    items = discover([str(folder)]).items
    peaks = {"driver_rss_mib": 0.0, "ray_processes_rss_mib": 0.0, "object_store_used_mib": 0.0}
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            driver = rss_mib(os.getpid())
            tree = sum(rss_mib(p) for p in descendants(os.getpid()))
            try:
                total = ray.cluster_resources().get("object_store_memory", 0)
                free = ray.available_resources().get("object_store_memory", total)
                store = (total - free) / 2**20
            except Exception:  # Ray stopping
                store = 0.0
            for key, value in zip(peaks, (driver, tree, store)):
                peaks[key] = max(peaks[key], value)
            samples.append((round(driver), round(tree)))

    started = time.perf_counter()
    runner = RayEngine(ScanConfig(frames=8, weights=weights, engine="ray"))
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    statuses: dict[str, int] = {}
    seen = 0
    for result in runner.scan(items):
        statuses[result.status] = statuses.get(result.status, 0) + 1
        seen += 1
    done.set()
    watcher.join()
    elapsed = time.perf_counter() - started
    third = max(1, len(samples) // 3)
    return {"media": count, "results": seen, "statuses": statuses, "seconds": round(elapsed, 1),
            "media_per_s": round(count / elapsed, 1), **{k: round(v) for k, v in peaks.items()},
            "ray_processes_rss_mib_first_third_max": max(t for _, t in samples[:third]) if samples else None,
            "ray_processes_rss_mib_last_third_max": max(t for _, t in samples[-third:]) if samples else None,
            "driver_peak_rss_mib_getrusage": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40, help="face photos (default 40)")
    parser.add_argument("--clips", type=int, default=4, help="5-second 720p clips (default 4)")
    parser.add_argument("--frames", type=int, default=32, help="frames sampled per clip (default 32)")
    parser.add_argument("--workers", type=int, default=None, help="Ray actors per stage (default: fit the cores)")
    parser.add_argument("--weights", type=Path, default=None, help="weights (default: the shipped ones)")
    parser.add_argument("--many", type=int, default=0, help="also the memory check on this many photos (Ray only)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    weights = str(args.weights) if args.weights else None
    figures: dict = {"cores": available_cores(), "photos": args.photos, "clips": args.clips, "frames": args.frames}
    with tempfile.TemporaryDirectory() as tmp:
        items = discover([str(make_media(Path(tmp), args.photos, args.clips))]).items
        n = len(items)
        local = run_local(items, ScanConfig(frames=args.frames, weights=weights))
        ray = run_ray(items, ScanConfig(frames=args.frames, weights=weights, engine="ray"), args.workers)
    for name, run in (("local", local), ("ray", ray)):
        figures[name] = {
            "startup_s": round(run["startup_s"], 2),
            "first_result_s": round(run["first_result_s"], 2),
            "scan_s": round(run["scan_s"], 2),
            "media_per_s_end_to_end": round(n / run["total_s"], 2),
            "media_per_s_second_half": round((n - n // 2) / max(run["arrivals"][-1] - run["arrivals"][n // 2 - 1],
                                                                  1e-9), 2),
        }
    figures["ray"]["plan"] = ray["plan"]
    figures["ray_startup_overhead_s"] = round(
        (ray["startup_s"] + ray["first_result_s"]) - (local["startup_s"] + local["first_result_s"]), 2)
    for key in ("media_per_s_end_to_end", "media_per_s_second_half"):
        figures[f"throughput_ratio_ray_over_local_{key[12:]}"] = round(figures["ray"][key] / figures["local"][key], 2)
    diffs = [abs(a.score - b.score) for a, b in zip(local["results"], ray["results"]) if a.score is not None]
    figures["same_statuses"] = [r.status for r in local["results"]] == [r.status for r in ray["results"]]
    figures["max_score_difference"] = float(max(diffs)) if diffs else None
    if args.many:
        with tempfile.TemporaryDirectory() as tmp:
            figures["stream_check"] = stream_check(Path(tmp), args.many, weights)
    write_figures(figures, args.json)


if __name__ == "__main__":
    main()
