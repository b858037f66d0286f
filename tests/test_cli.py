"""The CLI end to end on real media the tests make: real MTCNN, real decoding, shipped weights."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.media.storage import file_sha256
from forensics.cli import app
from forensics.config import DEFAULT_MODEL
from forensics.models.weights import SuiteCard, shipped_suite
from forensics.models.weights import shipped_weights as shipped_weights_for
from forensics.report.schema import read_metadata

runner = CliRunner()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, media_dir, shipped_weights):
    out = tmp_path_factory.mktemp("scan")
    result = runner.invoke(app, ["scan", str(media_dir), "--out", str(out / "report.parquet"),
                                 "--thumbnails", str(out / "thumbs"), "--frames", "12"])
    assert result.exit_code == 0, result.output
    return out, result


def test_scan_writes_one_row_per_media(scanned, media_dir):
    out, _ = scanned
    media = pq.read_table(out / "report.parquet").to_pandas().set_index("path")
    expected = sorted(str(p) for p in media_dir.iterdir())
    assert sorted(media.index) == expected
    ok = media[media.status == "ok"]
    assert set(Path(p).name for p in ok.index) == {
        "astronaut.jpg", "astronaut-manipulated.jpg", "astronaut-clip.mp4", "astronaut-clip-manipulated.mp4",
        "two-people-one-manipulated.mp4"}
    assert ok.score.between(0, 1).all() and set(ok.verdict) <= {"fake", "real"}
    no_face = media.loc[str(media_dir / "coffee-no-face.jpg")]
    assert no_face.status == "no_face" and pd.isna(no_face.score) and pd.isna(no_face.verdict)
    clip = media.loc[str(media_dir / "astronaut-clip.mp4")]
    assert clip.kind == "video" and clip.frames_sampled == 12 and clip.faces_detected >= 10
    assert clip.tracks == 1 and clip.fps == pytest.approx(15.0) and clip.duration_s == pytest.approx(2.0)
    assert (clip.width, clip.height) == (640, 360) and len(clip.sha256) == 64 and clip.size_bytes > 0
    two = media.loc[str(media_dir / "two-people-one-manipulated.mp4")]
    assert two.tracks == 2


def test_media_score_is_its_most_fake_track(scanned, media_dir):
    out, _ = scanned
    faces = pq.read_table(out / "report.faces.parquet").to_pandas()
    media = pq.read_table(out / "report.parquet").to_pandas().set_index("path")
    path = str(media_dir / "two-people-one-manipulated.mp4")
    mine = faces[faces.path == path]
    assert set(mine.track_id) == {0, 1}
    from forensics.aggregate import track_score

    # the default suite: each family's media score is its most fake track; the media's, the highest family's
    families = ("blend", "synthesis", "animation")
    for family in families:
        per_track = [track_score(g[f"score_{family}"].to_numpy(), "confident") for _, g in mine.groupby("track_id")]
        assert media.loc[path][f"score_{family}"] == pytest.approx(max(per_track))
    assert media.loc[path].score == pytest.approx(max(media.loc[path][f"score_{f}"] for f in families))
    # and each track's score, kept on the row, is the highest of its families' (the verdict's evidence)
    for track in media.loc[path].track_scores:
        assert track["score"] == pytest.approx(max(track[f"score_{f}"] for f in families))
    assert {"frame_index", "timestamp_s", "x1", "y1", "x2", "y2", "det_prob", "landmarks"} <= set(faces.columns)
    assert (faces.x2 > faces.x1).all() and faces.det_prob.min() >= 0.9


def test_report_metadata_makes_it_auditable(scanned, shipped_weights):
    out, _ = scanned
    meta = read_metadata(pq.read_schema(out / "report.parquet"))
    from forensics import __version__

    assert meta["version"] == __version__
    # the default is the shipped suite: its card's sha256, and each member's
    assert meta["model"] == "suite: default" and meta["weights_sha256"] == SuiteCard.read(shipped_suite()).sha256
    assert [(m["family"], m["weights_sha256"]) for m in meta["members"]] == [
        ("blend", file_sha256(shipped_weights_for("blend"))), ("synthesis", file_sha256(shipped_weights)),
        ("animation", file_sha256(shipped_weights_for("animation")))]
    assert meta["config"]["frames"] == 12 and meta["config"]["threshold"] == 0.5
    assert meta["crop_policy"]["size"] == 224


def test_thumbnails_open_and_are_named_by_content(scanned):
    out, _ = scanned
    media = pq.read_table(out / "report.parquet").to_pandas()
    for row in media[media.status != "error"].itertuples():
        assert row.thumbnail and Path(row.thumbnail).name == f"{row.sha256[:16]}.jpg"
        with Image.open(row.thumbnail) as im:
            im.verify()
    sheet = media[media.kind == "video"].thumbnail.iloc[0]
    with Image.open(sheet) as im:
        assert im.width >= 4 * 300 and im.height > 120  # a 4-column contact sheet with its score plot


def test_terminal_summary(scanned):
    _, result = scanned
    assert "Media by outcome" in result.output and "Most suspicious" in result.output


def test_bad_files_are_error_rows_and_the_scan_exits_0(tmp_path, bad_dir, shipped_weights):
    out = tmp_path / "r.parquet"
    result = runner.invoke(app, ["scan", str(bad_dir), "--out", str(out), "--frames", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    media = pq.read_table(out).to_pandas().set_index("path")
    status = {Path(p).name: s for p, s in media.status.items()}
    assert status == {"corrupt.jpg": "error", "empty.mp4": "error", "good.jpg": "ok", "good.mp4": "ok",
                      "notes-renamed.jpg": "error", "truncated.mp4": "error", "unreadable.mp4": "error",
                      "faststart-truncated.mp4": "ok", "faststart-cut-between-frames.mp4": "ok"}
    # videos that break partway: the frames that are there are scanned, and the loss is flagged
    for name in ("faststart-truncated.mp4", "faststart-cut-between-frames.mp4"):
        row = media.loc[str(bad_dir / name)]
        assert row.frames_sampled >= 2 and row.faces_detected >= 2 and len(row.warnings) > 0, name
    assert not len(media.loc[str(bad_dir / "good.mp4")].warnings)
    errors = media[media.status == "error"]
    assert errors.error.str.len().min() > 10
    assert errors.score.isna().all() and errors.verdict.isna().all()
    assert "empty file" in media.loc[str(bad_dir / "empty.mp4")].error


def test_summary_command_filters(scanned):
    out, _ = scanned
    result = runner.invoke(app, ["summary", str(out / "report.parquet"), "--top", "2"])
    assert result.exit_code == 0, result.output
    assert "Most suspicious (2 of 5 scored" in result.output
    result = runner.invoke(app, ["summary", str(out / "report.parquet"), "--verdict", "sideways"])
    assert result.exit_code == 2


def test_fail_on_fake_exit_code(tmp_path, media_dir, shipped_weights):
    # threshold 0 makes every scored media fake
    args = ["scan", str(media_dir / "astronaut.jpg"), "--out", str(tmp_path / "r.parquet"), "--quiet", "--threshold", "0"]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args + ["--fail-on-fake"]).exit_code == 3


def test_usage_errors_exit_2(tmp_path, media_dir):
    base = ["scan", str(media_dir), "--out", str(tmp_path / "r.parquet")]
    assert runner.invoke(app, base + ["--frames", "0"]).exit_code == 2
    assert runner.invoke(app, base + ["--model", "nope"]).exit_code == 2
    assert runner.invoke(app, base + ["--weights", str(tmp_path / "missing.safetensors")]).exit_code == 2
    residual = str(shipped_weights_for("residual-mlp"))
    mismatch = runner.invoke(app, base + ["--model", "custom-cnn", "--weights", residual])
    assert mismatch.exit_code == 2 and "not 'custom-cnn'" in mismatch.output
    assert not (tmp_path / "r.parquet").exists()


def test_weights_alone_pick_the_model_their_card_names(tmp_path, media_dir):
    out = tmp_path / "r.parquet"
    other = next(name for name in ("custom-cnn", "residual-mlp") if name != DEFAULT_MODEL)
    result = runner.invoke(app, ["scan", str(media_dir / "astronaut.jpg"), "--out", str(out), "--quiet",
                                 "--weights", str(shipped_weights_for(other))])
    assert result.exit_code == 0, result.output
    meta = read_metadata(pq.read_schema(out))
    assert meta["model"] == other and meta["crop_policy"]["size"] == 224


def test_resnet50_scans_out_of_the_box_with_its_shipped_weights(tmp_path, media_dir):
    """The founding papers' second scorer: `--model resnet50` needs no --weights."""
    out = tmp_path / "r.parquet"
    result = runner.invoke(app, ["scan", str(media_dir / "astronaut.jpg"), str(media_dir / "astronaut-manipulated.jpg"),
                                 "--out", str(out), "--quiet", "--model", "resnet50"])
    assert result.exit_code == 0, result.output
    meta = read_metadata(pq.read_schema(out))
    assert meta["model"] == "resnet50" and meta["weights_sha256"] == file_sha256(shipped_weights_for("resnet50"))
    rows = pq.read_table(out).to_pylist()
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(0 <= r["score"] <= 1 for r in rows)


@pytest.mark.parametrize("entry", ["console script", "module"])
def test_console_script_and_module_entry_point(entry):
    # the `forensics` executable that the install put beside this Python, and `python -m forensics`
    command = [str(Path(sys.executable).with_name("forensics"))] if entry == "console script" else \
        [sys.executable, "-m", "forensics"]
    result = subprocess.run([*command, "models"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "custom-cnn" in result.stdout and "custom-cnn.safetensors" in result.stdout
    assert "residual-mlp.safetensors" in result.stdout and f"{DEFAULT_MODEL} (in the default suite)" in result.stdout
    assert "Default of `forensics scan`: the suite suite.json" in result.stdout and "blend.safetensors" in result.stdout
    assert "resnet50.safetensors" in result.stdout
    assert "efficientnet-lite0 ×2 + mirror" in result.stdout  # the shipped ensemble says what it is


def test_a_scan_logged_to_a_file_prints_progress_lines_as_it_goes(tmp_path, media_dir, seeded_weights):
    """`ray job logs`, CI and files are not terminals: a live bar would show nothing until the end."""
    import re

    result = subprocess.run([sys.executable, "-m", "forensics", "scan", str(media_dir), "--out", str(tmp_path / "r.parquet"),
                             "--weights", str(seeded_weights), "--frames", "6"],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "FORENSICS_PROGRESS_EVERY": "0.2"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = re.findall(r"^progress: (\d+)(?:/(\d+))? media, (\d+) frames, [\d.]+ min", result.stderr, re.M)
    assert len(lines) >= 2, result.stderr[-3000:]
    media = [int(m) for m, _, _ in lines]
    assert media == sorted(media) and media[-1] <= len(list(media_dir.iterdir()))
    assert {int(t) for _, t, _ in lines if t} <= {len(list(media_dir.iterdir()))}


def test_every_scan_setting_option_reaches_the_config_by_its_name():
    import dataclasses
    import inspect

    from forensics.cli import product
    from forensics.config import ScanConfig

    settings = {f.name for f in dataclasses.fields(ScanConfig)}
    options = set(inspect.signature(product.scan).parameters)
    # an option named like a setting but left out of the mapping would be silently ignored
    assert set(product.SCAN_OPTIONS) == settings & options
    config = product._scan_config("fast", {"frames": 5, "threshold": None, "heatmaps": False, "device": product.Device("cpu")},
                                  ["min_face_px=30"])
    assert (config.frames, config.detect_size, config.min_face_px, config.device, config.heatmaps) == (5, 480, 30, "cpu", False)
