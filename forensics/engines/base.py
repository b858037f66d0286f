"""What an engine is, and the steps every engine shares.

An engine turns media items into results: :class:`~forensics.engines.local.LocalEngine` in
this process, :class:`~forensics.engines.ray.RayEngine` on a Ray cluster. Both compose the
stages of :mod:`forensics.pipeline` (open frames -> extract -> score -> finish) and end every
media with :func:`score_and_finish`, so that they give the same rows and contain faults the
same way: whatever fails on one media (decoding, detection, cropping, tracking, scoring,
aggregation, drawing) becomes that media's ``error`` row or warning, and only a broken model
(:class:`~forensics.score.BrokenModelError`) stops a scan.
"""

from __future__ import annotations

import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    Protocol,
    Sequence,
    runtime_checkable,
)

import numpy as np

from forensics.config import Evidence, ScanConfig
from forensics.media.discover import MediaItem
from forensics.media.storage import staged_folder
from forensics.pipeline import finish, score_extractions, stage_error
from forensics.report.evidence import Heatmapper, write_evidence
from forensics.report.thumbnails import write_thumbnail
from forensics.result import Extraction, MediaResult

if TYPE_CHECKING:
    from forensics.score import Scorer

ProgressCallback = Callable[[str, int], None]
"""``progress(event, count)``: ``"frames"`` decoded or ``"media"`` finished, as they happen."""


@runtime_checkable
class Engine(Protocol):
    """A scan's models, loaded once, and the means to run them over media items."""

    def audit(self) -> dict[str, Any]:
        """What the report's metadata records about the models (name, weights and sha256, crop policy, device)."""
        ...

    def notes(self) -> list[str]:
        """What the user should know about how the models run (e.g. why ONNX Runtime is not used)."""
        ...

    def scan(self, items: Iterable[MediaItem], progress: ProgressCallback | None = None,
             ordered: bool = True) -> Iterator[MediaResult]:
        """One result per item, in input order; with ``ordered=False``, as each finishes (an
        engine that finishes media out of order need not hold finished ones back)."""
        ...

    def close(self) -> None:
        """Release what the engine holds (worker processes, a Ray connection)."""
        ...


def write_pictures(result: MediaResult, extraction: Extraction, scores: np.ndarray | None, evidence: Evidence,
                   heatmapper: Heatmapper | None = None) -> None:
    """Draw the media's thumbnail and keep its most fake crops (and their heatmaps when
    ``evidence.heatmaps``) in ``evidence.thumbnails``; sets ``result.thumbnail``. A picture that
    cannot be written or drawn is a warning of the result: it never loses the verdict."""
    if not evidence.thumbnails:
        return
    scores = np.zeros(0) if scores is None else np.asarray(scores, np.float64)
    try:
        # a bucket's pictures are drawn in a temporary folder, then uploaded
        with staged_folder(evidence.thumbnails) as (folder, published):
            thumbnail = write_thumbnail(extraction, scores, folder, evidence.threshold)
            if len(scores) and evidence.evidence_faces and extraction.sha256 is not None:
                result.warnings += write_evidence(extraction.crops, scores, extraction.sha256, folder,
                                                  evidence.evidence_faces, heatmapper if evidence.heatmaps else None)
        result.thumbnail = None if thumbnail is None else published(thumbnail)
    except OSError as exc:  # a full disk or a denied bucket must not lose the verdict
        result.warnings.append(f"thumbnail not written: {exc.strerror or exc}")
    except Exception as exc:  # nor a picture that cannot be drawn
        result.warnings.append(str(stage_error("thumbnail drawing", exc)))


def score_and_finish(waiting: Sequence[tuple[Extraction, float]], scorer: "Scorer",
                     config: ScanConfig) -> list[MediaResult]:
    """Score the crops of several extracted media in one pass, then finish each, in order:
    aggregate (:func:`forensics.pipeline.finish`) and draw its pictures.

    ``waiting`` pairs each extraction with the seconds already spent on it; the pass's time is
    shared out by crop count. A media whose crops the scorer rejects, or whose aggregation
    fails, is an ``error`` row naming the stage; the others are unaffected.

    Raises:
        BrokenModelError: the classifier gave a score that is not a number.
    """
    started = time.perf_counter()
    scores = score_extractions(scorer, [x for x, _ in waiting])
    score_s = time.perf_counter() - started
    total = max(1, sum(len(s) for s in scores.values() if s is not None))
    results = []
    for x, elapsed in waiting:
        started = time.perf_counter()
        mine = scores.get(id(x))
        elapsed += score_s * (len(mine) if mine is not None else 0) / total
        try:
            if mine is not None:
                mine = scorer.for_kind(x.item.kind, mine)
            result = finish(x, mine, config.aggregation, elapsed, scorer.families)
        except Exception as exc:  # a bug on one media must not stop the others
            failed = Extraction(item=x.item, sha256=x.sha256, size_bytes=x.size_bytes, info=x.info,
                                error=str(stage_error("finishing", exc)), elapsed_s=x.elapsed_s,
                                provenance=x.provenance)
            result = finish(failed, None, config.aggregation, elapsed)
        if result.status != "error":
            write_pictures(result, x, None if mine is None else mine[:, 0], config.evidence, scorer.heatmaps)
        result.elapsed_s += time.perf_counter() - started
        results.append(result)
    return results
