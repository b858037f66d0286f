"""Combine trained weights into one ensemble file.

The members must share an architecture, a crop policy and a split (train them with the same
split file or manifest and different ``--seed``s), so that every member's held-out images are
held out from all of them. The ensemble scores a crop by the mean of its members' logits,
optionally each averaged over the crop and its mirror (``tta="hflip"``); its temperature is
refitted on the shared validation split and its metrics measured on the shared test split.
The result is one ``.safetensors`` file with a card, a split file beside it, and loads like
any other weights (:func:`forensics.models.weights.load_weights`).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from forensics import __version__
from forensics.faces.detect import resolve_device
from forensics.models.ensemble import LogitMean, with_tta
from forensics.models.registry import get_model_spec
from forensics.models.weights import (
    Card,
    load_weights,
    recorded_command,
    save_weights,
    to_device,
)
from forensics.train.calibrate import calibrate
from forensics.train.data import (
    CropCache,
    Sample,
    data_base,
    load_split_crops,
    read_splits,
    save_splits,
    split_counts,
    splits_file,
)

_SHARED = ("model", "input_size", "normalization", "crop_policy", "crop_detector")
"""Card fields the members must agree on."""


def _common_split(paths: Sequence[Path], cards: Sequence[Card], data: str | os.PathLike[str] | None
                  ) -> tuple[list[Sample], str]:
    """The split the members share (its samples, and the data it is relative to).

    Raises:
        ValueError: a member is an ensemble or scores with test-time augmentation, differs from the
            first in one of :data:`_SHARED`, or was trained on another split.
    """
    for path, card in zip(paths, cards):
        if card.members or card.tta != "none":
            raise ValueError(f"{path} is already an ensemble or scores with test-time augmentation; combine its members")
        for key in _SHARED:
            if card.to_dict().get(key) != cards[0].to_dict().get(key):
                raise ValueError(f"{path} differs from {paths[0]} in {key}: members must share "
                                 f"{', '.join(_SHARED)}")
    splits = [_member_split(p, c, data) for p, c in zip(paths, cards)]
    samples, trained_on = splits[0]
    assignment = {(s.path, s.split) for s in samples}
    for path, (other, _) in zip(paths[1:], splits[1:]):
        if {(s.path, s.split) for s in other} != assignment:
            raise ValueError(f"{path} was trained on another split than {paths[0]}: its held-out images "
                             "would not be held out from both; train the members on one split file")
    return samples, trained_on


def _card(out: Path, paths: Sequence[Path], cards: Sequence[Card], tta: str, temperature: float,
          metrics: dict[str, Any], trained_on: str, held_out_counts: dict[str, Any]) -> dict[str, Any]:
    """The ensemble's model card: the members' shared fields, each member, their training."""
    first = cards[0].to_dict()
    trainings = [c.get("training", {}) for c in cards]
    return {
        "name": out.stem,
        **{key: first[key] for key in _SHARED if key in first},
        "temperature": temperature,
        "threshold": first.get("threshold", 0.5),
        "tta": tta,
        "ensemble": {
            "combine": "mean of the members' logits" + (", each the mean over the crop and its mirror" if tta == "hflip" else ""),
            "members": [{"file": p.name, "sha256": c.sha256, "seed": t.get("config", {}).get("seed"),
                         "best_epoch": t.get("best_epoch"),
                         "test_roc_auc": {src: m.get("roc_auc") for src, m in
                                          c.get("metrics", {}).get("test", {}).get("per_source", {}).items()},
                         "command": t.get("command")}
                        for p, c, t in zip(paths, cards, trainings)],
        },
        "training": {
            "data": trained_on,
            "sources": trainings[0].get("sources"),
            "counts": {"train": trainings[0].get("counts", {}).get("train"), **held_out_counts},
            "config": trainings[0].get("config"),
            "train_seconds": round(sum(t.get("train_seconds") or 0.0 for t in trainings), 1),
            "train_images_per_s": trainings[0].get("train_images_per_s"),
            "command": recorded_command(),
        },
        "metrics": metrics,
        "licence": first.get("licence"),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "forensics_version": __version__,
    }


def _member_split(weights: Path, card: Card, data: str | os.PathLike[str] | None) -> tuple[list[Sample], str]:
    """The member's samples with their splits, and the training data its split file is
    relative to: the one its card records, else ``data``, whichever holds the images."""
    path = splits_file(weights)
    if not path.exists():
        raise ValueError(f"{weights}: no split file beside it ({path.name}); the ensemble is measured on the members' split")
    candidates = [c for c in (card.get("training", {}).get("data"), data) if c]
    for candidate in candidates:
        base = data_base(candidate)
        samples = read_splits(path, base)
        if samples and Path(samples[0].path).exists():
            return samples, str(candidate)
    raise ValueError(f"{weights}: the images of its split file are not under "
                     f"{' or '.join(str(data_base(c)) for c in candidates) or 'any folder given'}; pass --data")


def ensemble(
    members: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    tta: str = "none",
    data: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write the ensemble of ``members`` (weights files with cards and split files) to ``out``.

    Args:
        members: weights files trained by ``forensics train`` (not ensembles themselves).
        out: the ensemble's ``.safetensors``; its card and ``.splits.csv`` go beside it.
        tta: test-time augmentation, ``none`` (default) or ``hflip``.
        data: where the training images lie when a member's card records a path that does
            not resolve from here (the folder or manifest its split file is relative to).
        cache_root: face-crop cache folder (default as :class:`CropCache`).
        device: ``auto``, ``cpu`` or ``cuda`` for scoring.
        threads: torch CPU threads (default: all cores this process may use).

    Returns:
        The ensemble's card.

    Raises:
        ValueError: members that disagree on architecture, crop policy or split, or are
            ensembles themselves; an unknown ``tta``.
        WeightsError: a member's weights are missing or do not match their card.
    """
    from forensics.config import available_cores

    if not members:
        raise ValueError("name at least one member")
    torch.set_num_threads(threads or available_cores())
    paths = [Path(m) for m in members]
    cards = [Card.read(p) for p in paths]
    samples, trained_on = _common_split(paths, cards, data)
    networks = [load_weights(p)[0] for p in paths]  # checks every sha256

    spec = get_model_spec(cards[0].model)
    torch_device = resolve_device(device)
    combined = LogitMean(networks)
    scorer = to_device(with_tta(combined, tta), torch_device)
    # the members' cards already count the shared train split: only the held-out crops are read
    by_split, skipped = load_split_crops(samples, CropCache(cards[0].crop_policy, cache_root), log,
                                         splits=("valid", "test"))
    temperature, metrics = calibrate(scorer, by_split, spec, torch_device)

    out = Path(out)
    card = _card(out, paths, cards, tta, temperature, metrics, trained_on, split_counts(by_split, skipped))
    card = save_weights(combined, out, card)
    save_splits(samples, out.with_suffix(".splits.csv"), relative_to=data_base(trained_on))
    return card

