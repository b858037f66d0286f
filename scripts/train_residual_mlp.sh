#!/usr/bin/env bash
# Recipe of weights/residual-mlp.*, the scan's default detector: rerun it to reproduce them from
# ../shared/data. Face crops come from the shared crop cache (~6 min of face detection the
# first time); training takes ~20 min on a 2-core CPU, almost all of it computing features.
# Deterministic split (seed 0, 70/15/15 stratified by source and label), the same as custom-cnn's.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
forensics train "$data" --out weights/residual-mlp.safetensors --model residual-mlp \
  --epochs 30 --patience 8 --lr 1e-3 --batch-size 64 --no-augment --seed 0
forensics evaluate "$data" --weights weights/residual-mlp.safetensors --json runs/residual-mlp.test.json --plots runs/residual-mlp-plots
