"""How shipped weights hold up when the face crop is re-compressed or resized, as social media do.

Scores the held-out test split of each model's own split file (``<weights>.splits.csv``)
as it is, after JPEG re-compression at quality 75 and 50, after a 2x downscale and upscale
(bicubic), and as the first frame (a keyframe) of an MPEG-4 Part 2 video that OpenCV encodes
with its default settings (about 31 dB PSNR on the astronaut photo, near JPEG q75; 4:2:0
chroma like JPEG, another quantiser), and as an H.264 keyframe at CRF 23 and 32 (libx264
through PyAV; CRF 23 is FaceForensics++'s "c23"), and prints the test ROC AUC per source for each.
A source that the split file does not list (the model never trained on it) is scored on all of
its images in the manifest, as ``forensics evaluate`` does.

    python scripts/robustness.py [--models residual-mlp,custom-cnn,path/to/other.safetensors] [--data ../shared/data]

Needs ../shared/data; crops come from the training crop cache (detected once, then cached).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from forensics.models.weights import shipped_weights
from forensics.score import FaceScorer
from forensics.train.codec import h264_keyframe
from forensics.train.data import CropCache, load_samples


def jpeg(crop: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def half_size(crop: np.ndarray) -> np.ndarray:
    side = crop.shape[0]
    small = Image.fromarray(crop).resize((side // 2, side // 2), Image.BICUBIC)
    return np.asarray(small.resize((side, side), Image.BICUBIC))


def video_keyframe(crop: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "crop.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (crop.shape[1], crop.shape[0]))
        writer.write(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        writer.release()
        capture = cv2.VideoCapture(path)
        ok, frame = capture.read()
        capture.release()
    if not ok:
        raise RuntimeError("OpenCV could not encode or decode an MPEG-4 frame")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


SOURCES = ("lfw-faceswap", "photoshop-ciplab", "stylegan-ffhq")

DEGRADATIONS = {
    "as is": lambda crop: crop,
    "JPEG q75": lambda crop: jpeg(crop, 75),
    "JPEG q50": lambda crop: jpeg(crop, 50),
    "resize x0.5": half_size,
    "MPEG-4 keyframe": video_keyframe,
    "H.264 keyframe CRF 23": lambda crop: h264_keyframe(crop, 23),
    "H.264 keyframe CRF 32": lambda crop: h264_keyframe(crop, 32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="residual-mlp,custom-cnn",
                        help="shipped model names or .safetensors files (with card and splits beside them)")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--degradations", default=",".join(DEGRADATIONS),
                        help=f"comma-separated, from: {', '.join(DEGRADATIONS)} (default: all)")
    args = parser.parse_args()
    chosen = args.degradations.split(",")
    if unknown := sorted(set(chosen) - set(DEGRADATIONS)):
        sys.exit(f"unknown degradation {', '.join(unknown)}; choose from {', '.join(DEGRADATIONS)}")
    if not Path(args.data).is_dir():
        sys.exit(f"no shared data at {args.data}: this benchmark needs ../shared/data")
    torch.set_num_threads(args.threads)
    print("| model | degradation | " + " | ".join(SOURCES) + " |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        weights = Path(name) if name.endswith(".safetensors") else shipped_weights(name)
        scorer = FaceScorer(None, weights, "cpu")  # the model the card names
        name = weights.stem if name.endswith(".safetensors") else name
        split = pd.read_csv(weights.with_suffix(".splits.csv"))
        test = split.loc[split["split"] == "test", ["path", "label", "source"]]
        test["path"] = [str(Path(args.data) / p) for p in test["path"]]
        never_trained = [source for source in SOURCES if source not in set(split["source"])]
        unseen = load_samples(Path(args.data) / "manifest.csv", never_trained) if never_trained else []
        if unseen:
            print(f"(`{name}` never trained on {', '.join(sorted({s.source for s in unseen}))}: all {len(unseen)} of its images)")
            test = pd.concat([test, pd.DataFrame([(s.path, s.label, s.source) for s in unseen], columns=test.columns)])
        cache = CropCache(scorer.crop_policy)
        crops, rows = [], []
        for row in test.itertuples(index=False):
            crop = cache.crop(row.path)
            if crop is not None:
                crops.append(crop)
                rows.append(row)
        table = pd.DataFrame(rows)
        for label in chosen:
            degrade = DEGRADATIONS[label]
            scores = scorer.score(np.stack([degrade(c) for c in crops]))
            aucs = []
            for source in SOURCES:
                mine = (table["source"] == source).to_numpy()
                aucs.append(f"{roc_auc_score(table['label'][mine], scores[mine]):.3f}")
            print(f"| `{name}` | {label} | " + " | ".join(aucs) + " |", flush=True)


if __name__ == "__main__":
    main()
