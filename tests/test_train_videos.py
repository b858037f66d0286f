"""Training and evaluation on videos, end to end on clips the test makes: each video lands in
one split whole, its crops are the ones a scan scores, and evaluation holds out the videos
training saw."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from samples import astronaut, find_face, write_clip
from typer.testing import CliRunner

from forensics.cli import app
from forensics.faces.align import crop_transform, transform_points
from forensics.manipulate import BlendParams, blend_face
from forensics.models import get_model_spec
from forensics.models.registry import crops_to_tensor
from forensics.models.weights import Card, load_weights
from forensics.report.schema import faces_path
from forensics.train.data import CropCache, Sample

runner = CliRunner()
FRAMES = 4  # sampled per video, in training and in the scans that check it
VIDEOS_PER_CLASS = 12


@pytest.fixture(scope="module")
def video_data(tmp_path_factory) -> Path:
    """12 real and 12 manipulated clips of a jittered astronaut, in two sources, and their manifest."""
    root = tmp_path_factory.mktemp("videodata")
    picture = astronaut()
    box = find_face(picture)
    rng = np.random.default_rng(3)
    rows = []
    for k in range(VIDEOS_PER_CLASS):
        warp = cv2.getRotationMatrix2D((256, 256), rng.uniform(-8, 8), rng.uniform(0.9, 1.1))
        real = cv2.warpAffine(picture, warp, (512, 512), borderMode=cv2.BORDER_REFLECT101)
        fake = cv2.warpAffine(blend_face(picture, box, BlendParams.random(rng)), warp, (512, 512),
                              borderMode=cv2.BORDER_REFLECT101)
        source = "set-a" if k % 2 else "set-b"
        for label, image in (("real", real), ("fake", fake)):
            path = f"{label}/{label[0]}{k:02d}.mp4"
            write_clip(root / path, [image], seconds=1.0, fps=8, size=(480, 270), face_height=260)
            rows.append({"path": path, "label": label, "source": source})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, video_data):
    out = tmp_path_factory.mktemp("videoweights") / "tiny.safetensors"
    cache = out.parent / "cache"
    result = runner.invoke(app, ["train", str(video_data / "manifest.csv"), "--out", str(out), "--model", "custom-cnn",
                                 "--video-frames", str(FRAMES), "--epochs", "1", "--max-steps", "2", "--batch-size", "8",
                                 "--no-augment", "--self-blend", "mix", "--cache", str(cache)])
    assert result.exit_code == 0, result.output  # self-blending video frames reads their landmarks
    return out, cache


def test_each_video_is_one_sample_in_one_split(video_data, trained):
    weights, _ = trained
    table = pd.read_csv(weights.with_suffix(".splits.csv"))
    manifest = pd.read_csv(video_data / "manifest.csv")
    assert table.path.is_unique and sorted(table.path) == sorted(manifest.path)
    assert set(table.split) == {"train", "valid", "test"}
    card = Card.read(weights)
    assert card.record["training"]["config"]["video_frames"] == FRAMES
    counts = card.record["training"]["counts"]
    for split in ("train", "valid", "test"):
        mine = table[table.split == split]
        videos = {"videos_real": int((mine.label == 0).sum()), "videos_fake": int((mine.label == 1).sum())}
        assert {k: counts[split][k] for k in videos} == videos
        # every sampled frame of every video shows the face: FRAMES crops per video
        assert counts[split]["real"] + counts[split]["fake"] == FRAMES * len(mine)


def test_training_crops_are_the_crops_a_scan_scores(tmp_path, video_data, trained):
    weights, cache_root = trained
    test_video = video_data / pd.read_csv(weights.with_suffix(".splits.csv")).query("split == 'test'").path.iloc[0]
    out = tmp_path / "scan.parquet"
    result = runner.invoke(app, ["scan", str(test_video), "--weights", str(weights), "--frames", str(FRAMES),
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    scanned = pq.read_table(faces_path(out)).to_pandas().sort_values("frame_index")
    model, card = load_weights(weights)
    cache = CropCache(card.crop_policy, cache_root, video_frames=FRAMES)
    crops = cache.video_crops(str(test_video))
    assert crops is not None and len(crops) == len(scanned) == FRAMES
    # each crop's landmarks (for self-blending) are the scan's landmarks, in crop pixels
    points = cache.landmarks_of([Sample(str(test_video), 0)] * FRAMES)
    for k, row in enumerate(scanned.itertuples()):
        frame_points = np.asarray(row.landmarks, np.float32).reshape(5, 2)
        box = np.array([row.x1, row.y1, row.x2, row.y2], np.float32)
        expected_points = transform_points(frame_points, crop_transform(box, frame_points, cache.policy))
        np.testing.assert_allclose(points[k], expected_points, atol=1e-3)
    assert ((points > 0) & (points < cache.policy.size)).all()
    with torch.inference_mode():
        logits = model.eval()(crops_to_tensor(crops, get_model_spec("custom-cnn"))).squeeze(-1).numpy()
    expected = [1 / (1 + math.exp(-z / card.temperature)) for z in logits]
    np.testing.assert_allclose(scanned.score, expected, rtol=0, atol=1e-5)


def test_evaluate_holds_out_the_videos_training_saw(tmp_path, video_data, trained):
    weights, cache_root = trained
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", str(video_data / "manifest.csv"), "--weights", str(weights),
                                 "--frames", str(FRAMES), "--json", str(out), "--cache", str(cache_root)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    table = pd.read_csv(weights.with_suffix(".splits.csv"))
    test = {str((video_data / p).resolve()) for p in table.loc[table.split == "test", "path"]}
    assert {str(Path(r["path"]).resolve()) for r in report["videos"]["rows"]} == test
    assert report["video_selection"]["by"] == "split file"
    assert report["video_selection"]["left_out_other_splits"] == 2 * VIDEOS_PER_CLASS - len(test)
