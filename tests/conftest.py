"""Shared test media, made by the project's own sample generator (no downloads, no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(max(1, min(2, len(os.sched_getaffinity(0)))))
# every Ray instance a test starts (the two-node cluster, the local instances) stays on
# 127.0.0.1: Ray reads this once, when first imported, and the tests import it early; the
# product sets it itself before importing Ray (tests/test_ray_engine.py checks that path in a
# fresh process, without this variable)
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from samples import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A folder of good media: stills, a manipulated still, clips, a no-face picture (the
    examples without the face swap and the signed sample; ``provenance_dir`` has signed media)."""
    from samples import make_samples

    folder = tmp_path_factory.mktemp("media")
    make_samples(folder, face_swap=False, content_credentials=False)
    return folder


@pytest.fixture(scope="session")
def bad_dir(tmp_path_factory, media_dir: Path) -> Path:
    """Good media mixed with the commonest kinds of bad file a user meets (``tests/badinputs.py``
    has the whole corpus), among them videos that open and then break partway through."""
    from badinputs import write_videos_that_break_partway

    folder = tmp_path_factory.mktemp("mixed")
    good_image = (media_dir / "astronaut.jpg").read_bytes()
    good_clip = (media_dir / "astronaut-clip.mp4").read_bytes()
    (folder / "good.jpg").write_bytes(good_image)
    (folder / "good.mp4").write_bytes(good_clip)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes-renamed.jpg").write_text("this is a text file, not a picture\n")
    (folder / "truncated.mp4").write_bytes(good_clip[: len(good_clip) // 3])
    (folder / "corrupt.jpg").write_bytes(good_image[: len(good_image) // 2])
    os.symlink(folder / "does-not-exist.mp4", folder / "unreadable.mp4")
    (folder / "README.txt").write_text("not media, skipped while walking\n")
    write_videos_that_break_partway(folder)
    return folder


@pytest.fixture(scope="session")
def shipped_weights() -> Path:
    from forensics.config import DEFAULT_MODEL
    from forensics.models.weights import shipped_weights

    path = shipped_weights(DEFAULT_MODEL)
    if path is None:
        pytest.fail(f"weights/{DEFAULT_MODEL}.safetensors is missing: the repository ships it")
    return path


@pytest.fixture(scope="session")
def seeded_weights(tmp_path_factory) -> Path:
    """Seeded custom-cnn weights with a card: checks that two paths give the same report need
    no trained model."""
    from forensics.faces.align import CropPolicy
    from forensics.models.registry import build_model, get_model_spec
    from forensics.models.weights import save_weights

    torch.manual_seed(0)
    spec = get_model_spec("custom-cnn")
    path = tmp_path_factory.mktemp("weights") / "seeded-cnn.safetensors"
    save_weights(build_model("custom-cnn"), path,
                 {"model": "custom-cnn", "crop_policy": CropPolicy(size=spec.input_size).to_dict()})
    return path


@pytest.fixture(scope="session")
def provenance_dir(tmp_path_factory, astronaut) -> Path:
    """Media that declare their origin (``tests/provenance_media.py``), in ``scan/`` (what the
    scans read) and ``extra/`` (read alone), with the test chain's root in ``root.pem``:
    Content Credentials declaring AI (a JPEG with a face, an MP4) and a camera capture (a PNG),
    one changed after signing, a Stable Diffusion WebUI PNG, an XMP label, a file that says
    nothing, and damaged provenance beside its clean twin (``plain-*``)."""
    import provenance_media as pm
    from samples import no_face_picture, write_clip, write_image

    root = tmp_path_factory.mktemp("provenance")
    scan, extra = root / "scan", root / "extra"
    scan.mkdir()
    extra.mkdir()
    chain = pm.make_test_chain()
    (root / "root.pem").write_bytes(chain.root_pem)
    (root / "other-root.pem").write_bytes(pm.make_test_chain("Another Test CA").root_pem)
    coffee = no_face_picture()
    write_image(scan / "plain-astronaut.jpg", astronaut)
    pm.write_png(scan / "plain-coffee.png", coffee)
    write_image(scan / "none.jpg", coffee)
    pm.sign(scan / "plain-astronaut.jpg", scan / "ai-astronaut.jpg", chain, "trainedAlgorithmicMedia")
    pm.sign(scan / "plain-coffee.png", scan / "camera-coffee.png", chain, "digitalCapture", tool="Test Camera")
    clip = write_clip(extra / "clip.mp4", [astronaut], seconds=1.0, fps=8.0)
    pm.sign(clip, scan / "ai-clip.mp4", chain, "trainedAlgorithmicMedia", tool="Test Video Generator")
    pm.write_png(extra / "plain-astronaut.png", astronaut)
    pm.sign(extra / "plain-astronaut.png", extra / "ai-astronaut.png", chain, "trainedAlgorithmicMedia")
    edited = astronaut.copy()
    edited[:40, :40] = 255  # a white corner, away from the face
    pm.change_pixels(extra / "ai-astronaut.png", scan / "tampered-astronaut.png", edited)
    pm.write_png(scan / "webui.png", coffee, text={"parameters": pm.WEBUI_PARAMETERS})
    pm.write_jpeg(scan / "xmp-ai.jpg", astronaut, xmp=pm.xmp_packet("trainedAlgorithmicMedia"))
    # damaged provenance: each beside its clean twin, which only the damage tells apart
    pm.truncate_manifest(scan / "ai-astronaut.jpg", scan / "truncated-manifest.jpg")
    pm.manifest_box_in_wrong_type(scan / "ai-clip.mp4", scan / "plain-astronaut.jpg", scan / "wrong-type.jpg")
    pm.write_png(scan / "junk-xmp.png", coffee, xmp="<x:xmpmeta>" + "junk " * (10 << 20))  # 50 MiB
    pm.sign(scan / "plain-coffee.png", scan / "huge-manifest.png", chain, "trainedAlgorithmicMedia",
            padding_bytes=17 << 20)
    # read alone, by the reader's own tests
    pm.write_png(extra / "comfyui.png", coffee, text={"prompt": pm.COMFYUI_PROMPT, "workflow": '{"nodes": []}'})
    pm.write_jpeg(extra / "xmp-camera.jpg", coffee, xmp=pm.xmp_packet("digitalCapture", creator_tool="Adobe Photoshop 25.0"))
    pm.write_jpeg(extra / "midjourney.jpg", coffee, software="Midjourney v6")
    pm.sign_remote(scan / "plain-astronaut.jpg", extra / "remote.jpg", chain, "https://example.com/m/remote.c2pa")
    pm.sign(scan / "ai-astronaut.jpg", extra / "edited.jpg", chain, "compositeWithTrainedAlgorithmicMedia",
            tool="Test Editor", parent=scan / "ai-astronaut.jpg")
    pm.retag_video(clip, extra / "tagged.mp4", {"comment": "Generated with Runway Gen-3 Alpha"})
    return root
