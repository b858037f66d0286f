"""Extraction and MediaResult <-> plain columns: what the Ray engine moves between processes."""

import dataclasses
import json

import numpy as np
import pytest

from forensics.engines.columns import (
    batch_rows,
    extraction_to_row,
    media_item_row,
    result_to_row,
    row_media_item,
    row_to_extraction,
    row_to_result,
    rows_batch,
)
from forensics.media.decode import MediaInfo
from forensics.media.discover import MediaItem
from forensics.media.provenance import Provenance
from forensics.result import Extraction, FaceRecord, MediaResult, Preview

DECLARED = Provenance(status="invalid", ai=True, summary="C2PA: created with G 1.0 (trainedAlgorithmicMedia), ...",
                      tool="G 1.0", signer="CN=s, O=o (issued by CN=r)", signed_at="2026-12-07T08:00:00+00:00",
                      actions=["c2pa.created (trainedAlgorithmicMedia) by G 1.0"], ingredients=["a.jpg (parentOf)"],
                      traces=["XMP DigitalSourceType: trainedAlgorithmicMedia"],
                      warnings=["content credentials do not match the file: edited after signing"])


def _video_extraction(faces: int = 3) -> Extraction:
    rng = np.random.default_rng(0)
    return Extraction(
        item=MediaItem("clips/a.mp4", "video"), sha256="ab" * 32, size_bytes=12345,
        info=MediaInfo(640, 360, 15.0, 2.0, 30), frame_indices=[0, 14, 29], frame_times=[0.0, 0.9333333333333333, 1.9333],
        face_frames=np.array([0, 14, 29][:faces], np.int64), face_times=np.array([0.0, 0.93, 1.93][:faces]),
        boxes=rng.uniform(0, 300, (faces, 4)).astype(np.float32), probs=rng.uniform(0.9, 1, faces).astype(np.float32),
        landmarks=rng.uniform(0, 300, (faces, 5, 2)).astype(np.float32), track_ids=np.zeros(faces, np.int64),
        crops=rng.integers(0, 256, (faces, 8, 8, 3), dtype=np.uint8),
        previews=[Preview(i, t, rng.integers(0, 256, (18, 32, 3), dtype=np.uint8), 0.05) for i, t in ((0, 0.0), (29, 1.9333))],
        elapsed_s=0.125, provenance=DECLARED,
    )


def _assert_same_extraction(a: Extraction, b: Extraction) -> None:
    for f in dataclasses.fields(Extraction):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "previews":
            assert len(x) == len(y)
            for p, q in zip(x, y):
                assert (p.frame_index, p.timestamp_s, p.scale) == (q.frame_index, q.timestamp_s, q.scale)
                assert np.array_equal(p.image, q.image) and p.image.dtype == q.image.dtype
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


@pytest.mark.parametrize("extraction", [
    _video_extraction(),
    _video_extraction(faces=0),
    Extraction(item=MediaItem("x.jpg", "image", "empty file (0 bytes)"), error="empty file (0 bytes)"),
    Extraction(item=MediaItem("t.mp4", "video"), sha256="cd" * 32, size_bytes=9, info=MediaInfo(640, 360, 15.0, None, 30),
               error="video decoding failed near frame 12"),
], ids=["faces", "no-face", "unreadable", "truncated"])
def test_extraction_round_trip_through_a_batch(extraction):
    if extraction.crops is None and extraction.error is None:
        extraction.crops = np.zeros((0, 8, 8, 3), np.uint8)
    row = extraction_to_row(7, extraction)
    assert row["index"] == 7 and isinstance(row["facts"], str)
    assert all(isinstance(v, (int, str, np.ndarray)) for v in row.values()), "plain columns only"
    (back,) = batch_rows(rows_batch([row]))
    _assert_same_extraction(row_to_extraction(back), extraction)


def test_result_round_trip_keeps_every_field():
    faces = [FaceRecord(3, 0.2, 1, np.array([1, 2, 30, 40], np.float32), 0.987654321, np.ones((5, 2), np.float32), 0.123456789)]
    result = MediaResult(path="a.jpg", kind="image", status="ok", sha256="ef" * 32, size_bytes=10, score=0.123456789,
                         verdict="real", frames_sampled=1, faces_detected=1, tracks=1, width=512, height=512,
                         thumbnail="thumbs/efef.jpg", elapsed_s=0.5, faces=faces, provenance=DECLARED)
    empty = MediaResult(path="b.mp4", kind="video", status="error", error="cannot open video: x")
    rows = [result_to_row(0, result), result_to_row(1, empty)]
    back = [row_to_result(r) for r in batch_rows(rows_batch(rows))]
    assert back[0].media_row() == result.media_row() and back[0].face_rows() == result.face_rows()
    assert back[0].provenance == dataclasses.replace(DECLARED, warnings=[])  # its warnings are the row's
    assert back[1].provenance == Provenance()
    assert back[1].media_row() == empty.media_row() and back[1].faces == []
    assert json.loads(rows[1]["media"])["score"] is None


def test_media_item_row():
    for item in (MediaItem("a b/ü.jpg", "image"), MediaItem("x.mp4", "video", "permission denied")):
        assert row_media_item(media_item_row(3, item)) == item
