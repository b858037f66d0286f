"""Measure and train the `animation` detector (issue 42): linear heads on frozen backbones,
leave-one-source-out over the shared video sets, against a resolution/framing-only baseline.

    python recipes/animation_probe.py runs/animation/videos.csv --out runs/animation \
        [--backbone NAME=WEIGHTS ...] [--c 0.05 ...] [--views 3] [--frames 16]

For every backbone (``imagenet`` is EfficientNet-Lite0's ImageNet weights; others are weights
files, e.g. the suite's members) and every regularisation ``--c``, each video is scored by a
head fitted on the other sources only (:mod:`forensics.train.probe`); the table gives the
pooled video AUC, each fake source's AUC against every real video, and the videos caught and
flagged at 0.5 before any calibration. The baseline is a logistic regression, also left out
by source, on what a shortcut would use: the face's size in pixels, the frame's size and
aspect, the frame rate and length.

Measured and not kept (docs/evaluation.md: chance, 0.51). Writes ``<out>/probe.json`` (every figure) and ``<out>/probe-scores.csv`` (every video's
held-out score).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forensics.faces.align import CropPolicy
from forensics.models.registry import build_model, get_model_spec
from forensics.models.weights import load_weights
from forensics.media.storage import file_sha256
from forensics.train.augment import augmenter
from forensics.train.data import CropCache, load_samples
from sklearn.metrics import roc_auc_score as roc_auc
from forensics.train.probe import crop_features, leave_one_source_out, media_scores

MODEL = "efficientnet-lite0"


def video_facts(path: str, boxes: np.ndarray | None) -> dict[str, float]:
    """What a shortcut would use: face side (median box, pixels), frame size, aspect, fps, length."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 0)
        seconds = float(stream.duration * stream.time_base) if stream.duration else float(container.duration or 0) / 1e6
        w, h = stream.codec_context.width, stream.codec_context.height
    side = float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))) if boxes is not None else 0.0
    return {"log_face": np.log1p(side), "log_w": np.log(w), "log_h": np.log(h), "aspect": w / h,
            "face_share": side / max(w, h), "fps": fps, "log_s": np.log1p(seconds)}


def figures(scores: dict[str, float], videos: pd.DataFrame) -> dict:
    """Pooled AUC, per-fake-source AUC against all reals, caught and flagged at 0.5."""
    s = videos["path"].map(scores)
    y = (videos["label"] == "fake").to_numpy()
    per = {}
    for source in sorted(videos.loc[y, "source"].unique()):
        pick = (~y) | (videos["source"] == source).to_numpy()
        per[source] = round(float(roc_auc(y[pick].astype(int), s[pick].to_numpy())), 3)
    real_sources = {src: round(float((s[(~y) & (videos["source"] == src).to_numpy()] >= 0.5).mean()), 3)
                    for src in sorted(videos.loc[~y, "source"].unique())}
    return {"auc": round(float(roc_auc(y.astype(int), s.to_numpy())), 4), "videos": int(len(y)),
            "fakes_caught": int((s[y] >= 0.5).sum()), "fakes": int(y.sum()),
            "reals_flagged": int((s[~y] >= 0.5).sum()), "reals": int((~y).sum()),
            "per_fake_source": per, "real_flag_share_per_source": real_sources,
            "worst_fake_source": min(per.items(), key=lambda kv: kv[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", help="manifest of the videos (recipes/animation_data.py)")
    parser.add_argument("--out", default="runs/animation")
    parser.add_argument("--backbone", action="append", default=[], help="NAME=WEIGHTS (imagenet is always tried)")
    parser.add_argument("--c", action="append", type=float, default=[], help="inverse L2 strengths to try")
    parser.add_argument("--views", type=int, default=3, help="views of each training crop: itself and views-1 augmented")
    parser.add_argument("--frames", type=int, default=16, help="frames sampled from each video")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    spec = get_model_spec(MODEL)
    policy = CropPolicy(size=spec.input_size, margin=0.2)
    cache = CropCache(policy, video_frames=args.frames)
    samples = load_samples(args.videos, kinds=("video",))
    crops, kept, skipped = cache.load(samples)
    print(f"{len(crops)} crops of {len({s.path for s in kept})} videos ({len(skipped)} without a face)")
    table = pd.read_csv(args.videos, dtype=str, keep_default_na=False)
    table["path"] = [str(Path(args.videos).parent / p) for p in table["path"]]
    videos = table[table["path"].isin({s.path for s in kept})].reset_index(drop=True)
    labels = np.array([s.label for s in kept])
    sources = np.array([s.source for s in kept])
    media = np.array([s.path for s in kept])

    report: dict = {"crops": int(len(crops)), "videos": int(len(videos)), "views": args.views, "frames": args.frames}
    facts = pd.DataFrame([video_facts(p, _boxes(cache, p)) for p in videos["path"]])
    y_video = (videos["label"] == "fake").to_numpy().astype(int)
    base = leave_one_source_out(facts.to_numpy(), y_video, videos["source"].to_numpy(),
                                facts.to_numpy(), videos["source"].to_numpy(), c=1.0)
    report["baseline"] = figures(dict(zip(videos["path"], 1 / (1 + np.exp(-base)))), videos)
    print(f"baseline (resolution/framing only): AUC {report['baseline']['auc']}")
    rows = {"path": list(videos["path"]), "label": list(videos["label"]), "source": list(videos["source"]),
            "baseline": list(1 / (1 + np.exp(-base)))}

    backbones = {"imagenet": None} | dict(b.split("=", 1) for b in args.backbone)
    cs = args.c or [0.01, 0.05, 0.2]
    for name, weights in backbones.items():
        model = build_model(MODEL, pretrained="imagenet") if weights is None else load_weights(weights)[0]
        cached = out / f"features-{name}-v{args.views}-f{args.frames}.npz"
        if cached.exists():
            stored = np.load(cached)
            train_x, test_x = stored["train"], stored["test"]
        else:
            test_x = crop_features(model, crops, spec)
            views = [test_x] + [crop_features(model, crops, spec, augment=augmenter(100 + v, ("flip", "downscale", "blur", "jpeg", "video")))
                                for v in range(args.views - 1)]
            train_x = np.concatenate(views)
            np.savez(cached, train=train_x, test=test_x)
        reps = args.views
        for c in cs:
            logits = leave_one_source_out(train_x, np.tile(labels, reps), np.tile(sources, reps), test_x, sources, c)
            scores = media_scores(logits, media)
            found = figures(scores, videos)
            report[f"{name} C={c}"] = found
            rows[f"{name} C={c}"] = [scores[p] for p in videos["path"]]
            print(f"{name:>10} C={c:<5}: AUC {found['auc']:.3f}  caught {found['fakes_caught']}/{found['fakes']}  "
                  f"flagged {found['reals_flagged']}/{found['reals']}  worst {found['worst_fake_source']}")
    (out / "probe.json").write_text(json.dumps(report, indent=1) + "\n")
    pd.DataFrame(rows).to_csv(out / "probe-scores.csv", index=False)


def _boxes(cache: CropCache, path: str) -> np.ndarray | None:
    found = cache.folder / f"{file_sha256(path)}-v{cache.video_frames}.boxes.npy"
    return np.load(found) if found.exists() else None


if __name__ == "__main__":
    main()
