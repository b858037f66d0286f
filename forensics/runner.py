"""Run a whole scan: discover inputs, check the outputs, run an engine, journal each result,
write the reports, show progress and a summary.

Before any model is loaded, the outputs are checked (:func:`check_outputs`): a report must
not overwrite an input, a folder or a file that is not a forensics report, and its folder
must be writable. Each finished media goes to the journal (:mod:`forensics.report.journal`)
at once; the Parquet reports are written from it, in input order, when the scan completes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from forensics import __version__
from forensics.config import Cluster, ScanConfig
from forensics.engines import Engine, open_engine
from forensics.media import storage
from forensics.media.discover import Discovery, MediaItem, discover
from forensics.pipeline import file_facts
from forensics.report.journal import Journal, journal_path
from forensics.report.schema import MEDIA_SCHEMA, faces_path, read_metadata
from forensics.report.summary import print_summary
from forensics.report.writer import ReportWriter, remove_stale_temporaries
from forensics.result import printable


class OutputError(ValueError):
    """The reports cannot be written where asked, or would destroy something: nothing was scanned."""


@dataclass
class ScanOutcome:
    """What a finished scan wrote and found."""

    media: pa.Table  # the media report's rows
    skipped: list[str]
    elapsed_s: float
    metadata: dict[str, Any]
    nodes: frozenset[str] = field(default_factory=frozenset)  # Ray node ids that did work (ray engine)
    resumed: int = 0  # media taken from the journal of an interrupted scan (--resume)
    report: Path | None = None  # where the report can be read on this machine (a bucket's: its staged copy)

    @property
    def fakes(self) -> int:
        return sum(1 for v in self.media.column("verdict").to_pylist() if v == "fake")


def report_metadata(config: ScanConfig, audit: dict[str, Any]) -> dict[str, Any]:
    """The audit record stored in both report files."""
    return {
        "version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "engine": config.engine,
        "config": config.to_dict(),
        **audit,
    }


def _is_report(path: Path) -> bool:
    """True when ``path`` is a Parquet file written by forensics."""
    import pyarrow.parquet as pq

    try:
        return bool(read_metadata(pq.read_schema(path)))
    except Exception:
        return False


def check_outputs(out: Path, found: Discovery, inputs: Sequence[str], overwrite: bool = False,
                  thumbnails: str | None = None) -> None:
    """Refuse outputs that would destroy evidence or fail after the work; create the report's folder.

    Raises:
        OutputError: ``out`` is a folder, an input (or would overwrite one), a file that is
            not a forensics report (unless ``overwrite``), or in a place that cannot be written.
    """
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder: give a file name, e.g. {out / 'report.parquet'}")
    targets = {out: "the report", faces_path(out): "the faces report", journal_path(out): "the journal"}
    sources = [Path(p) for p in [*inputs, *(item.path for item in found.items)] if not storage.is_remote(p)]
    for target, what in targets.items():
        real = os.path.realpath(target)
        for source in sources:
            if os.path.realpath(source) == real or (target.exists() and source.exists() and _same_file(source, target)):
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


def _upload_reports(local: Path, out: str) -> None:
    """Copy the two reports written at ``local`` to the bucket ``out`` (faces first, the media report last)."""
    storage.upload(str(faces_path(local)), storage.join(out.rsplit("/", 1)[0], faces_path(local).name))
    storage.upload(str(local), out)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def run_scan(
    paths: Sequence[str],
    config: ScanConfig,
    out: str | os.PathLike[str],
    quiet: bool = False,
    console: Console | None = None,
    resume: bool = False,
    overwrite: bool = False,
    cluster: Cluster | None = None,
    keep_staged: bool = False,
) -> ScanOutcome:
    """Scan ``paths`` and write the reports at ``out`` (and ``<out>.faces.parquet``).

    Args:
        resume: continue the interrupted scan whose journal is beside ``out``: media already
            in it, unchanged (same path and sha256), are not scanned again.
        overwrite: replace an existing ``out`` even when it is not a forensics report.
        cluster: where the Ray engine runs (:class:`forensics.config.Cluster`); None: a local instance.
        keep_staged: for a bucket ``out``, keep the local copy of the reports after uploading them
            (``ScanOutcome.report``), e.g. to write the HTML review from it; the caller deletes it.

    Raises:
        OutputError: the outputs are unsafe or unwritable (checked before any model loads).
        JournalError: ``resume`` without a matching journal, or another scan writes ``out``.
        BrokenModelError: the model gave non-finite scores; the journal keeps what was done.
    """
    console = console or Console(stderr=True)
    started = time.perf_counter()
    target = os.fspath(out)
    remote = storage.is_remote(target)
    found = discover(paths)
    if remote:
        check_remote_report(target, overwrite)
    out = staged_report(target)
    check_outputs(out, found, paths, overwrite or remote, config.thumbnails)
    remove_stale_temporaries(out)
    journal_file = journal_path(out)
    if not resume and journal_file.exists() and not quiet:
        console.print(f"note: replacing the journal of an interrupted scan, {journal_file} "
                      "(pass --resume to continue it instead)")
    journal = Journal.open(journal_file, resume)  # locked before the models load: fail fast
    try:
        engine = open_engine(config, cluster)
        try:
            metadata = report_metadata(config, engine.audit())
            shown = set() if quiet else _show_notes(engine, console, set())
            journal.begin(metadata)
            todo = [item for item in found.items if not (resume and _unchanged(journal, item))]
            stamps = {item.path: item.stamp for item in todo}
            resumed = len(found.items) - len(todo)
            progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, disable=quiet, transient=False,
            )
            with progress:
                media_task = progress.add_task("media", total=len(found.items), completed=resumed)
                frame_task = progress.add_task("frames", total=None)

                def notify(event: str, count: int) -> None:
                    progress.advance(media_task if event == "media" else frame_task, count)

                for result in engine.scan(todo, progress=notify):
                    journal.add(result, stamps.get(result.path, ""))
        finally:
            engine.close()
        if not quiet:  # a cluster's actors report how their models ran as their results come back
            _show_notes(engine, console, shown)
        rows = []
        with ReportWriter(out, metadata) as writer:
            for media_row, face_rows in journal.rows(item.path for item in found.items):
                writer.write_rows(media_row, face_rows)
                rows.append(media_row)
        if remote:
            try:
                _upload_reports(out, target)
            except OSError as exc:
                raise OutputError(f"{exc}; the reports are at {out} and the journal is kept: run again with "
                                  "--resume to upload them") from None
            if not keep_staged:
                remove_staged(out)
    except BaseException:
        journal.close(delete=not resume and not journal.entries)  # keep a journal only if it holds work
        raise
    journal.close(delete=True)
    media = pa.Table.from_pylist(rows, schema=MEDIA_SCHEMA)
    elapsed = time.perf_counter() - started
    nodes = frozenset(getattr(engine, "nodes_used", ()))
    if not quiet:
        extra = {"report": f"{target} (+ faces), {len(rows)} media in {elapsed:.1f} s"}
        if resumed:
            extra["resumed"] = f"{resumed} media taken from the interrupted scan's journal"
        if config.engine == "ray":
            extra["engine"] = f"ray, {len(nodes)} node(s) did the work"
        print_summary(media, console, skipped=len(found.skipped), extra=extra)
    return ScanOutcome(media, found.skipped, elapsed, metadata, nodes, resumed, out)


def _show_notes(engine: Engine, console: Console, shown: set[str]) -> set[str]:
    """Print the engine's notes not yet shown (e.g. ONNX Runtime unavailable: PyTorch scores
    instead); returns every note shown so far."""
    for note in engine.notes():
        if note not in shown:
            console.print(f"note: {note}")
    return shown | set(engine.notes())


def _unchanged(journal: Journal, item: MediaItem) -> bool:
    """True when the journal has ``item`` with the content it has now: by its stamp (size and
    mtime or ETag), else by hashing the file again."""
    known = journal.stamped(item.path, item.stamp)
    if known is not None:
        return known
    if storage.is_remote(item.path):
        return False
    try:
        sha, _ = file_facts(item.path)
    except OSError:
        return False
    return journal.done(item.path, sha)
