"""Provenance: what a file declares about its origin, beside what its pixels say.

Real files, made by the tests (``tests/provenance_media.py``, the ``provenance_dir`` fixture):
signed with c2pa-python's Builder and a certificate chain the test makes, labelled in XMP,
written as Stable Diffusion WebUI writes its PNGs, and damaged. The reader is checked alone
(``read_provenance``), then in a scan as a user runs it (``forensics scan``) and from the API.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tolerances import SCORE_ATOL
from typer.testing import CliRunner

from forensics.families import PROVENANCE_FAMILY
from forensics.cli import app
from forensics.media.provenance import MAX_MANIFEST_BYTES, manifest_store_size, read_provenance

IDENTITY = ("path", "sha256", "size_bytes", "elapsed_s", "thumbnail")


def _read(provenance_dir: Path, name: str, anchors: str | None = None):
    path = next(p for p in (provenance_dir / "scan" / name, provenance_dir / "extra" / name) if p.exists())
    pem = None if anchors is None else (provenance_dir / anchors).read_text()
    return read_provenance(str(path), "video" if path.suffix == ".mp4" else "image", pem)


# ------------------------------------------------------------------ the reader alone


def test_content_credentials_declaring_generative_ai_name_the_tool_and_the_signer(provenance_dir):
    p = _read(provenance_dir, "ai-astronaut.jpg")
    assert (p.status, p.ai, p.warnings) == ("untrusted", True, [])
    assert p.tool == "Test Image Generator 1.0"
    assert p.signer == ("CN=Test Signer, O=Forensics Test Generator "
                        "(issued by CN=Forensics Test Generator Test Root, O=Forensics Test Generator)")
    assert p.actions == ["c2pa.created (trainedAlgorithmicMedia) by Test Image Generator 1.0"]
    assert p.summary == ("C2PA: created with Test Image Generator 1.0 (trainedAlgorithmicMedia), "
                         "signed by Forensics Test Generator, signer not trusted")
    assert p.signed_at is None  # signed without a timestamp authority: no trusted time


@pytest.mark.parametrize("suffix", [".webp", ".tif", ".avif"])
def test_content_credentials_are_read_in_the_other_formats_the_scan_takes(tmp_path, suffix):
    from PIL import Image, features

    import provenance_media as pm
    from forensics.media.discover import discover

    if suffix == ".avif" and not features.check("avif"):
        pytest.skip("Pillow was built without AVIF")
    plain = tmp_path / f"plain{suffix}"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(plain)
    signed = pm.sign(plain, tmp_path / f"signed{suffix}", pm.make_test_chain(), "trainedAlgorithmicMedia")
    item = discover([str(signed)]).items[0]
    assert item.kind == "image"  # AVIF is ISO-BMFF, as MP4 is: its brand says it holds a picture
    p = read_provenance(item.path, item.kind)
    assert (p.status, p.ai, p.warnings) == ("untrusted", True, []), suffix


def test_a_signer_is_trusted_only_when_it_chains_to_the_anchors_given(provenance_dir):
    trusted = _read(provenance_dir, "ai-astronaut.jpg", anchors="root.pem")
    assert (trusted.status, trusted.ai) == ("valid", True) and trusted.summary.endswith("signer trusted")
    assert _read(provenance_dir, "ai-astronaut.jpg", anchors="other-root.pem").status == "untrusted"


def test_a_signed_camera_capture_declares_another_origin(provenance_dir):
    p = _read(provenance_dir, "camera-coffee.png", anchors="root.pem")
    assert (p.status, p.ai) == ("valid", False)
    assert p.actions == ["c2pa.created (digitalCapture) by Test Camera 1.0"]


def test_a_signed_video_declares_generative_ai(provenance_dir):
    p = _read(provenance_dir, "ai-clip.mp4", anchors="root.pem")
    assert (p.status, p.ai, p.tool) == ("valid", True, "Test Video Generator 1.0")


def test_pixels_changed_after_signing_make_the_credentials_invalid(provenance_dir):
    p = _read(provenance_dir, "tampered-astronaut.png", anchors="root.pem")
    assert (p.status, p.ai) == ("invalid", True)  # what it declared still stands
    assert p.warnings == ["content credentials do not match the file: edited after signing "
                          "(assertion.dataHash.mismatch)"]
    assert "edited after signing" in p.summary


def test_an_edit_of_generated_media_carries_the_generation_in_its_ingredient(provenance_dir):
    p = _read(provenance_dir, "edited.jpg")
    assert (p.status, p.ai, p.ingredients) == ("untrusted", True, ["ai-astronaut.jpg (parentOf)"])
    assert p.actions[0].startswith("c2pa.opened") and "compositeWithTrainedAlgorithmicMedia" in p.actions[1]
    assert "trainedAlgorithmicMedia in an ingredient" in p.summary


def test_a_remote_manifest_is_named_not_fetched(provenance_dir):
    p = _read(provenance_dir, "remote.jpg")
    assert (p.status, p.ai) == ("none", None)
    assert p.summary == "C2PA: the manifest is kept at https://example.com/m/remote.c2pa (not fetched)"


def test_generator_traces_and_labels_without_content_credentials(provenance_dir):
    webui = _read(provenance_dir, "webui.png")
    assert (webui.status, webui.ai, webui.tool) == ("none", True, "Stable Diffusion WebUI")
    assert webui.traces == ["PNG parameters: Stable Diffusion WebUI (Model: v1-5-pruned-emaonly, Model hash: "
                            "6ce0161689, Sampler: DPM++ 2M Karras, Steps: 20, Seed: 1234567890, Version: v1.7.0, "
                            "prompt: portrait of an astronaut, studio light, highly detailed)"]
    comfy = _read(provenance_dir, "comfyui.png")
    assert (comfy.ai, comfy.tool) == (True, "ComfyUI") and "ckpt_name: sd_xl_base_1.0.safetensors" in comfy.traces[0]
    xmp = _read(provenance_dir, "xmp-ai.jpg")
    assert (xmp.status, xmp.ai, xmp.traces) == ("none", True, ["XMP DigitalSourceType: trainedAlgorithmicMedia"])
    assert xmp.summary == "declares generative AI: XMP DigitalSourceType trainedAlgorithmicMedia"
    camera = _read(provenance_dir, "xmp-camera.jpg")
    assert (camera.ai, camera.tool) == (False, "Adobe Photoshop 25.0")  # a photo edited in Photoshop: not AI
    midjourney = _read(provenance_dir, "midjourney.jpg")
    assert (midjourney.ai, midjourney.traces) == (True, ["EXIF Software: Midjourney v6"])
    tagged = _read(provenance_dir, "tagged.mp4")
    assert tagged.ai is True and "video container tag comment: Generated with Runway Gen-3 Alpha" in tagged.traces


def test_a_file_that_says_nothing_has_no_provenance(provenance_dir):
    p = _read(provenance_dir, "none.jpg")
    assert (p.status, p.ai, p.summary, p.actions, p.traces, p.warnings) == ("none", None, None, [], [], [])


def test_damaged_provenance_is_a_warning(provenance_dir):
    truncated = _read(provenance_dir, "truncated-manifest.jpg")
    assert (truncated.status, truncated.ai) == ("none", None)
    assert len(truncated.warnings) == 1 and truncated.warnings[0].startswith(
        "content credentials could not be read (damaged or truncated manifest)")
    wrong = _read(provenance_dir, "wrong-type.jpg")
    assert (wrong.status, wrong.ai) == ("none", None)
    assert wrong.warnings == [f"a C2PA manifest store ({manifest_store_size(str(provenance_dir / 'scan' / 'wrong-type.jpg'))}"
                              " bytes) is in the file where its format keeps none: not read"]
    junk = _read(provenance_dir, "junk-xmp.png")
    assert (junk.status, junk.ai, junk.warnings) == ("none", None, ["an XMP packet of 50 MiB was not read "
                                                                    "(over the 4 MiB read)"])


def test_the_manifest_store_is_measured_whatever_the_read_blocks(provenance_dir):
    for name in ("ai-astronaut.jpg", "camera-coffee.png", "ai-clip.mp4"):
        path = str(provenance_dir / "scan" / name)
        sizes = {manifest_store_size(path, block) for block in (7, 4096, 1 << 22)}
        assert len(sizes) == 1 and 1000 < sizes.pop() < 20000, name
    assert manifest_store_size(str(provenance_dir / "scan" / "none.jpg")) is None


def test_a_huge_manifest_is_not_read(provenance_dir):
    path = provenance_dir / "scan" / "huge-manifest.png"
    assert manifest_store_size(str(path)) > MAX_MANIFEST_BYTES
    p = read_provenance(str(path), "image")
    assert any(w.startswith("content credentials not read: the manifest store is") for w in p.warnings), p.warnings
    assert (p.status, p.ai, p.actions) == ("none", None, [])
    assert p.warnings == ["content credentials not read: the manifest store is 17 MiB, over the 16 MiB read"]


# ------------------------------------------------------------------ in a scan


@pytest.fixture(scope="module")
def scanned(provenance_dir, seeded_weights, tmp_path_factory):
    """``forensics scan`` of the folder as a user runs it (seeded weights: the verdicts that
    matter here are the provenance's), with the test chain's root as the trust anchor."""
    out = tmp_path_factory.mktemp("provenance-scan") / "report.parquet"
    result = CliRunner().invoke(app, ["scan", str(provenance_dir / "scan"), "--out", str(out), "--frames", "4",
                                      "--weights", str(seeded_weights), "--threads", "1",
                                      "--trust-anchors", str(provenance_dir / "root.pem")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).name: r for r in pq.read_table(out).to_pylist()}
    return rows, result.output, out


def test_a_scan_reports_what_each_file_declares(scanned):
    rows, *_ = scanned
    want = {  # file: (status, provenance_status, provenance_ai, verdict)
        "ai-astronaut.jpg": ("ok", "valid", True, "fake"),
        "ai-clip.mp4": ("ok", "valid", True, "fake"),
        "tampered-astronaut.png": ("ok", "invalid", True, "fake"),
        "xmp-ai.jpg": ("ok", "none", True, "fake"),
        "webui.png": ("no_face", "none", True, "fake"),
        "camera-coffee.png": ("no_face", "valid", False, None),
        "none.jpg": ("no_face", "none", None, None),
    }
    for name, (status, credentials, ai, verdict) in want.items():
        row = rows[name]
        assert (row["status"], row["provenance_status"], row["provenance_ai"], row["verdict"]) == \
            (status, credentials, ai, verdict), name
        assert row["family"] == (PROVENANCE_FAMILY if ai else None), name  # the seeded model has no family
    # declared AI: fake whatever the face scores, which stay as the detector gave them
    assert rows["ai-astronaut.jpg"]["score"] == pytest.approx(rows["plain-astronaut.jpg"]["score"], abs=SCORE_ATOL)
    assert rows["ai-astronaut.jpg"]["family"] == PROVENANCE_FAMILY
    assert rows["webui.png"]["score"] is None and rows["webui.png"]["family"] == PROVENANCE_FAMILY
    assert rows["ai-astronaut.jpg"]["provenance"].endswith("signer trusted")
    assert rows["ai-astronaut.jpg"]["provenance_actions"] == ["c2pa.created (trainedAlgorithmicMedia) by Test Image Generator 1.0"]
    assert rows["tampered-astronaut.png"]["warnings"] == [
        "content credentials do not match the file: edited after signing (assertion.dataHash.mismatch)"]
    assert rows["none.jpg"]["provenance"] is None and rows["none.jpg"]["warnings"] == []


@pytest.mark.parametrize("damaged, clean", [("truncated-manifest.jpg", "plain-astronaut.jpg"),
                                            ("wrong-type.jpg", "plain-astronaut.jpg"),
                                            ("junk-xmp.png", "plain-coffee.png"),
                                            ("huge-manifest.png", "plain-coffee.png")])
def test_damaged_provenance_is_a_warning_and_changes_nothing_else(scanned, damaged, clean):
    rows, *_ = scanned
    got, want = rows[damaged], rows[clean]
    assert len(got["warnings"]) == 1 and not want["warnings"], got["warnings"]
    for column in set(want) - set(IDENTITY) - {"warnings", "provenance", "score", "score_blend", "score_synthesis"}:
        assert got[column] == want[column], f"{damaged}: {column}"
    for column in ("score", "score_blend", "score_synthesis"):
        assert (got[column] is None) == (want[column] is None)
        assert got[column] is None or got[column] == pytest.approx(want[column], abs=SCORE_ATOL)


def test_the_summary_counts_media_by_provenance(scanned):
    _, output, _ = scanned
    assert "Media by provenance" in output and "What the files declare" in output
    counts = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            counts[cells[0]] = int(cells[1])
    # valid: ai-astronaut, ai-clip, camera-coffee; invalid: tampered; the rest none
    assert (counts["valid"], counts["untrusted"], counts["invalid"], counts["none"]) == (3, 0, 1, 9), counts
    assert (counts["declares AI"], counts["declares another origin"]) == (5, 1), counts


def test_the_review_card_shows_what_the_file_declares(scanned, tmp_path):
    import shutil

    from forensics.report.html import review_data, write_review

    rows, _, report = scanned
    data = review_data(report, tmp_path)
    counts = data["counts"]
    assert (counts["credentials valid"], counts["credentials invalid"], counts["declares AI"]) == (3, 1, 5)
    index = next(i for i, row in enumerate(data["media"]) if row[0].endswith("/ai-astronaut.jpg"))
    assert data["details"][index]["provenance"]["signer"] == rows["ai-astronaut.jpg"]["provenance_signer"]
    page_path = write_review(report, tmp_path / "review.html").path
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium to drive: apt-get install -y chromium (.ci/run installs it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_path.resolve().as_uri())
        page.locator("#media tbody tr", has_text="ai-astronaut.jpg").click()
        card = " ".join(page.locator("#card").inner_text().split())
        assert rows["ai-astronaut.jpg"]["provenance"] in card and "fake: declared AI-generated" in card
        assert "signed by CN=Test Signer" in card and "c2pa.created (trainedAlgorithmicMedia)" in card
        page.select_option("#provenance-filter", "ai")
        assert page.locator("#media tbody tr").count() == 5
        page.select_option("#provenance-filter", "invalid")
        assert page.locator("#media tbody td.path").all_inner_texts() == [rows["tampered-astronaut.png"]["path"]]
        browser.close()
    assert problems == []


def test_the_api_gives_the_same_provenance_as_the_command(scanned, provenance_dir, seeded_weights):
    from forensics import Scanner

    rows, *_ = scanned
    names = ["ai-astronaut.jpg", "camera-coffee.png", "tampered-astronaut.png", "webui.png", "truncated-manifest.jpg"]
    found = Scanner(frames=4, weights=str(seeded_weights), threads=1,
                    trust_anchors=str(provenance_dir / "root.pem")).scan([provenance_dir / "scan" / n for n in names])
    for row in found.media.to_pylist():
        want = rows[Path(row["path"]).name]
        for column in [c for c in row if c.startswith("provenance")] + ["verdict", "family", "status", "warnings"]:
            assert row[column] == want[column], (row["path"], column)


def test_trust_anchors_that_are_not_certificates_are_a_usage_error(provenance_dir, tmp_path):
    (tmp_path / "anchors.pem").write_text("not a certificate\n")
    for anchors, says in ((tmp_path / "anchors.pem", "no PEM certificate"), (tmp_path / "missing.pem", "cannot read")):
        result = CliRunner().invoke(app, ["scan", str(provenance_dir / "scan" / "none.jpg"), "--out",
                                          str(tmp_path / "r.parquet"), "--trust-anchors", str(anchors)])
        assert result.exit_code == 2 and says in " ".join(result.output.split()), result.output
        assert not (tmp_path / "r.parquet").exists()
