"""Where a scan's reports go, and what they must not destroy: output safety and bucket staging.

Before any model is loaded, the outputs are checked (:func:`check_outputs`): a report must not
overwrite an input, a folder or a file that is not a forensics report, and its folder must be
writable. A report for a bucket (``s3://…``) is written to a local staging folder
(:func:`staged_report`), then uploaded (:func:`upload_reports`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from forensics.media import storage
from forensics.media.discover import discover
from forensics.report.journal import journal_path
from forensics.report.schema import faces_path, read_metadata
from forensics.result import printable


class OutputError(ValueError):
    """The reports cannot be written where asked, or would destroy something: nothing was scanned
    (or, for the review page only, the reports were written and the page could not be)."""


def _is_report(path: Path) -> bool:
    """True when ``path`` is a Parquet file written by forensics."""
    import pyarrow.parquet as pq

    try:
        return bool(read_metadata(pq.read_schema(path)))
    except Exception:
        return False


def check_outputs(out: Path, inputs: Sequence[str], overwrite: bool = False, thumbnails: str | None = None) -> None:
    """Refuse outputs that would destroy evidence or fail after the work; create the report's folder.

    Raises:
        OutputError: ``out`` is a folder, an input (or would overwrite one), a file that is
            not a forensics report (unless ``overwrite``), or in a place that cannot be written.
    """
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder: give a file name, e.g. {out / 'report.parquet'}")
    targets = {out: "the report", faces_path(out): "the faces report", journal_path(out): "the journal"}
    sources = [Path(p) for p in inputs if not storage.is_remote(p)]
    for target, what in targets.items():
        source = _input_at(target, sources)
        if source is not None:
            raise OutputError(f"--out {out}: {what} would overwrite the input {printable(str(source))}; "
                              "write the report somewhere else")
        if target != journal_path(out) and target.exists() and not overwrite:
            if target.is_dir():
                raise OutputError(f"--out {out}: {what} {target} exists and is a folder")
            if not _is_report(target):
                raise OutputError(f"--out {out}: {target} exists and is not a forensics report; refusing to "
                                  "overwrite it (pass --overwrite to replace it)")
    if thumbnails is not None and storage.is_remote(thumbnails):
        try:
            storage.check_writable(storage.join(thumbnails, ".forensics-write-check"))
        except storage.StorageError as exc:
            raise OutputError(f"--thumbnails: {exc}") from None
        thumbnails = None
    if thumbnails is not None and Path(thumbnails).exists() and not Path(thumbnails).is_dir():
        raise OutputError(f"--thumbnails {thumbnails} exists and is not a folder")
    for folder in [out.parent] + ([Path(thumbnails)] if thumbnails else []):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write in {folder}: permission denied")


def staged_report(out: str | os.PathLike[str]) -> Path:
    """Where the report of ``out`` is written on this machine: ``out`` itself, or for a bucket
    (``s3://…``) a staging folder (``$FORENSICS_STAGING``, default ``~/.cache/forensics/staging``)
    that keeps the journal while the scan runs and the reports until they are uploaded."""
    text = os.fspath(out)
    if not storage.is_remote(text):
        return Path(text)
    root = Path(os.environ.get("FORENSICS_STAGING") or Path.home() / ".cache" / "forensics" / "staging")
    return root / hashlib.sha256(text.encode()).hexdigest()[:16] / (text.rstrip("/").rsplit("/", 1)[-1] or "report.parquet")


def remove_staged(report: Path) -> None:
    """Delete the staged copy of a bucket's reports (:func:`staged_report`) and its folder if empty."""
    for path in (report, faces_path(report)):
        path.unlink(missing_ok=True)
    try:
        report.parent.rmdir()
    except OSError:
        pass


def check_remote_report(out: str, overwrite: bool = False) -> None:
    """Refuse a bucket ``--out`` that holds something other than a forensics report, or cannot be written.

    Raises:
        OutputError: as :func:`check_outputs`.
    """
    import pyarrow.parquet as pq

    try:
        if storage.exists(out) and not overwrite:
            fs, path = storage.filesystem(out)
            try:
                with fs.open(path, "rb") as f:
                    ours = bool(read_metadata(pq.read_schema(f)))
            except Exception:
                ours = False
            if not ours:
                raise OutputError(f"--out {out} exists and is not a forensics report; refusing to overwrite it "
                                  "(pass --overwrite to replace it)")
        storage.check_writable(out)
    except storage.StorageError as exc:
        raise OutputError(f"--out: {exc}") from None


def upload_reports(local: Path, out: str) -> None:
    """Copy the two reports written at ``local`` to the bucket ``out`` (faces first, the media report last)."""
    storage.upload(str(faces_path(local)), storage.join(out.rsplit("/", 1)[0], faces_path(local).name))
    storage.upload(str(local), out)


def _input_at(target: Path, sources: list[Path]) -> Path | None:
    """The input that ``target`` is, or the media file it is inside an input folder (found without
    listing the folders: the one file is sniffed as the walk would); None if it is neither."""
    real = os.path.realpath(target)
    for source in sources:
        if os.path.realpath(source) == real or (target.exists() and source.exists() and _same_file(source, target)):
            return source
        if source.is_dir() and target.is_file() and Path(real).is_relative_to(os.path.realpath(source)):
            found = discover([str(target)]).items
            if found and (found[0].problem is None or found[0].kind != "unknown"):
                return target
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
