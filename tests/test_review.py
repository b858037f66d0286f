"""The HTML review, the evidence crops and the heatmaps, end to end: a real scan of media the
tests make, the page opened in a real headless Chromium (skipped, with the reason, where no
Chromium or Playwright is installed; `.ci/run` installs both)."""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from forensics.cli import app
from forensics.report.evidence import evidence_name
from forensics.report.html import PAGE_SIZE, review_data, write_review
from forensics.report.schema import faces_path, read_metadata

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, media_dir: Path, bad_dir: Path) -> Path:
    """A scan of good and broken media with --html and --heatmaps (the default model, 8 frames)."""
    folder = tmp_path_factory.mktemp("review")
    inputs = folder / "in"
    inputs.mkdir()
    for name in ("astronaut.jpg", "astronaut-manipulated.jpg", "two-people-one-manipulated.mp4", "coffee-no-face.jpg"):
        shutil.copy(media_dir / name, inputs / name)
    for name in ("corrupt.jpg", "empty.mp4", "faststart-truncated.mp4"):
        shutil.copy(bad_dir / name, inputs / name)
    result = CliRunner().invoke(app, ["scan", str(inputs), "--out", str(folder / "report.parquet"), "--frames", "8",
                                      "--html", str(folder / "review.html"), "--heatmaps", "--quiet"])
    assert result.exit_code == 0, result.output
    return folder


def test_scan_keeps_the_most_suspicious_crops_and_their_heatmaps(reviewed: Path):
    media = pq.read_table(reviewed / "report.parquet").to_pylist()
    faces = pq.read_table(faces_path(reviewed / "report.parquet")).to_pandas()
    folder = reviewed / "review_files"  # --html without --thumbnails: beside the page
    with_faces = [m for m in media if m["status"] == "ok"]
    assert len(with_faces) == 4
    for m in with_faces:
        scores = faces[faces["path"] == m["path"]]["score"].to_numpy()
        kept = min(4, len(scores))
        for rank in range(kept):
            assert (folder / evidence_name(m["sha256"], rank)).is_file()
            assert (folder / evidence_name(m["sha256"], rank, heatmap=True)).is_file()
        assert not (folder / evidence_name(m["sha256"], kept)).exists()
        assert Path(m["thumbnail"]).parent == folder
    # nothing else: a thumbnail per media with a picture, and the kept crops with their maps
    kept_total = sum(min(4, int((faces["path"] == m["path"]).sum())) for m in with_faces)
    thumbnails = sum(1 for m in media if m["thumbnail"])
    assert len(list(folder.iterdir())) == thumbnails + 2 * kept_total


def test_review_data_matches_the_report(reviewed: Path):
    data = review_data(reviewed / "report.parquet", reviewed)
    media = pq.read_table(reviewed / "report.parquet").to_pylist()
    assert len(data["media"]) == len(media) == 7
    assert data["counts"]["status ok"] == 4 and data["counts"]["status no_face"] == 1
    assert data["counts"]["status error"] == 2 and data["counts"]["with warnings"] >= 1
    meta = read_metadata(pq.read_schema(reviewed / "report.parquet"))
    assert data["config"]["weights_sha256"] == meta["weights_sha256"] and data["config"]["heatmaps"] is True
    columns = data["columns"]
    for row, m in zip(data["media"], media):
        assert row[columns.index("path")] == m["path"]
        assert row[columns.index("status")] == m["status"]
        assert row[columns.index("score")] == m["score"]
    video = next(i for i, m in enumerate(media) if m["path"].endswith("two-people-one-manipulated.mp4"))
    detail = data["details"][video]
    assert len(detail["tracks"]) == 2 and sum(len(t["points"]) for t in detail["tracks"]) == media[video]["faces_detected"]
    # the media score is its most fake track's score, as the card's legend shows
    assert max(t["score"] for t in detail["tracks"]) == pytest.approx(media[video]["score"], abs=1e-4)
    assert [f["rank"] for f in detail["faces"]] == [0, 1, 2, 3]
    assert all(f["crop"] and f["heat"] for f in detail["faces"])
    assert detail["faces"][0]["score"] == max(p[1] for t in detail["tracks"] for p in t["points"])
    broken = next(i for i, m in enumerate(media) if m["path"].endswith("empty.mp4"))
    assert "faces" not in data["details"][broken]


def test_report_command_writes_the_page_elsewhere_with_working_links(reviewed: Path, tmp_path: Path):
    page = tmp_path / "elsewhere" / "page.html"
    result = CliRunner().invoke(app, ["report", str(reviewed / "report.parquet"), "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    links = re.findall(r'"(?:thumbnail|crop|heat)":"([^"]+)"', html)
    assert len(links) >= 4 + 2 * 6
    for link in links:  # relative to the page, and to files that exist
        assert not link.startswith("/") and (page.parent / link.replace("%20", " ")).resolve().is_file(), link
    assert CliRunner().invoke(app, ["report", str(tmp_path / "none.parquet"), "--html", str(page)]).exit_code == 2


def test_heatmaps_point_at_what_moves_the_score(astronaut):
    """Deletion check: blurring the hottest eighth of a crop lowers the fake logit more than
    blurring the coldest eighth, with Grad-CAM (the default model) and with occlusion maps."""
    import cv2
    import torch
    from samples import manipulated

    from forensics.faces.align import crop_face
    from forensics.faces.detect import FaceDetector
    from forensics.models.registry import crops_to_tensor
    from forensics.score import FaceScorer

    fake = manipulated(astronaut)
    face = FaceDetector("cpu").detect([fake])[0][0]
    for model in ("efficientnet-lite0", "custom-cnn", "residual-mlp"):
        scorer = FaceScorer(model)
        crop = crop_face(fake, face.box, face.landmarks, scorer.crop_policy)[None]
        before = scorer.score(crop)
        heat = scorer.heatmaps(crop)[0]
        assert heat.shape == crop.shape[1:3] and heat.min() >= 0 and math.isclose(heat.max(), 1, abs_tol=1e-6)
        assert np.array_equal(scorer.score(crop), before)  # drawing maps leaves the model as it was
        assert all(p.requires_grad is False or p.grad is None for p in scorer.network.parameters())
        blurred = cv2.GaussianBlur(crop[0], (0, 0), 4)
        share = heat.size // 8
        order = np.argsort(heat, axis=None)

        def logit_after_blurring(cells: np.ndarray) -> float:
            edited = crop[0].copy().reshape(-1, 3)
            edited[cells] = blurred.reshape(-1, 3)[cells]
            with torch.inference_mode():
                return float(scorer.network(crops_to_tensor(edited.reshape(crop.shape), scorer.spec)))

        with torch.inference_mode():
            base = float(scorer.network(crops_to_tensor(crop, scorer.spec)))
        hot, cold = logit_after_blurring(order[-share:]), logit_after_blurring(order[:share])
        assert base - hot > base - cold, (model, base, hot, cold)


def test_heatmaps_need_thumbnails():
    result = CliRunner().invoke(app, ["scan", ".", "--heatmaps"])
    assert result.exit_code == 2 and "thumbnails" in result.output


def _open(page_path: Path):
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no Chromium to drive: apt-get install -y chromium (.ci/run installs it)")
    return playwright.sync_playwright()


def _launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])


def test_review_page_in_a_real_browser(reviewed: Path, tmp_path: Path):
    page_path = reviewed / "review.html"
    media = pq.read_table(reviewed / "report.parquet").to_pylist()
    with _open(page_path) as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_path.resolve().as_uri())
        rows = page.locator("#media tbody tr")
        assert rows.count() == len(media)
        assert "7 of 7 media" in page.inner_text("#shown")
        # sort: by score, most fake first; media without a score last
        page.click("th[data-key=score]")
        shown = page.locator("#media tbody td.path").all_inner_texts()
        scored = sorted((m for m in media if m["score"] is not None), key=lambda m: -m["score"])
        assert shown[: len(scored)] == [m["path"] for m in scored]
        page.click("th[data-key=score]")  # and back: least fake first
        assert page.locator("#media tbody td.path").first.inner_text() == scored[-1]["path"]
        # filters
        page.select_option("#status-filter", "error")
        assert sorted(page.locator("#media tbody td.path").all_inner_texts()) == sorted(
            m["path"] for m in media if m["status"] == "error")
        page.select_option("#status-filter", "")
        page.fill("#filter", "manipulated")
        assert rows.count() == sum("manipulated" in m["path"] for m in media)
        page.fill("#filter", "")
        page.check("#warnings-filter")
        assert rows.count() == sum(bool(m["warnings"]) for m in media) >= 1
        page.uncheck("#warnings-filter")
        # a media card: its timeline has a line per track, and its images load
        page.locator("#media tbody tr", has_text="two-people-one-manipulated.mp4").click()
        card = page.locator("#card")
        assert card.is_visible()
        assert card.locator("svg.timeline polyline.track").count() == 2
        loaded = card.locator("img").evaluate_all("els => els.map(e => e.complete && e.naturalWidth > 0)")
        assert len(loaded) == 1 + 2 * 4 and all(loaded)
        assert "Score over time" in card.inner_text() and "Most suspicious faces" in card.inner_text()
        shot = tmp_path / "review.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        # an error's card says why
        page.locator("#media tbody tr", has_text="empty.mp4").click()
        assert "Error:" in card.inner_text()
        browser.close()
    assert problems == []


def test_ten_thousand_media_page_and_filter(reviewed: Path, tmp_path: Path):
    """A report of 10,000 rows (the scan's own rows, repeated under new names) renders, pages and filters."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_review import enlarge  # the benchmark's own enlargement

    media = pq.read_table(reviewed / "report.parquet")
    report = enlarge(reviewed / "report.parquet", 10_000, tmp_path / "big.parquet")
    names = pq.read_table(report, columns=["path"]).column("path").to_pylist()
    review = write_review(report, tmp_path / "big.html")
    assert review.media == 10_000
    with _open(review.path) as p:
        browser = _launch(p)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(review.path.resolve().as_uri())
        assert page.locator("#media tbody tr").count() == PAGE_SIZE
        assert page.inner_text("#page") == f"page 1 of {10_000 // PAGE_SIZE}"
        page.click("#next")
        assert page.locator("#media tbody td.path").first.inner_text() == names[PAGE_SIZE]
        page.fill("#filter", "batch00042/")
        assert page.locator("#media tbody tr").count() == media.num_rows
        page.locator("#media tbody tr", has_text="two-people").click()
        assert page.locator("#card svg.timeline polyline.track").count() == 2
        browser.close()
    assert errors == []
    assert json.loads(re.search(r'id="data">(.*?)</script>', review.path.read_text(), re.S).group(1))["page_size"] == PAGE_SIZE
