"""`forensics evaluate` end to end on small generated data: a tiny model trained by the train
CLI, evaluated on its held-out split per source, and on clips through the scan pipeline."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from samples import find_face, make_face_dataset, no_face_picture, write_clip
from tolerances import SCORE_ATOL
from typer.testing import CliRunner

from forensics.media.storage import file_sha256
from forensics.cli import app
from forensics.manipulate import BlendParams, blend_face
from forensics.models import get_model_spec
from forensics.models.registry import crops_to_tensor
from forensics.models.weights import Card, load_weights
from forensics.train.data import CropCache

runner = CliRunner()
WIDE = {"COLUMNS": "250"}
METRIC_KEYS = {"n", "n_fake", "n_real", "accuracy", "precision", "recall", "f1", "balanced_accuracy", "roc_auc",
               "average_precision", "eer", "log_loss", "ece", "confusion_matrix", "threshold"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """20 real and 20 manipulated astronauts, in two sources of a manifest (and real/ fake/ folders)."""
    return make_face_dataset(tmp_path_factory.mktemp("evaldata"), count=20, seed=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset):
    """A custom CNN trained for two steps by the train CLI; its weights, card and split file."""
    out = tmp_path_factory.mktemp("evalweights") / "tiny.safetensors"
    cache = out.parent / "cache"
    result = runner.invoke(app, ["train", str(dataset / "manifest.csv"), "--out", str(out), "--epochs", "1",
                                 "--max-steps", "2", "--batch-size", "8", "--no-augment", "--model", "custom-cnn",
                                 "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    return out, cache


def _split_paths(weights: Path, base: Path, split: str) -> set[str]:
    table = pd.read_csv(weights.with_suffix(".splits.csv"))
    return {str((base / p).resolve()) for p in table.loc[table["split"] == split, "path"]}


def _evaluate(args: list[str]):
    result = runner.invoke(app, ["evaluate", *args], env=WIDE)
    assert result.exit_code == 0, result.output
    return result


def _assert_same_metrics(want, got, where: str = "metrics") -> None:
    """Equal nested metrics; floats within SCORE_ATOL (other batchings drift scores by float32 noise,
    and these are averages of scores or of log losses, which drift no more than the logits)."""
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for key in want:
            _assert_same_metrics(want[key], got[key], f"{where}.{key}")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=SCORE_ATOL), where
    else:
        assert got == want, where


def test_evaluate_held_out_split_per_source_with_plots(tmp_path, dataset, trained):
    weights, cache = trained
    out = tmp_path / "metrics.json"
    result = _evaluate([str(dataset / "manifest.csv"), "--weights", str(weights), "--json", str(out),
                        "--plots", str(tmp_path / "plots"), "--cache", str(cache)])
    report = json.loads(out.read_text())
    assert {"weights", "model", "sha256", "temperature", "threshold", "selection", "images", "videos", "plots",
            "crop_policy"} <= set(report)
    assert report["model"] == "custom-cnn" and report["sha256"] == file_sha256(weights)
    assert report["videos"] is None
    # only the test split of the training run: never an image it was trained on
    test_paths = _split_paths(weights, dataset, "test")
    assert report["selection"]["by"] == "split file" and report["selection"]["split"] == "test"
    rows = report["images"]["rows"]
    assert {str(Path(r["path"]).resolve()) for r in rows} == test_paths
    assert report["selection"]["left_out_other_splits"] == 40 - len(test_paths)
    # the split file gives every image of the data exactly one split
    table = pd.read_csv(weights.with_suffix(".splits.csv"))
    assert table.path.is_unique and set(table.split) == {"train", "valid", "test"}
    assert {str((dataset / p).resolve()) for p in table.path} == {
        str((dataset / p).resolve()) for p in pd.read_csv(dataset / "manifest.csv").path}
    metrics = report["images"]["metrics"]
    assert set(metrics["all"]) == METRIC_KEYS and metrics["all"]["n"] == len(test_paths)
    assert set(metrics["per_source"]) == {"set-a", "set-b"}
    assert sum(m["n"] for m in metrics["per_source"].values()) == metrics["all"]["n"]
    assert np.array(metrics["all"]["confusion_matrix"]).sum() == len(test_paths)
    # the card's held-out figures are what `forensics evaluate` computes on the same split
    card = Card.read(weights)
    _assert_same_metrics(card.record["metrics"]["test"], metrics)
    # the rich table has a row per source and one for all
    for word in ("set-a", "set-b", "all", "ROC AUC"):
        assert word in result.stdout
    # plots are real PNG files
    names = {Path(p).name for p in report["plots"]}
    assert names == {"roc.png", "pr.png", "confusion.png"}
    for path in report["plots"]:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 200


def test_scores_are_the_models_with_the_cards_temperature(tmp_path, dataset, trained):
    weights, cache = trained
    out = tmp_path / "m.json"
    _evaluate([str(dataset / "manifest.csv"), "--weights", str(weights), "--json", str(out), "--cache", str(cache)])
    report = json.loads(out.read_text())
    model, card = load_weights(weights)
    temperature = card.temperature
    assert report["temperature"] == pytest.approx(temperature) and temperature != pytest.approx(1.0)
    spec = get_model_spec("custom-cnn")
    crops = CropCache(card.crop_policy, cache)
    row = report["images"]["rows"][0]
    with torch.inference_mode():
        logit = model.eval()(crops_to_tensor(crops.crop(row["path"])[None], spec)).item()
    assert row["score"] == pytest.approx(1 / (1 + math.exp(-logit / temperature)), abs=1e-5)


def test_other_splits_and_weights_without_a_split_file(tmp_path, dataset, trained):
    weights, cache = trained
    out = tmp_path / "valid.json"
    _evaluate([str(dataset / "manifest.csv"), "--weights", str(weights), "--split", "valid", "--json", str(out),
               "--cache", str(cache), "--source", "set-a"])
    report = json.loads(out.read_text())
    manifest = pd.read_csv(dataset / "manifest.csv")
    source_of = {str((dataset / p).resolve()): src for p, src in zip(manifest["path"], manifest["source"])}
    valid_a = {p for p in _split_paths(weights, dataset, "valid") if source_of[p] == "set-a"}
    assert valid_a
    assert {str(Path(r["path"]).resolve()) for r in report["images"]["rows"]} == valid_a
    assert set(report["images"]["metrics"]["per_source"]) == {"set-a"}
    # the same weights elsewhere, without their split file: every image is evaluated
    alone = tmp_path / "alone" / "tiny.safetensors"
    alone.parent.mkdir()
    shutil.copy(weights, alone)
    shutil.copy(weights.with_suffix(".json"), alone.with_suffix(".json"))
    out = tmp_path / "all.json"
    _evaluate([str(dataset / "manifest.csv"), "--weights", str(alone), "--json", str(out), "--cache", str(cache)])
    report = json.loads(out.read_text())
    assert report["selection"]["by"] == "all" and report["images"]["metrics"]["all"]["n"] == 40
    # a folder of real/ and fake/ is the same data as the manifest beside it: the split file applies
    out = tmp_path / "folder.json"
    _evaluate([str(dataset), "--weights", str(weights), "--json", str(out), "--cache", str(cache)])
    report = json.loads(out.read_text())
    assert report["selection"]["by"] == "split file"
    assert {str(Path(r["path"]).resolve()) for r in report["images"]["rows"]} == _split_paths(weights, dataset, "test")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, astronaut):
    """A real clip, a manipulated one, a clip without a face and a file that is no video."""
    root = tmp_path_factory.mktemp("clips")
    fake = blend_face(astronaut, find_face(astronaut), BlendParams())
    write_clip(root / "real" / "astronaut.mp4", [astronaut], seconds=1.0, fps=8)
    write_clip(root / "fake" / "astronaut-manipulated.mp4", [fake], seconds=1.0, fps=8)
    write_clip(root / "real" / "coffee.mp4", [no_face_picture()], seconds=1.0, fps=8)
    (root / "fake" / "broken.mp4").write_bytes(b"this is not a video at all\n" * 10)
    return root


def test_video_level_metrics_come_from_the_scan_pipeline(tmp_path, clips, trained):
    weights, cache = trained
    out = tmp_path / "videos.json"
    result = _evaluate([str(clips), "--weights", str(weights), "--frames", "4", "--json", str(out),
                        "--plots", str(tmp_path / "plots"), "--cache", str(cache)])
    report = json.loads(out.read_text())
    assert report["images"] is None
    videos = report["videos"]
    assert videos["counts"] == {"videos": 4, "ok": 2, "no_face": 1, "error": 1}
    status = {Path(r["path"]).name: r for r in videos["rows"]}
    assert status["broken.mp4"]["status"] == "error" and status["broken.mp4"]["score"] is None
    assert status["coffee.mp4"]["status"] == "no_face" and status["coffee.mp4"]["score"] is None
    assert status["astronaut.mp4"]["label"] == 0 and status["astronaut-manipulated.mp4"]["label"] == 1
    metrics = videos["metrics"]
    assert metrics["all"]["n"] == 2 and set(metrics["per_source"]) == {clips.name}
    assert "1 unreadable" in result.stdout
    assert {Path(p).name for p in report["plots"]} == {"video-roc.png", "video-pr.png", "video-confusion.png"}
    # the same scores as `forensics scan` with the same weights and frames
    scan = tmp_path / "scan.parquet"
    scanned = runner.invoke(app, ["scan", str(clips), "--weights", str(weights), "--frames", "4", "--out", str(scan),
                                  "--quiet"])
    assert scanned.exit_code == 0, scanned.output
    media = pq.read_table(scan).to_pandas().set_index("path")
    for row in videos["rows"]:
        assert media.loc[row["path"], "status"] == row["status"]
        if row["status"] == "ok":
            assert media.loc[row["path"], "score"] == pytest.approx(row["score"], abs=SCORE_ATOL)


def test_train_pretrained_is_passed_through_and_recorded(tmp_path, dataset, trained):
    import torchvision

    _, cache = trained
    torch.manual_seed(5)
    start = torchvision.models.efficientnet_b0()
    path = tmp_path / "efficientnet_b0-start.pth"
    torch.save(start.state_dict(), path)
    out = tmp_path / "eff.safetensors"
    result = runner.invoke(app, ["train", str(dataset / "manifest.csv"), "--out", str(out), "--model",
                                 "efficientnet-b0", "--pretrained", str(path), "--epochs", "1", "--max-steps", "1",
                                 "--batch-size", "4", "--no-augment", "--lr", "1e-4", "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    card = Card.read(out)
    assert card.record["training"]["config"]["pretrained"] == str(path)
    assert card.record["training"]["pretrained_sha256"] == file_sha256(path)
    model, _ = load_weights(out)
    # one small step away from the checkpoint, far from a random initialisation
    drift = (model.net.features[0][0].weight - start.features[0][0].weight).abs().max().item()
    assert drift < 1e-3
    refused = runner.invoke(app, ["train", str(dataset / "manifest.csv"), "--out", str(tmp_path / "x.safetensors"),
                                  "--model", "simple-cnn", "--pretrained", str(path)])
    assert refused.exit_code == 2 and "trains from scratch" in refused.output
