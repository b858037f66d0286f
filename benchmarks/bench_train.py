"""Benchmark `forensics train`'s throughput (crops per second), split by stage, as ratios in one run.

The workload is the blend detector's recipe (recipes/train_suite.sh): EfficientNet-Lite0 from
ImageNet, batch 32, 224 px, channels-last, AdamW, self-blending ``only`` with the five mask
regions and degradation 0.5, augmentations flip, downscale, jpeg, video. The crops are the
scan's crops of the test suite's public-domain portraits (tests/samples.py), rotated and
scaled, so the benchmark needs no shared data. Stages, each timed alone over the same crops:

- ``read``: the crops and landmarks from the crop cache (warm), as a run's start reads them;
- ``pseudo_fakes_and_augment``: self-blending and augmenting in the training process, one
  crop at a time, as a step does on the fly;
- ``step``: forward, backward and the optimiser on batches made beforehand (what the network
  alone can do);
- ``epoch_on_the_fly``: ``train_one_epoch`` as it runs with ``--views-ahead 0``;
- ``make_views``: one view of every crop made ahead with every core (:mod:`forensics.train.views`);
- ``epoch_views_ahead``: ``train_one_epoch`` reading a view made ahead;
- ``epoch_views_ahead_freeze<N>``: the same with the stem and the first ``--freeze`` stages
  frozen (``forensics train --freeze N``): the backward pass stops before the high-resolution
  layers. This changes what is trained (fewer layers learn), so its figures are docs/evaluation.md's.

The ratios are against ``epoch_on_the_fly`` measured in the same run; ``schedule`` is a whole
recipe run (``--epochs`` epochs, ``--views`` views made ahead) end to end both ways.

    python benchmarks/bench_train.py [--crops 512] [--threads 2] [--epochs 6] [--views 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from common import astronaut, write_figures, write_image

from forensics.faces.align import CropPolicy
from forensics.models.registry import build_model, crops_to_tensor, get_model_spec
from forensics.train.augment import augmenter, self_blend_batch
from forensics.train.config import TrainConfig
from forensics.train.data import CropCache, Sample
from forensics.train.loop import TrainingSet, lr_schedule, train_one_epoch
from forensics.train.views import make_views, recipe_of

BLEND = dict(model="efficientnet-lite0", batch_size=32, self_blend="only", augment=("flip", "downscale", "jpeg", "video"),
             blend_regions=("forehead", "face", "inner", "lower", "mouth"), blend_degrade=0.5, pretrained="imagenet")


def portraits(folder: Path, count: int) -> list[Sample]:
    """``count`` real photos: the portraits rotated and scaled (each crop differs)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from samples import grace_hopper

    rng = np.random.default_rng(0)
    bases = [astronaut(), grace_hopper()]
    samples = []
    for k in range(count):
        base = bases[k % 2]
        h, w = base.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-12, 12), rng.uniform(0.75, 1.1))
        path = write_image(folder / f"p{k:04d}.jpg", cv2.warpAffine(base, m, (w, h), borderMode=cv2.BORDER_REFLECT101))
        samples.append(Sample(str(path), 0, "portraits", "train"))
    return samples


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", type=int, default=512, help="training crops (distinct photos: 128, repeated)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the schedule figure")
    parser.add_argument("--views", type=int, default=3, help="views made ahead in the schedule figure")
    parser.add_argument("--freeze", type=int, default=3, help="stages frozen in the last epoch figure")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig(**BLEND, threads=args.threads, views=args.views)
    spec = get_model_spec(config.model)
    policy = CropPolicy(size=spec.input_size, margin=config.margin)
    figures: dict = {"workload": dict(BLEND, crops=args.crops, threads=args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = portraits(tmp / "photos", min(128, args.crops))
        cache = CropCache(policy, tmp / "crops")
        cache.load(photos)  # detection once: not what is measured
        t = time.perf_counter()
        crops, kept, _ = cache.load(photos)
        landmarks = cache.landmarks_of(kept)
        figures["read"] = rate(len(crops), time.perf_counter() - t)
        repeat = -(-args.crops // len(crops))
        crops = np.concatenate([crops] * repeat)[: args.crops]
        landmarks = np.concatenate([landmarks] * repeat)[: args.crops]
        labels = np.zeros(len(crops), np.float32)
        data = TrainingSet(crops, labels, labels, landmarks)

        rng = np.random.default_rng(0)
        augment = augmenter(0, config.augment)
        t = time.perf_counter()
        made = []
        for start in range(0, len(crops), config.batch_size):
            pixels, _ = self_blend_batch(crops[start:start + config.batch_size], labels[start:start + config.batch_size],
                                         policy, rng, 0.5, landmarks[start:start + config.batch_size],
                                         config.blend_regions, config.blend_degrade)
            made.append(torch.stack([augment(c) for c in torch.from_numpy(pixels).permute(0, 3, 1, 2)]))
        figures["pseudo_fakes_and_augment"] = rate(len(crops), time.perf_counter() - t)

        model = build_model(config.model, pretrained="imagenet").to(memory_format=torch.channels_last)
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()
        loss_fn = torch.nn.BCEWithLogitsLoss()
        target = torch.zeros(config.batch_size)
        step_batches = made[:2] + made  # two warm-up steps
        t = None
        for k, batch in enumerate(step_batches):
            if k == 2:
                t = time.perf_counter()
            x = crops_to_tensor(batch.permute(0, 2, 3, 1), spec, "cpu")
            loss = loss_fn(model(x), target[: len(x)])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        figures["step"] = rate(len(crops), time.perf_counter() - t)

        def epoch(with_views, freeze: int = 0) -> float:
            from forensics.models.pretrained import freeze_stages

            net = build_model(config.model, pretrained="imagenet").to(memory_format=torch.channels_last)
            freeze_stages(net, freeze)
            opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
            steps = -(-len(crops) // config.batch_size)
            sched = lr_schedule(opt, steps, 0.1)
            data.views = with_views
            began = time.perf_counter()
            train_one_epoch(net, opt, sched, data, config, policy, spec, torch.device("cpu"),
                            np.random.default_rng(1), None if with_views is not None else augmenter(1, config.augment))
            return time.perf_counter() - began

        inline = epoch(None)
        figures["epoch_on_the_fly"] = rate(len(crops), inline)
        t = time.perf_counter()
        one = make_views(crops, labels, landmarks, recipe_of(config, policy), 1, args.threads, tmp / "views", log=lambda _: None)
        making = time.perf_counter() - t
        figures["make_views"] = rate(len(crops), making)
        ahead = epoch(one)
        figures["epoch_views_ahead"] = rate(len(crops), ahead)
        frozen = epoch(one, args.freeze)
        figures[f"epoch_views_ahead_freeze{args.freeze}"] = rate(len(crops), frozen)
    on_the_fly = args.epochs * inline
    with_views = args.views * making + args.epochs * ahead
    with_freeze = args.views * making + args.epochs * frozen
    figures["schedule"] = {"epochs": args.epochs, "views": args.views, "on_the_fly_s": round(on_the_fly, 1),
                           "views_ahead_s": round(with_views, 1), "ratio": round(on_the_fly / with_views, 2),
                           f"views_ahead_freeze{args.freeze}_s": round(with_freeze, 1),
                           f"ratio_freeze{args.freeze}": round(on_the_fly / with_freeze, 2)}
    figures["ratios_against_epoch_on_the_fly"] = {k: round(figures[k] / figures["epoch_on_the_fly"], 2)
                                                  for k in ("read", "pseudo_fakes_and_augment", "step", "make_views",
                                                            "epoch_views_ahead", f"epoch_views_ahead_freeze{args.freeze}")}
    write_figures(figures, args.json)


if __name__ == "__main__":
    main()
