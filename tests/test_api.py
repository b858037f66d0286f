"""The Python API: the same rows as the CLI's report, models loaded once, in-memory frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tolerances import SCORE_ATOL, assert_same_table
from typer.testing import CliRunner

from forensics.cli import app
from forensics.report.schema import FACE_SCHEMA, MEDIA_SCHEMA, faces_path

VOLATILE = ["elapsed_s", "thumbnail"]


@pytest.fixture(scope="module")
def scanner():
    from forensics import Scanner

    return Scanner(frames=8, model="custom-cnn")


def test_import_forensics_stays_light():
    code = "import sys, forensics; assert 'torch' not in sys.modules, 'torch imported'; print(forensics.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_the_api_exports_the_errors_a_caller_catches(tmp_path):
    import forensics

    for name in ("BrokenModelError", "WeightsError", "OutputError", "JournalError", "RayScanError", "DecodeError"):
        assert name in forensics.__all__ and issubclass(getattr(forensics, name), Exception), name
    with pytest.raises(forensics.WeightsError):
        forensics.Scanner(weights=str(tmp_path / "missing.safetensors"))


def test_api_scan_equals_the_cli_report(scanner, bad_dir: Path, tmp_path: Path):
    found = scanner.scan(bad_dir)
    assert found.media.schema.equals(MEDIA_SCHEMA) and found.faces.schema.equals(FACE_SCHEMA)
    out = tmp_path / "r.parquet"
    result = CliRunner().invoke(app, ["scan", str(bad_dir), "--out", str(out), "--frames", "8", "--model",
                                      "custom-cnn", "--quiet"])
    assert result.exit_code == 0, result.output
    assert_same_table(found.media, pq.read_table(out), "the media rows", skip=tuple(VOLATILE))
    assert_same_table(found.faces, pq.read_table(faces_path(out)), "the face rows")
    assert [Path(p).name for p in found.skipped] == ["README.txt"]
    assert {r.status for r in found} == {"ok", "error"}  # broken files are rows, not exceptions
    assert scanner.model["model"] == "custom-cnn" and len(scanner.model["weights_sha256"]) == 64


def test_scan_frames_scores_in_memory_pictures_and_clips(scanner, media_dir: Path):
    from forensics.media.image import read_image

    image = read_image(str(media_dir / "astronaut.jpg")).image
    from_file = scanner.scan(media_dir / "astronaut.jpg").results[0]
    in_memory = scanner.scan_image(image, name="astronaut")
    assert in_memory.path == "astronaut" and in_memory.kind == "image" and in_memory.status == "ok"
    assert in_memory.score == pytest.approx(from_file.score, abs=SCORE_ATOL)
    clip = scanner.scan_frames([image] * 6, fps=12.0, name="still clip")
    assert clip.kind == "video" and clip.tracks == 1 and len(clip.faces) == 6
    assert [f.timestamp_s for f in clip.faces] == pytest.approx([i / 12 for i in range(6)])
    # six frames searched in one MTCNN batch: boxes drift by float32 noise, see tests/tolerances.py
    assert clip.score == pytest.approx(from_file.score, abs=SCORE_ATOL)
    blank = scanner.scan_frames([np.zeros((64, 64, 3), np.uint8)] * 2, fps=1.0)
    assert blank.status == "no_face" and blank.score is None
    with pytest.raises(ValueError, match="RGB uint8"):
        scanner.scan_frames([np.zeros((64, 64), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        scanner.scan_frames([])


def test_models_load_once(scanner, media_dir: Path):
    detector, scorer = scanner._engine.detector, scanner._engine.scorer
    scanner.scan(media_dir / "astronaut.jpg")
    scanner.scan(media_dir / "coffee-no-face.jpg")
    assert scanner._engine.detector is detector and scanner._engine.scorer is scorer
