"""Train a registered model on cached face crops; keep the best epoch by validation ROC AUC.

As torchvision's reference scripts: :func:`train_one_epoch` runs the optimiser over the
training crops once, :func:`validate` scores the validation crops, and :func:`train` ties
them together (data, schedule, checkpoints, calibration, the model card). The settings are
:class:`forensics.train.config.TrainConfig`; augmentation and self-blending are in
:mod:`forensics.train.augment`, distillation in :mod:`forensics.train.distill`, temperature
scaling in :mod:`forensics.train.calibrate`, checkpoints and curves in
:mod:`forensics.train.checkpoint`.

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from forensics import __version__
from forensics.media.storage import file_sha256
from forensics.faces.align import CropPolicy
from forensics.faces.detect import resolve_device
from forensics.models.registry import (
    ModelSpec,
    build_model,
    crops_to_tensor,
    get_model_spec,
)
from forensics.models.pretrained import freeze_stages
from forensics.models.weights import Card, recorded_command, save_weights
from forensics.train.augment import augmenter, self_blend_batch
from forensics.train.calibrate import (
    batches,
    calibrate,
    predict_logits,
    sigmoid,
)
from forensics.train.checkpoint import Progress, resume, save_checkpoint, save_history
from forensics.train.config import MIN_SOURCE_CROPS, TrainConfig
from forensics.train.data import (
    CropCache,
    CropsBySplit,
    Sample,
    assign_splits,
    data_base,
    load_samples,
    load_split_crops,
    reuse_splits,
    save_splits,
    source_weights,
    split_counts,
)
from forensics.train.distill import Teacher, check_teacher
from forensics.train.views import Views, make_views, recipe_of, view_of_epoch
from forensics.train.metrics import metrics_by_source


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


def _source_aucs(per_source: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Validation ROC AUC of each source with at least MIN_SOURCE_CROPS crops of each class."""
    return {src: float(m["roc_auc"]) for src, m in per_source.items()
            if m["roc_auc"] is not None and min(m["n_real"], m["n_fake"]) >= MIN_SOURCE_CROPS}


@dataclass
class TrainingSet:
    """The training split as the optimiser draws from it: ``uint8`` crops (n, S, S, 3), their
    labels (1 fake), the targets the loss aims at (the labels, or a teacher's soft scores) and,
    when self-blending, each crop's five landmarks (n, 5, 2; NaN where unknown); ``views``: the
    pseudo-fakes and augmentations made ahead (:mod:`forensics.train.views`), when asked for;
    ``weights``: each crop's chance to be drawn, when sources are balanced (None: every crop once an epoch)."""

    crops: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    landmarks: np.ndarray | None = None
    views: Views | None = None
    weights: np.ndarray | None = None


@dataclass
class EpochResult:
    """What one pass over the training crops did: mean loss, accuracy, crops seen, steps taken
    (in all, since the run began) and whether ``max_steps`` stopped it."""

    loss: float
    accuracy: float
    crops: int
    steps: int
    stopped: bool = False


@dataclass
class TrainResult:
    """What :func:`train` wrote: the weights file, its model card, and one row of the
    training curves per epoch (``train_loss``, ``valid_auc``...)."""

    weights: Path
    card: Card
    history: list[dict[str, float]]

    @property
    def best_epoch(self) -> int:
        return int(self.card.get("training")["best_epoch"])


def train_one_epoch(model: nn.Module, optimiser: torch.optim.Optimizer, scheduler, data: TrainingSet,
                    config: TrainConfig, policy: CropPolicy, spec: ModelSpec, device: torch.device,
                    rng: np.random.Generator, augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    teacher: Teacher | None = None, steps: int = 0, title: str = "epoch", epoch: int = 0) -> EpochResult:
    """One pass over ``data`` in batches of ``config.batch_size`` shuffled by ``rng``: self-blend
    a share of the real crops (``config.self_blend``), augment, ask the teacher for targets when
    it scores the augmented view, take one optimiser and scheduler step per batch.

    With views made ahead (``data.views``), epoch ``epoch`` (from 0) reads its view instead of
    self-blending and augmenting. ``steps`` is the number of steps before this epoch; the pass
    stops early at ``config.max_steps``."""
    from rich.progress import Progress

    loss_fn = nn.BCEWithLogitsLoss()
    tau = config.teacher_temperature
    model.train()
    losses, correct, count = [], 0, 0
    stopped = False
    steps_per_epoch = math.ceil(len(data.crops) / config.batch_size)
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(title, total=steps_per_epoch)
        if data.weights is None:
            order = batches(len(data.crops), config.batch_size, rng)
        else:  # as many draws as crops, with replacement, each source weighing alike
            drawn = rng.choice(len(data.crops), len(data.crops), p=data.weights / data.weights.sum())
            order = [drawn[i : i + config.batch_size] for i in range(0, len(drawn), config.batch_size)]
        for idx in order:
            if data.views is not None:
                view_crops, view_labels = view_of_epoch(data.views, epoch)
                idx = np.sort(idx)  # memory-mapped rows read in order; the batch is the same set
                crops = torch.from_numpy(np.asarray(view_crops[idx])).permute(0, 3, 1, 2)
                labels = view_labels[idx]
                targets = labels if config.self_blend else data.targets[idx]
            else:
                pixels, labels, targets = data.crops[idx], data.labels[idx], data.targets[idx]
                if config.self_blend:
                    share = 0.5 if config.self_blend == "only" else 0.25
                    pixels, labels = self_blend_batch(pixels, labels, policy, rng, share, data.landmarks[idx],
                                                      config.blend_regions, config.blend_degrade, config.blend_swap)
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
            steps += 1
            progress.advance(task)
            if config.max_steps and steps >= config.max_steps:
                stopped = True
                break
    return EpochResult(float(np.mean(losses)), correct / max(count, 1), count, steps, stopped)


def validate(model: nn.Module, crops: np.ndarray, samples: Sequence[Sample], spec: ModelSpec,
             device: torch.device, select: str = "pooled") -> dict[str, float]:
    """The validation columns of a history row: ``valid_loss``, ``valid_acc``, ``valid_auc``,
    ``valid_auc_<source>`` (sources with enough crops of each class) and ``valid_select`` (the
    figure that picks the best epoch: the pooled AUC, or with ``select="macro"`` the mean of
    the per-source ones)."""
    labels = np.array([s.label for s in samples])
    valid = metrics_by_source(labels, sigmoid(predict_logits(model, crops, spec, device=device)),
                              [s.source for s in samples])
    row = {"valid_loss": valid["all"]["log_loss"], "valid_acc": valid["all"]["accuracy"],
           "valid_auc": valid["all"]["roc_auc"] or 0.0}
    per_source = _source_aucs(valid["per_source"])
    row.update({f"valid_auc_{src}": auc for src, auc in per_source.items()})
    row["valid_select"] = float(np.mean(list(per_source.values()))) if select == "macro" and per_source \
        else row["valid_auc"]
    return row


def _training_set(by_split: CropsBySplit, config: TrainConfig, cache: CropCache, teacher: Teacher | None,
                  log: Callable[[str], None]) -> TrainingSet:
    crops, samples = by_split["train"]
    if config.self_blend == "only":  # reals and pseudo-fakes alone: drop the real fakes
        keep = np.array([s.label == 0 for s in samples])
        crops, samples = crops[keep], [s for s, k in zip(samples, keep) if k]
    labels = np.array([s.label for s in samples], np.float32)
    targets = labels
    if teacher is not None and config.teacher_view == "crop":
        log(f"teacher {Path(config.teacher).name}: scoring {len(crops)} training crops")
        targets = teacher.targets(crops, config.teacher_temperature)
    weights = source_weights(labels, [s.source for s in samples]) if config.balance == "source" else None
    return TrainingSet(crops, labels, targets, cache.landmarks_of(samples) if config.self_blend else None,
                       weights=weights)


def _check_input_size(model: nn.Module, size: int, name: str, native: int, device: torch.device) -> None:
    """Raise ValueError unless ``model`` takes ``size``-pixel crops (one dummy forward pass)."""
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=device))
    except RuntimeError:
        raise ValueError(f"--input-size {size}: model {name} takes only {native}-pixel crops") from None
    finally:
        model.train()


def train(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    cache_root: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train ``config.model`` on DATA and write weights, card, splits and curves.

    Raises:
        ValueError: no crops to train or validate on, a checkpoint of a run with other
            settings, a teacher made for other crops, bad data.
    """
    out = Path(out)
    torch.set_num_threads(config.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    spec = get_model_spec(config.model)
    policy = CropPolicy(size=config.input_size or spec.input_size, margin=config.margin)
    # built first: missing pretrained weights fail before minutes of face detection, and the
    # initialisation does not depend on whether the detector had to be created
    model = build_model(config.model, pretrained=config.pretrained).to(device, memory_format=torch.channels_last)
    if policy.size != spec.input_size:
        _check_input_size(model, policy.size, config.model, spec.input_size, device)
    if config.freeze:
        freeze_stages(model, config.freeze)
    if config.teacher:
        check_teacher(config.teacher, policy)
    samples, cache, by_split, skipped_total = _split_crops(data, out, config, policy, cache_root, log)
    teacher = Teacher(config.teacher, policy, device) if config.teacher else None
    training_set = _training_set(by_split, config, cache, teacher, log)
    if config.views:
        training_set.views = make_views(training_set.crops, training_set.labels, training_set.landmarks,
                                        recipe_of(config, policy), config.views, workers=config.threads, log=log,
                                        root=Path(cache_root) / "views" if cache_root else None)
    started = time.perf_counter()
    progress, seen = _epochs(model, training_set, by_split["valid"], config, policy, spec, device, teacher,
                             out.with_suffix(".ckpt.pt"), log)
    train_seconds = time.perf_counter() - started
    model.load_state_dict(progress.best["state"])
    save_history(progress.history, out)
    temperature, metrics = calibrate(model, by_split, spec, device)
    run = {"sources": sorted({s.source for s in samples}), "counts": split_counts(by_split, skipped_total),
           "best_epoch": progress.best["epoch"], "epochs_run": len(progress.history),
           "train_seconds": round(train_seconds, 1), "train_images_per_s": round(seen / max(train_seconds, 1e-9), 1)}
    card = save_weights(model, out, _card(out, data, config, spec, policy, cache, temperature, metrics, run))
    out.with_suffix(".ckpt.pt").unlink(missing_ok=True)
    return TrainResult(out, card, progress.history)


def _split_crops(data: str | os.PathLike[str], out: Path, config: TrainConfig, policy: CropPolicy,
                 cache_root: str | os.PathLike[str] | None, log: Callable[[str], None],
                 ) -> tuple[list[Sample], CropCache, CropsBySplit, dict[str, int]]:
    """DATA's samples assigned to splits (written beside ``out``), and each split's face crops."""
    samples = load_samples(data, config.sources or None,
                           kinds=("image", "video") if config.video_frames > 0 else ("image",))
    if config.splits:
        samples = reuse_splits(samples, config.splits, data_base(data))
    samples = assign_splits(samples, seed=config.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_splits(samples, out.with_suffix(".splits.csv"), relative_to=data_base(data))
    cache = CropCache(policy, cache_root, video_frames=config.video_frames or 8)
    by_split, skipped_total = load_split_crops(samples, cache, log)
    if len(by_split["train"][0]) == 0 or len(by_split["valid"][0]) == 0:
        raise ValueError("no face crops to train or validate on")
    return samples, cache, by_split, skipped_total


def _epochs(model: nn.Module, training_set: TrainingSet, valid: tuple[np.ndarray, list[Sample]], config: TrainConfig,
            policy: CropPolicy, spec: ModelSpec, device: torch.device, teacher: Teacher | None, ckpt_path: Path,
            log: Callable[[str], None]) -> tuple[Progress, int]:
    """Train epoch after epoch (resuming from ``ckpt_path`` where it exists, checkpointing after
    each) until ``config.epochs``, ``max_steps`` or ``patience`` stops it; the progress, with the
    best epoch's weights, and the crops seen by this call."""
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(training_set.crops) / config.batch_size)
    scheduler = lr_schedule(optimiser, config.epochs * steps_per_epoch, config.effective_warmup)
    augment = augmenter(config.seed, config.augment)
    progress = resume(ckpt_path, model, optimiser, scheduler, config, device)
    if progress is None:
        progress, rng = Progress(), np.random.default_rng(config.seed)
    else:
        rng = np.random.default_rng(config.seed + progress.start_epoch)
        log(f"resuming from {ckpt_path} at epoch {progress.start_epoch}")
    # building the face detector (only when crops are not cached yet) draws from torch's
    # generator: seed dropout here, so a run trains the same weights either way
    torch.manual_seed(config.seed + progress.start_epoch)
    seen = 0
    for epoch in range(progress.start_epoch, config.epochs):
        done = train_one_epoch(model, optimiser, scheduler, training_set, config, policy, spec, device, rng,
                               augment, teacher, progress.steps, f"epoch {epoch + 1}/{config.epochs}", epoch)
        progress.steps, seen = done.steps, seen + done.crops
        row = {"epoch": epoch + 1, "train_loss": done.loss, "train_acc": done.accuracy}
        checked = validate(model, *valid, spec, device, config.select)
        row.update({k: checked[k] for k in ("valid_loss", "valid_acc", "valid_auc")}, lr=scheduler.get_last_lr()[0])
        row.update({k: v for k, v in checked.items() if k not in row})
        progress.history.append(row)
        per_source = {k.removeprefix("valid_auc_"): v for k, v in row.items() if k.startswith("valid_auc_")}
        by_source = "".join(f" {src} {auc:.3f}" for src, auc in per_source.items())
        log(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"valid loss {row['valid_loss']:.4f} acc {row['valid_acc']:.3f} AUC {row['valid_auc']:.4f}"
            + (f" |{by_source}" if len(per_source) > 1 else ""))
        if row["valid_select"] > progress.best["auc"]:
            progress.best = {"auc": row["valid_select"], "epoch": epoch + 1, "state": copy.deepcopy(model.state_dict())}
        save_checkpoint(ckpt_path, model, optimiser, scheduler, config, epoch, progress)
        if done.stopped:
            break
        if epoch + 1 - progress.best["epoch"] >= config.patience:
            log(f"early stop: no better validation AUC for {config.patience} epochs")
            break
    return progress, seen


def _card(out: Path, data: str | os.PathLike[str], config: TrainConfig, spec: ModelSpec, policy: CropPolicy,
          cache: CropCache, temperature: float, metrics: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The model card of a trained network (``run``: what the run did, recorded under ``training``)."""
    return {
        "name": out.stem,
        "model": config.model,
        "input_size": policy.size,
        "normalization": {"mean": list(spec.mean), "std": list(spec.std), "grayscale": spec.grayscale,
                          "scale": "pixels / 255"},
        "crop_policy": policy.to_dict(),
        "crop_detector": {"detector": "facenet-pytorch MTCNN", **cache.detector_settings,
                          "face": "most probable face of each image"},
        "temperature": temperature,
        "threshold": 0.5,
        "training": {
            "data": str(data),
            "sources": run["sources"],
            "counts": run["counts"],
            "config": dict(asdict(config), warmup=config.effective_warmup),
            "pretrained_sha256": file_sha256(config.pretrained)
            if config.pretrained and Path(config.pretrained).expanduser().is_file() else None,
            "teacher": {"file": Path(config.teacher).name, "sha256": file_sha256(config.teacher),
                        "view": config.teacher_view, "temperature": config.teacher_temperature}
            if config.teacher else None,
            **{k: run[k] for k in ("best_epoch", "epochs_run", "train_seconds", "train_images_per_s")},
            "command": recorded_command(),
        },
        "metrics": metrics,
        "licence": "Trained on data for research use (FFHQ: CC BY-NC-SA 4.0; LFW, CIPLAB, FF++, DFDC: research use). "
                   "The weights inherit these terms: research and non-commercial use.",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "forensics_version": __version__,
    }
