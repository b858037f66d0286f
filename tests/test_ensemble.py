"""Ensembles and flip test-time augmentation end to end: members trained apart by the train
CLI on one split, combined by `forensics ensemble`, loaded and scored like any weights."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from samples import make_face_dataset
from typer.testing import CliRunner

from forensics.cli import app
from forensics.models import get_model_spec
from forensics.models.ensemble import FlipMean, LogitMean
from forensics.models.registry import crops_to_tensor
from forensics.models.weights import (
    Card,
    WeightsError,
    load_weights,
    save_weights,
)
from forensics.score import FaceScorer
from forensics.train.data import CropCache

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def _train(dataset, out, seed, *extra):
    result = runner.invoke(app, ["train", str(dataset / "manifest.csv"), "--out", str(out), "--epochs", "1",
                                 "--max-steps", "2", "--batch-size", "8", "--no-augment", "--model", "custom-cnn",
                                 "--seed", str(seed), "--cache", str(out.parent / "cache"), *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two custom CNNs on one split (the second reuses the first's split file), and a third
    trained with another seed and so another split."""
    dataset = make_face_dataset(tmp_path_factory.mktemp("ensdata"), count=12, seed=2)
    folder = tmp_path_factory.mktemp("members")
    a = _train(dataset, folder / "a.safetensors", 0)
    b = _train(dataset, folder / "b.safetensors", 1, "--splits", str(a.with_suffix(".splits.csv")))
    c = _train(dataset, folder / "c.safetensors", 1)
    return dataset, a, b, c


def _splits(weights):
    return pd.read_csv(weights.with_suffix(".splits.csv")).sort_values("path").reset_index(drop=True)


def test_a_reused_split_file_holds_out_the_same_images(members):
    dataset, a, b, c = members
    pd.testing.assert_frame_equal(_splits(a), _splits(b))
    assert not _splits(a).equals(_splits(c))  # seed 1 alone draws another split
    card = Card.read(b)
    assert card.record["training"]["config"]["splits"] == str(a.with_suffix(".splits.csv")) and card.record["training"]["config"]["seed"] == 1


def test_ensemble_scores_the_mean_logit_of_members_and_mirrors(tmp_path, members):
    dataset, a, b, _ = members
    out = tmp_path / "ens.safetensors"
    result = runner.invoke(app, ["ensemble", str(a), str(b), "--out", str(out), "--tta", "hflip",
                                 "--cache", str(a.parent / "cache")])
    assert result.exit_code == 0, result.output
    card = Card.read(out)
    assert card.tta == "hflip" and [m["file"] for m in card.record["ensemble"]["members"]] == ["a.safetensors", "b.safetensors"]
    assert [m["seed"] for m in card.record["ensemble"]["members"]] == [0, 1]
    assert card.crop_policy.to_dict() == json.loads(a.with_suffix(".json").read_text())["crop_policy"]
    assert card.record["training"]["counts"] == json.loads(a.with_suffix(".json").read_text())["training"]["counts"]
    assert set(card.record["metrics"]) == {"valid", "test"} and card.temperature > 0
    pd.testing.assert_frame_equal(_splits(out), _splits(a))

    network, _ = load_weights(out)
    assert isinstance(network, FlipMean) and isinstance(network.network, LogitMean)
    nets = [load_weights(p)[0].eval() for p in (a, b)]
    spec = get_model_spec("custom-cnn")
    cache = CropCache(card.crop_policy, a.parent / "cache")
    crops = np.stack([cache.crop(str(p)) for p in sorted(dataset.rglob("*.jpg"))[:4]])
    x = crops_to_tensor(crops, spec)
    with torch.inference_mode():
        by_hand = torch.stack([(n(x) + n(x.flip(-1))) / 2 for n in nets]).mean(0)
        single = nets[0](x)
    scores = FaceScorer(weights=out).score(crops)
    np.testing.assert_allclose(scores, torch.sigmoid(by_hand / card.temperature).numpy(), atol=1e-5)
    assert not torch.allclose(by_hand, single)  # the second member and the mirror count

    # evaluate picks the ensemble's own test split and agrees with the card
    report_path = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", str(dataset / "manifest.csv"), "--weights", str(out), "--json",
                                 str(report_path), "--cache", str(a.parent / "cache")], env=WIDE)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["selection"]["by"] == "split file"
    assert report["images"]["metrics"]["all"]["log_loss"] == pytest.approx(card.record["metrics"]["test"]["all"]["log_loss"], abs=1e-5)


def test_members_on_another_split_are_refused(tmp_path, members):
    _, a, _, c = members
    result = runner.invoke(app, ["ensemble", str(a), str(c), "--out", str(tmp_path / "e.safetensors"),
                                 "--cache", str(a.parent / "cache")], env=WIDE)
    assert result.exit_code == 2 and "another split" in result.output
    assert not (tmp_path / "e.safetensors").exists()


def test_an_ensemble_is_not_a_member_and_a_split_file_must_cover_the_data(tmp_path, members):
    dataset, a, b, _ = members
    out = tmp_path / "one.safetensors"
    assert runner.invoke(app, ["ensemble", str(a), "--out", str(out), "--cache", str(a.parent / "cache")]).exit_code == 0
    result = runner.invoke(app, ["ensemble", str(out), str(b), "--out", str(tmp_path / "two.safetensors")], env=WIDE)
    assert result.exit_code == 2 and "already an ensemble" in result.output

    partial = tmp_path / "partial.splits.csv"
    _splits(a).iloc[:5].to_csv(partial, index=False)
    result = runner.invoke(app, ["train", str(dataset / "manifest.csv"), "--out", str(tmp_path / "p.safetensors"),
                                 "--model", "custom-cnn", "--splits", str(partial)], env=WIDE)
    assert result.exit_code == 2 and "not in the split file" in result.output


def test_a_card_asking_for_an_unknown_augmentation_is_refused(tmp_path):
    from forensics.models import build_model

    path = tmp_path / "w.safetensors"
    with pytest.raises(WeightsError, match="rot90"):  # refused before anything is written
        save_weights(build_model("custom-cnn"), path, {"model": "custom-cnn", "tta": "rot90"})
    assert not path.exists()
    save_weights(build_model("custom-cnn"), path, {"model": "custom-cnn"})
    card = Card.read(path)  # a card from a version that knows rot90
    path.with_suffix(".json").write_text(json.dumps(dict(card.to_dict(), tta="rot90")))
    with pytest.raises(WeightsError, match="rot90"):
        load_weights(path)


def test_flip_mean_is_invariant_to_mirroring_the_input():
    torch.manual_seed(0)
    net = FlipMean(torch.nn.Sequential(torch.nn.Conv2d(3, 1, 3), torch.nn.Flatten(), torch.nn.Linear(36, 1),
                                       torch.nn.Flatten(0)))
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(net(x), net(x.flip(-1)), atol=1e-6)
        assert not torch.allclose(net.network(x), net.network(x.flip(-1)), atol=1e-4)
