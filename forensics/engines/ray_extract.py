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


class ExtractStage:
    """Callable class for ``Dataset.map_batches``: media-item rows -> extraction rows.

    Args:
        config: the scan's configuration (sampling, detection and tracking settings).
        crop_policy: the scoring model's crop policy, as ``CropPolicy.to_dict()``.
        device: torch device of the detector (``cpu`` or ``cuda``).
        threads: torch and OpenCV threads (the CPUs this actor reserved).
        workdir: the driver's working directory, for relative paths.
    """

    def __init__(self, config: ScanConfig, crop_policy: dict[str, Any], device: str = "cpu", threads: int = 1,
                 workdir: str | None = None):
        from forensics.faces.detect import FaceDetector

        use_threads(threads)
        enter_workdir(workdir)
        self.config = config
        self.policy = CropPolicy.from_dict(crop_policy)
        self.detector = FaceDetector(device, config.detect_size, config.min_face_prob, config.min_face_px)
        self.decoder = DecodeWorker(config.timeout_per_media)
        self.worker = worker_name()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        for row in batch_rows(batch):
            item = row_media_item(row)
            try:
                x = extract_item(item, self.detector, self.policy, self.config, self.decoder)
            except Exception as exc:  # a bug or a library crash on one file must not fail the job
                x = Extraction(item=item, error=str(stage_error("face extraction", exc)))
            out = extraction_to_row(int(row["index"]), x)
            out["extract_worker"] = self.worker
            rows.append(out)
        return rows_batch(rows)
