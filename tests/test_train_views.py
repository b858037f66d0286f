"""Training views made ahead (pseudo-fakes and augmentations made once, memory-mapped) and
source-balanced draws: the same views whoever makes them, read back on a rerun, used by `forensics train`."""

import json

import numpy as np
import pytest
from samples import make_face_dataset
from typer.testing import CliRunner

from forensics.cli import app
from forensics.faces.align import CropPolicy, crop_face
from forensics.faces.detect import FaceDetector
from forensics.train.data import source_weights
from forensics.train.views import CHUNK, ViewRecipe, make_views, view_of_epoch


@pytest.fixture(scope="module")
def crops(astronaut):
    """Crops of the astronaut, shifted a pixel apart (so each differs), and their landmarks."""
    face = FaceDetector("cpu").detect([astronaut])[0][0]
    policy = CropPolicy(size=96)
    out = np.stack([crop_face(np.roll(astronaut, k, axis=1), face.box, face.landmarks, policy) for k in range(CHUNK + 8)])
    return out, np.full((len(out), 5, 2), np.nan, np.float32), policy


@pytest.fixture(scope="module")
def tiny_faces(tmp_path_factory):
    root = make_face_dataset(tmp_path_factory.mktemp("tiny"), count=10, seed=0)
    (root / "manifest.csv").unlink()  # a plain real/ fake/ folder
    return root


def recipe(policy, seed=0):
    return ViewRecipe("only", ("face", "inner"), 0.5, ("flip", "jpeg", "video"), policy, seed, blend_swap=0.5)


def test_views_are_pseudo_fakes_and_augmented_copies_the_same_whoever_makes_them(tmp_path, crops):
    pixels, landmarks, policy = crops
    labels = np.zeros(len(pixels), np.float32)
    one = make_views(pixels, labels, landmarks, recipe(policy), 2, workers=1, root=tmp_path / "a", log=lambda _: None)
    two = make_views(pixels, labels, landmarks, recipe(policy), 2, workers=2, root=tmp_path / "b", log=lambda _: None)
    assert one.crops.shape == (2, *pixels.shape) and one.labels.shape == (2, len(pixels))
    np.testing.assert_array_equal(np.asarray(one.crops), np.asarray(two.crops))  # chunks, not workers, seed them
    np.testing.assert_array_equal(one.labels, two.labels)
    for v in range(2):
        share = one.labels[v].mean()
        assert 0.3 < share < 0.7, share  # self-blending "only": about half become pseudo-fakes
        changed = np.abs(one.crops[v].astype(int) - pixels.astype(int)).reshape(len(pixels), -1).max(axis=1)
        assert (changed[one.labels[v] == 1] > 0).all()
    assert not np.array_equal(one.labels[0], one.labels[1])  # each view draws anew
    crops_1, labels_1 = view_of_epoch(one, 3)
    np.testing.assert_array_equal(labels_1, one.labels[1])
    other_seed = make_views(pixels, labels, landmarks, recipe(policy, seed=1), 2, workers=1, root=tmp_path / "a",
                            log=lambda _: None)
    assert other_seed.folder != one.folder


def test_views_made_once_are_read_back(tmp_path, crops):
    pixels, landmarks, policy = crops
    labels = np.zeros(len(pixels), np.float32)
    lines = []
    first = make_views(pixels, labels, landmarks, recipe(policy), 1, workers=1, root=tmp_path, log=lines.append)
    again = make_views(pixels, labels, landmarks, recipe(policy), 1, workers=1, root=tmp_path, log=lines.append)
    assert "making" in lines[0] and "reading" in lines[1]
    np.testing.assert_array_equal(np.asarray(first.crops), np.asarray(again.crops))


def test_source_weights_make_every_source_and_label_weigh_alike():
    labels = np.array([1] * 9 + [1] + [0] * 4 + [0] * 2)
    sources = ["big"] * 9 + ["small"] + ["big"] * 4 + ["small"] * 2
    w = source_weights(labels, sources)
    groups = {}
    for s, y, x in zip(sources, labels, w):
        groups[(s, int(y))] = groups.get((s, int(y)), 0.0) + x
    assert np.allclose(list(groups.values()), groups[("big", 1)], rtol=1e-9)  # each of the four groups: a quarter
    assert w.sum() == pytest.approx(len(w))


def test_train_with_views_ahead_and_balanced_sources(tmp_path, tiny_faces):
    out = tmp_path / "v.safetensors"
    cache = tmp_path / "c"
    result = CliRunner().invoke(app, ["train", str(tiny_faces), "--out", str(out), "--epochs", "2", "--batch-size", "7",
                                      "--self-blend", "mix", "--model", "residual-mlp", "--views-ahead", "2",
                                      "--balance", "source", "--augment", "flip,jpeg", "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["config"]["views"] == 2 and card["training"]["config"]["balance"] == "source"
    made = [p for p in (cache / "views").iterdir() if (p / "done").exists()]
    assert len(made) == 1 and np.load(made[0] / "crops.npy", mmap_mode="r").shape[0] == 2
    assert CliRunner().invoke(app, ["train", str(tiny_faces), "--out", str(out), "--model", "residual-mlp",
                                    "--balance", "x"]).exit_code == 2
