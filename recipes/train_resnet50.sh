#!/usr/bin/env bash
# Recipe of weights/resnet50.* (the founding paper's ResNet50 baseline): rerun it to reproduce them
# from ../shared/data.
#
# ImageNet weights for torchvision's ResNet50 cannot be fetched offline, so the network trains
# from scratch, on the default's own split of the face swaps and StyleGAN faces (--splits), with
# the default's augmentation. At 224 px it trains at about 2.5 crops/s on a 2-core CPU: the two
# epochs take about an hour. The float32 result is then stored as float16 (half of 94 MB; the
# network still computes in float32) after checking that no test figure moves.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/manifest.csv}"
run="${RUN:-runs/resnet50}"
[ -f "$data" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
forensics train "$data" --model resnet50 --out "$run/resnet50.safetensors" \
  --source lfw-faceswap --source stylegan-ffhq --splits weights/efficientnet-lite0.splits.csv \
  --select macro --epochs 2 --patience 4 --lr 1e-3 --batch-size 32 --augment flip,downscale,jpeg,video \
  --threads 2 --seed 0
forensics weights halve "$run/resnet50.safetensors" weights/resnet50.safetensors
forensics evaluate "$data" --weights "$run/resnet50.safetensors" --json "$run/float32.test.json" \
  --source lfw-faceswap --source stylegan-ffhq --source photoshop-ciplab
forensics evaluate "$data" --weights weights/resnet50.safetensors --json "$run/float16.test.json" \
  --source lfw-faceswap --source stylegan-ffhq --source photoshop-ciplab
