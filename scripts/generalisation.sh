#!/usr/bin/env bash
# Cross-source generalisation: train a model on one source of ../shared/data, evaluate on
# the held-out test split of that source and on every image of the other sources.
# MODEL (default custom-cnn) picks the architecture; the recipe per model is below.
# Writes runs/generalisation/<model>/<source>.{safetensors,json,eval.json}; then
# `python scripts/generalisation_table.py runs/generalisation/<model>` prints the Markdown table.
# ~25 min for custom-cnn, ~30 min for residual-mlp, ~33 min for efficientnet-lite0 with EPOCHS=4
# on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
model="${MODEL:-custom-cnn}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
case "$model" in
  residual-mlp) recipe=(--epochs "${EPOCHS:-30}" --patience 8 --lr 1e-3 --batch-size 64 --augment flip,downscale,jpeg,video --threads 2) ;;
  efficientnet-lite0) recipe=(--pretrained imagenet --epochs "${EPOCHS:-10}" --patience 4 --lr 5e-4 --batch-size 32
                              --augment flip,downscale,jpeg,video --threads 2) ;;
  *) recipe=(--epochs "${EPOCHS:-10}" --patience 4 --lr 3e-4) ;;
esac
out="runs/generalisation/$model"
mkdir -p "$out"
for source in stylegan-ffhq lfw-faceswap photoshop-ciplab; do
  forensics train "$data" --model "$model" --source "$source" --out "$out/$source.safetensors" \
    "${recipe[@]}" --seed 0
  forensics evaluate "$data" --weights "$out/$source.safetensors" --json "$out/$source.eval.json"
done
