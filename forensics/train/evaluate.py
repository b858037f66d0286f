"""Evaluate trained weights on labelled data, per source, at image and at video level.

Images are scored on the face crop of their most probable face, made by the same
:class:`~forensics.train.data.CropCache` (same detector settings, same crop policy as the
model card) that training used, and scored with the card's temperature by
:class:`~forensics.score.FaceScorer`, the scan's own scorer. Videos are scanned by the scan
pipeline itself (:class:`forensics.engines.local.LocalEngine`: frame sampling, detection,
tracking and the configured aggregation), so their metrics are those of ``forensics scan``;
videos with status ``error`` or ``no_face`` are counted, never scored.

Which images: when the weights' folder holds ``<stem>.splits.csv`` (written by
``forensics train``) and DATA shares images with it, only the images of the chosen split
(default ``test``) are evaluated, plus images the split file does not list (never seen in
training, e.g. other sources of the manifest); so a model is never evaluated on the images
it was trained on. Without a split file, data that declares its own splits (``train/``,
``valid/``, ``test/`` folders or a manifest ``split`` column on every row) is restricted to
the chosen split; other data is evaluated whole. ``split="all"`` takes every image.

Metrics (:mod:`forensics.train.metrics`): accuracy, precision, recall, F1, balanced accuracy,
ROC AUC, average precision, EER, log loss, ECE and the confusion matrix at the card's
threshold, overall (``all``) and per source (``per_source``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from forensics import __version__
from forensics.media.discover import discover
from forensics.models.weights import Card
from forensics.train.data import (
    SPLITS,
    CropCache,
    Sample,
    data_base,
    load_samples,
    path_key,
    splits_file,
)
from forensics.train.metrics import metrics_by_source



def select_split(
    samples: Sequence[Sample],
    data: str | os.PathLike[str],
    weights: str | os.PathLike[str],
    split: str = "test",
    card: Card | None = None,
) -> tuple[list[Sample], dict[str, Any]]:
    """The images to evaluate and how they were chosen (see the module doc).

    Split-file paths are resolved against DATA's folder and against the training data the
    card records; the reading that shares more images with DATA wins.

    Returns:
        The chosen samples (their ``split`` filled from the split file when one applies) and a
        record: ``by`` (``"split file"``, ``"data splits"``, ``"all"``), ``split``, the split
        file's path and the counts of images kept and left out.
    """
    record: dict[str, Any] = {"split": split, "by": "all", "splits_file": None, "candidates": len(samples)}
    path = splits_file(weights)
    if path.exists():
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        bases = [data_base(data)]
        trained_on = card.get("training", {}).get("data") if card is not None else None
        if trained_on and Path(trained_on).exists():
            bases.append(data_base(trained_on))
        best: dict[str, str] = {}
        for base in bases:
            known = {path_key(base / p): s for p, s in zip(table["path"], table["split"])}
            if sum(path_key(s.path) in known for s in samples) > sum(path_key(s.path) in best for s in samples):
                best = known
        if best:
            chosen, left_out, unlisted = [], 0, 0
            for s in samples:
                listed = best.get(path_key(s.path))
                if listed is None:
                    unlisted += 1  # never seen by this training run
                    chosen.append(s)
                elif split == "all" or listed == split:
                    chosen.append(Sample(s.path, s.label, s.source, listed))
                else:
                    left_out += 1
            record.update(by="split file", splits_file=str(path), evaluated=len(chosen),
                          left_out_other_splits=left_out, not_in_splits_file=unlisted)
            return chosen, record
    if split != "all" and samples and all(s.split for s in samples):
        chosen = [s for s in samples if s.split == split]
        record.update(by="data splits", evaluated=len(chosen), left_out_other_splits=len(samples) - len(chosen))
        return chosen, record
    record.update(evaluated=len(samples), left_out_other_splits=0)
    return list(samples), record


def select_split_all(samples: Sequence[Sample], data: str | os.PathLike[str],
                     members: Sequence[tuple[str | os.PathLike[str], Card]],
                     split: str = "test") -> tuple[list[Sample], dict[str, Any]]:
    """:func:`select_split` for several models scoring together (a suite): a sample is kept
    only when every member keeps it, so that none is evaluated on what it trained on."""
    kept = None
    records = []
    for weights, card in members:
        chosen, record = select_split(samples, data, weights, split, card)
        keys = {path_key(s.path): s for s in chosen}
        kept = keys if kept is None else {k: v for k, v in kept.items() if k in keys}
        records.append(record)
    chosen = [s for s in samples if path_key(s.path) in (kept or {})]
    chosen = [kept[path_key(s.path)] for s in chosen]
    by = "all" if all(r["by"] == "all" for r in records) else "split files"
    return chosen, {"split": split, "by": by, "candidates": len(samples), "evaluated": len(chosen),
                    "left_out_other_splits": len(samples) - len(chosen), "members": records}


def _counts_by_source(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        here = out.setdefault(row["source"], {})
        here[row[key]] = here.get(row[key], 0) + 1
    return {source: dict(sorted(c.items())) for source, c in sorted(out.items())}


def _metrics(rows: Sequence[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    scored = [r for r in rows if r.get("score") is not None]
    if not scored:
        return None
    return metrics_by_source([r["label"] for r in scored], [r["score"] for r in scored],
                             [r["source"] for r in scored], threshold)


def evaluate_images(samples: Sequence[Sample], scorer, cache: CropCache, threshold: float,
                    progress: Callable[[int], None] | None = None, chunk: int = 256) -> dict[str, Any]:
    """Score the most probable face of each image, ``chunk`` images at a time (memory stays
    bounded); images without a detectable face (or unreadable) are counted, not scored."""
    rows = []
    for start in range(0, len(samples), chunk):
        crops, kept, skipped = cache.load(samples[start : start + chunk], progress)
        table = scorer.for_kind("image", scorer.score_by_family(crops))
        rows += [{"path": s.path, "label": s.label, "source": s.source, "split": s.split, "status": "ok",
                  "score": float(p[0]),
                  "family_scores": {f: float(v) for f, v in zip(scorer.families, p[1:]) if np.isfinite(v)}}
                 for s, p in zip(kept, table)]
        rows += [{"path": s.path, "label": s.label, "source": s.source, "split": s.split,
                  "status": "no_face", "score": None} for s in skipped]
    rows.sort(key=lambda r: r["path"])
    scored = sum(r["status"] == "ok" for r in rows)
    return {"counts": {"images": len(rows), "scored": scored, "no_face_or_unreadable": len(rows) - scored},
            "status_by_source": _counts_by_source(rows, "status"),
            "metrics": _metrics(rows, threshold), "rows": rows}


def evaluate_videos(videos: Sequence[Sample], weights: str | os.PathLike[str], threshold: float = 0.5,
                    frames: int = 32, device: str = "auto", threads: int | None = None, batch_size: int = 64,
                    progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Scan the videos with the scan pipeline (local engine) and score the media verdicts.

    ``weights`` are a model's (with its card) or a suite card; ``threshold`` is theirs (default
    0.5). Rows with status ``error`` or ``no_face`` are counted, not scored.
    """
    from forensics.config import ScanConfig
    from forensics.engines.local import LocalEngine

    config = ScanConfig(frames=frames, weights=str(weights), threshold=threshold, device=device, threads=threads,
                        batch_size=batch_size)
    engine = LocalEngine(config)
    by_path = {s.path: s for s in videos}
    items = discover([s.path for s in videos]).items

    def notify(event: str, n: int) -> None:
        if progress is not None and event == "media":
            progress(n)

    rows = []
    for result in engine.scan(items, progress=notify):
        sample = by_path[result.path]
        rows.append({"path": result.path, "label": sample.label, "source": sample.source, "split": sample.split,
                     "status": result.status, "score": result.score, "verdict": result.verdict,
                     "frames_sampled": result.frames_sampled, "faces_detected": result.faces_detected,
                     "tracks": result.tracks, "error": result.error,
                     # the evidence behind the score, so that other aggregations can be compared offline
                     "face_scores": [round(float(f.score), 6) for f in result.faces],
                     "face_tracks": [int(f.track_id) for f in result.faces],
                     "family": result.family, "family_scores": result.family_scores,
                     "family_face_scores": {k: [round(float(f.family_scores[k]), 6) for f in result.faces]
                                            for k in result.family_scores}})
    statuses = [r["status"] for r in rows]
    return {"counts": {"videos": len(rows), "ok": statuses.count("ok"), "no_face": statuses.count("no_face"),
                       "error": statuses.count("error")},
            "status_by_source": _counts_by_source(rows, "status"),
            "scan_config": config.to_dict(),
            "metrics": _metrics(rows, config.threshold), "rows": rows}


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: the weights (path, model, sha256, temperature,
    threshold, crop policy), what was chosen (``selection``, ``video_selection``), and per level
    (``images``, ``videos``; None when DATA has none) the metrics (``metrics.all``,
    ``metrics.per_source``), each media's row and the statuses by source. ``to_dict()`` is the
    JSON report that ``forensics evaluate --json`` writes."""

    weights: str
    model: str
    sha256: str
    temperature: float
    threshold: float
    crop_policy: dict[str, Any]
    data: str
    sources: list[str]
    selection: dict[str, Any]
    video_selection: dict[str, Any]
    images: dict[str, Any] | None = None
    videos: dict[str, Any] | None = None
    plots: list[str] = field(default_factory=list)
    created: str = ""
    forensics_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    data: str | os.PathLike[str],
    weights: str | os.PathLike[str],
    split: str = "test",
    sources: Sequence[str] | None = None,
    plots: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    frames: int = 32,
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 64,
    log: Callable[[str], None] = print,
) -> Evaluation:
    """Evaluate ``weights`` (a ``.safetensors`` file with its card, or a suite card) on DATA.

    Args:
        data: CSV manifest, folder with ``real/`` and ``fake/``, or one with ``train/``,
            ``valid/`` and ``test/`` (as for ``forensics train``).
        weights: the weights file; its card gives the model, crop policy, temperature and
            threshold.
        split: ``train``, ``valid``, ``test`` (default) or ``all``; see the module doc.
        sources: only rows of these manifest sources.
        plots: folder for the PNG plots; None draws none.
        cache_root: face-crop cache folder (default as :class:`CropCache`).
        frames: frames sampled per video (default 32, as ``forensics scan``).
        device: ``auto``, ``cpu`` or ``cuda`` for scoring (crops are detected on the CPU).
        threads: torch CPU threads (default: all cores this process may use).
        batch_size: crops per forward pass (default 64).

    Returns:
        The :class:`Evaluation` (its ``to_dict()`` is what ``--json`` writes).

    Raises:
        ValueError: bad arguments or no labelled media in DATA.
        WeightsError: weights missing, tampered with, or without a card.
    """
    import torch
    from rich.progress import Progress

    from forensics.config import available_cores
    from forensics.faces.detect import resolve_device
    from forensics.score import SuiteScorer, open_scorer

    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or all, got {split!r}")
    if not Path(data).exists():
        raise ValueError(f"{data}: no such file or folder")
    torch.set_num_threads(threads or available_cores())
    scorer = open_scorer(None, weights, resolve_device(device), batch_size)
    suite = isinstance(scorer, SuiteScorer)
    model, threshold = (f"suite: {scorer.card.name}" if suite else scorer.card.model), scorer.card.threshold
    chosen, videos, selection, video_selection = _select_media(scorer, data, weights, split, sources)
    if not chosen and not videos:
        raise ValueError(f"{data}: no labelled images or videos to evaluate (split {split!r})")
    log(f"evaluating {model} ({Path(weights).name}): {len(chosen)} images "
        f"({selection['by']}{', split ' + split if selection['by'] != 'all' else ''}), {len(videos)} videos")

    result = Evaluation(
        weights=str(weights), model=model, sha256=scorer.weights_sha256, temperature=scorer.temperature,
        threshold=threshold, crop_policy=scorer.crop_policy.to_dict(), data=str(data), sources=list(sources or []),
        selection=selection, video_selection=video_selection,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    cache = _crop_cache(scorer, cache_root)
    with Progress(transient=True) as progress:
        if chosen:
            task = progress.add_task("images", total=len(chosen))
            result.images = evaluate_images(chosen, scorer, cache, threshold, lambda n: progress.advance(task, n))
        if videos:
            task = progress.add_task("videos", total=len(videos))
            result.videos = evaluate_videos(videos, weights, threshold, frames, device, threads, batch_size,
                                               lambda n: progress.advance(task, n))
    if plots is not None:
        from forensics.train.plots import write_plots

        for prefix, part in (("", result.images), ("video-", result.videos)):
            if part is not None:
                result.plots += write_plots(part["rows"], plots, prefix, threshold)
    return result


def _select_media(scorer: Any, data: str | os.PathLike[str], weights: str | os.PathLike[str], split: str,
                  sources: Sequence[str] | None) -> tuple[list[Sample], list[Sample], dict[str, Any], dict[str, Any]]:
    """DATA's images and videos to evaluate, and how each was chosen (:func:`select_split`; for a
    suite, :func:`select_split_all` of its members). A split file of a run trained on videos
    holds them out as it holds out images."""
    from forensics.score import SuiteScorer

    media = load_samples(data, sources, kinds=("image", "video"))
    if isinstance(scorer, SuiteScorer):
        members = [(m.weights_path, m.card) for m in scorer.members]
        select = lambda group: select_split_all(group, data, members, split)  # noqa: E731
    else:
        select = lambda group: select_split(group, data, weights, split, scorer.card)  # noqa: E731
    (images, selection), (videos, video_selection) = (select([s for s in media if s.is_video == v])
                                                      for v in (False, True))
    return images, videos, selection, video_selection


def _crop_cache(scorer: Any, cache_root: str | os.PathLike[str] | None) -> CropCache:
    """The crops ``scorer``'s weights were trained on: their card's crop policy and detector
    settings (else the scan's); a suite's members share them."""
    from forensics.score import SuiteScorer

    card = scorer.members[0].card if isinstance(scorer, SuiteScorer) else scorer.card
    detector = card.get("crop_detector", {})
    return CropCache(card.crop_policy, cache_root,
                     **{k: detector[k] for k in ("detect_size", "min_prob", "min_face_px") if k in detector})
