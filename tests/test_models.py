import json

import numpy as np
import pytest
import torch
from torch import nn

from forensics.media.storage import file_sha256
from forensics.models import build_model, get_model_spec, list_models
from forensics.models.weights import (
    WeightsError,
    load_weights,
    save_weights,
)
from forensics.score import FaceScorer


def test_custom_cnn_is_the_papers_network():
    model = build_model("custom-cnn")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(8, (3, 3)), (8, (5, 5)), (16, (5, 5)), (16, (5, 5))]
    pools = [m.kernel_size for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert pools == [2, 2, 2, 4]
    assert len([m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]) == 4
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(16 * 7 * 7, 1024), (1024, 16), (16, 1)]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5]
    spec = get_model_spec("custom-cnn")
    assert spec.input_size == 224 and spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
    model.eval()
    assert model(torch.rand(3, 3, 224, 224)).shape == (3,)


def test_unknown_model_is_a_clear_error():
    assert "custom-cnn" in list_models()
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get_model_spec("nope")


def test_weights_round_trip_with_their_card(tmp_path):
    torch.manual_seed(0)
    model = build_model("custom-cnn").eval()
    path = tmp_path / "w.safetensors"
    card = save_weights(model, path, {"model": "custom-cnn", "crop_policy": {"size": 224, "margin": 0.2, "align": True}})
    assert card.sha256 == file_sha256(path)
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == card.sha256
    loaded, loaded_card = load_weights(path)
    assert loaded_card == card and loaded_card.to_dict() == card.to_dict()
    x = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.eval()(x), model(x))


def test_a_card_is_typed_checked_on_load_and_keeps_what_it_records(tmp_path):
    from forensics.models.card import Card

    good = {"name": "w", "model": "custom-cnn", "temperature": 2.0, "family": "blend",
            "training": {"data": "manifest.csv", "best_epoch": 3}, "note": "kept as written"}
    card = Card.from_dict(good)
    assert (card.model, card.family, card.temperature, card.threshold, card.tta, card.members) == \
        ("custom-cnn", "blend", 2.0, 0.5, "none", 0)
    assert card.crop_policy.size == 224  # the architecture's own when the card names none
    assert card.get("training") == {"data": "manifest.csv", "best_epoch": 3} and card.get("absent", 7) == 7
    again = Card.from_dict(card.to_dict())
    assert again == card and again.to_dict()["note"] == "kept as written"
    assert list(card.updated(temperature=3.0).to_dict())[:3] == ["name", "model", "temperature"]  # order kept
    for bad, reason in (({"temperature": 0}, "temperature must be a positive number"),
                        ({"temperature": float("nan")}, "temperature"),
                        ({"threshold": 1.5}, "threshold must be in"),
                        ({"tta": "rot90"}, "test-time augmentation 'rot90'"),
                        ({"family": "morphing"}, "family 'morphing'"),
                        ({"model": "no-such-net"}, "names no registered model"),
                        ({"crop_policy": {"size": 224}}, "crop_policy is not")):
        with pytest.raises(WeightsError, match=reason):
            Card.from_dict({**good, **bad})
    with pytest.raises(WeightsError, match="not a JSON object"):
        Card.from_dict(["model", "custom-cnn"])
    (tmp_path / "w.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        Card.read(tmp_path / "w.safetensors")


def test_tampered_weights_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(build_model("custom-cnn"), path, {"model": "custom-cnn"})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_weights(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="no model card"):
        load_weights(path)


def test_scorer_gives_probabilities_for_crops(shipped_weights):
    scorer = FaceScorer(None, shipped_weights, "cpu", batch_size=4)  # the model its card names
    crops = np.random.default_rng(0).integers(0, 255, (6, 224, 224, 3), dtype=np.uint8)
    scores = scorer.score(crops)
    assert scores.shape == (6,) and np.all((scores >= 0) & (scores <= 1))
    # batching does not change a crop's score
    np.testing.assert_allclose(scorer.score(crops[:1]), scores[:1], atol=1e-5)
    assert scorer.crop_policy.size == 224
    assert scorer.weights_sha256 == file_sha256(shipped_weights)


def test_the_default_averages_two_members_over_each_crop_and_its_mirror(shipped_weights):
    scorer = FaceScorer(None, shipped_weights, "cpu")
    assert scorer.card.tta == "hflip" and len(scorer.card.record["ensemble"]["members"]) == 2
    members = scorer.network.network.members
    crops = np.random.default_rng(1).integers(0, 255, (4, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(scorer.score(crops), scorer.score(np.ascontiguousarray(crops[:, :, ::-1])), atol=1e-5)
    first, second = (dict(m.named_parameters()) for m in members)
    assert not torch.equal(first["net.conv_stem.weight"], second["net.conv_stem.weight"])  # trained apart, not copies


def test_every_shipped_weights_file_loads_with_its_card():
    """The papers' custom-cnn and ResNet50 and our residual-mlp ship beside the default; every card
    verifies its sha256."""
    from forensics.models.weights import shipped_weights as find_shipped

    for name in ("residual-mlp", "custom-cnn", "resnet50", "efficientnet-lite0"):
        path = find_shipped(name)
        assert path is not None, name
        model, card = load_weights(path)
        assert card.model == name and card.sha256 == file_sha256(path)
        assert card.record["metrics"]["test"] and card.temperature > 0
