"""A probe: does the frame-to-frame behaviour of a video's pixels tell animated stills from real footage?

Talking-head and reenactment tools (SadTalker, EDTalk, VASA-1, LivePortrait, ...) animate one
still photo: outside the moving head, the picture's fine texture is the photo's, the same in
every frame, where a camera's sensor noise changes from frame to frame. This probe measures,
on pairs of consecutive frames taken at 8 points of each video's first 120 frames (grey, full size): the share of
pixels that do not change, the mean change, and the correlation between the two frames'
high-pass residuals (frame minus its 5x5 box blur), each in the centre of the frame (where the
face mostly is) and on its border. A logistic regression on these numbers is then scored with
the source-grouped folds of ``scripts/video_cv.py`` (train on three folds, test on the fourth),
beside the format-only shortcut of that script.

    python scripts/temporal_probe.py ../shared/data/videos/manifest.csv [--out runs/temporal-probe]

A research probe, not part of the scan: it prints pooled and per-fold ROC AUCs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_cv import assign_folds, video_facts  # noqa: E402

PAIRS = 8
MAX_FRAMES = 120  # pairs are taken from the first 120 frames (4 s at 30 fps): decoding is the cost


def frame_pairs(path: str, pairs: int = PAIRS) -> list[tuple[np.ndarray, np.ndarray]]:
    """``pairs`` pairs of consecutive grey frames, spread over the video."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = []
        for frame in container.decode(stream):  # uint8: 0.9 MB a 720p frame
            frames.append(frame.to_ndarray(format="gray"))
            if len(frames) == MAX_FRAMES:
                break
    if len(frames) < 2:
        return []
    starts = np.linspace(0, len(frames) - 2, pairs).round().astype(int)
    return [(frames[i].astype(np.float32), frames[i + 1].astype(np.float32)) for i in starts]


def _regions(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    h, w = shape
    centre = np.zeros(shape, bool)
    centre[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    return {"centre": centre, "border": ~centre}


def temporal_features(path: str) -> dict[str, float]:
    rows = []
    for a, b in frame_pairs(path):
        change = np.abs(b - a)
        ra, rb = a - cv2.blur(a, (5, 5)), b - cv2.blur(b, (5, 5))
        row = {}
        for name, mask in _regions(a.shape).items():
            row[f"still_{name}"] = float((change[mask] < 0.5).mean())
            row[f"change_{name}"] = float(change[mask].mean())
            x, y = ra[mask] - ra[mask].mean(), rb[mask] - rb[mask].mean()
            row[f"residual_corr_{name}"] = float((x * y).sum() / (np.sqrt((x * x).sum() * (y * y).sum()) + 1e-9))
            row[f"residual_std_{name}"] = float(ra[mask].std())
        rows.append(row)
    return pd.DataFrame(rows).median().to_dict()


def grouped_auc(features: pd.DataFrame, manifest: pd.DataFrame) -> dict:
    scores = pd.Series(np.nan, index=manifest.index)
    for fold in sorted(manifest.fold.unique()):
        test, train = manifest.fold == fold, manifest.fold != fold
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
        model.fit(features[train], manifest.y[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
    return {"pooled": float(roc_auc_score(manifest.y, scores)),
            "per_fold": {int(f): float(roc_auc_score(g.y, scores[g.index])) for f, g in manifest.groupby("fold")},
            "per_source_mean_score": {s: float(scores[g.index].mean()) for s, g in manifest.groupby("source")}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/temporal-probe"))
    parser.add_argument("--folds", type=int, default=4)
    args = parser.parse_args(argv)
    if not args.manifest.exists():
        print(f"no manifest at {args.manifest}: the shared videos lie beside the project", file=sys.stderr)
        return 2
    manifest = pd.read_csv(args.manifest)
    manifest["abs"] = [str((args.manifest.parent / p).resolve()) for p in manifest.path]
    manifest["fold"] = manifest.source.map(assign_folds(manifest, args.folds))
    manifest["y"] = (manifest.label == "fake").astype(int)
    args.out.mkdir(parents=True, exist_ok=True)
    cached = args.out / "features.csv"
    if cached.exists():
        table = pd.read_csv(cached)
    else:
        table = pd.DataFrame([{**temporal_features(p), **video_facts(p)} for p in manifest["abs"]])
        table.to_csv(cached, index=False)
    temporal = [c for c in table.columns if c.split("_")[0] in ("still", "change", "residual")]
    facts = ["width", "height", "aspect", "fps", "duration_s", "pixels"]
    result = {name: grouped_auc(table[cols], manifest)
              for name, cols in (("shortcut (format)", facts), ("temporal", temporal), ("temporal + format", temporal + facts))}
    for name, figures in result.items():
        folds = " / ".join(f"{v:.3f}" for v in figures["per_fold"].values())
        print(f"{name}: pooled ROC AUC {figures['pooled']:.3f}; folds {folds}")
    by_class = table[temporal].groupby(manifest.label.values).median().T
    print(by_class.to_string(float_format=lambda v: f"{v:.4f}"))
    (args.out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
