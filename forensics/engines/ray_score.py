"""Ray Data stage 2: score the crops (``FaceScorer.score``) and finish each media
(``pipeline.finish``: aggregate, thumbnail, report row) on an actor.

One actor holds one classifier with its weights, loaded once. Each call takes a batch of
extraction rows, scores all their crops together (``batch_size`` crops per forward pass),
and returns one result row per media: aggregation happens here, per media, with no
cluster-wide groupby. Thumbnails are written by this actor, to the scan's thumbnails folder.
"""

from __future__ import annotations

import time

import numpy as np

from forensics.config import ScanConfig
from forensics.engines.columns import batch_rows, result_to_row, row_to_extraction, rows_batch
from forensics.engines.ray_extract import enter_workdir, use_threads, worker_name
from forensics.models.weights import WeightsError
from forensics.pipeline import Extraction, finish, score_extractions
from forensics.result import MediaResult
from forensics.score import FaceScorer


class ScoreStage:
    """Callable class for ``Dataset.map_batches``: extraction rows -> result rows.

    Args:
        config: the scan's configuration (model, weights, batch size, aggregation...).
        weights_sha256: sha256 of the weights the driver audited; an actor whose node holds
            other weights refuses to start (the report would be wrong).
        device: torch device of the classifier (``cpu`` or ``cuda``).
        threads: torch and OpenCV threads (the CPUs this actor reserved).
        workdir: the driver's working directory, for a relative thumbnails folder.
    """

    def __init__(self, config: ScanConfig, weights_sha256: str, device: str = "cpu", threads: int = 1,
                 workdir: str | None = None):
        use_threads(threads)
        enter_workdir(workdir)
        self.config = config
        self.scorer = FaceScorer(config.model, config.weights, device, config.batch_size, config.runtime)
        if self.scorer.weights_sha256 != weights_sha256:
            raise WeightsError(
                f"weights {self.scorer.weights_path} on this node have sha256 {self.scorer.weights_sha256}, "
                f"but the scan was audited with {weights_sha256}: install the same weights on every node"
            )
        self.worker = worker_name()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = batch_rows(batch)
        media = [row_to_extraction(row) for row in rows]
        started = time.perf_counter()
        scores = self._score([x for x in media if x.error is None])
        # the batch's scoring time, shared out by crop count, adds to each media's elapsed_s
        total_crops = max(1, sum(len(s) for s in scores.values()))
        score_s = time.perf_counter() - started
        out = []
        for row, x in zip(rows, media):
            started = time.perf_counter()
            mine = scores.get(id(x))
            share = score_s * (len(mine) if mine is not None else 0) / total_crops
            result = self._finish(x, mine, share)
            result.elapsed_s += time.perf_counter() - started
            line = result_to_row(int(row["index"]), result)
            line["extract_worker"] = str(row["extract_worker"])
            line["score_worker"] = self.worker
            out.append(line)
        return rows_batch(out)

    def _score(self, media: list[Extraction]) -> dict[int, np.ndarray | None]:
        """Scores of each extraction's crops (by ``id``); None where scoring failed."""
        return score_extractions(self.scorer, media)

    def _finish(self, x: Extraction, scores: np.ndarray | None, elapsed_s: float) -> MediaResult:
        try:
            return finish(x, scores, self.config, elapsed_s, self.scorer.heatmaps)
        except Exception as exc:  # e.g. a thumbnail that cannot be drawn: the media is an error row
            failed = Extraction(item=x.item, sha256=x.sha256, size_bytes=x.size_bytes, info=x.info,
                                error=f"internal error while finishing: {type(exc).__name__}: {exc}",
                                elapsed_s=x.elapsed_s)
            return finish(failed, None, self.config, elapsed_s)
