"""The terminal summary of a report: counts by verdict and status and by provenance, the most
suspicious media, what the files declare about their origin."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console, Group
from rich.table import Table

from forensics.families import FAMILIES, VERDICT_FAMILIES
from forensics.media.provenance import PROVENANCE_STATUSES
from forensics.report.thumbnails import score_colour


OUTCOMES = {"fake": pc.field("verdict") == "fake", "real": pc.field("verdict") == "real",
            "no face": pc.field("status") == "no_face", "error": pc.field("status") == "error"}
SUMMARY_COLUMNS = ("path", "kind", "status", "verdict", "family", "score", *(f"score_{f}" for f in FAMILIES),
                   "faces_detected", "tracks", "error", "warnings", "provenance_status", "provenance_ai", "provenance")
"""The media report's columns the summary reads (``iter_batches(columns=...)`` of a big report)."""


@dataclass
class Condensed:
    """What the summary shows of a report, gathered a batch at a time (memory: ``top`` rows).

    Attributes:
        counts: media by (outcome, kind): outcomes fake, real, no face, error and with
            warnings; kinds image and video.
        total: media in the report.
        ranked: the ``top`` most suspicious scored media (:func:`sort_for_review` order).
        scored: scored media that pass the filters.
        errors: the first ``top`` error rows; ``warned``: the first ``top`` rows with warnings.
        provenance: media by provenance status (:data:`PROVENANCE_STATUSES`), and by what they
            declare (``declares AI``, ``declares another origin``).
        declared: the first ``top`` rows whose file declares something about its origin.
    """

    top: int
    verdict: str | None = None
    status: str | None = None
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    total: int = 0
    scored: int = 0
    ranked: pa.Table | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warned: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, int] = field(default_factory=dict)
    declared: list[dict[str, Any]] = field(default_factory=list)

    def add(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Count one batch of media rows and keep what the lists need of it."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self.total += table.num_rows
        warned = None
        if "warnings" in table.column_names:
            warned = table.filter(pc.greater(pc.list_value_length(table["warnings"]), 0))
        for label, expr in [*OUTCOMES.items(), ("with warnings", None)]:
            rows = table.filter(expr) if expr is not None else warned
            if rows is None:
                continue
            for kind in ("image", "video", "all"):
                n = rows.num_rows if kind == "all" else rows.filter(pc.field("kind") == kind).num_rows
                self.counts[(label, kind)] = self.counts.get((label, kind), 0) + n
        if "provenance_status" in table.column_names:  # reports of older versions have none
            for status in PROVENANCE_STATUSES:
                n = table.filter(pc.field("provenance_status") == status).num_rows
                self.provenance[status] = self.provenance.get(status, 0) + n
            for label, value in (("declares AI", True), ("declares another origin", False)):
                n = table.filter(pc.field("provenance_ai") == value).num_rows
                self.provenance[label] = self.provenance.get(label, 0) + n
        listed = table
        if self.verdict:
            listed = listed.filter(pc.field("verdict") == self.verdict)
        if self.status:
            listed = listed.filter(pc.field("status") == self.status)
        scored = listed.filter(pc.is_valid(pc.field("score")))
        self.scored += scored.num_rows
        if scored.num_rows:
            both = scored if self.ranked is None else pa.concat_tables([self.ranked, scored.select(self.ranked.column_names)])
            self.ranked = sort_for_review(both).slice(0, self.top)
        if self.verdict is None and len(self.errors) < self.top:
            self.errors += listed.filter(pc.field("status") == "error").slice(0, self.top - len(self.errors)).to_pylist()
        if "warnings" in listed.column_names and len(self.warned) < self.top:
            rows = listed.filter(pc.greater(pc.list_value_length(listed["warnings"]), 0))
            self.warned += rows.slice(0, self.top - len(self.warned)).to_pylist()
        if "provenance" in listed.column_names and len(self.declared) < self.top:
            rows = listed.filter(pc.is_valid(pc.field("provenance")))
            self.declared += rows.slice(0, self.top - len(self.declared)).to_pylist()


def _counts(condensed: Condensed) -> Table:
    counts = Table(title="Media by outcome", title_justify="left")
    counts.add_column("outcome")
    counts.add_column("images", justify="right")
    counts.add_column("videos", justify="right")
    counts.add_column("total", justify="right")
    for label in OUTCOMES:
        images, videos = condensed.counts.get((label, "image"), 0), condensed.counts.get((label, "video"), 0)
        total = condensed.counts.get((label, "all"), 0)
        style = {"fake": "bold red", "error": "yellow"}.get(label, "")
        counts.add_row(label, str(images), str(videos), str(total), style=style if total else "")
    counts.add_row("all", "", "", str(condensed.total), style="bold")
    if ("with warnings", "all") in condensed.counts:
        images, total = condensed.counts[("with warnings", "image")], condensed.counts[("with warnings", "all")]
        counts.add_row("with warnings", str(images), str(total - images), str(total), style="yellow" if total else "")
    return counts


def _provenance_counts(condensed: Condensed) -> Table:
    counts = Table(title="Media by provenance (what the files declare)", title_justify="left")
    counts.add_column("content credentials")
    counts.add_column("media", justify="right")
    for label in (*PROVENANCE_STATUSES, "declares AI", "declares another origin"):
        n = condensed.provenance.get(label, 0)
        style = {"invalid": "yellow", "declares AI": "bold red"}.get(label, "")
        counts.add_row(label, str(n), style=style if n else "")
    return counts


def _declared(rows: list[dict[str, Any]]) -> Table:
    declared = Table(title="What the files declare (provenance)", title_justify="left")
    for name in ("verdict", "credentials", "path", "provenance"):
        declared.add_column(name, overflow="fold")
    for row in rows:
        shown = (row.get("verdict") or "-") + (f": {VERDICT_FAMILIES[row['family']]}"
                                               if row.get("family") in VERDICT_FAMILIES else "")
        declared.add_row(shown, row["provenance_status"], row["path"], row["provenance"],
                         style="bold red" if row.get("provenance_ai") else "")
    return declared


def _ranked(rows: list[dict[str, Any]], title: str) -> Table:
    # each detector's score, when the scan ran a suite
    families = [f for f in FAMILIES if any(row.get(f"score_{f}") is not None for row in rows)]
    ranked = Table(title=title, title_justify="left")
    for name, justify in (("score", "right"), ("verdict", "left"), *((f, "right") for f in families),
                          ("kind", "left"), ("faces", "right"), ("tracks", "right"), ("path", "left")):
        ranked.add_column(name, justify=justify, overflow="fold")
    for row in rows:
        r, g, b = score_colour(row["score"])
        shown = row["verdict"] + (f": {VERDICT_FAMILIES[row['family']]}" if row.get("family") in VERDICT_FAMILIES else "")
        ranked.add_row(f"[rgb({r},{g},{b})]{row['score']:.3f}[/]", shown,
                       *(_family_cell(row.get(f"score_{f}")) for f in families), row["kind"],
                       str(row["faces_detected"]), str(row["tracks"]), row["path"])
    return ranked


def _family_cell(score: float | None) -> str:
    if score is None:
        return "-"
    r, g, b = score_colour(score)
    return f"[rgb({r},{g},{b})]{score:.3f}[/]"


def _errors(rows: list[dict[str, Any]]) -> Table:
    errors = Table(title="Errors", title_justify="left")
    errors.add_column("path", overflow="fold")
    errors.add_column("error", overflow="fold")
    for row in rows:
        errors.add_row(row["path"], row["error"])
    return errors


def _warnings(rows: list[dict[str, Any]]) -> Table:
    warned = Table(title="Damaged evidence (warnings)", title_justify="left")
    warned.add_column("status")
    warned.add_column("path", overflow="fold")
    warned.add_column("warnings", overflow="fold")
    for row in rows:
        warned.add_row(row["status"], row["path"], "; ".join(row["warnings"]))
    return warned


def sort_for_review(table: pa.Table) -> pa.Table:
    """Scored media first, videos before images, most fake first; then the rest by path."""
    kind_rank = pc.if_else(pc.equal(table["kind"], "video"), 0, 1)
    has_score = pc.if_else(pc.is_valid(table["score"]), 0, 1)
    keyed = table.append_column("_scored", has_score).append_column("_kind", kind_rank)
    keyed = keyed.sort_by([("_scored", "ascending"), ("_kind", "ascending"), ("score", "descending"),
                           ("path", "ascending")])
    return keyed.drop_columns(["_scored", "_kind"])


def render_summary(table: pa.Table | Iterable[pa.Table | pa.RecordBatch], top: int = 10, verdict: str | None = None,
                   status: str | None = None, skipped: int = 0, extra: dict[str, Any] | None = None) -> Group:
    """The summary of a media report (a table, or its batches: memory then stays at ``top``
    rows, whatever the report's size) as rich renderables; filters narrow the lists, not the counts."""
    condensed = Condensed(top, verdict, status)
    for batch in [table] if isinstance(table, pa.Table) else table:
        condensed.add(batch)
    return render_condensed(condensed, skipped, extra)


def render_condensed(condensed: Condensed, skipped: int = 0, extra: dict[str, Any] | None = None) -> Group:
    """The summary of what :class:`Condensed` gathered, as rich renderables."""
    parts: list[Any] = [_counts(condensed)]
    if condensed.provenance:
        parts.append(_provenance_counts(condensed))
    if condensed.ranked is not None:
        title = f"Most suspicious ({condensed.ranked.num_rows} of {condensed.scored} scored, videos first)"
        parts.append(_ranked(condensed.ranked.to_pylist(), title))
    if condensed.declared:
        parts.append(_declared(condensed.declared))
    if condensed.errors:
        parts.append(_errors(condensed.errors))
    if condensed.warned:
        parts.append(_warnings(condensed.warned))
    notes = []
    if skipped:
        notes.append(f"{skipped} non-media file(s) skipped while walking folders")
    for key, value in (extra or {}).items():
        notes.append(f"{key}: {value}")
    parts.extend(notes)
    return Group(*parts)


def report_batches(report: str | os.PathLike[str] | Any, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    """The media report's rows that the summary reads, a batch at a time (``report``: a path or
    an open binary file)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(report)
    columns = [c for c in SUMMARY_COLUMNS if c in parquet.schema_arrow.names]
    yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)


def readable(console: Console, width: int = 150) -> Console:
    """``console``, or where it is not a terminal (a pipe, a log file, CI) and narrower than
    ``width`` columns (rich's default is 80), a console on the same file that is ``width`` wide:
    the tables' paths and figures are not folded into slivers."""
    if console.is_terminal or console.width >= width:
        return console
    return Console(file=console.file, width=width)


def print_summary(table: pa.Table | Iterable[pa.Table | pa.RecordBatch], console: Console | None = None, **kwargs: Any) -> None:
    readable(console or Console()).print(render_summary(table, **kwargs))


class ReportError(ValueError):
    """A report that does not exist or cannot be read as a forensics report."""


def summarise_report(report: str, console: Console | None = None, top: int = 10, verdict: str | None = None,
                     status: str | None = None) -> None:
    """Print the summary of the media report at ``report`` (a path or a bucket URI), read a batch
    at a time, with the scan's model and date from its metadata.

    Raises:
        ReportError: no such report, the bucket cannot be read, or it is not a Parquet report.
    """
    import contextlib

    import pyarrow.parquet as pq

    from forensics.media import storage
    from forensics.report.schema import read_metadata

    with contextlib.ExitStack() as stack:
        source: Any = report
        try:
            if storage.is_remote(report):
                if not storage.exists(report):
                    raise ReportError(f"{report}: no such report")
                fs, path = storage.filesystem(report)
                source = stack.enter_context(fs.open(path, "rb"))
            elif not os.path.exists(report):
                raise ReportError(f"{report}: no such report")
        except storage.StorageError as exc:
            raise ReportError(str(exc)) from None
        try:
            meta = read_metadata(pq.read_schema(source))
        except Exception as exc:
            raise ReportError(f"{report} is not a readable Parquet report: {exc}") from None
        extra = {}
        if meta:
            extra = {"model": f"{meta.get('model')} (weights sha256 {str(meta.get('weights_sha256'))[:12]}…)",
                     "scanned": f"{meta.get('created')} by forensics {meta.get('version')}, engine {meta.get('engine')}"}
        print_summary(report_batches(source), console, top=top, verdict=verdict, status=status, extra=extra)
