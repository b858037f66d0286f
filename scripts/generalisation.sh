#!/usr/bin/env bash
# Cross-source generalisation: train custom-cnn on one source of ../shared/data, evaluate on
# the held-out test split of that source and on every image of the other sources.
# Writes runs/generalisation/<source>.{safetensors,json,eval.json}; then
# `python scripts/generalisation_table.py` prints the Markdown table. ~25 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
epochs="${EPOCHS:-10}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
out=runs/generalisation
mkdir -p "$out"
for source in stylegan-ffhq lfw-faceswap photoshop-ciplab; do
  forensics train "$data" --source "$source" --out "$out/$source.safetensors" \
    --epochs "$epochs" --patience 4 --lr 3e-4 --seed 0
  forensics evaluate "$data" --weights "$out/$source.safetensors" --json "$out/$source.eval.json"
done
