"""Run a whole scan: discover inputs, check the outputs, run an engine, journal each result,
write the reports, show progress and a summary.

The jobs live in their own modules: output safety and bucket staging in
:mod:`forensics.report.outputs` (checked before any model loads), the journal that lets a
killed scan resume in :mod:`forensics.report.journal` (each finished media goes there at once;
the Parquet reports are written from it, in input order, when the scan completes), progress in
:mod:`forensics.report.progress`, the summary in :mod:`forensics.report.summary`. This module
lists the media (:class:`_Listing`, which skips what a resumed journal has) and runs them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
from rich.console import Console

from forensics import __version__
from forensics.config import Cluster, ScanConfig
from forensics.engines import Engine, open_engine
from forensics.media import storage
from forensics.media.discover import MediaItem, walk_media
from forensics.report.journal import Journal, journal_path
from forensics.report.outputs import (
    OutputError,
    check_outputs,
    check_remote_report,
    remove_staged,
    staged_report,
    upload_reports,
)
from forensics.report.html import Review, write_review
from forensics.report.progress import ScanProgress
from forensics.report.summary import Condensed, readable, render_condensed, report_batches
from forensics.report.writer import ReportWriter, remove_stale_temporaries
from forensics.result import printable


@dataclass
class ScanOutcome:
    """What a finished scan wrote and found.

    Attributes:
        out: the report as asked for (a path or a URI).
        media_count: media in the report; ``fakes``: of them with verdict fake.
        skipped: non-media files passed over while walking folders.
        report: where the report can be read on this machine (a bucket's: its staged copy,
            deleted once the review page is written; None then).
        review: the HTML review page written from the report (``run_scan(review=...)``), or None.
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
    review: Review | None = None

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


def run_scan(
    paths: Sequence[str],
    config: ScanConfig,
    out: str | os.PathLike[str],
    quiet: bool = False,
    console: Console | None = None,
    resume: bool = False,
    overwrite: bool = False,
    cluster: Cluster | None = None,
    review: Path | None = None,
) -> ScanOutcome:
    """Scan ``paths`` and write the reports at ``out`` (and ``<out>.faces.parquet``).

    Args:
        resume: continue the interrupted scan whose journal is beside ``out``: media already
            in it, unchanged (same path and sha256), are not scanned again.
        overwrite: replace an existing ``out`` even when it is not a forensics report.
        cluster: where the Ray engine runs (:class:`forensics.config.Cluster`); None: a local instance.
        review: also write the HTML review page here (:func:`forensics.report.html.write_review`;
            for a bucket ``out``, from the local copy of the reports, deleted afterwards). A page
            that cannot be written raises OutputError after the reports are written.

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
        engine, metadata = _scan_into(journal, listing, config, cluster, resume, console, quiet)
        # in input order (each media's place in the walk, also across a resume); a media
        # scanned again keeps its place
        with ReportWriter(out, metadata) as writer:
            for media_row, face_rows in journal.rows():
                writer.write_rows(media_row, face_rows)
        if remote:
            try:
                upload_reports(out, target)
            except OSError as exc:
                raise OutputError(f"{exc}; the reports are at {out} and the journal is kept: run again with "
                                  "--resume to upload them") from None
    except BaseException:
        journal.close(delete=not resume and not len(journal.entries))  # keep a journal only if it holds work
        raise
    journal.close(delete=True)
    elapsed = time.perf_counter() - started
    nodes = frozenset(getattr(engine, "nodes_used", ()))
    condensed = _summarise(out, target, elapsed, listing, config.engine, nodes, console, quiet)
    fakes = condensed.counts.get(("fake", "all"), 0)
    page = None
    try:
        if review is not None:
            try:
                page = write_review(out, review)
            except OSError as exc:
                raise OutputError(f"the reports are written at {target}, but the review page {review} cannot be: "
                                  f"{exc.strerror or exc}; write it with `forensics report {target} --html PAGE`") from None
            if not quiet:
                console.print(f"wrote the HTML review {page.path} ({page.media} media, {page.images_linked} images "
                              "linked); open it in a browser")
    finally:
        if remote:
            remove_staged(out)
    return ScanOutcome(target, condensed.total, fakes, listing.skipped, elapsed, metadata, nodes, listing.resumed,
                       None if remote else out, page)


def _scan_into(journal: Journal, listing: "_Listing", config: ScanConfig, cluster: Cluster | None, resume: bool,
               console: Console, quiet: bool) -> tuple[Engine, dict[str, Any]]:
    """Open the engine, scan the listing's media into the journal (each as it finishes: a cluster
    finishes media out of order, and nothing waits in memory behind a slow one), close the
    engine; returns it (closed) and the reports' metadata."""
    engine = open_engine(config, cluster)
    try:
        metadata = report_metadata(config, engine.audit())
        shown = set() if quiet else _show_notes(engine, console, set())
        journal.begin(metadata)
        with ScanProgress(console, quiet) as progress:
            listing.count_in_background(progress.counted)
            todo = listing.todo(journal if resume else None, lambda: progress.notify("media", 1))
            for result in engine.scan(todo, progress=progress.notify, ordered=False):
                journal.add(result, *listing.handed_back(result.path))
    finally:
        engine.close()
    if not quiet:  # a cluster's actors report how their models ran as their results come back
        _show_notes(engine, console, shown)
    return engine, metadata


def _summarise(out: Path, target: str, elapsed: float, listing: "_Listing", engine: str, nodes: frozenset[str],
               console: Console, quiet: bool) -> Condensed:
    """The written report's counts, read back a batch at a time, printed unless ``quiet``."""
    condensed = Condensed(top=10)
    for batch in report_batches(out):  # the summary's columns, a batch at a time
        condensed.add(batch)
    if not quiet:
        extra = {"report": f"{target} (+ faces), {condensed.total} media in {elapsed:.1f} s"}
        if listing.resumed:
            extra["resumed"] = f"{listing.resumed} media taken from the interrupted scan's journal"
        if engine == "ray":
            extra["engine"] = f"ray, {len(nodes)} node(s) did the work"
        readable(console).print(render_condensed(condensed, skipped=listing.skipped, extra=extra))
    return condensed


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
