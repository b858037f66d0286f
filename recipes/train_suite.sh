#!/usr/bin/env bash
# Recipe of weights/blend.* (the suite's `blend` detector) and weights/suite.json (the scan's
# default suite): rerun it to reproduce them from ../shared/data.
#
# 1. recipes/blend_data.py writes the manifests: real faces to self-blend (the default's
#    train-split LFW and FFHQ reals, the FaceForensics++ originals of the training identities,
#    the real videos of LivePortrait and PC-AVS), FF++ split by identity (validation picks the
#    epoch; the test identities are never seen), the real videos to calibrate on (LIA,
#    first-order-model, video-retalking and the FF++ validation originals: 22 clips), and the
#    shared videos held out by source (every fake, and the reals of the five sources with fakes).
# 2. The blend detector: EfficientNet-Lite0 from its ImageNet weights, trained on real faces and
#    their self-blended copies only (no fake is ever trained on), masks over the whole face, the
#    face without forehead, the inner face, the lower face and the mouth, the pasted copy
#    degraded as a 96-256 px generator's output half of the time; 32 frames of each training
#    video. 6 epochs from ImageNet, then 6 more from those weights at a lower learning rate
#    (the validation AUC was still rising), then up to 6 more at a lower one again (the best
#    was its first; it stops early); ~35 min each on a 2-core CPU after ~8 min of face
#    detection the first time. Stored in float16.
# 3. The suite: the blend detector and the shipped efficientnet-lite0 ensemble (the synthesis
#    detector), each calibrated on every real video it never trained on and no benchmark scores
#    so that none of them reaches the threshold: the blend detector on the 22 calibration
#    videos, the synthesis detector on those and the 41 real videos only the blend detector
#    trained on (~5 min). With none of n flagged, the flag rate on videos like them is below
#    about 3/n at 95% confidence: under 13% for blend, under 5% for synthesis.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-runs/blend}"
python recipes/blend_data.py --out "$runs"
blend=(--model efficientnet-lite0 --self-blend only --blend-regions forehead,face,inner,lower,mouth
       --blend-degrade 0.5 --video-frames 32 --epochs 6 --batch-size 32 --augment flip,downscale,jpeg,video --threads 2)
forensics train "$runs/train.csv" --out "$runs/first/blend.safetensors" "${blend[@]}" --pretrained imagenet --lr 5e-4 --seed 0
forensics train "$runs/train.csv" --out "$runs/second/blend.safetensors" "${blend[@]}" --pretrained "$runs/first/blend.safetensors" \
    --lr 3e-4 --seed 1
forensics train "$runs/train.csv" --out "$runs/blend.safetensors" "${blend[@]}" --pretrained "$runs/second/blend.safetensors" \
    --lr 2e-4 --seed 2
forensics weights halve "$runs/blend.safetensors" weights/blend.safetensors
# The suite takes the animation detector of recipes/train_animation.sh (run it first).
forensics suite build weights/suite.json --name default --rate "${RATE:-0}" --reals "$runs/calibration.csv" \
    --reals-for synthesis="$runs/calibration-synthesis.csv" --reals-for animation=runs/animation/calibration.csv \
    --images "$runs/images-valid.csv" --image-rate 0.05 --member blend=weights/blend.safetensors \
    --member synthesis=weights/efficientnet-lite0.safetensors --member animation=weights/animation.safetensors
