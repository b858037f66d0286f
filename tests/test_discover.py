import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from forensics.media.discover import discover, inspect_file, sniff_kind


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("BMP", ".bmp"),
                                        ("TIFF", ".tif")])
def test_images_are_sniffed_by_content_whatever_the_name(tmp_path, fmt, suffix):
    path = tmp_path / "picture.dat"  # misleading extension: content decides
    Image.new("RGB", (16, 16), (200, 10, 10)).save(path, format=fmt)
    assert inspect_file(str(path)).kind == "image"
    assert inspect_file(str(path)).problem is None


@pytest.mark.parametrize("fourcc,suffix", [("mp4v", ".mp4"), ("MJPG", ".avi")])
def test_videos_are_sniffed_by_content(tmp_path, fourcc, suffix):
    path = tmp_path / f"clip{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    renamed = tmp_path / "clip.bin"
    os.rename(path, renamed)
    assert inspect_file(str(renamed)).kind == "video"


def test_an_avif_still_is_an_image_and_decodes(tmp_path):
    from PIL import features

    from forensics.media.decode import DecodeError
    from forensics.media.image import read_image

    if not features.check("avif"):
        pytest.skip("Pillow was built without AVIF")
    path = tmp_path / "picture.dat"  # ISO-BMFF like an MP4: the brand, not the name, says picture
    Image.new("RGB", (32, 24), (200, 10, 10)).save(path, format="AVIF")
    item = inspect_file(str(path))
    assert (item.kind, item.problem) == ("image", None)
    assert read_image(str(path)).image.shape == (24, 32, 3)
    assert sniff_kind(b"\0\0\0\x1cftypheic" + b"\0" * 4) == "image"
    assert sniff_kind(b"\0\0\0\x1cftypisom" + b"\0" * 4) == "video"
    heic = tmp_path / "phone.heic"  # the container alone: an error row that says what to do
    heic.write_bytes(b"\0\0\0\x1cftypheic" + b"\0" * 64)
    with pytest.raises(DecodeError, match="HEIC/HEIF picture.*convert it to JPEG or PNG"):
        read_image(str(heic))


def test_matroska_and_webm_magic():
    assert sniff_kind(b"\x1a\x45\xdf\xa3" + b"\0" * 12) == "video"
    assert sniff_kind(b"\0\0\0\x20ftypqt  " + b"\0" * 4) == "video"
    assert sniff_kind(b"hello world, not media") == "unknown"


def test_walk_is_sorted_recursive_and_skips_non_media(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    for name in ["b/2.jpg", "a/1.png", "a/z.jpg", "top.jpg"]:
        Image.new("RGB", (8, 8)).save(tmp_path / name, format="PNG" if name.endswith("png") else "JPEG")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    found = discover([tmp_path])
    names = [str(Path(item.path).relative_to(tmp_path)) for item in found.items]
    assert names == ["a/1.png", "a/z.jpg", "b/2.jpg", "top.jpg"]
    assert sorted(Path(p).name for p in found.skipped) == [".DS_Store", "notes.txt"]
    assert discover([tmp_path]).items == found.items  # deterministic


def test_bad_media_in_a_folder_are_kept_with_a_reason(bad_dir):
    found = discover([bad_dir])
    by_name = {Path(item.path).name: item for item in found.items}
    assert set(by_name) == {"corrupt.jpg", "empty.mp4", "good.jpg", "good.mp4", "notes-renamed.jpg",
                            "truncated.mp4", "unreadable.mp4", "faststart-truncated.mp4",
                            "faststart-cut-between-frames.mp4"}
    assert [Path(p).name for p in found.skipped] == ["README.txt"]
    assert "empty file" in by_name["empty.mp4"].problem
    assert "not a recognised image or video" in by_name["notes-renamed.jpg"].problem
    assert "no such file" in by_name["unreadable.mp4"].problem
    assert by_name["good.mp4"].problem is None and by_name["good.mp4"].kind == "video"


def test_explicit_paths_always_yield_an_item(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    missing = tmp_path / "missing.jpg"
    found = discover([text, missing, text])
    assert [Path(i.path).name for i in found.items] == ["notes.txt", "missing.jpg"]  # deduplicated
    assert all(i.problem for i in found.items)


def test_a_file_reached_twice_is_listed_once_without_remembering_every_file(tmp_path):
    """Overlapping inputs and links: each file once, the first time the walk reaches it; a link
    whose target is walked itself is listed there."""
    import os

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    for name in ["a/1.jpg", "a/b/2.jpg", "c/3.jpg"]:
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    os.symlink(tmp_path / "a" / "1.jpg", tmp_path / "c" / "link-in.jpg")
    os.symlink(tmp_path / "c" / "3.jpg", tmp_path / "a" / "b" / "link-out.jpg")

    def names(*paths: str) -> list[str]:
        return [os.path.relpath(i.path, tmp_path) for i in discover([tmp_path / p for p in paths]).items]

    assert names("a", "a/b", "a/1.jpg") == ["a/1.jpg", "a/b/2.jpg", "a/b/link-out.jpg"]
    assert names("a/b", "a") == ["a/b/2.jpg", "a/b/link-out.jpg", "a/1.jpg"]
    assert names("a/1.jpg", "a") == ["a/1.jpg", "a/b/2.jpg", "a/b/link-out.jpg"]
    assert names("a", "c") == ["a/1.jpg", "a/b/2.jpg", "c/3.jpg"]
    assert names("c", "a") == ["c/3.jpg", "a/1.jpg", "a/b/2.jpg"]
