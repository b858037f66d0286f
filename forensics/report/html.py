"""The HTML review: one page a reviewer opens from disk, made from a scan's two Parquet reports.

``forensics report report.parquet --html review.html`` (or ``forensics scan ... --html``)
writes a single HTML file with its data inline: counts by verdict and status, the scan's
configuration and model (from the reports' metadata), a sortable, filterable, paginated table
of media, and per media a card with its thumbnail, each track's score over time (inline SVG),
its most suspicious face crops with score, time and track, their heatmaps when the scan drew
them, its warnings and its error. Images stay where the scan wrote them and are linked
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

from forensics.aggregate import track_score
from forensics.report.evidence import EVIDENCE_FACES, evidence_name, top_faces
from forensics.report.schema import faces_path, read_metadata

PAGE_SIZE = 50
"""Media rows per page of the table."""

COLUMNS = ("path", "kind", "verdict", "score", "faces", "tracks", "status", "warnings", "error",
           "warning_text", "width", "height", "duration")


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


def _link(target: Path, page_folder: Path) -> str:
    """A URL for ``target`` relative to the page's folder (file names quoted)."""
    return urllib.parse.quote(Path(os.path.relpath(target, page_folder)).as_posix())


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
    strategy, topk = config.get("aggregate", "confident"), int(config.get("topk", 5))
    keep = int(config.get("evidence_faces", EVIDENCE_FACES))
    faces_file = faces_path(report)
    by_path: dict[str, Any] = {}
    if faces_file.exists():
        faces = pq.read_table(faces_file, columns=["path", "frame_index", "timestamp_s", "track_id", "score"]).to_pandas()
        by_path = {path: group for path, group in faces.groupby("path", sort=False)}
    rows, details, linked = [], [], 0
    counts: dict[str, int] = {"media": media.num_rows}
    for row in media.to_pylist():
        warnings = list(row.get("warnings") or [])
        rows.append([row["path"], row["kind"], row["verdict"], _number(row["score"]), row["faces_detected"],
                     row["tracks"], row["status"], len(warnings), row["error"], " ".join(warnings), row["width"],
                     row["height"], _number(row["duration_s"])])
        for key in (f"verdict {row['verdict']}" if row["verdict"] else None, f"status {row['status']}"):
            if key:
                counts[key] = counts.get(key, 0) + 1
        if warnings:
            counts["with warnings"] = counts.get("with warnings", 0) + 1
        detail: dict[str, Any] = {"warnings": warnings}
        thumbnail = _find(row.get("thumbnail"), report.parent)
        if thumbnail is not None:
            detail["thumbnail"] = _link(thumbnail, page_folder)
            linked += 1
        group = by_path.get(row["path"])
        if group is not None and len(group):
            scores = group["score"].to_numpy(np.float64)
            tracks = []
            for track_id, track in group.groupby("track_id", sort=True):
                track = track.sort_values("timestamp_s")
                points = [[round(float(t), 3), round(float(s), 4)] for t, s in zip(track["timestamp_s"], track["score"])]
                tracks.append({"id": int(track_id), "points": points,
                               "score": round(track_score(track["score"].to_numpy(), strategy, topk), 4)})
            detail["tracks"] = tracks
            top = []
            for rank, i in enumerate(top_faces(scores, keep)):
                face = group.iloc[int(i)]
                entry = {"rank": rank, "score": round(float(face["score"]), 4), "t": round(float(face["timestamp_s"]), 3),
                         "frame": int(face["frame_index"]), "track": int(face["track_id"])}
                if thumbnail is not None and row["sha256"]:
                    for key, heat in (("crop", False), ("heat", True)):
                        found = thumbnail.parent / evidence_name(row["sha256"], rank, heat)
                        if found.is_file():
                            entry[key] = _link(found, page_folder)
                            linked += 1
                top.append(entry)
            detail["faces"] = top
        details.append(detail)
    shown_config = {k: config[k] for k in ("frames", "fps", "threshold", "aggregate", "detect_size", "min_face_prob",
                                           "engine", "device", "heatmaps") if k in config}
    shown_config.update({k: meta[k] for k in ("model", "weights", "weights_sha256") if k in meta})
    return {"columns": list(COLUMNS), "media": rows, "details": details, "counts": counts, "config": shown_config,
            "page_size": page_size, "threshold": float(config.get("threshold", 0.5)), "linked": linked,
            "faces": sum(len(g) for g in by_path.values()), "meta": meta}


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
