"""Does the scan's memory stay flat with the number of media? Driver and worker peak RSS and
throughput of scans of 1k, 10k and 100k tiny photos, on disk and in a bucket.

Each scan is the real command line in its own process (``forensics scan DIR --out R --quiet``,
the embedded engine, or ``--engine ray`` with ``--engine-ray``), polled every 0.2 s: the
driver's peak RSS is its VmHWM, the worker's the largest VmHWM of its child processes (the
decoding worker; with Ray, every Ray worker process started for the scan). The photos are
64x64 JPEGs of noise (no face: the cost per media is listing, reading, hashing, decoding,
detection and the journal, which is what grows with the number of media). The bucket is
moto's standalone S3 server on 127.0.0.1 (the test suite's), started here.

    python benchmarks/bench_scale.py [--counts 1000 10000 100000] [--where disk bucket] [--engine-ray]
                                     [--json out.json]

Memory is flat when the 100k figures equal the 1k ones within noise: the ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import write_figures

FORENSICS = [sys.executable, "-m", "forensics"]


def make_photos(folder: Path, count: int) -> None:
    """``count`` 64x64 noise JPEGs in folders of 1000 (as media archives are laid out)."""
    rng = np.random.default_rng(0)
    tiles = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(16)]
    for k in range(count):
        sub = folder / f"{k // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        tiles[k % 16].save(sub / f"photo-{k:07d}.jpg", quality=85)


def _vmhwm_mib(pid: int) -> float:
    """Peak resident memory of a process (Linux VmHWM), MiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    """Processes started by ``pid``, and theirs (from /proc's parent ids)."""
    parents: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def run_scan(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one scan; its wall time and the driver's and workers' peak RSS (MiB)."""
    started = time.perf_counter()
    scan = subprocess.Popen([*FORENSICS, *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak_driver, peak_worker = 0.0, 0.0
    while scan.poll() is None:
        peak_driver = max(peak_driver, _vmhwm_mib(scan.pid))
        for child in _descendants(scan.pid):
            peak_worker = max(peak_worker, _vmhwm_mib(child))
        time.sleep(0.2)
    stderr = scan.stderr.read()
    if scan.returncode != 0:
        raise RuntimeError(f"scan failed ({scan.returncode}): {stderr[-2000:]}")
    return {"wall_s": time.perf_counter() - started, "driver_peak_mib": peak_driver, "worker_peak_mib": peak_worker}


class S3Server:
    """moto's standalone S3 server on 127.0.0.1, for the bucket figures."""

    def __enter__(self) -> "S3Server":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        return self

    def fill(self, folder: Path, bucket: str) -> None:
        import fsspec

        os.environ.update(self.env)
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir(bucket)
        fs.put(str(folder) + "/", f"{bucket}/", recursive=True)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--where", nargs="+", default=["disk", "bucket"], choices=["disk", "bucket"])
    parser.add_argument("--engine-ray", action="store_true", help="also scan with --engine ray")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    engines = ["local"] + (["ray"] if args.engine_ray else [])
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        server = S3Server().__enter__() if "bucket" in args.where else None
        try:
            for count in args.counts:
                folder = root / f"photos-{count}"
                make_photos(folder, count)
                if server is not None:
                    server.fill(folder, f"photos-{count}")
                for where in args.where:
                    source = str(folder) if where == "disk" else f"s3://photos-{count}"
                    env = server.env if where == "bucket" else {}
                    for engine in engines:
                        out = root / f"{where}-{engine}-{count}.parquet"
                        scan = ["scan", source, "--out", str(out), "--quiet", "--model", "custom-cnn",
                                "--threads", "1", "--engine", engine]
                        figure = run_scan(scan, env)
                        figure["media_per_s"] = count / figure["wall_s"]
                        key = f"{where}/{engine}/{count}"
                        figures[key] = {k: round(v, 1) for k, v in figure.items()}
                        print(key, figures[key], flush=True)
                        out.unlink(missing_ok=True)
        finally:
            if server is not None:
                server.__exit__()
    smallest, largest = min(args.counts), max(args.counts)
    for where in args.where:
        for engine in engines:
            a, b = figures.get(f"{where}/{engine}/{smallest}"), figures.get(f"{where}/{engine}/{largest}")
            if a and b:
                figures[f"{where}/{engine}/ratio {largest} to {smallest}"] = {
                    "driver_peak": round(b["driver_peak_mib"] / a["driver_peak_mib"], 2),
                    "worker_peak": round(b["worker_peak_mib"] / max(a["worker_peak_mib"], 1e-9), 2)}
    write_figures(figures, args.json)


if __name__ == "__main__":
    main()
