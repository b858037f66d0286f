"""Train a registered model on cached face crops; keep the best epoch by validation ROC AUC.

Writes ``<out>.safetensors`` with its model card (``<out>.json``), the splits
(``<out>.splits.csv``), the training curves (``<out>.history.csv`` and ``.png``) and a
resumable checkpoint (``<out>.ckpt.pt``, removed when training completes).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from forensics import __version__
from forensics.faces.align import CropPolicy
from forensics.faces.detect import resolve_device
from forensics.models.registry import build_model, crops_to_tensor, get_model_spec
from forensics.models.weights import (
    WeightsError,
    card_crop_policy,
    read_card,
    recorded_command,
    save_weights,
    sha256_file,
)
from forensics.score import FaceScorer, check_finite
from forensics.train.codec import h264_keyframe
from forensics.train.data import (
    SPLITS,
    CropCache,
    Sample,
    assign_splits,
    data_base,
    load_samples,
    reuse_splits,
    save_splits,
)
from forensics.train.metrics import metrics_by_source

AUGMENTATIONS: tuple[str, ...] = ("flip", "affine", "colour", "downscale", "blur", "jpeg", "video")
"""Augmentations by name, each switchable: the papers' horizontal ``flip``, ``affine`` (rotation
up to 10 degrees, shift 5%, zoom 8%, shear 5 degrees) and ``colour`` (brightness and contrast
20%), and what social media do to a file: ``downscale`` (to 35-80% and back), ``blur``
(Gaussian, sigma 0.2-1.2 px), ``jpeg`` (re-compression at quality 50-95) and ``video`` (the
crop as an H.264 keyframe at CRF 18-36, see :func:`forensics.train.codec.h264_keyframe`)."""


SELECTIONS: tuple[str, ...] = ("pooled", "macro")
"""How the best epoch is chosen: by the pooled validation AUC or the mean per-source one."""

TEACHER_VIEWS: tuple[str, ...] = ("crop", "augmented")
"""What a teacher scores: each training crop once, unaugmented, or each augmented view at every step."""

MIN_SOURCE_CROPS = 20
"""Crops of each class a source needs in the validation split to count in the macro AUC."""


@dataclass
class TrainConfig:
    """Settings of a training run.

    Attributes:
        model: registered model name (no default: fine-tuning the scan's default,
            ``efficientnet-lite0``, wants ``pretrained``; see its recipe in recipes/).
        epochs: most epochs (default 12); early stopping may end sooner.
        batch_size: crops per step (default 64).
        lr: Adam learning rate (default 1e-3), cosine-annealed to zero over ``epochs`` after the warmup.
        warmup: fraction of all steps over which the learning rate first rises linearly from
            a hundredth of ``lr`` to ``lr`` (then the cosine decay). None (the default) means
            0.1 when starting from ``pretrained`` weights, whose features a full learning rate
            on a fresh head would scramble in the first steps, and 0 otherwise.
        weight_decay: AdamW weight decay (default 1e-4).
        patience: epochs without a better validation AUC before stopping (default 4).
        select: which validation AUC picks the best epoch and drives early stopping:
            ``"pooled"`` (over all validation crops, the default) or ``"macro"`` (the mean of
            the per-source AUCs, over sources with at least :data:`MIN_SOURCE_CROPS` crops of
            each class, so that the largest source does not decide alone; the pooled AUC when
            no source has that many).
        augment: the augmentations to apply, by name from :data:`AUGMENTATIONS` (default
            all of them); empty for none.
        margin: crop margin per side, as a fraction of the face box (default 0.2).
        seed: seeds the split, the initialisation and the augmentation (default 0).
        threads: torch threads (default: all cores this process may use).
        device: ``auto`` (CUDA when available, the default), ``cpu`` or ``cuda``. On CUDA the
            forward and backward passes run in bfloat16 autocast; crops are augmented on the CPU.
        max_steps: stop after this many optimiser steps (for smoke tests); None = no cap.
        sources: train on rows of these manifest sources only (default: all).
        pretrained: start from these weights instead of a random initialisation:
            ``"imagenet"`` or a checkpoint file (see :mod:`forensics.models.pretrained`);
            only for the torchvision/timm models. Default None.
        splits: a split file written by an earlier run (``<weights>.splits.csv``, paths
            relative to DATA's folder) whose train/valid/test assignment this run reuses, so
            that models trained apart (ensemble members) hold out the same images. Default
            None: DATA's own split column or folders, else a fresh split drawn with ``seed``.
        self_blend: ``"mix"`` adds pseudo-fakes made from real crops (Self-Blended Images:
            the face blended with a colour-, frequency- and geometry-jittered copy of itself
            through a soft landmark-derived mask, see :mod:`forensics.train.sbi`) to the real fakes;
            ``"only"`` trains on real faces and pseudo-fakes alone. Default None (off).
        blend_regions: the face regions the pseudo-fakes' masks cover (names of
            :data:`forensics.manipulate.OUTLINES`); default the paper's ``forehead``,
            ``face``, ``inner``. Add ``lower`` and ``mouth`` for lip-sync-like pastes.
        blend_degrade: probability that a pseudo-fake's pasted copy is degraded as a face
            generator's output is (downscaled 2-4x and back, blurred, JPEG; see
            :func:`forensics.train.sbi.degrade_as_generated`). Default 0.
        video_frames: train on DATA's videos too, with this many frames sampled from each
            (see :mod:`forensics.train.data`); 0 (the default) leaves videos out.
        teacher: distil these shipped weights (an ensemble with its test-time augmentation
            counts as one teacher): every training crop's target is sigmoid of the teacher's
            logit on that crop (before its temperature) instead of its label, so the student
            learns the teacher's scores, not the labels. The teacher scores each crop once,
            unaugmented, before the first epoch; its crop policy must be the student's.
            Default None (train on the labels). Not with ``self_blend``.
        teacher_view: ``"crop"`` (the default): the teacher scores each training crop once,
            unaugmented, as above. ``"augmented"``: it scores the very view the student sees,
            at every step (augmentations included; slower, as the teacher runs every epoch),
            so the student is taught on the images it learns from.
        teacher_temperature: the teacher's logits and the student's are both divided by this
            before the loss (default 1: the teacher's scores as they are; above 1 softens the
            targets), and the loss is multiplied by its square, as knowledge distillation does.
    """

    model: str
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    warmup: float | None = None
    weight_decay: float = 1e-4
    patience: int = 4
    select: str = "pooled"
    augment: tuple[str, ...] = AUGMENTATIONS
    margin: float = 0.2
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    max_steps: int | None = None
    sources: list[str] = field(default_factory=list)
    pretrained: str | None = None
    splits: str | None = None
    self_blend: str | None = None
    blend_regions: tuple[str, ...] = ("forehead", "face", "inner")
    blend_degrade: float = 0.0
    video_frames: int = 0
    teacher: str | None = None
    teacher_view: str = "crop"
    teacher_temperature: float = 1.0

    def __post_init__(self) -> None:
        self.augment = tuple(self.augment)
        _check_augmentations(self.augment)
        self.blend_regions = tuple(self.blend_regions)
        if self.self_blend:
            from forensics.train.sbi import SelfBlend

            SelfBlend(CropPolicy(), self.blend_regions, self.blend_degrade)  # raises on unknown regions
        if self.warmup is not None and not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), not {self.warmup}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, not {self.select!r}")
        if self.teacher and self.self_blend:
            raise ValueError("a teacher has no score for self-blended pseudo-fakes: use --teacher or --self-blend, not both")
        if self.teacher_view not in TEACHER_VIEWS:
            raise ValueError(f"teacher_view must be one of {', '.join(TEACHER_VIEWS)}, not {self.teacher_view!r}")
        if not self.teacher_temperature > 0:
            raise ValueError(f"teacher_temperature must be above 0, not {self.teacher_temperature}")

    @property
    def effective_warmup(self) -> float:
        """The warmup fraction this run uses (see ``warmup``)."""
        if self.warmup is not None:
            return self.warmup
        return 0.1 if self.pretrained else 0.0


def lr_schedule(optimiser: torch.optim.Optimizer, total_steps: int, warmup: float
                ) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step schedule: a linear warmup over ``warmup`` of ``total_steps`` (from 1% of the
    learning rate), then a cosine decay to zero over the rest."""
    warmup_steps = round(warmup * total_steps)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(total_steps - warmup_steps, 1))
    if warmup_steps == 0:
        return cosine
    rise = torch.optim.lr_scheduler.LinearLR(optimiser, start_factor=0.01, total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimiser, [rise, cosine], milestones=[warmup_steps])


_RUN_ONLY = ("epochs", "threads", "device", "max_steps")
"""TrainConfig fields that a resumed run may change: they do not change what is learnt."""


def _check_augmentations(kinds: Sequence[str]) -> None:
    unknown = sorted(set(kinds) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")


def augmenter(seed: int, kinds: Sequence[str] = AUGMENTATIONS) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Per-crop augmentation of a ``uint8`` (3, H, W) tensor with the named ``kinds``; None when empty.

    Each kind applies with its own probability: flip 0.5, affine 0.5, colour 0.5, downscale 0.2,
    blur 0.15, jpeg 0.3, video 0.2.
    """
    from torchvision.transforms import v2

    _check_augmentations(kinds)
    if not kinds:
        return None
    torch.manual_seed(seed)

    def downscale(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        factor = float(np.random.uniform(0.35, 0.8))
        small = v2.functional.resize(x, [max(8, int(h * factor)), max(8, int(w * factor))], antialias=True)
        return v2.functional.resize(small, [h, w], antialias=True)

    def jpeg(x: torch.Tensor) -> torch.Tensor:  # OpenCV's libjpeg: torchvision's JPEG codec is deprecated
        quality = int(np.random.randint(50, 96))
        _, data = cv2.imencode(".jpg", x.permute(1, 2, 0).numpy()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        return torch.from_numpy(np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])).permute(2, 0, 1)

    def video(x: torch.Tensor) -> torch.Tensor:
        crf = int(np.random.randint(18, 37))
        return torch.from_numpy(h264_keyframe(x.permute(1, 2, 0).numpy(), crf)).permute(2, 0, 1)

    transforms = {
        "flip": v2.RandomHorizontalFlip(),
        "affine": v2.RandomApply([v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.92, 1.08), shear=5)], p=0.5),
        "colour": v2.RandomApply([v2.ColorJitter(brightness=0.2, contrast=0.2)], p=0.5),
        "downscale": v2.RandomApply([v2.Lambda(downscale)], p=0.2),
        "blur": v2.RandomApply([v2.GaussianBlur(5, sigma=(0.2, 1.2))], p=0.15),
        "jpeg": v2.RandomApply([v2.Lambda(jpeg)], p=0.3),
        "video": v2.RandomApply([v2.Lambda(video)], p=0.2),
    }
    return v2.Compose([transforms[kind] for kind in AUGMENTATIONS if kind in kinds])


def self_blend_batch(crops: np.ndarray, labels: np.ndarray, policy: CropPolicy, rng: np.random.Generator,
                     share: float = 0.5, landmarks: np.ndarray | None = None,
                     regions: Sequence[str] | None = None, degrade: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Turn a ``share`` of the real crops of a batch into self-blended pseudo-fakes (label 1).

    ``landmarks`` (n, 5, 2) are each crop's five landmarks in crop pixels (NaN where unknown:
    a template for the policy stands in); ``regions`` and ``degrade`` are
    :class:`forensics.train.sbi.SelfBlend`'s (default: the paper's masks, no degradation).
    """
    from forensics.train.sbi import PAPER_REGIONS, SelfBlend

    blend = SelfBlend(policy, tuple(regions or PAPER_REGIONS), degrade)
    crops, labels = crops.copy(), labels.copy()
    for i in np.flatnonzero(labels == 0):
        if rng.random() < share:
            crops[i] = blend(crops[i], None if landmarks is None else landmarks[i], rng)
            labels[i] = 1.0
    return crops, labels


def _batches(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def predict_logits(model: nn.Module, crops: np.ndarray, spec, batch_size: int = 128,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Float32 logits (n,) of ``uint8`` crops (n, S, S, 3), in eval mode; ``device`` is where the model lives."""
    model.eval()
    out = []
    with torch.inference_mode():
        for idx in _batches(len(crops), batch_size, None):
            out.append(model(crops_to_tensor(crops[idx], spec, device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the log loss of sigmoid(logit / T) (temperature scaling)."""
    x = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.float64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.exp().item())


def check_teacher(teacher: str | os.PathLike[str], policy: CropPolicy) -> None:
    """Raise ValueError unless ``teacher`` has a model card and cuts ``policy``'s crops
    (cheap: reads the card only, so a wrong teacher fails before any face is detected)."""
    try:
        card = read_card(teacher)
    except WeightsError as exc:
        raise ValueError(f"teacher: {exc}") from None
    if card_crop_policy(card) != policy:
        raise ValueError(f"teacher {Path(teacher).name} scores {card_crop_policy(card)} crops, "
                         f"the student trains on {policy}: distil into a model of the same crop policy")


class Teacher:
    """The ``teacher`` weights, loaded once, scoring crops as the scan's own scorer does (ONNX
    Runtime on a CPU), its ensemble and test-time augmentation included and its temperature left
    out. Raises ValueError when the teacher was made for other crops than ``policy``'s."""

    def __init__(self, teacher: str | os.PathLike[str], policy: CropPolicy, device: torch.device | str = "cpu"):
        check_teacher(teacher, policy)
        try:
            self.scorer = FaceScorer(weights=teacher, device=device)
        except WeightsError as exc:
            raise ValueError(f"teacher: {exc}") from None

    def targets(self, crops: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Float32 soft targets (n,) in [0, 1] for ``uint8`` crops (n, S, S, 3): sigmoid of the
        teacher's logits (before its own temperature) divided by ``temperature`` (default 1)."""
        logits = self.scorer.logits(crops)
        check_finite(logits, self.scorer.weights_path, f"{len(crops)} training crop(s)")
        return _sigmoid(logits / temperature).astype(np.float32)


CropsBySplit = dict[str, tuple[np.ndarray, list[Sample]]]
"""Face crops of each split, ``uint8`` (n, S, S, 3), with the samples they came from."""


def load_split_crops(samples: Sequence[Sample], cache: CropCache, log: Callable[[str], None] = print,
                     splits: Sequence[str] = SPLITS) -> tuple[CropsBySplit, dict[str, int]]:
    """The face crops of the samples of ``splits`` (default train, valid and test; detected
    once, then cached), and the number of images of each split without a detectable face."""
    from rich.progress import Progress

    by_split: CropsBySplit = {}
    skipped_total: dict[str, int] = {}
    wanted = [s for s in samples if s.split in splits]
    with Progress(transient=True) as progress:
        task = progress.add_task("face crops", total=len(wanted))
        for split in splits:
            chosen = [s for s in samples if s.split == split]
            crops, kept, skipped = cache.load(chosen, lambda n: progress.advance(task, n))
            by_split[split] = (crops, kept)
            skipped_total[split] = len(skipped)
    for split, (crops, kept) in by_split.items():
        log(f"{split}: {len(kept)} crops ({skipped_total[split]} images or videos without a detectable face skipped)")
    return by_split, skipped_total


def split_counts(by_split: CropsBySplit, skipped_total: dict[str, int]) -> dict[str, dict[str, int]]:
    """Real and fake crops, and images without a face, of each split (as a model card records them)."""
    counts = {split: {"real": int(sum(1 for s in kept if s.label == 0)), "fake": int(sum(1 for s in kept if s.label == 1)),
                      "skipped_no_face": skipped_total[split]}
              for split, (_, kept) in by_split.items()}
    for split, (_, kept) in by_split.items():
        videos = {s for s in kept if s.is_video}
        if videos:  # crops above count a video's frames; these count videos
            counts[split]["videos_real"] = sum(1 for s in videos if s.label == 0)
            counts[split]["videos_fake"] = sum(1 for s in videos if s.label == 1)
    return counts


def calibrate(model: nn.Module, by_split: CropsBySplit, spec, device: torch.device | str = "cpu"
              ) -> tuple[float, dict[str, Any]]:
    """The temperature fitted on the validation crops, and the metrics of the valid and test
    splits (per source) with the scores it calibrates."""
    valid_x, valid_s = by_split["valid"]
    temperature = fit_temperature(predict_logits(model, valid_x, spec, device=device), np.array([s.label for s in valid_s]))
    metrics: dict[str, Any] = {}
    for split in ("valid", "test"):
        crops, kept = by_split[split]
        if len(crops) == 0:
            continue
        scores = _sigmoid(predict_logits(model, crops, spec, device=device) / temperature)
        metrics[split] = metrics_by_source([s.label for s in kept], scores, [s.source for s in kept])
    return temperature, metrics


def _source_aucs(per_source: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Validation ROC AUC of each source with at least MIN_SOURCE_CROPS crops of each class."""
    return {src: float(m["roc_auc"]) for src, m in per_source.items()
            if m["roc_auc"] is not None and min(m["n_real"], m["n_fake"]) >= MIN_SOURCE_CROPS}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _save_history(history: list[dict[str, float]], out: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(history)
    frame.to_csv(out.with_suffix(".history.csv"), index=False)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (key, label) in zip(axes, [("loss", "loss"), ("acc", "accuracy"), ("auc", "ROC AUC")]):
        for split in ("train", "valid"):
            column = f"{split}_{key}"
            if column in frame:
                ax.plot(frame["epoch"], frame[column], marker="o", label=split)
        if key == "auc":
            for column in (c for c in frame if c.startswith("valid_auc_")):
                ax.plot(frame["epoch"], frame[column], linestyle="--", label=column.removeprefix("valid_auc_"))
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".history.png"), dpi=90)
    plt.close(fig)


def train(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    cache_root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train ``config.model`` on DATA and write weights, card, splits and curves; return the card."""
    from rich.progress import Progress

    out = Path(out)
    torch.set_num_threads(config.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    spec = get_model_spec(config.model)
    policy = CropPolicy(size=spec.input_size, margin=config.margin)
    # built first: missing pretrained weights fail before minutes of face detection, and the
    # initialisation does not depend on whether the detector had to be created
    model = build_model(config.model, pretrained=config.pretrained).to(device, memory_format=torch.channels_last)
    if config.teacher:
        check_teacher(config.teacher, policy)

    samples = load_samples(data, config.sources or None, videos=config.video_frames > 0)
    if config.splits:
        samples = reuse_splits(samples, config.splits, data_base(data))
    samples = assign_splits(samples, seed=config.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_splits(samples, out.with_suffix(".splits.csv"), relative_to=data_base(data))
    cache = CropCache(policy, cache_root, video_frames=config.video_frames or 8)
    by_split, skipped_total = load_split_crops(samples, cache, log)
    train_x, train_s = by_split["train"]
    valid_x, valid_s = by_split["valid"]
    if len(train_x) == 0 or len(valid_x) == 0:
        raise ValueError("no face crops to train or validate on")
    if config.self_blend == "only":  # reals and pseudo-fakes alone: drop the real fakes
        keep = np.array([s.label == 0 for s in train_s])
        train_x, train_s = train_x[keep], [s for s, k in zip(train_s, keep) if k]
    train_y = np.array([s.label for s in train_s], np.float32)
    train_lm = cache.landmarks_of(train_s) if config.self_blend else None
    train_target = train_y
    teacher = Teacher(config.teacher, policy, device) if config.teacher else None
    tau = config.teacher_temperature
    if teacher is not None and config.teacher_view == "crop":
        log(f"teacher {Path(config.teacher).name}: scoring {len(train_x)} training crops")
        train_target = teacher.targets(train_x, tau)
    valid_y = np.array([s.label for s in valid_s])

    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_x) / config.batch_size)
    scheduler = lr_schedule(optimiser, config.epochs * steps_per_epoch, config.effective_warmup)
    augment = augmenter(config.seed, config.augment)
    rng = np.random.default_rng(config.seed)
    ckpt_path = out.with_suffix(".ckpt.pt")
    history: list[dict[str, float]] = []
    best = {"auc": -1.0, "epoch": -1, "state": None}
    start_epoch, steps = 0, 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True, map_location=device)
        settings = {k: v for k, v in asdict(config).items() if k not in _RUN_ONLY}
        if ckpt.get("settings") != repr(settings):
            raise ValueError(f"{ckpt_path} was made by a run with other settings; delete it to start afresh")
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, steps = int(ckpt["epoch"]) + 1, int(ckpt["steps"])
        best = {"auc": float(ckpt["best_auc"]), "epoch": int(ckpt["best_epoch"]), "state": ckpt["best_state"]}
        history = [dict(zip(ckpt["history_keys"], row)) for row in ckpt["history"].tolist()]
        rng = np.random.default_rng(config.seed + start_epoch)
        log(f"resuming from {ckpt_path} at epoch {start_epoch}")
    loss_fn = nn.BCEWithLogitsLoss()
    # building the face detector (only when crops are not cached yet) draws from torch's
    # generator: seed dropout here, so a run trains the same weights either way
    torch.manual_seed(config.seed + start_epoch)
    started = time.perf_counter()
    seen = 0
    for epoch in range(start_epoch, config.epochs):
        model.train()
        losses, correct, count = [], 0, 0
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps_per_epoch)
            for idx in _batches(len(train_x), config.batch_size, rng):
                pixels, labels, targets = train_x[idx], train_y[idx], train_target[idx]
                if config.self_blend:
                    share = 0.5 if config.self_blend == "only" else 0.25
                    pixels, labels = self_blend_batch(pixels, labels, policy, rng, share, train_lm[idx],
                                                      config.blend_regions, config.blend_degrade)
                    targets = labels
                crops = torch.from_numpy(pixels).permute(0, 3, 1, 2)
                if augment is not None:
                    crops = torch.stack([augment(c) for c in crops])
                view = crops.permute(0, 2, 3, 1)
                if teacher is not None and config.teacher_view == "augmented":
                    targets = teacher.targets(view.numpy(), tau)
                batch = crops_to_tensor(view, spec, device)
                target = torch.from_numpy(targets).to(device)
                with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                    logits = model(batch).float()
                loss = loss_fn(logits / tau, target) * tau**2  # tau is 1 without a teacher
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                scheduler.step()
                losses.append(loss.item())
                correct += int(((logits.detach() > 0).cpu().numpy() == (labels > 0.5)).sum())
                count += len(idx)
                seen += len(idx)
                steps += 1
                progress.advance(task)
                if config.max_steps and steps >= config.max_steps:
                    break
        valid_logits = predict_logits(model, valid_x, spec, device=device)
        valid = metrics_by_source(valid_y, _sigmoid(valid_logits), [s.source for s in valid_s])
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "train_acc": correct / max(count, 1),
               "valid_loss": valid["all"]["log_loss"], "valid_acc": valid["all"]["accuracy"],
               "valid_auc": valid["all"]["roc_auc"] or 0.0, "lr": scheduler.get_last_lr()[0]}
        per_source = _source_aucs(valid["per_source"])
        row.update({f"valid_auc_{src}": auc for src, auc in per_source.items()})
        row["valid_select"] = float(np.mean(list(per_source.values()))) \
            if config.select == "macro" and per_source else row["valid_auc"]
        history.append(row)
        by_source = "".join(f" {src} {auc:.3f}" for src, auc in per_source.items())
        log(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"valid loss {row['valid_loss']:.4f} acc {row['valid_acc']:.3f} AUC {row['valid_auc']:.4f}"
            + (f" |{by_source}" if len(per_source) > 1 else ""))
        if row["valid_select"] > best["auc"]:
            best = {"auc": row["valid_select"], "epoch": epoch + 1, "state": copy.deepcopy(model.state_dict())}
        keys = list(history[0])
        torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch, "steps": steps,
                    "best_auc": best["auc"], "best_epoch": best["epoch"], "best_state": best["state"],
                    "history_keys": keys,
                    "settings": repr({k: v for k, v in asdict(config).items()
                                      if k not in _RUN_ONLY}),
                    "history": torch.tensor([[r[k] for k in keys] for r in history], dtype=torch.float64)},
                   ckpt_path)
        if config.max_steps and steps >= config.max_steps:
            break
        if epoch + 1 - best["epoch"] >= config.patience:
            log(f"early stop: no better validation AUC for {config.patience} epochs")
            break
    train_seconds = time.perf_counter() - started
    model.load_state_dict(best["state"])
    _save_history(history, out)

    temperature, metrics = calibrate(model, by_split, spec, device)
    card = {
        "name": out.stem,
        "model": config.model,
        "input_size": spec.input_size,
        "normalization": {"mean": list(spec.mean), "std": list(spec.std), "grayscale": spec.grayscale,
                          "scale": "pixels / 255"},
        "crop_policy": policy.to_dict(),
        "crop_detector": {"detector": "facenet-pytorch MTCNN", **cache.detector_settings,
                          "face": "most probable face of each image"},
        "temperature": temperature,
        "threshold": 0.5,
        "training": {
            "data": str(data),
            "sources": sorted({s.source for s in samples}),
            "counts": split_counts(by_split, skipped_total),
            "config": dict(asdict(config), warmup=config.effective_warmup),
            "pretrained_sha256": sha256_file(config.pretrained)
            if config.pretrained and Path(config.pretrained).expanduser().is_file() else None,
            "teacher": {"file": Path(config.teacher).name, "sha256": sha256_file(config.teacher),
                        "view": config.teacher_view, "temperature": config.teacher_temperature}
            if config.teacher else None,
            "best_epoch": best["epoch"],
            "epochs_run": len(history),
            "train_seconds": round(train_seconds, 1),
            "train_images_per_s": round(seen / max(train_seconds, 1e-9), 1),
            "command": recorded_command(),
        },
        "metrics": metrics,
        "licence": "Trained on data for research use (FFHQ: CC BY-NC-SA 4.0; LFW, CIPLAB, FF++, DFDC: research use). "
                   "The weights inherit these terms: research and non-commercial use.",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "forensics_version": __version__,
    }
    card = save_weights(model, out, card)
    ckpt_path.unlink(missing_ok=True)
    return card
