"""The HTML review: one page a reviewer opens from disk, made from a scan's two Parquet reports.

``forensics report report.parquet --html review.html`` (or ``forensics scan ... --html``)
writes a single HTML file with its data inline: counts by verdict and status, the scan's
configuration and model (from the reports' metadata), a sortable, filterable, paginated table
of media, and per media a card with its thumbnail, what the file declares about its origin
(its Content Credentials' line, signer and actions, its AI labels and generator traces), each
track's score over time (inline SVG), its most suspicious face crops with score, time and
track, their heatmaps when the scan drew them, its warnings and its error. Images stay where the scan wrote them and are linked
relative to the HTML file, so the page and the thumbnails folder travel together. No network,
no server: the page's script only reads the data embedded in it.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forensics.families import VERDICT_FAMILIES
from forensics.report.evidence import EVIDENCE_FACES, evidence_name, top_faces
from forensics.report.schema import faces_path, read_metadata
from forensics.result import family_scores_of

PAGE_SIZE = 50
"""Media rows per page of the table."""

COLUMNS = ("path", "kind", "verdict", "score", "faces", "tracks", "status", "warnings", "error",
           "warning_text", "width", "height", "duration", "family", "family_scores", "provenance_status",
           "provenance_ai", "provenance")


@dataclass
class Review:
    """What :func:`write_review` wrote."""

    path: Path
    media: int
    faces: int
    images_linked: int  # thumbnails, crops and heatmaps found and linked


def _number(x: float | None) -> float | None:
    """JSON has no NaN: a missing or undefined number is null."""
    return None if x is None or not np.isfinite(x) else float(x)


class _Folders:
    """Links from the page to pictures, with each pictures folder listed and located once
    (a 10,000-media review would otherwise spend most of its time in path arithmetic)."""

    def __init__(self, page_folder: Path):
        self.page_folder = page_folder
        self._seen: dict[Path, tuple[str, set[str]]] = {}

    def link(self, folder: Path, name: str) -> str | None:
        """A URL for ``folder / name`` relative to the page (quoted), or None when no such file."""
        if folder not in self._seen:
            try:
                names = set(os.listdir(folder))
            except OSError:
                names = set()
            self._seen[folder] = (Path(os.path.relpath(folder, self.page_folder)).as_posix(), names)
        relative, names = self._seen[folder]
        return urllib.parse.quote(f"{relative}/{name}") if name in names else None


def _find(path: str | None, report_folder: Path) -> Path | None:
    """A thumbnail path as the report records it, found on disk: absolute, or relative to the
    current folder (where the scan most often ran) or to the report's folder."""
    if not path:
        return None
    recorded = Path(path)
    candidates = [recorded] if recorded.is_absolute() else [Path.cwd() / recorded, report_folder / recorded]
    return next((c for c in candidates if c.is_file()), None)


def review_data(report: str | os.PathLike[str], page_folder: Path, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """The page's data: table rows, counts, configuration and per-media details (JSON-ready)."""
    import pyarrow.parquet as pq

    report = Path(report)
    media = pq.read_table(report)
    meta = read_metadata(media.schema)
    config = meta.get("config", {})
    keep = int(config.get("evidence_faces", EVIDENCE_FACES))
    faces_file = faces_path(report)
    face_rows: dict[str, np.ndarray] = {}  # path -> its rows in the faces report, in scan order
    columns: dict[str, np.ndarray] = {}
    if faces_file.exists():
        faces = pq.read_table(faces_file, columns=["path", "frame_index", "timestamp_s", "track_id", "score"])
        columns = {name: faces.column(name).to_numpy() for name in ("frame_index", "timestamp_s", "track_id", "score")}
        face_rows = faces.select(["path"]).to_pandas().groupby("path", sort=False).indices
    folders = _Folders(page_folder)
    rows, details, linked = [], [], 0
    counts: dict[str, int] = {"media": media.num_rows}
    for row in media.to_pylist():
        warnings = list(row.get("warnings") or [])
        rows.append([row["path"], row["kind"], row["verdict"], _number(row["score"]), row["faces_detected"],
                     row["tracks"], row["status"], len(warnings), row["error"], " ".join(warnings), row["width"],
                     row["height"], _number(row["duration_s"]), row.get("family"),
                     {f: _number(s) for f, s in family_scores_of(row).items()},
                     row.get("provenance_status", "none"), row.get("provenance_ai"), row.get("provenance")])
        for key in (f"verdict {row['verdict']}" if row["verdict"] else None, f"status {row['status']}",
                    f"credentials {row['provenance_status']}" if row.get("provenance_status", "none") != "none" else None,
                    "declares AI" if row.get("provenance_ai") else None):
            if key:
                counts[key] = counts.get(key, 0) + 1
        if warnings:
            counts["with warnings"] = counts.get("with warnings", 0) + 1
        detail: dict[str, Any] = {"warnings": warnings}
        if row.get("provenance") or row.get("provenance_traces"):  # what the file declares, for the card
            detail["provenance"] = {key: row.get(f"provenance_{key}") for key in
                                    ("tool", "signer", "signed_at", "actions", "ingredients", "traces")}
        thumbnail = _find(row.get("thumbnail"), report.parent)
        if thumbnail is not None:
            detail["thumbnail"] = folders.link(thumbnail.parent, thumbnail.name)
            linked += 1
        found = face_rows.get(row["path"])
        if found is not None and len(found):
            scores, times = columns["score"][found], columns["timestamp_s"][found]
            track_ids, frames = columns["track_id"][found], columns["frame_index"][found]
            # each track's score as the verdict was made of it (the row's track_scores), its faces' over time
            decided = {t["track_id"]: t for t in row.get("track_scores") or []}
            tracks = []
            for track_id in np.unique(track_ids):
                mine = np.flatnonzero(track_ids == track_id)
                mine = mine[np.argsort(times[mine], kind="stable")]
                points = np.stack([times[mine].round(3), scores[mine].round(4)], axis=1).tolist()
                track = decided.get(int(track_id), {})
                tracks.append({"id": int(track_id), "points": points, "score": _number(track.get("score")),
                               "counted": track.get("counted"),
                               "families": {f: _number(s) for f, s in family_scores_of(track).items()}})
            detail["tracks"] = tracks
            top = []
            for rank, i in enumerate(top_faces(scores, keep)):
                entry = {"rank": rank, "score": round(float(scores[i]), 4), "t": round(float(times[i]), 3),
                         "frame": int(frames[i]), "track": int(track_ids[i])}
                if thumbnail is not None and row["sha256"]:
                    for key, heat in (("crop", False), ("heat", True)):
                        link = folders.link(thumbnail.parent, evidence_name(row["sha256"], rank, heat))
                        if link is not None:
                            entry[key] = link
                            linked += 1
                top.append(entry)
            detail["faces"] = top
        details.append(detail)
    shown_config = {k: config[k] for k in ("frames", "fps", "threshold", "aggregate", "detect_size", "min_face_prob",
                                           "engine", "device", "heatmaps") if k in config}
    shown_config.update({k: meta[k] for k in ("model", "weights", "weights_sha256") if k in meta})
    return {"columns": list(COLUMNS), "families": VERDICT_FAMILIES, "media": rows, "details": details, "counts": counts, "config": shown_config,
            "page_size": page_size, "threshold": float(config.get("threshold", 0.5)), "linked": linked,
            "faces": sum(len(g) for g in face_rows.values()), "meta": meta}


def write_review(report: str | os.PathLike[str], html: str | os.PathLike[str], page_size: int = PAGE_SIZE) -> Review:
    """Write the HTML review of ``report`` (and its faces report, when beside it) to ``html``."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    html = Path(html)
    html.parent.mkdir(parents=True, exist_ok=True)
    data = review_data(report, html.parent.resolve(), page_size)
    meta = data.pop("meta")
    env = Environment(loader=PackageLoader("forensics.report", "templates"), autoescape=select_autoescape(["html"]))
    # JSON inside <script>: "</" would end the element early, so it is written "<\/"
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    from markupsafe import Markup

    page = env.get_template("review.html").render(
        title=Path(report).name, created=meta.get("created", "?"), version=meta.get("version", "?"),
        model=meta.get("model", "?"), weights_sha256=str(meta.get("weights_sha256", "?")),
        threshold=data["threshold"], data=Markup(payload))
    tmp = html.with_name(f".{html.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, html)
    return Review(html, len(data["media"]), data["faces"], data["linked"])
