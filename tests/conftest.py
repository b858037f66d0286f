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
    examples without the face swap, which test_samples.py covers)."""
    from samples import make_samples

    folder = tmp_path_factory.mktemp("media")
    make_samples(folder, face_swap=False)
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
