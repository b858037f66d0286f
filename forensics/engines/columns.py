"""The pipeline's records as plain columns, for engines that move data between processes.

An :class:`~forensics.pipeline.Extraction` (one media's faces and previews, before scoring)
and a :class:`~forensics.result.MediaResult` (one media's report rows) become rows of plain
values: numpy arrays for the per-face and per-frame data, strings and ints for the rest.
Nullable scalars (sha256, size, error, video geometry...) travel together as one JSON string,
which keeps ``None`` and Python floats exact. Every row carries the media's ``index`` in the
input list, so that rows can be put back in input order and a retried batch's duplicates
dropped.

Decoding a row gives back an object equal to the one encoded: the same arrays (dtype and
values), the same scalars.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from forensics.media.decode import MediaInfo
from forensics.media.discover import MediaItem
from forensics.media.provenance import Provenance
from forensics.result import Extraction, FaceRecord, MediaResult, Preview

Row = dict[str, Any]

# column -> (dtype, shape of one element after the leading count axis)
_EXTRACTION_ARRAYS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "frame_indices": (np.dtype(np.int64), ()),
    "frame_times": (np.dtype(np.float64), ()),
    "face_frames": (np.dtype(np.int64), ()),
    "face_times": (np.dtype(np.float64), ()),
    "boxes": (np.dtype(np.float32), (4,)),
    "probs": (np.dtype(np.float32), ()),
    "landmarks": (np.dtype(np.float32), (5, 2)),
    "track_ids": (np.dtype(np.int64), ()),
}


def media_item_row(index: int, item: MediaItem) -> Row:
    """The input row of one media item: its position in the input list and the item."""
    return {"index": index, "path": item.path, "kind": item.kind, "problem": item.problem or ""}


def row_media_item(row: Mapping[str, Any]) -> MediaItem:
    """Inverse of :func:`media_item_row` (the index is the caller's)."""
    return MediaItem(str(row["path"]), str(row["kind"]), str(row["problem"]) or None)


def extraction_to_row(index: int, x: Extraction) -> Row:
    """One media's extraction as plain columns.

    Crops are ``uint8`` (n, size, size, 3); previews are stacked as ``uint8`` (p, h, w, 3)
    (a media's previews share one size) with their frame index, time (s) and scale beside.
    """
    info = None if x.info is None else {
        "width": x.info.width, "height": x.info.height, "fps": x.info.fps,
        "duration_s": x.info.duration_s, "frame_count": x.info.frame_count,
    }
    facts = {"problem": x.item.problem, "sha256": x.sha256, "size_bytes": x.size_bytes, "error": x.error,
             "info": info, "elapsed_s": x.elapsed_s, "warnings": x.warnings, "provenance": x.provenance.to_dict()}
    row: Row = {"index": index, "path": x.item.path, "kind": x.item.kind, "facts": json.dumps(facts)}
    row["frame_indices"] = np.asarray(x.frame_indices, np.int64)
    row["frame_times"] = np.asarray(x.frame_times, np.float64)
    for name in ("face_frames", "face_times", "boxes", "probs", "landmarks", "track_ids"):
        dtype, shape = _EXTRACTION_ARRAYS[name]
        row[name] = np.asarray(getattr(x, name), dtype).reshape((-1, *shape))
    crops = x.crops if x.crops is not None else np.zeros((0, 1, 1, 3), np.uint8)
    row["crops"] = np.ascontiguousarray(crops, np.uint8)
    if x.previews:
        row["previews"] = np.stack([p.image for p in x.previews]).astype(np.uint8, copy=False)
    else:
        row["previews"] = np.zeros((0, 1, 1, 3), np.uint8)
    row["preview_frames"] = np.asarray([p.frame_index for p in x.previews], np.int64)
    row["preview_times"] = np.asarray([p.timestamp_s for p in x.previews], np.float64)
    row["preview_scales"] = np.asarray([p.scale for p in x.previews], np.float64)
    return row


def row_to_extraction(row: Mapping[str, Any]) -> Extraction:
    """Inverse of :func:`extraction_to_row`."""
    facts = json.loads(row["facts"])
    item = MediaItem(str(row["path"]), str(row["kind"]), facts["problem"])
    info = None if facts["info"] is None else MediaInfo(**facts["info"])
    x = Extraction(item=item, sha256=facts["sha256"], size_bytes=facts["size_bytes"], info=info,
                   error=facts["error"], elapsed_s=facts["elapsed_s"], warnings=facts["warnings"],
                   provenance=Provenance(**facts["provenance"]))
    x.frame_indices = [int(v) for v in _array(row["frame_indices"], np.int64, ())]
    x.frame_times = [float(v) for v in _array(row["frame_times"], np.float64, ())]
    for name, (dtype, shape) in _EXTRACTION_ARRAYS.items():
        if name not in ("frame_indices", "frame_times"):
            setattr(x, name, _array(row[name], dtype, shape))
    x.crops = None if x.error is not None else np.asarray(row["crops"], np.uint8)
    previews = np.asarray(row["previews"], np.uint8)
    x.previews = [
        Preview(int(f), float(t), np.ascontiguousarray(previews[k]), float(s))
        for k, (f, t, s) in enumerate(zip(row["preview_frames"], row["preview_times"], row["preview_scales"]))
    ]
    return x


def result_to_row(index: int, result: MediaResult) -> Row:
    """One media's report rows as plain columns: the media row as JSON, the faces as arrays."""
    faces = result.faces
    return {
        "index": index,
        "media": json.dumps(result.media_row()),
        "face_frames": np.asarray([f.frame_index for f in faces], np.int64),
        "face_times": np.asarray([f.timestamp_s for f in faces], np.float64),
        "face_tracks": np.asarray([f.track_id for f in faces], np.int64),
        "face_boxes": np.asarray([f.box for f in faces], np.float32).reshape(-1, 4),
        "face_probs": np.asarray([f.det_prob for f in faces], np.float64),
        "face_landmarks": np.asarray([f.landmarks for f in faces], np.float32).reshape(-1, 5, 2),
        "face_scores": np.asarray([f.score for f in faces], np.float64),
        # each face's family scores, in the order of the media row's families
        "face_family_scores": np.asarray([[f.family_scores[k] for k in result.family_scores] for f in faces],
                                         np.float64).reshape(len(faces), len(result.family_scores)),
    }


def row_to_result(row: Mapping[str, Any]) -> MediaResult:
    """Inverse of :func:`result_to_row`."""
    result = MediaResult.from_media_row(json.loads(row["media"]))
    boxes = _array(row["face_boxes"], np.float32, (4,))
    landmarks = _array(row["face_landmarks"], np.float32, (5, 2))
    families = list(result.family_scores)
    family_scores = np.asarray(row["face_family_scores"], np.float64).reshape(len(boxes), len(families))
    result.faces = [
        FaceRecord(int(frame), float(t), int(track), boxes[i], float(prob), landmarks[i], float(score),
                   {f: float(v) for f, v in zip(families, family_scores[i])})
        for i, (frame, t, track, prob, score) in enumerate(
            zip(row["face_frames"], row["face_times"], row["face_tracks"], row["face_probs"], row["face_scores"]))
    ]
    return result


def _array(values: Any, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    # an empty column may come back with a lost trailing shape: restore it
    return np.asarray(values, dtype).reshape((-1, *shape))


def batch_rows(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A Ray Data numpy batch (column -> values) as a list of rows."""
    names = list(batch)
    count = len(batch[names[0]]) if names else 0
    return [{name: batch[name][i] for name in names} for i in range(count)]


def rows_batch(rows: list[Row]) -> dict[str, np.ndarray]:
    """Rows as a numpy batch: array cells of differing shapes make an object column."""
    batch: dict[str, np.ndarray] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if isinstance(values[0], np.ndarray):
            column = np.empty(len(values), dtype=object)
            for i, value in enumerate(values):  # item by item: numpy would broadcast equal shapes
                column[i] = value
            batch[name] = column
        else:
            batch[name] = np.asarray(values)
    return batch
