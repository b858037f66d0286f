"""Annotated JPEG thumbnails for the human reviewer.

An image: the picture with every face boxed, the box coloured by the face's score (green
real, red fake) and labelled with it. A video: a contact sheet of up to 16 sampled frames
with their boxes and scores, and under it the frame score (the most fake face in the frame)
over time, against the verdict threshold. Files are named from the content hash.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from forensics.result import Extraction

SHEET_COLUMNS = 4
PLOT_HEIGHT = 120
BACKGROUND = (24, 24, 24)


def score_colour(score: float) -> tuple[int, int, int]:
    """Green (0, real) through yellow to red (1, fake)."""
    s = float(np.clip(score, 0.0, 1.0))
    return (int(255 * min(1.0, 2 * s)), int(255 * min(1.0, 2 * (1 - s))), 0)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _draw_faces(image: Image.Image, boxes: np.ndarray, scores: np.ndarray, scale: float) -> None:
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 200))
    font = _font(max(10, round(max(image.size) / 28)))
    for box, score in zip(boxes, scores):
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        colour = score_colour(score)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        label = f"{score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        height = bottom - top + 2 * width
        label_top = y1 - height if y1 - height >= 0 else y1  # inside the box at the top edge
        draw.rectangle((x1, label_top, x1 + right - left + 2 * width, label_top + height), fill=colour)
        draw.text((x1 + width - left, label_top + width - top), label, fill=(0, 0, 0), font=font)


def _score_plot(width: int, times: list[float], frame_scores: list[float | None], threshold: float) -> Image.Image:
    plot = Image.new("RGB", (width, PLOT_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(plot)
    font = _font(12)
    pad_x, pad_y = 36, 10
    inner_w, inner_h = width - 2 * pad_x, PLOT_HEIGHT - 2 * pad_y

    def y_of(score: float) -> float:
        return pad_y + (1.0 - score) * inner_h

    draw.rectangle((pad_x, pad_y, pad_x + inner_w, pad_y + inner_h), outline=(90, 90, 90))
    draw.line((pad_x, y_of(threshold), pad_x + inner_w, y_of(threshold)), fill=(120, 120, 200), width=1)
    draw.text((4, y_of(1.0) - 6), "1.0", fill=(200, 200, 200), font=font)
    draw.text((4, y_of(0.0) - 6), "0.0", fill=(200, 200, 200), font=font)
    span = max(times[-1] - times[0], 1e-6) if times else 1.0
    points = []
    for t, s in zip(times, frame_scores):
        x = pad_x + (t - times[0]) / span * inner_w if len(times) > 1 else pad_x + inner_w / 2
        if s is None:
            draw.line((x, pad_y + inner_h - 3, x, pad_y + inner_h), fill=(110, 110, 110))  # no face
            points.append(None)
            continue
        points.append((x, y_of(s)))
        draw.ellipse((x - 2, y_of(s) - 2, x + 2, y_of(s) + 2), fill=score_colour(s))
    for a, b in zip(points, points[1:]):
        if a is not None and b is not None:
            draw.line((a, b), fill=(220, 220, 220), width=1)
    label = f"frame score over time (0-{times[-1]:.1f} s)" if times else "frame score"
    draw.text((pad_x + 4, pad_y + 2), label, fill=(200, 200, 200), font=font)
    return plot


def render_thumbnail(extraction: "Extraction", scores: np.ndarray, threshold: float = 0.5) -> Image.Image:
    """The annotated thumbnail of one media item as a PIL image."""
    x = extraction
    scores = np.asarray(scores, np.float64)
    if x.item.kind != "video":
        preview = x.previews[0]
        image = Image.fromarray(preview.image)
        _draw_faces(image, x.boxes, scores, preview.scale)
        return image
    tiles = []
    for preview in x.previews:
        tile = Image.fromarray(preview.image)
        here = x.face_frames == preview.frame_index
        _draw_faces(tile, x.boxes[here], scores[here], preview.scale)
        ImageDraw.Draw(tile).text((4, tile.height - 16), f"t={preview.timestamp_s:.1f}s", fill=(255, 255, 255),
                                  font=_font(12))
        tiles.append(tile)
    tile_w = max(t.width for t in tiles)
    tile_h = max(t.height for t in tiles)
    rows = -(-len(tiles) // SHEET_COLUMNS)
    columns = min(SHEET_COLUMNS, len(tiles))
    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h + PLOT_HEIGHT), BACKGROUND)
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % SHEET_COLUMNS) * tile_w, (k // SHEET_COLUMNS) * tile_h))
    frame_scores: list[float | None] = []
    for index in x.frame_indices:
        here = scores[x.face_frames == index]
        frame_scores.append(float(here.max()) if len(here) else None)
    sheet.paste(_score_plot(sheet.width, x.frame_times, frame_scores, threshold), (0, rows * tile_h))
    return sheet


def write_thumbnail(extraction: "Extraction", scores: np.ndarray, folder: str | os.PathLike[str],
                    threshold: float = 0.5) -> str | None:
    """Write the thumbnail as ``<folder>/<sha256[:16]>.jpg``; return its path (None: nothing to show)."""
    if not extraction.previews or extraction.sha256 is None:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{extraction.sha256[:16]}.jpg"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    render_thumbnail(extraction, scores, threshold).save(tmp, format="JPEG", quality=88)
    os.replace(tmp, path)
    return str(path)
