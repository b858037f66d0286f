"""Ray Data stage 2: score the crops and finish each media on an actor, with the step every
engine shares (:func:`forensics.engines.base.score_and_finish`: score, aggregate, draw).

One actor holds one classifier with its weights, loaded once. Each call takes a batch of
extraction rows, scores all their crops together (``batch_size`` crops per forward pass),
and returns one result row per media: aggregation happens here, per media, with no
cluster-wide groupby. Thumbnails are written by this actor, to the scan's thumbnails folder.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forensics.config import ScanConfig
from forensics.engines.base import score_and_finish
from forensics.engines.columns import (
    batch_rows,
    result_to_row,
    row_to_extraction,
    rows_batch,
)
from forensics.engines.ray_extract import (
    attempts_started,
    died_too_often,
    enter_workdir,
    use_threads,
    worker_name,
)
from forensics.result import Extraction
from forensics.models.weights import WeightsError
from forensics.score import scorer_for


class ScoreStage:
    """Callable class for ``Dataset.map_batches``: extraction rows -> result rows.

    Args:
        config: the scan's configuration (model, weights, batch size, aggregation...).
        weights_sha256: sha256 of the weights the driver audited; an actor whose node holds
            other weights refuses to start (the report would be wrong).
        device: torch device of the classifier (``cpu`` or ``cuda``).
        threads: torch and OpenCV threads (the CPUs this actor reserved).
        workdir: the driver's working directory, for a relative thumbnails folder.
        attempts: the dataset's :class:`~forensics.engines.ray_extract.Attempts` actor (None: no limit).
        max_attempts: starts of one media allowed before it is an error row.
    """

    def __init__(self, config: ScanConfig, weights_sha256: str, device: str = "cpu", threads: int = 1,
                 workdir: str | None = None, attempts: Any = None, max_attempts: int = 4):
        use_threads(threads)
        enter_workdir(workdir)
        self.config = config
        self.scorer = scorer_for(config.scoring, device)
        if self.scorer.weights_sha256 != weights_sha256:
            raise WeightsError(
                f"weights {self.scorer.weights_path} on this node have sha256 {self.scorer.weights_sha256}, "
                f"but the scan was audited with {weights_sha256}: install the same weights on every node"
            )
        self.worker = worker_name()
        self.attempts, self.max_attempts = attempts, max_attempts

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = batch_rows(batch)
        media = [(row_to_extraction(row), 0.0) for row in rows]
        started = attempts_started(self.attempts, "score", [int(row["index"]) for row in rows])
        for k, attempt in enumerate(started):
            if attempt > self.max_attempts:  # this batch keeps killing its worker: give up on its media
                x = media[k][0]
                media[k] = (Extraction(item=x.item, sha256=x.sha256, size_bytes=x.size_bytes, info=x.info,
                                       error=died_too_often(attempt)), 0.0)
        out = []
        for row, result in zip(rows, score_and_finish(media, self.scorer, self.config)):
            line = result_to_row(int(row["index"]), result)
            line["extract_worker"] = str(row["extract_worker"])
            line["score_worker"] = self.worker
            line["score_note"] = self.scorer.runtime_note or ""
            out.append(line)
        return rows_batch(out)
