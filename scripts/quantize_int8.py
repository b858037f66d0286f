"""What int8 quantization would do to a shipped network: held-out AUC and speed, float32 against int8.

The network is the one a scan runs on a CPU (the ONNX export of :mod:`forensics.models.runtime`,
ensemble and mirror TTA included). ONNX Runtime's static quantization (QDQ, int8 weights per
channel, uint8 activations) is calibrated on crops of the *validation* split, then both
networks score the *test* split of the weights' own split file; a source the split file does
not list is scored on all of its images, as ``forensics evaluate`` does. Speed is crops per
second of each network in this process, same crops, batch 64.

    python scripts/quantize_int8.py [--weights weights/efficientnet-lite0.safetensors] [--data ../shared/data]
        [--calibration 256] [--threads 2] [--out runs/int8]

The issue's rule: keep int8 only if held-out AUC moves by less than 0.005 on every source.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from forensics.models.registry import crops_to_tensor
from forensics.models.weights import shipped_weights
from forensics.score import FaceScorer
from forensics.train.data import CropCache, load_samples


def split_crops(split: pd.DataFrame, which: str, data: Path, cache: CropCache) -> tuple[np.ndarray, pd.DataFrame]:
    rows = split[split["split"] == which]
    crops, kept = [], []
    for row in rows.itertuples(index=False):
        crop = cache.crop(str(data / row.path))
        if crop is not None:
            crops.append(crop)
            kept.append(row)
    return np.stack(crops), pd.DataFrame(kept)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=shipped_weights("efficientnet-lite0"))
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--calibration", type=int, default=256, help="validation crops to calibrate on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/int8"))
    args = parser.parse_args(argv)
    if not (args.data / "manifest.csv").exists():
        print(f"no shared data at {args.data}: this measurement needs ../shared/data", file=sys.stderr)
        return 2
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    torch.set_num_threads(args.threads)
    scorer = FaceScorer(None, args.weights, "cpu", runtime="onnx")
    cache = CropCache(scorer.crop_policy)
    split = pd.read_csv(args.weights.with_suffix(".splits.csv"))
    valid, _ = split_crops(split, "valid", args.data, cache)
    test, table = split_crops(split, "test", args.data, cache)
    sources = sorted(set(table.source))
    unseen = [s for s in load_samples(args.data / "manifest.csv") if s.source not in set(split.source)]
    if unseen:
        extra = [(s, cache.crop(s.path)) for s in unseen]
        extra = [(s, c) for s, c in extra if c is not None]
        test = np.concatenate([test, np.stack([c for _, c in extra])])
        table = pd.concat([table, pd.DataFrame({"path": [s.path for s, _ in extra], "label": [s.label for s, _ in extra],
                                                "source": [s.source for s, _ in extra]})], ignore_index=True)
        sources += sorted({s.source for s, _ in extra})
    rng = np.random.default_rng(0)
    calibration = valid[rng.choice(len(valid), min(args.calibration, len(valid)), replace=False)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"crops": crops_to_tensor(calibration[i:i + 16], scorer.spec).numpy()}
                                 for i in range(0, len(calibration), 16)])

        def get_next(self):
            return next(self.batches, None)

    args.out.mkdir(parents=True, exist_ok=True)
    prepared, int8 = args.out / "float32.prepared.onnx", args.out / "int8.onnx"
    quant_pre_process(str(scorer._onnx.path), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    sessions = {"float32": ort.InferenceSession(str(scorer._onnx.path), options, providers=["CPUExecutionProvider"]),
                "int8": ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])}
    logits, speed = {}, {}
    for name, session in sessions.items():
        out = [session.run(None, {"crops": crops_to_tensor(test[i:i + 64], scorer.spec).numpy()})[0].reshape(-1)
               for i in range(0, len(test), 64)]
        logits[name] = np.concatenate(out)
        timing = crops_to_tensor(test[:64], scorer.spec).numpy()
        session.run(None, {"crops": timing})
        start = time.perf_counter()
        for _ in range(3):
            session.run(None, {"crops": timing})
        speed[name] = 3 * 64 / (time.perf_counter() - start)
    p = {k: 1 / (1 + np.exp(-v / scorer.temperature)) for k, v in logits.items()}
    print(f"weights {args.weights.name}; calibration: {len(calibration)} validation crops; "
          f"test crops: {len(test)}; largest P(fake) change: {np.abs(p['int8'] - p['float32']).max():.4f}")
    print("| network | " + " | ".join(sources) + " | crops/s |")
    print("|---|" + "---:|" * (len(sources) + 1))
    for name in sessions:
        aucs = [roc_auc_score(table.label[table.source == s], p[name][(table.source == s).to_numpy()]) for s in sources]
        print(f"| {name} | " + " | ".join(f"{a:.4f}" for a in aucs) + f" | {speed[name]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
