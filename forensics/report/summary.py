"""The terminal summary of a report: counts by verdict and status, the most suspicious media."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console, Group
from rich.table import Table

from forensics.aggregate import FAMILIES
from forensics.report.thumbnails import score_colour


def _counts(table: pa.Table) -> Table:
    counts = Table(title="Media by outcome", title_justify="left")
    counts.add_column("outcome")
    counts.add_column("images", justify="right")
    counts.add_column("videos", justify="right")
    counts.add_column("total", justify="right")
    outcomes = [
        ("fake", (pc.field("verdict") == "fake")),
        ("real", (pc.field("verdict") == "real")),
        ("no face", (pc.field("status") == "no_face")),
        ("error", (pc.field("status") == "error")),
    ]
    for label, expr in outcomes:
        rows = table.filter(expr)
        images = rows.filter(pc.field("kind") == "image").num_rows
        videos = rows.filter(pc.field("kind") == "video").num_rows
        style = {"fake": "bold red", "error": "yellow"}.get(label, "")
        counts.add_row(label, str(images), str(videos), str(rows.num_rows), style=style if rows.num_rows else "")
    counts.add_row("all", "", "", str(table.num_rows), style="bold")
    if "warnings" in table.column_names:
        warned = table.filter(pc.greater(pc.list_value_length(table["warnings"]), 0))
        images = warned.filter(pc.field("kind") == "image").num_rows
        counts.add_row("with warnings", str(images), str(warned.num_rows - images), str(warned.num_rows),
                       style="yellow" if warned.num_rows else "")
    return counts


def _ranked(table: pa.Table, top: int, title: str) -> Table:
    rows = table.slice(0, top).to_pylist()
    # each detector's score, when the scan ran a suite
    families = [f for f in FAMILIES if any(row.get(f"score_{f}") is not None for row in rows)]
    ranked = Table(title=title, title_justify="left")
    for name, justify in (("score", "right"), ("verdict", "left"), *((f, "right") for f in families),
                          ("kind", "left"), ("faces", "right"), ("tracks", "right"), ("path", "left")):
        ranked.add_column(name, justify=justify, overflow="fold")
    for row in rows:
        r, g, b = score_colour(row["score"])
        shown = row["verdict"] + (f": {FAMILIES[row['family']]}" if row.get("family") in FAMILIES else "")
        ranked.add_row(f"[rgb({r},{g},{b})]{row['score']:.3f}[/]", shown,
                       *(_family_cell(row.get(f"score_{f}")) for f in families), row["kind"],
                       str(row["faces_detected"]), str(row["tracks"]), row["path"])
    return ranked


def _family_cell(score: float | None) -> str:
    if score is None:
        return "-"
    r, g, b = score_colour(score)
    return f"[rgb({r},{g},{b})]{score:.3f}[/]"


def _errors(table: pa.Table, top: int) -> Table:
    errors = Table(title="Errors", title_justify="left")
    errors.add_column("path", overflow="fold")
    errors.add_column("error", overflow="fold")
    for row in table.slice(0, top).to_pylist():
        errors.add_row(row["path"], row["error"])
    return errors


def _warnings(table: pa.Table, top: int) -> Table:
    warned = Table(title="Damaged evidence (warnings)", title_justify="left")
    warned.add_column("status")
    warned.add_column("path", overflow="fold")
    warned.add_column("warnings", overflow="fold")
    for row in table.slice(0, top).to_pylist():
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


def render_summary(table: pa.Table, top: int = 10, verdict: str | None = None, status: str | None = None,
                   skipped: int = 0, extra: dict[str, Any] | None = None) -> Group:
    """The summary as rich renderables; filters narrow the ranked list, not the counts."""
    parts: list[Any] = [_counts(table)]
    listed = table
    if verdict:
        listed = listed.filter(pc.field("verdict") == verdict)
    if status:
        listed = listed.filter(pc.field("status") == status)
    scored = sort_for_review(listed.filter(pc.is_valid(pc.field("score"))))
    title = f"Most suspicious ({min(top, scored.num_rows)} of {scored.num_rows} scored, videos first)"
    if scored.num_rows:
        parts.append(_ranked(scored, top, title))
    errors = listed.filter(pc.field("status") == "error")
    if errors.num_rows and verdict is None:
        parts.append(_errors(errors, top))
    if "warnings" in listed.column_names:
        warned = listed.filter(pc.greater(pc.list_value_length(listed["warnings"]), 0))
        if warned.num_rows:
            parts.append(_warnings(warned, top))
    notes = []
    if skipped:
        notes.append(f"{skipped} non-media file(s) skipped while walking folders")
    for key, value in (extra or {}).items():
        notes.append(f"{key}: {value}")
    parts.extend(notes)
    return Group(*parts)


def print_summary(table: pa.Table, console: Console | None = None, **kwargs: Any) -> None:
    (console or Console()).print(render_summary(table, **kwargs))
