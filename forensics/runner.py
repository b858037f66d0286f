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
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

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
from forensics.media.discover import MediaItem, discover, walk_media
from forensics.report.journal import Journal, journal_path
from forensics.report.schema import faces_path, read_metadata
from forensics.report.summary import Condensed, render_condensed, report_batches
from forensics.report.writer import ReportWriter, remove_stale_temporaries
from forensics.result import printable


class OutputError(ValueError):
    """The reports cannot be written where asked, or would destroy something: nothing was scanned."""


@dataclass
class ScanOutcome:
    """What a finished scan wrote and found.

    Attributes:
        out: the report as asked for (a path or a URI).
        media_count: media in the report; ``fakes``: of them with verdict fake.
        skipped: non-media files passed over while walking folders.
        report: where the report can be read on this machine (a bucket's: its staged copy,
            kept only with ``run_scan(keep_staged=True)``).
    """

    out: str
    media_count: int
    fakes: int
    skipped: int
    elapsed_s: float
    metadata: dict[str, Any]
    nodes: frozenset[str] = field(default_factory=frozenset)  # Ray node ids that did work (ray engine)
    resumed: int = 0  # media taken from the journal of an interrupted scan (--resume)
    report: Path | None = None

    @property
    def media(self) -> pa.Table:
        """The media report's rows, read back from the report (all in memory: for small scans)."""
        import pyarrow.parquet as pq

        if self.report is not None and self.report.exists():
            return pq.read_table(self.report)
        fs, path = storage.filesystem(self.out)
        with fs.open(path, "rb") as f:
            return pq.read_table(f)


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


def _upload_reports(local: Path, out: str) -> None:
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
    if remote:
        check_remote_report(target, overwrite)
    out = staged_report(target)
    check_outputs(out, paths, overwrite or remote, config.thumbnails)
    remove_stale_temporaries(out)
    journal_file = journal_path(out)
    if not resume and journal_file.exists() and not quiet:
        console.print(f"note: replacing the journal of an interrupted scan, {journal_file} "
                      "(pass --resume to continue it instead)")
    listing = _Listing(paths)
    listing.check_start()  # an unreachable bucket fails here, before the journal and the models
    journal = Journal.open(journal_file, resume)  # locked before the models load: fail fast
    try:
        engine = open_engine(config, cluster)
        try:
            metadata = report_metadata(config, engine.audit())
            shown = set() if quiet else _show_notes(engine, console, set())
            journal.begin(metadata)
            progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, disable=quiet, transient=False,
            )
            lines = _ProgressLines(console, enabled=not quiet and not console.is_terminal)
            with progress, lines:
                media_task = progress.add_task("media", total=None)
                frame_task = progress.add_task("frames", total=None)

                def notify(event: str, count: int) -> None:
                    progress.advance(media_task if event == "media" else frame_task, count)
                    lines.advance(event, count)

                def counted(total: int) -> None:
                    progress.update(media_task, total=total)
                    lines.total = total

                listing.count_in_background(counted)
                todo = listing.todo(journal if resume else None, lambda: notify("media", 1))
                # journaled as each finishes (a cluster finishes media out of order: nothing
                # waits in memory behind a slow one); the report is written in input order
                for result in engine.scan(todo, progress=notify, ordered=False):
                    journal.add(result, *listing.handed_back(result.path))
        finally:
            engine.close()
        if not quiet:  # a cluster's actors report how their models ran as their results come back
            _show_notes(engine, console, shown)
        # in input order (each media's place in the walk, also across a resume); a media
        # scanned again keeps its place
        with ReportWriter(out, metadata) as writer:
            for media_row, face_rows in journal.rows():
                writer.write_rows(media_row, face_rows)
        if remote:
            try:
                _upload_reports(out, target)
            except OSError as exc:
                raise OutputError(f"{exc}; the reports are at {out} and the journal is kept: run again with "
                                  "--resume to upload them") from None
    except BaseException:
        journal.close(delete=not resume and not len(journal.entries))  # keep a journal only if it holds work
        raise
    journal.close(delete=True)
    condensed = Condensed(top=10)
    for batch in report_batches(out):  # the summary's columns, a batch at a time
        condensed.add(batch)
    elapsed = time.perf_counter() - started
    nodes = frozenset(getattr(engine, "nodes_used", ()))
    if not quiet:
        extra = {"report": f"{target} (+ faces), {condensed.total} media in {elapsed:.1f} s"}
        if listing.resumed:
            extra["resumed"] = f"{listing.resumed} media taken from the interrupted scan's journal"
        if config.engine == "ray":
            extra["engine"] = f"ray, {len(nodes)} node(s) did the work"
        console.print(render_condensed(condensed, skipped=listing.skipped, extra=extra))
    fakes = condensed.counts.get(("fake", "all"), 0)
    if remote and not keep_staged:
        remove_staged(out)
    return ScanOutcome(target, condensed.total, fakes, listing.skipped, elapsed, metadata, nodes, listing.resumed,
                       out if not remote or keep_staged else None)


PROGRESS_EVERY_S = 30.0
"""Seconds between two progress lines where stderr is not a terminal (``$FORENSICS_PROGRESS_EVERY``
overrides it)."""


class _ProgressLines:
    """Progress for logs that are not a terminal (`ray job logs`, CI, a file), where a live bar
    shows nothing until the end: one plain line every :data:`PROGRESS_EVERY_S` seconds,
    including while nothing has finished yet."""

    def __init__(self, console: Console, enabled: bool):
        self.console, self.enabled = console, enabled
        self.every_s = float(os.environ.get("FORENSICS_PROGRESS_EVERY") or PROGRESS_EVERY_S)
        self.media = self.frames = 0
        self.total: int | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forensics-progress", daemon=True)

    def advance(self, event: str, count: int) -> None:
        if event == "media":
            self.media += count
        else:
            self.frames += count

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        total = f"/{self.total}" if self.total is not None else ""
        rate = f", {self.media / elapsed:.1f} media/s" if self.media and elapsed > 0 else ""
        return f"progress: {self.media}{total} media, {self.frames} frames, {elapsed / 60:.1f} min{rate}"

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.console.print(self.line(), highlight=False, soft_wrap=True)

    def __enter__(self) -> "_ProgressLines":
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class _Listing:
    """The scan's media, streamed from the walk of its inputs (nothing kept per media but the
    stamps of those in flight), with the counts the progress bar and the summary show."""

    def __init__(self, paths: Sequence[str]):
        self.paths = list(paths)
        self.skipped = 0
        self.resumed = 0
        self._in_flight: dict[str, tuple[str, int]] = {}  # path -> (stamp, place in the walk)
        self._first: list[MediaItem] = []

    def check_start(self) -> None:
        """Walk to the first media, so that an unlistable bucket fails before anything starts.

        Raises:
            StorageError: a URI's location cannot be listed.
        """
        self._walk = walk_media(self.paths, self._skip)
        self._first = [item for item in [next(self._walk, None)] if item is not None]

    def _skip(self, path: str) -> None:
        self.skipped += 1

    def todo(self, journal: Journal | None, on_resumed) -> Iterator[MediaItem]:
        """The media to scan: all of them, or those the resumed ``journal`` does not have unchanged."""
        for position, item in enumerate(itertools.chain(self._first, self._walk)):
            if journal is not None and _unchanged(journal, item):
                self.resumed += 1
                on_resumed()
                continue
            self._in_flight[printable(item.path) or ""] = (item.stamp, position)
            yield item

    def handed_back(self, path: str) -> tuple[str, int | None]:
        """(stamp, place in the walk) of a media handed to the engine whose result came back
        (forgotten then)."""
        return self._in_flight.pop(printable(path) or "", ("", None))

    def count_in_background(self, total) -> None:
        """Count the media in a second walk on a daemon thread; ``total(n)`` when it is done."""
        def count() -> None:
            try:
                total(sum(1 for _ in walk_media(self.paths)))
            except Exception:  # the scan's own walk reports listing errors
                pass

        threading.Thread(target=count, name="forensics-count", daemon=True).start()


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
        sha = storage.file_sha256(item.path)
    except OSError:
        return False
    return journal.done(item.path, sha)
