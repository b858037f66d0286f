"""How video verdicts hold up when whole clips are re-encoded with H.264, as uploads are.

Every video of DATA (a manifest ``path,label[,source]`` or a folder with ``real/`` and
``fake/``) is re-encoded whole with libx264 (ffmpeg, ``-preset medium``, yuv420p, size and
frame rate kept, audio dropped) at each CRF given (default 23, FaceForensics++'s "c23", and
32, a heavily compressed upload), then the originals and each re-encoded set are scored by
``forensics evaluate``, that is as ``forensics scan`` scores them. Prints, per set, the ROC
AUC pooled and per source, and how many verdicts are right at the card's threshold.

    python scripts/video_robustness.py ../shared/data/clips --out runs/video-robustness/clips
    python scripts/video_robustness.py ../shared/data/videos/manifest.csv --out runs/video-robustness/videos \\
        [--weights weights/efficientnet-lite0.safetensors] [--crf 23 32]

Re-encoded copies and reports are kept in ``--out`` (reruns reuse them). Needs ffmpeg and the
shared data; says so when either is missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def list_videos(data: Path) -> pd.DataFrame:
    """``path`` (absolute), ``label`` (real/fake) and ``source`` of every video in DATA."""
    if data.is_dir():
        rows = [{"path": str(p.resolve()), "label": label, "source": data.name}
                for label in ("real", "fake") for p in sorted((data / label).rglob("*"))
                if p.suffix.lower() in VIDEO_SUFFIXES]
        return pd.DataFrame(rows)
    table = pd.read_csv(data)
    table["path"] = [str((data.parent / p).resolve()) for p in table.path]
    table = table[[Path(p).suffix.lower() in VIDEO_SUFFIXES for p in table.path]]
    if "source" not in table:
        table["source"] = data.parent.name
    return table[["path", "label", "source"]].reset_index(drop=True)


def reencode(src: str, dst: Path, crf: int) -> None:
    """Re-encode ``src`` whole with libx264 at ``crf`` into ``dst`` (skipped when it exists)."""
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.stem + ".part" + dst.suffix)
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-map", "0:v:0", "-an",
               "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", str(tmp)]
    subprocess.run(command, check=True)
    tmp.replace(dst)


def evaluate(manifest: Path, weights: Path, report: Path) -> dict:
    """``forensics evaluate`` on a manifest of videos; its JSON report (reused when present)."""
    if not report.exists():
        forensics = str(Path(sys.executable).with_name("forensics"))
        command = [forensics, "evaluate", str(manifest), "--weights", str(weights), "--json", str(report)]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(report.read_text())


def summary(result: dict, name: str) -> dict:
    videos = result["videos"]
    rows = pd.DataFrame(videos["rows"])
    scored = rows[rows.status == "ok"]
    right = int(((scored.score >= result["threshold"]) == (scored.label == 1)).sum())
    line = {"set": name, "videos": len(rows), "scored": len(scored), "right": right,
            "roc_auc": videos["metrics"]["all"]["roc_auc"] if videos["metrics"] else None}
    for source, metrics in (videos["metrics"] or {}).get("per_source", {}).items():
        line[f"auc {source}"] = metrics.get("roc_auc")
    return line


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="manifest CSV or folder with real/ and fake/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=Path("weights/efficientnet-lite0.safetensors"))
    parser.add_argument("--crf", type=int, nargs="+", default=[23, 32])
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"no data at {args.data}: the shared data lie beside the project (../shared/data)", file=sys.stderr)
        return 2
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: apt-get install -y ffmpeg", file=sys.stderr)
        return 2
    videos = list_videos(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    sets = {"original": videos}
    for crf in args.crf:
        copies = videos.copy()
        copies["path"] = [str((args.out / f"crf{crf}" / videos.label[i] / Path(p).name).resolve())
                          for i, p in enumerate(videos.path)]
        for src, dst in zip(videos.path, copies.path):
            reencode(src, Path(dst), crf)
        sets[f"crf{crf}"] = copies
    lines = []
    for name, table in sets.items():
        manifest = args.out / f"{name}.csv"
        table.to_csv(manifest, index=False)
        result = evaluate(manifest, args.weights, args.out / f"{name}.eval.json")
        lines.append(summary(result, name))
    table = pd.DataFrame(lines)
    (args.out / "summary.json").write_text(json.dumps(lines, indent=2) + "\n")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
