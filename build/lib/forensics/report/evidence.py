"""The most suspicious face crops of each media, written beside its thumbnail for the reviewer.

For a media with faces, the ``faces`` highest-scoring crops (default 4; ties keep the scan's
order) are written as ``<sha256[:16]>.face<rank>.jpg`` in the thumbnails folder, rank 0 the
most fake, and with heatmaps on (``--heatmaps``) each crop's Grad-CAM overlay as
``<sha256[:16]>.face<rank>.heat.jpg`` (see :mod:`forensics.heatmap`). The HTML review finds
them by these names and lists the same faces from the faces report (:func:`top_faces`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

EVIDENCE_FACES = 4
"""Face crops kept per media (the most fake first)."""

Heatmapper = Callable[[np.ndarray], np.ndarray]
"""``uint8`` crops (n, S, S, 3) -> float maps (n, S, S) in [0, 1], e.g. ``FaceScorer.heatmaps``."""


def top_faces(scores: np.ndarray, faces: int = EVIDENCE_FACES) -> np.ndarray:
    """Indices of the ``faces`` highest scores, highest first; equal scores keep their order."""
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")[:faces]


def evidence_name(sha256: str, rank: int, heatmap: bool = False) -> str:
    """File name of the crop of rank ``rank`` (0 = most fake), or of its heatmap overlay."""
    return f"{sha256[:16]}.face{rank}{'.heat' if heatmap else ''}.jpg"


def _save(image: np.ndarray, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(image).save(tmp, format="JPEG", quality=90)
    os.replace(tmp, path)


def write_evidence(crops: np.ndarray, scores: np.ndarray, sha256: str, folder: str | os.PathLike[str],
                   faces: int = EVIDENCE_FACES, heatmapper: Heatmapper | None = None) -> list[str]:
    """Write the top crops (and their heatmaps when ``heatmapper`` is given); returns warnings.

    A heatmap that cannot be computed is a warning, never a lost verdict. Disk errors are
    raised (the caller turns them into a warning, as for thumbnails).
    """
    from forensics.heatmap import overlay

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = crops[top_faces(scores, faces)]
    for rank, crop in enumerate(chosen):
        _save(crop, folder / evidence_name(sha256, rank))
    if heatmapper is None or len(chosen) == 0:
        return []
    try:
        maps = heatmapper(chosen)
    except Exception as exc:
        return [f"heatmaps not drawn: {type(exc).__name__}: {exc}"]
    for rank, (crop, heat) in enumerate(zip(chosen, maps)):
        _save(overlay(crop, heat), folder / evidence_name(sha256, rank, heatmap=True))
    return []
