"""The embedded engine searches consecutive photos for faces in one detector call: the same
faces as one photo at a time, in the same order, with videos and broken files passed through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tolerances import BOX_ATOL_PX, SCORE_ATOL

from forensics.config import ScanConfig
from forensics.engines import local
from forensics.engines.local import (
    LocalEngine,
    _decode_messages,
    _Opened,
    _photos_searched_together,
)
from forensics.media.discover import discover
from forensics.media.worker import DecodeWorker


@pytest.fixture(scope="module")
def scanner() -> LocalEngine:
    return LocalEngine(ScanConfig(threads=2))


@pytest.fixture(scope="module")
def mixed(media_dir, tmp_path_factory):
    """The sample media, a half-size copy of a photo (another size, so another MTCNN batch) and a
    photo that is not one, in an order where photos come in runs between videos."""
    folder = tmp_path_factory.mktemp("mixed")
    picture = cv2.imread(str(media_dir / "astronaut.jpg"))
    cv2.imwrite(str(folder / "b-small.jpg"), cv2.resize(picture, None, fx=0.5, fy=0.5))
    (folder / "c-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a picture")
    paths = sorted(str(p) for p in media_dir.iterdir()) + sorted(str(p) for p in folder.iterdir())
    return discover(paths).items


def test_photos_carry_the_faces_they_would_have_alone(mixed, scanner, monkeypatch):
    monkeypatch.setattr(local, "PHOTO_BATCH", 2)  # several calls, a run cut in the middle
    config = scanner.config
    with DecodeWorker(config.timeout_per_media) as worker:
        plain = list(_decode_messages(mixed, config, worker))
    with DecodeWorker(config.timeout_per_media) as worker:
        together = list(_photos_searched_together(_decode_messages(mixed, config, worker), scanner.detector))
    assert [type(m).__name__ for m in together] == [type(m).__name__ for m in plain]
    opened = [m for m in together if isinstance(m, _Opened)]
    assert [m.opened.item.path for m in opened] == [item.path for item in mixed]
    searched = 0
    for i, message in enumerate(together):
        if not isinstance(message, _Opened):
            continue
        if message.opened.item.kind != "image" or message.opened.error is not None:
            assert message.faces is None
            continue
        frames = [f for chunk in together[i + 1 :] if isinstance(chunk, list) for f in chunk][:1]
        if not frames:  # the broken photo: it fails when it is decoded
            continue
        alone = scanner.detector.detect([frames[0].image])
        assert len(message.faces) == 1 and len(message.faces[0]) == len(alone[0])
        for a, b in zip(message.faces[0], alone[0]):
            np.testing.assert_allclose(a.box, b.box, atol=BOX_ATOL_PX)
        searched += 1
    assert searched == 4  # astronaut, manipulated, no-face picture, half-size copy


def test_a_folder_scan_scores_each_photo_as_alone(mixed, scanner):
    together = {r.path: r for r in scanner.scan(mixed)}
    assert len(together) == len(mixed)
    for item in mixed:
        if item.kind != "image":
            continue
        alone = next(iter(scanner.scan([item])))
        mine = together[alone.path]
        assert (mine.status, mine.faces_detected, mine.error) == (alone.status, alone.faces_detected, alone.error)
        if alone.score is not None:
            assert mine.score == pytest.approx(alone.score, abs=SCORE_ATOL)
    assert [r.status for r in together.values() if r.path.endswith("c-broken.jpg")] == ["error"]
    assert sum(r.status == "error" for r in together.values()) == 1
