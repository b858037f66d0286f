"""Ray Data stage 1: decode, detect, crop and track (``pipeline.extract_item``) on an actor.

One actor holds one MTCNN, loaded once, and one decoding worker process (a decoder crash or
hang costs that media, not the actor). Each call takes a batch of media-item rows and
returns one extraction row per item (see :mod:`forensics.engines.columns`); a file that
cannot be read or decoded becomes a row with an ``error``, never a failed task.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from forensics.config import ScanConfig
from forensics.engines.columns import (
    batch_rows,
    extraction_to_row,
    row_media_item,
    rows_batch,
)
from forensics.faces.align import CropPolicy
from forensics.media.worker import DecodeWorker
from forensics.pipeline import extract_item, stage_error
from forensics.result import Extraction


def use_threads(threads: int) -> None:
    """Give torch and OpenCV ``threads`` threads: one per CPU the actor reserved.

    More threads than reserved CPUs oversubscribe the node; on a busy 2-core machine that
    made MTCNN 8 to 25 times slower.
    """
    import cv2
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (a restarted actor reuses none, but be safe)
        pass
    cv2.setNumThreads(threads)


def enter_workdir(workdir: str | None) -> None:
    """Resolve relative paths as the driver does, when its working directory exists here."""
    if workdir and os.path.isdir(workdir):
        os.chdir(workdir)


def worker_name() -> str:
    """``<node id>/<pid>`` of this Ray worker process: which machine and process did the work
    (``local/<pid>`` outside Ray, where a test runs a stage in its own process)."""
    import ray

    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    return f"{node}/{os.getpid()}"


class Attempts:
    """How many times each media was started by each stage, kept by one small actor per dataset
    (on the driver's node), so that a media that keeps killing its worker (out of memory, a
    crash in a native library) becomes an ``error`` row instead of being retried forever: Ray
    restarts dead actors and retries their batches without end, and the stages stop trying a
    media once its attempts exceed the allowed number."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def start(self, stage: str, indices: list[int]) -> list[int]:
        """Count one more start of ``stage`` on each media index; returns each one's count."""
        counts = []
        for index in indices:
            key = (stage, index)
            self.counts[key] = self.counts.get(key, 0) + 1
            counts.append(self.counts[key])
        return counts


def attempts_started(attempts: Any, stage: str, indices: list[int]) -> list[int]:
    """Each media's start count in ``stage`` (all 1 without an :class:`Attempts` actor)."""
    if attempts is None:
        return [1] * len(indices)
    import ray

    return ray.get(attempts.start.remote(stage, indices))


def died_too_often(attempt: int) -> str:
    """The error of a media whose worker died ``attempt - 1`` times while scanning it."""
    return (f"the worker scanning it died {attempt - 1} times (out of memory, or a crash in a native library): "
            "not scanned again")


class ExtractStage:
    """Callable class for ``Dataset.map_batches``: media-item rows -> extraction rows.

    Args:
        config: the scan's configuration (sampling, detection and tracking settings).
        crop_policy: the scoring model's crop policy, as ``CropPolicy.to_dict()``.
        device: torch device of the detector (``cpu`` or ``cuda``).
        threads: torch and OpenCV threads (the CPUs this actor reserved).
        workdir: the driver's working directory, for relative paths.
        attempts: the dataset's :class:`Attempts` actor (None: no limit).
        max_attempts: starts of one media allowed before it is an error row.
        trust_anchors: PEM text of the certificates a C2PA signer must chain to (read by the
            driver: this node may not have the ``--trust-anchors`` file); None: none.
    """

    def __init__(self, config: ScanConfig, crop_policy: dict[str, Any], device: str = "cpu", threads: int = 1,
                 workdir: str | None = None, attempts: Any = None, max_attempts: int = 4,
                 trust_anchors: str | None = None):
        from forensics.faces.detect import FaceDetector

        use_threads(threads)
        enter_workdir(workdir)
        self.config = config
        self.policy = CropPolicy.from_dict(crop_policy)
        self.detector = FaceDetector.for_search(config.face_search, device)
        self.decoder = DecodeWorker(config.timeout_per_media)
        self.worker = worker_name()
        self.attempts, self.max_attempts = attempts, max_attempts
        self.trust_anchors = trust_anchors

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        given = batch_rows(batch)
        started = attempts_started(self.attempts, "extract", [int(row["index"]) for row in given])
        for row, attempt in zip(given, started):
            item = row_media_item(row)
            if attempt > self.max_attempts:
                x = Extraction(item=item, error=died_too_often(attempt))
            else:
                try:
                    x = extract_item(item, self.detector, self.policy, self.config, self.decoder, self.trust_anchors)
                except Exception as exc:  # a bug or a library crash on one file must not fail the job
                    x = Extraction(item=item, error=str(stage_error("face extraction", exc)))
            out = extraction_to_row(int(row["index"]), x)
            out["extract_worker"] = self.worker
            rows.append(out)
        return rows_batch(rows)
