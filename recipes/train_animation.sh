#!/usr/bin/env bash
# Recipe of weights/animation.* (the suite's `animation` detector, issue 42) and its held-out figures.
#
# 1. recipes/animation_data.py writes the manifests: every clip of ../shared/data/videos and
#    ../shared/data/videos3 (260 clips, 38 sources: talking heads, portrait animation,
#    reenactment, lip-sync, live and classical face swaps, and the real videos they were made
#    from), dealt by source into 4 folds, and the FF++ originals to calibrate on.
# 2. Held out by source: for each fold, EfficientNet-Lite0 fine-tuned from ImageNet on the
#    other folds' sources (a few of them choose the epoch), then scanned on the fold's videos,
#    which it never saw a frame or a source of. The four scans are the detector's
#    leave-one-source-out figures (benchmarks/animation_table.py).
# 3. The shipped detector: the same training on every source (the validation sources of
#    all.csv choose the epoch; their figures are tuned ones), stored in float16.
# Training: 16 frames of each video, the main person's faces, each (source, label) drawn alike
# (--balance source: DeepFaceLive's 54 fakes weigh as much as any other source's), rescaled,
# re-encoded (JPEG, H.264), blurred, jittered and mirrored so that a source's format is not
# what is learnt; 2 views made ahead and reused (--views-ahead 2); the stem and first 3 stages
# frozen at their ImageNet weights (--freeze 3: a step 1.8x faster on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-runs/animation}"
folds="${FOLDS:-4}"
python recipes/animation_data.py --out "$runs" --folds "$folds"
train=(--model efficientnet-lite0 --pretrained imagenet --video-frames 16 --epochs "${EPOCHS:-4}" --batch-size 32
       --lr 3e-4 --augment flip,affine,downscale,blur,jpeg,video --balance source --views-ahead 2 --freeze "${FREEZE:-3}" --threads 2)
for k in $(seq 0 $((folds - 1))); do
    [ -f "$runs/fold$k/animation.safetensors" ] || forensics train "$runs/fold$k.csv" --out "$runs/fold$k/animation.safetensors" "${train[@]}"
done
[ -n "${FOLDS_ONLY:-}" ] && exit 0  # the held-out figures only (e.g. FREEZE=0 FOLDS_ONLY=1 RUNS=runs/animation-f0)
[ -f "$runs/all/animation.safetensors" ] || forensics train "$runs/all.csv" --out "$runs/all/animation.safetensors" "${train[@]}"
forensics weights halve "$runs/all/animation.safetensors" weights/animation.safetensors
