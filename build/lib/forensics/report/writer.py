"""Write the two Parquet reports atomically, streaming row groups as results arrive.

Rows go to temporary files beside the targets (``.<name>.<pid>.tmp``); only a completed
scan renames them into place, so the target paths never hold a half-written report. A
process killed before that leaves its temporary files behind: :func:`remove_stale_temporaries`
deletes those whose process is gone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from forensics.report.schema import FACE_SCHEMA, MEDIA_SCHEMA, faces_path, with_metadata
from forensics.result import MediaResult


class ReportWriter:
    """Context manager: ``write(result)`` per media; on a clean exit both files land.

    Args:
        out: path of the media report (``.parquet``); the faces report goes beside it.
        metadata: audit metadata stored in both files.
        row_group: media rows buffered before a row group is written (default 512).
    """

    def __init__(self, out: str | os.PathLike[str], metadata: dict[str, Any], row_group: int = 512):
        self.media_path = Path(out)
        self.faces_path = faces_path(out)
        self.media_path.parent.mkdir(parents=True, exist_ok=True)
        self._media_schema = with_metadata(MEDIA_SCHEMA, metadata)
        self._face_schema = with_metadata(FACE_SCHEMA, metadata)
        self._tmp_media = self.media_path.with_name(f".{self.media_path.name}.{os.getpid()}.tmp")
        self._tmp_faces = self.faces_path.with_name(f".{self.faces_path.name}.{os.getpid()}.tmp")
        self._media_writer = pq.ParquetWriter(self._tmp_media, self._media_schema)
        self._face_writer = pq.ParquetWriter(self._tmp_faces, self._face_schema)
        self._media_rows: list[dict[str, Any]] = []
        self._face_rows: list[dict[str, Any]] = []
        self._row_group = row_group
        self.rows_written = 0

    def write(self, result: MediaResult) -> None:
        self.write_rows(result.media_row(), result.face_rows())

    def write_rows(self, media_row: dict[str, Any], face_rows: list[dict[str, Any]]) -> None:
        """One media's rows, as :meth:`MediaResult.media_row` and ``face_rows`` give them."""
        self._media_rows.append(media_row)
        self._face_rows.extend(face_rows)
        if len(self._media_rows) >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        if self._media_rows:
            self._media_writer.write_table(pa.Table.from_pylist(self._media_rows, schema=self._media_schema))
            self.rows_written += len(self._media_rows)
            self._media_rows = []
        if self._face_rows:
            self._face_writer.write_table(pa.Table.from_pylist(self._face_rows, schema=self._face_schema))
            self._face_rows = []

    def close(self) -> None:
        """Flush and move both files into place."""
        self._flush()
        self._media_writer.close()
        self._face_writer.close()
        os.replace(self._tmp_faces, self.faces_path)
        os.replace(self._tmp_media, self.media_path)

    def abort(self) -> None:
        """Drop the temporary files; the targets are left as they were."""
        for writer in (self._media_writer, self._face_writer):
            try:
                writer.close()
            except Exception:
                pass
        for tmp in (self._tmp_media, self._tmp_faces):
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ReportWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def remove_stale_temporaries(out: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files of ``out``'s reports left by scans whose process is gone; the ones removed."""
    removed = []
    for target in (Path(out), faces_path(out)):
        for tmp in target.parent.glob(f".{target.name}.*.tmp"):
            pid = tmp.name[len(target.name) + 2 : -len(".tmp")]
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
