#!/usr/bin/env bash
# The model table of docs/models.md: train each model that fits a 2-core CPU on all sources of
# ../shared/data (the same deterministic split as the shipped weights), evaluate it on the
# held-out test split, and time training and inference; then print the Markdown table.
# The shipped models are evaluated from weights/ (their recipes: train_custom_cnn.sh,
# train_residual_mlp.sh and train_efficientnet_lite0.sh). ~35 min on 2 CPU cores, plus ~6 min of face detection for the
# 160 px crops the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
out=runs/models
mkdir -p "$out"
for model in mobile-cnn dense-cnn; do
  [ -f "$out/$model.safetensors" ] || forensics train "$data" --model "$model" --out "$out/$model.safetensors" \
    --epochs "${EPOCHS:-8}" --patience 4 --lr 1e-3 --seed 0
done
for weights in weights/efficientnet-lite0.safetensors weights/custom-cnn.safetensors weights/residual-mlp.safetensors "$out"/*.safetensors; do
  name="$(basename "$weights" .safetensors)"
  [ -f "$out/$name.eval.json" ] || forensics evaluate "$data" --weights "$weights" --json "$out/$name.eval.json" \
    --source stylegan-ffhq --source lfw-faceswap --source photoshop-ciplab  # face images only, not the clips
done
python benchmarks/bench_models.py --models custom-cnn,residual-mlp,efficientnet-lite0,mobile-cnn,dense-cnn,simple-cnn,efficientnet-b0,densenet121,resnet50 --json "$out/speed.json"
python benchmarks/model_table.py "$out"
