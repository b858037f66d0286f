#!/usr/bin/env bash
# Recipe of weights/residual-mlp.*: rerun it to reproduce them from ../shared/data.
# Face crops come from the shared crop cache (~6 min of face detection the first time);
# training takes ~35 min on a 2-core CPU, most of it computing features.
# Deterministic split (seed 0, 70/15/15 stratified by source and label), the same as custom-cnn's.
# Augmentation is limited to flips, JPEG re-compression, downscaling and H.264 video keyframes:
# rotation, shear and colour jitter resample or rescale every pixel and wash out the statistics
# the features read.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
out="${OUT:-weights/residual-mlp.safetensors}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
forensics train "$data" --out "$out" --model residual-mlp \
  --epochs 30 --patience 8 --lr 1e-3 --batch-size 64 --augment flip,downscale,jpeg,video --seed 0 --threads 2
forensics evaluate "$data" --weights "$out" --json runs/residual-mlp.test.json --plots runs/residual-mlp-plots
