"""Every way into the scan contains one media's fault the same way: the embedded engine, the
Ray engine's two stages (run here in this process, as an actor runs them) and the API's
in-memory scan share one score-and-finish step, so the same fault gives the same error row.

Two faults are injected into the real stages: the scorer rejects the crops of a grey picture,
and aggregation fails on a video (more than one face). The other media must not notice.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tolerances import SCORE_ATOL

from forensics.config import ScanConfig
from forensics.media.image import read_image
from forensics.media.discover import discover
from forensics.result import MediaResult

SCORING_FAULT = "scoring failed: ValueError: grey crops are not accepted"
AGGREGATION_FAULT = "aggregation failed: RuntimeError: no aggregate for a video"


@pytest.fixture()
def faulty(monkeypatch):
    """The real scorer and aggregation, with one fault each."""
    import forensics.pipeline
    from forensics.score import FaceScorer

    score, media_score = FaceScorer.score, forensics.pipeline.media_score

    def rejecting(self, crops):
        crops = np.asarray(crops)
        if len(crops) and (crops[..., 0] == crops[..., 1]).all(axis=(1, 2)).any():
            raise ValueError("grey crops are not accepted")
        return score(self, crops)

    def failing(scores, *args, **kwargs):
        if len(scores) > 1:
            raise RuntimeError("no aggregate for a video")
        return media_score(scores, *args, **kwargs)

    monkeypatch.setattr(FaceScorer, "score", rejecting)
    monkeypatch.setattr(forensics.pipeline, "media_score", failing)


@pytest.fixture(scope="module")
def media(media_dir: Path, tmp_path_factory) -> list:
    folder = tmp_path_factory.mktemp("faults")
    for name in ("astronaut.jpg", "astronaut-clip.mp4"):
        shutil.copy(media_dir / name, folder / name)
    from PIL import Image

    Image.open(media_dir / "astronaut.jpg").convert("L").convert("RGB").save(folder / "grey.jpg")
    return discover([str(folder)]).items


CONFIG = ScanConfig(frames=4, model="custom-cnn", threads=2)


def _outcome(results: list[MediaResult]) -> dict[str, tuple]:
    return {Path(r.path).name: (r.status, r.error, r.faces_detected) for r in results}


def _expected_faults(outcome: dict[str, tuple]) -> None:
    assert outcome["grey.jpg"][:2] == ("error", SCORING_FAULT)
    assert outcome["astronaut-clip.mp4"][:2] == ("error", AGGREGATION_FAULT)
    assert outcome["astronaut.jpg"][:2] == ("ok", None)


def test_the_engines_and_the_api_give_the_same_error_rows(faulty, media):
    from forensics.api import Scanner
    from forensics.engines.columns import (
        batch_rows,
        media_item_row,
        row_to_result,
        rows_batch,
    )
    from forensics.engines.local import LocalEngine
    from forensics.engines.ray_extract import ExtractStage
    from forensics.engines.ray_score import ScoreStage

    local = list(LocalEngine(CONFIG).scan(media))
    _expected_faults(_outcome(local))

    engine = LocalEngine(CONFIG)
    extract = ExtractStage(CONFIG, engine.crop_policy.to_dict(), threads=2)
    score = ScoreStage(CONFIG, engine.scorer.weights_sha256, threads=2)
    extracted = [extract(rows_batch([media_item_row(i, item)])) for i, item in enumerate(media)]
    scored = score(rows_batch([row for batch in extracted for row in batch_rows(batch)]))
    on_ray = [row_to_result(row) for row in batch_rows(scored)]
    assert _outcome(on_ray) == _outcome(local)
    good = {r.path: r.score for r in local if r.status == "ok"}
    assert {r.path: r.score for r in on_ray if r.status == "ok"} == pytest.approx(good, abs=SCORE_ATOL)

    scanner = Scanner(CONFIG)
    picture = read_image(str(next(i.path for i in media if i.path.endswith("astronaut.jpg")))).image
    grey = np.repeat(picture.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    in_memory = {"grey.jpg": scanner.scan_image(grey), "astronaut-clip.mp4": scanner.scan_frames([picture] * 4, fps=4.0),
                 "astronaut.jpg": scanner.scan_image(picture)}
    _expected_faults({name: (r.status, r.error, r.faces_detected) for name, r in in_memory.items()})
