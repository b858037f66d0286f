"""The Python API: scan from a notebook or a service, with the models loaded once.

    from forensics import Scanner

    scanner = Scanner(frames=16)                  # any ScanConfig setting; loads MTCNN and the classifier
    found = scanner.scan(["media/", "clip.mp4"])  # the same rows a report holds
    found.media.to_pandas()[["path", "verdict", "score"]]
    found.faces                                   # one row per scored face crop (pyarrow.Table)
    scanner.scan_frames(frames, fps=25.0)         # in-memory RGB frames (numpy), one media

Results have exactly the report's columns (:data:`forensics.report.schema.MEDIA_SCHEMA` and
``FACE_SCHEMA``), and each media is also a :class:`forensics.result.MediaResult`. Nothing is
written to disk unless the config names a thumbnails folder. ``forensics scan`` runs the same
engine (:class:`forensics.engines.local.LocalEngine`) and adds the journal, the Parquet files and
the terminal summary.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa

from forensics.config import ScanConfig
from forensics.media.decode import Frame, MediaInfo
from forensics.media.discover import MediaItem, discover
from forensics.pipeline import StageError, extract
from forensics.report.schema import FACE_SCHEMA, MEDIA_SCHEMA
from forensics.result import Extraction, MediaResult


@dataclass
class ScanResults:
    """What :meth:`Scanner.scan` found: one :class:`MediaResult` per media, in input order."""

    results: list[MediaResult]
    skipped: list[str] = field(default_factory=list)  # files that are not media (walking folders)

    @property
    def media(self) -> pa.Table:
        """The media report's rows (one per media; the ``report.parquet`` columns)."""
        return pa.Table.from_pylist([r.media_row() for r in self.results], schema=MEDIA_SCHEMA)

    @property
    def faces(self) -> pa.Table:
        """The faces report's rows (one per scored face crop; the ``report.faces.parquet`` columns)."""
        return pa.Table.from_pylist([row for r in self.results for row in r.face_rows()], schema=FACE_SCHEMA)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):
        return iter(self.results)


class Scanner:
    """MTCNN and the face classifier, loaded once, for any number of scans.

    Args:
        config: every setting of a scan (:class:`forensics.config.ScanConfig`); or give its
            fields as keyword arguments (``Scanner(frames=16, model="custom-cnn")``). Only the
            embedded engine runs here; for a Ray cluster use ``forensics scan --engine ray``.
    """

    def __init__(self, config: ScanConfig | None = None, **settings: Any):
        from forensics.engines.local import LocalEngine

        if config is not None and settings:
            raise TypeError("give a ScanConfig or its settings as keywords, not both")
        self.config = config or ScanConfig(**settings)
        if self.config.engine != "local":
            raise ValueError("the Python API runs the embedded engine; use `forensics scan --engine ray` for Ray")
        self._engine = LocalEngine(self.config)

    @property
    def model(self) -> dict[str, Any]:
        """The model, weights path and sha256, crop policy and device (as a report's metadata records)."""
        return self._engine.audit()

    def scan(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> ScanResults:
        """Scan files and folders (folders recursively), as ``forensics scan`` does.

        Every media gets a result, broken files included (status ``error`` with a reason).

        Raises:
            BrokenModelError: the classifier gave non-finite scores; no result can be trusted.
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        found = discover([os.fspath(p) for p in paths])
        return ScanResults(list(self._engine.scan(found.items)), found.skipped)

    def scan_frames(self, frames: Sequence[np.ndarray], fps: float | None = None, name: str = "<frames>",
                    timestamps: Sequence[float] | None = None) -> MediaResult:
        """Scan in-memory frames as one media: every frame given is scored (no sampling).

        Args:
            frames: RGB ``uint8`` arrays (height, width, 3); one frame is scored as an image.
            fps: frames per second, for the timestamps (default 25 when ``timestamps`` is None).
            name: the ``path`` the result carries.
            timestamps: seconds of each frame, instead of ``fps``.
        """
        frames = [np.ascontiguousarray(f) for f in frames]
        if not frames:
            raise ValueError("no frames to scan")
        for f in frames:
            if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                raise ValueError(f"frames must be RGB uint8 arrays (height, width, 3), got {f.dtype} {f.shape}")
        kind = "image" if len(frames) == 1 and fps is None and timestamps is None else "video"
        rate = fps or 25.0
        times = list(timestamps) if timestamps is not None else [i / rate for i in range(len(frames))]
        if len(times) != len(frames):
            raise ValueError(f"{len(times)} timestamps for {len(frames)} frames")
        height, width = frames[0].shape[:2]
        info = MediaInfo(width, height, rate if kind == "video" else None,
                         (times[-1] + 1 / rate) if kind == "video" else None, len(frames) if kind == "video" else None)
        item = MediaItem(name, kind)
        batch = self.config.detect_batch
        chunks = ([Frame(i, float(times[i]), frames[i]) for i in range(s, min(s + batch, len(frames)))]
                  for s in range(0, len(frames), batch))
        started = time.perf_counter()
        try:
            x = extract(item, info, len(frames), chunks, self._engine.detector, self._engine.crop_policy,
                        self.config.face_search)
        except StageError as exc:
            x = Extraction(item=item, info=info, error=str(exc))
        return self._engine.scan_extraction(x, time.perf_counter() - started)

    def scan_image(self, image: np.ndarray, name: str = "<image>") -> MediaResult:
        """Scan one in-memory RGB ``uint8`` picture (height, width, 3)."""
        return self.scan_frames([image], name=name)


def scan(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], **settings: Any) -> ScanResults:
    """Scan files and folders once (loads the models for this call; keep a :class:`Scanner` to reuse them)."""
    return Scanner(**settings).scan(paths)
