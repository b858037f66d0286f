#!/usr/bin/env bash
# Recipe of weights/custom-cnn.* (the founding paper's network): rerun it to reproduce them from ../shared/data.
# About 6 min of face detection (cached afterwards in ~/.cache/forensics/crops) and ~17 min of
# training on a 2-core CPU. Deterministic split (seed 0, 70/15/15 stratified by source and label).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
forensics train "$data" --model custom-cnn --out weights/custom-cnn.safetensors \
  --epochs 14 --patience 4 --lr 3e-4 --batch-size 64 --seed 0
forensics evaluate "$data" --weights weights/custom-cnn.safetensors --json runs/custom-cnn.test.json --plots runs/custom-cnn-plots
