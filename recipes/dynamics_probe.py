"""Measure per-track dynamics as evidence of re-rendered faces (issue 42), left out by source.

    python recipes/dynamics_probe.py runs/animation/videos.csv --out runs/dynamics \
        [--window 32] [--animation-scores runs/animation/eval/fold0.json ...]

Video generators render a face frame by frame; a camera films one. What the scan already
extracts on consecutive frames may tell them apart where a single crop does not:

- **shape dynamics**: the five MTCNN landmarks, normalised to the eyes (translation, roll and
  inter-ocular distance removed), move non-rigidly when a mouth speaks or a generator jitters:
  their spread over the window and their frame-to-frame and second-order motion;
- **head dynamics**: the face box's path and size over the window, relative to the face's size;
- **flicker**: the temporal second difference of the pixels inside the face box against that of
  a ring of background around it (a face pasted or re-rendered over a filmed frame has its own
  temporal noise; a camera's noise is the same on both).

Each video gives one window of ``--window`` consecutive frames from its middle (decoded by the
scan's decoder, faces found by the scan's MTCNN settings, the most probable face followed by
its box). A logistic regression on the standardised features is fitted without any video of the
source it scores (exact leave-one-source-out over every source), beside the
resolution/framing-only baseline of recipes/animation_probe.py and, with
``--animation-scores``, the animation detector's own held-out score (its fold evaluations) alone
and with the dynamics. Writes ``<out>/features.csv`` (one row per video) and
``<out>/dynamics.json`` (every figure).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from animation_probe import figures, video_facts
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from forensics.config import FaceSearch
from forensics.faces.detect import FaceDetector
from forensics.media.decode import DecodeError, open_video

SHAPE = ("nose_x", "nose_y", "mouth_l_x", "mouth_l_y", "mouth_r_x", "mouth_r_y")


def normalised_landmarks(points: np.ndarray) -> np.ndarray:
    """(T, 5, 2) landmarks -> (T, 6): nose and mouth corners in the eyes' frame (eye midpoint at
    the origin, eyes on the x axis, inter-ocular distance 1)."""
    left, right = points[:, 0], points[:, 1]
    centre, axis = (left + right) / 2, right - left
    iod = np.linalg.norm(axis, axis=1, keepdims=True).clip(1e-6)
    cos, sin = axis[:, :1] / iod, axis[:, 1:] / iod
    out = []
    for k in (2, 3, 4):
        d = points[:, k] - centre
        out.append(np.concatenate([(cos * d[:, :1] + sin * d[:, 1:]) / iod, (-sin * d[:, :1] + cos * d[:, 1:]) / iod], 1))
    return np.concatenate(out, 1)


def _grey(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def flicker(frames: list[np.ndarray], box: np.ndarray) -> tuple[float, float]:
    """Median over the window of the mean |f(t+1) - 2 f(t) + f(t-1)| (grey levels) inside ``box``
    (x1, y1, x2, y2: its inner 80%) and in the ring between 1.3x and 1.8x the box."""
    h, w = frames[0].shape[:2]
    cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1])
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.maximum(np.abs(xx - cx), np.abs(yy - cy)) / max(side / 2, 1.0)
    face, ring = dist <= 0.8, (dist >= 1.3) & (dist <= 1.8)
    grey = [_grey(f) for f in frames]
    inside, outside = [], []
    for t in range(1, len(grey) - 1):
        second = np.abs(grey[t + 1] - 2 * grey[t] + grey[t - 1])
        inside.append(second[face].mean() if face.any() else np.nan)
        outside.append(second[ring].mean() if ring.any() else np.nan)
    return float(np.nanmedian(inside)), float(np.nanmedian(outside))


def video_dynamics(path: str, detector: FaceDetector, window: int) -> dict[str, float] | None:
    """The dynamics features of one window of consecutive frames (None: no face in most of them)."""
    try:
        video = open_video(path)
    except DecodeError:
        return None
    count = int(video.info.frame_count or 0)
    start = max(0, count // 2 - window // 2)
    indices = np.arange(start, min(count, start + window))
    frames = [f.image for chunk in video.frames(indices, chunk=8) for f in chunk]
    found = detector.detect(frames)
    boxes, points, probs, previous = [], [], [], None
    for faces in found:
        if not faces:
            boxes.append(None)
            continue
        if previous is None:
            face = max(faces, key=lambda d: d.prob)
        else:  # the same person: the face nearest the last one's centre
            centre = (previous[:2] + previous[2:]) / 2
            face = min(faces, key=lambda d: float(np.linalg.norm((d.box[:2] + d.box[2:]) / 2 - centre)))
        previous = face.box
        boxes.append(face.box)
        points.append(face.landmarks)
        probs.append(face.prob)
    seen = [b for b in boxes if b is not None]
    if len(seen) < max(4, window // 2):
        return None
    box, pts = np.array(seen, np.float64), np.array(points, np.float64)
    side = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    centre = (box[:, :2] + box[:, 2:]) / 2 / np.median(side)
    shape = normalised_landmarks(pts)
    velocity, acceleration = np.diff(shape, axis=0), np.diff(shape, 2, axis=0)
    mouth = np.linalg.norm(pts[:, 4] - pts[:, 3], axis=1) / np.linalg.norm(pts[:, 1] - pts[:, 0], axis=1).clip(1e-6)
    roll = np.arctan2(pts[:, 1, 1] - pts[:, 0, 1], pts[:, 1, 0] - pts[:, 0, 0])
    inside, outside = flicker(frames, np.median(box, axis=0))
    out = {"face_side": float(np.median(side)), "seen_share": len(seen) / len(boxes), "prob_mean": float(np.mean(probs)), "prob_min": float(np.min(probs)),
           "shape_spread": float(shape.std(axis=0).mean()), "shape_speed": float(np.abs(velocity).mean()),
           "shape_jerk": float(np.abs(acceleration).mean()),
           "jerk_over_speed": float(np.abs(acceleration).mean() / max(np.abs(velocity).mean(), 1e-9)),
           "mouth_mean": float(mouth.mean()), "mouth_spread": float(mouth.std()),
           "mouth_speed": float(np.abs(np.diff(mouth)).mean()),
           "head_speed": float(np.linalg.norm(np.diff(centre, axis=0), axis=1).mean()),
           "head_jerk": float(np.linalg.norm(np.diff(centre, 2, axis=0), axis=1).mean()),
           "size_spread": float(np.log(side).std()), "roll_spread": float(roll.std()),
           "log_flicker_face": float(np.log1p(inside)), "log_flicker_ring": float(np.log1p(outside)),
           "flicker_ratio": float(np.log1p(inside) - np.log1p(outside))}
    for name, k in zip(SHAPE, range(6)):
        out[f"{name}_spread"] = float(shape[:, k].std())
    return out


def loso(features: np.ndarray, labels: np.ndarray, sources: np.ndarray, c: float = 0.3) -> np.ndarray:
    """P(fake) of every video from a standardised logistic regression fitted on the other sources,
    each (source, label) group weighted alike."""
    out = np.full(len(labels), np.nan)
    groups = pd.Series(list(zip(sources, labels)))
    weight = (1.0 / groups.map(groups.value_counts())).to_numpy()
    for source in sorted(set(sources)):
        keep = sources != source
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        model.fit(features[keep], labels[keep], logisticregression__sample_weight=weight[keep] / weight[keep].mean())
        out[sources == source] = model.predict_proba(features[sources == source])[:, 1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", help="manifest of the videos (recipes/animation_data.py)")
    parser.add_argument("--out", default="runs/dynamics")
    parser.add_argument("--window", type=int, default=32, help="consecutive frames per video (default 32)")
    parser.add_argument("--animation-scores", nargs="*", default=[],
                        help="forensics evaluate --json reports of the animation detector's fold trainings")
    parser.add_argument("--leave-out-sources", nargs="*", default=["LivePortrait", "PC-AVS"],
                        help="sources some shipped detector trained on (left out of the figures)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    table = pd.read_csv(args.videos, dtype=str, keep_default_na=False)
    table["path"] = [str((Path(args.videos).parent / p).resolve()) for p in table["path"]]
    cached = out / "features.csv"
    if cached.exists():
        rows = pd.read_csv(cached)
    else:
        search = FaceSearch()
        detector = FaceDetector.for_search(search)
        rows = []
        for k, video in enumerate(table.itertuples()):
            found = video_dynamics(video.path, detector, args.window)
            facts = video_facts(video.path, None)
            if found is not None:  # the face's size, as the baseline's shortcut reads it
                side = found.pop("face_side")
                facts.update(log_face=float(np.log1p(side)), face_share=side / np.exp(max(facts["log_w"], facts["log_h"])))
            rows.append({"path": video.path, "label": video.label, "source": video.source, "ok": found is not None,
                         **{f"fact_{n}": v for n, v in facts.items()}, **(found or {})})
            if k % 20 == 0:
                print(f"{k + 1}/{len(table)} {video.source}", flush=True)
        rows = pd.DataFrame(rows)
        rows.to_csv(cached, index=False)
    rows = rows[rows["ok"] & ~rows["source"].isin(args.leave_out_sources)].reset_index(drop=True)
    labels = (rows["label"] == "fake").to_numpy().astype(int)
    sources = rows["source"].to_numpy()
    dynamics = [c for c in rows.columns if c not in ("path", "label", "source", "ok") and not c.startswith("fact_")]
    facts = [c for c in rows.columns if c.startswith("fact_")]
    sets = {"resolution/framing only": facts, "dynamics": dynamics, "flicker only": ["log_flicker_face",
            "log_flicker_ring", "flicker_ratio"], "landmark motion only": [c for c in dynamics if "flicker" not in c]}
    if args.animation_scores:
        held_out = {}
        for report in args.animation_scores:
            for r in json.loads(Path(report).read_text())["videos"]["rows"]:
                if r.get("score") is not None:
                    held_out[str(Path(r["path"]).resolve())] = r["score"]
        score = rows["path"].map(held_out)
        rows["animation_logit"] = np.log(score.clip(1e-6, 1 - 1e-6) / (1 - score.clip(1e-6, 1 - 1e-6)))
        has = rows["animation_logit"].notna().to_numpy()
        print(f"animation held-out scores for {has.sum()} of {len(rows)} videos")
        rows, labels, sources = rows[has].reset_index(drop=True), labels[has], sources[has]
        sets["animation detector (held out)"] = ["animation_logit"]
        sets["animation + dynamics"] = ["animation_logit", *dynamics]
    report = {"videos": int(len(rows)), "window": args.window, "left_out_sources": args.leave_out_sources}
    frame = rows[["path", "label", "source"]].copy()
    for name, columns in sets.items():
        x = rows[columns].to_numpy(np.float64)
        x = np.where(np.isfinite(x), x, np.nanmedian(x, axis=0))
        scores = x[:, 0] if columns == ["animation_logit"] else loso(x, labels, sources)
        if columns == ["animation_logit"]:
            scores = 1 / (1 + np.exp(-scores))
        frame[name] = scores
        found = figures(dict(zip(rows["path"], scores)), rows)
        report[name] = found
        print(f"{name:>32}: AUC {found['auc']:.3f}  caught {found['fakes_caught']}/{found['fakes']}  "
              f"flagged {found['reals_flagged']}/{found['reals']}  worst {found['worst_fake_source']}")
    separation = {c: round(float(rows.loc[labels == 1, c].median() - rows.loc[labels == 0, c].median()), 4) for c in dynamics}
    report["median_fake_minus_real"] = separation
    (out / "dynamics.json").write_text(json.dumps(report, indent=1) + "\n")
    frame.to_csv(out / "dynamics-scores.csv", index=False)


if __name__ == "__main__":
    main()
