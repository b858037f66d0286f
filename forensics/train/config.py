"""The settings of a training run (``forensics train``), and their validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from forensics.faces.align import CropPolicy

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

BALANCES: tuple[str, ...] = ("none", "source")
"""How an epoch draws its crops: each once, or each (source, label) group alike."""

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
        input_size: side of the square crops trained on and later scanned at, pixels
            (default: the architecture's native size). Only for architectures that pool
            globally (the EfficientNets, ResNets, DenseNets); the card records it.
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
        blend_swap: probability that a pseudo-fake pastes another real training face (aligned
            on the five landmarks, colour-matched) instead of the crop's own: a face swap
            between two real people, as Face X-ray's blended images. Default 0 (self-blends).
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
        views: make this many views of the training set ahead, before the first epoch, with
            every core (pseudo-fakes and augmentations; see :mod:`forensics.train.views`):
            epoch e trains on view e mod ``views`` and the step has the CPU to itself. 0 (the
            default) makes them on the fly at every step.
        balance: ``"none"`` (the default: every training crop once an epoch) or ``"source"``:
            an epoch draws as many crops, with replacement, each (source, label) group as
            likely as any other, so that a source with many videos does not decide alone.
        freeze: keep the stem and the first ``freeze`` stages of the network as they start
            (timm EfficientNets only; see :func:`forensics.models.pretrained.freeze_stages`):
            3 makes a Lite0 step on a 2-core CPU about 1.8 times faster. 0 (the default)
            trains every layer.
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
    input_size: int | None = None
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
    blend_swap: float = 0.0
    video_frames: int = 0
    teacher: str | None = None
    teacher_view: str = "crop"
    teacher_temperature: float = 1.0
    views: int = 0
    balance: str = "none"
    freeze: int = 0

    def __post_init__(self) -> None:
        from forensics.models import get_model_spec

        spec = get_model_spec(self.model)  # raises ValueError on an unknown model
        if self.pretrained is not None and not spec.accepts_pretrained:
            raise ValueError(f"--pretrained: model {self.model!r} trains from scratch; "
                             "pretrained weights exist for the torchvision/timm models only")
        if self.self_blend not in (None, "mix", "only"):
            raise ValueError(f"--self-blend takes mix or only, not {self.self_blend!r}")
        for option, path in (("--splits", self.splits), ("--teacher", self.teacher)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{option} {path}: no such file")
        self.augment = tuple(self.augment)
        check_augmentations(self.augment)
        self.blend_regions = tuple(self.blend_regions)
        if self.self_blend:
            from forensics.train.sbi import SelfBlend

            SelfBlend(CropPolicy(), self.blend_regions, self.blend_degrade, self.blend_swap)  # raises on bad settings
        if self.warmup is not None and not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), not {self.warmup}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, not {self.select!r}")
        if self.teacher and self.self_blend:
            raise ValueError("a teacher has no score for self-blended pseudo-fakes: use --teacher or --self-blend, not both")
        if self.teacher_view not in TEACHER_VIEWS:
            raise ValueError(f"teacher_view must be one of {', '.join(TEACHER_VIEWS)}, not {self.teacher_view!r}")
        if self.balance not in BALANCES:
            raise ValueError(f"balance must be one of {', '.join(BALANCES)}, not {self.balance!r}")
        if self.freeze < 0:
            raise ValueError(f"freeze is a number of stages, 0 or more, not {self.freeze}")
        if self.views < 0:
            raise ValueError(f"views must be 0 (made on the fly) or more, not {self.views}")
        if not self.teacher_temperature > 0:
            raise ValueError(f"teacher_temperature must be above 0, not {self.teacher_temperature}")

    @property
    def effective_warmup(self) -> float:
        """The warmup fraction this run uses (see ``warmup``)."""
        if self.warmup is not None:
            return self.warmup
        return 0.1 if self.pretrained else 0.0


RUN_ONLY = ("epochs", "threads", "device", "max_steps")
"""TrainConfig fields that a resumed run may change: they do not change what is learnt."""


def parse_augmentations(text: str) -> tuple[str, ...]:
    """The augmentations a comma-separated list names (``all``: :data:`AUGMENTATIONS`; ``none``
    or empty: none), checked (:func:`check_augmentations`)."""
    text = text.strip()
    if text in ("", "none"):
        return ()
    kinds = AUGMENTATIONS if text == "all" else tuple(k.strip() for k in text.split(",") if k.strip())
    check_augmentations(kinds)
    return kinds


def check_augmentations(kinds: Sequence[str]) -> None:
    """Raise ValueError on an augmentation name not in :data:`AUGMENTATIONS`."""
    unknown = sorted(set(kinds) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
