"""Training end to end on small generated data: crops by the scan's own code, loss falls, card round-trips."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from samples import make_face_dataset
from typer.testing import CliRunner

from forensics.media.storage import file_sha256
from forensics.cli import app
from forensics.models.weights import Card, load_weights
from forensics.train.data import assign_splits, load_samples
from forensics.train.metrics import binary_metrics


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = make_face_dataset(tmp_path_factory.mktemp("tiny"), count=10, seed=0)
    (root / "manifest.csv").unlink()  # a plain real/ fake/ folder
    return root


def test_folder_data_gets_a_deterministic_stratified_split(tiny_dataset):
    samples = load_samples(tiny_dataset)
    assert len(samples) == 20 and sum(s.label for s in samples) == 10
    a = assign_splits(samples, seed=0)
    assert a == assign_splits(samples, seed=0)
    counts = pd.Series([s.split for s in a]).value_counts().to_dict()
    assert counts == {"train": 14, "valid": 3, "test": 3}
    for split in ("train", "valid", "test"):
        labels = [s.label for s in a if s.split == split]
        assert 0 < sum(labels) < len(labels)  # both classes in every split


def test_manifest_with_sources(tmp_path, tiny_dataset):
    manifest = tmp_path / "m.csv"
    rows = [{"path": str(p.relative_to(tiny_dataset)), "label": p.parent.name, "source": "a" if i % 2 else "b"}
            for i, p in enumerate(sorted(tiny_dataset.rglob("*.jpg")))]
    pd.DataFrame(rows).to_csv(tiny_dataset / "m.csv", index=False)
    samples = load_samples(tiny_dataset / "m.csv", sources=["a"])
    assert len(samples) == 10 and {s.source for s in samples} == {"a"}
    with pytest.raises(ValueError, match="lacks column"):
        pd.DataFrame([{"file": "x"}]).to_csv(manifest, index=False)
        load_samples(manifest)


def test_train_cli_loss_falls_and_weights_round_trip(tmp_path, tiny_dataset):
    out = tmp_path / "w" / "tiny.safetensors"
    result = CliRunner().invoke(app, ["train", str(tiny_dataset), "--out", str(out), "--epochs", "6",
                                      "--batch-size", "7", "--no-augment", "--model", "custom-cnn", "--patience", "6", "--lr", "3e-4",
                                      "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out.with_suffix(".history.csv"))
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]
    assert out.with_suffix(".history.png").exists() and out.with_suffix(".splits.csv").exists()
    card = Card.read(out)
    assert card.model == "custom-cnn" and card.crop_policy.to_dict() == {"size": 224, "margin": 0.2, "align": True}
    assert card.record["training"]["counts"]["train"] == {"real": 7, "fake": 7, "skipped_no_face": 0}
    assert "test" in card.record["metrics"] and card.temperature > 0
    model, loaded = load_weights(out)
    assert loaded.sha256 == card.sha256
    # the cache means a rerun detects nothing again
    crops = [p for p in (tmp_path / "cache").rglob("*.npy") if not p.name.endswith(".landmarks.npy")]
    assert len(crops) == 20 and len(list((tmp_path / "cache").rglob("*.landmarks.npy"))) == 20
    # a still's five landmarks come back as five points, the eyes apart (self-blend masks are built on them)
    from forensics.train.data import CropCache
    points = CropCache(card.crop_policy, tmp_path / "cache").landmarks_of(load_samples(tiny_dataset))
    assert points.shape == (20, 5, 2) and np.isfinite(points).all()
    eyes_apart = np.linalg.norm(points[:, 1] - points[:, 0], axis=1)
    assert (eyes_apart > 0.1 * card.crop_policy.size).all(), eyes_apart


def test_metrics_match_a_hand_count():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.4])
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["accuracy"] == 0.5 and m["roc_auc"] == 0.75
    perfect = binary_metrics([0, 1], [0.2, 0.9])
    assert perfect["roc_auc"] == 1.0 and perfect["eer"] == 0.0


def test_self_blend_turns_real_crops_into_pseudo_fakes(astronaut):
    from forensics.faces.align import CropPolicy, crop_face
    from forensics.faces.detect import FaceDetector
    from forensics.train.augment import self_blend_batch

    face = FaceDetector("cpu").detect([astronaut])[0][0]
    policy = CropPolicy()
    crop = crop_face(astronaut, face.box, face.landmarks, policy)
    crops = np.stack([crop] * 8)
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1], np.float32)
    out, out_labels = self_blend_batch(crops, labels, policy, np.random.default_rng(0), share=1.0)
    assert out_labels.tolist() == [1.0] * 8
    changed = np.abs(out.astype(int) - crops.astype(int)).reshape(8, -1).max(axis=1)
    assert (changed[:6] > 0).all() and (changed[6:] == 0).all()  # real fakes are left alone
    for fake in out[:6]:  # the face and its surroundings come from different copies
        centre = np.abs(fake[90:140, 90:140].astype(int) - crop[90:140, 90:140].astype(int)).mean()
        corner = np.abs(fake[:20, :20].astype(int) - crop[:20, :20].astype(int)).mean()
        assert abs(centre - corner) > 0.5, (centre, corner)


def _structure(patch: np.ndarray) -> np.ndarray:
    """A grey patch, mean removed and scaled to unit spread: its structure, whatever its colour."""
    grey = patch.astype(np.float64).mean(axis=2)
    return (grey - grey.mean()) / max(grey.std(), 1e-6)


def test_a_swapped_pseudo_fake_carries_the_donors_face_inside_the_crops_outline(astronaut):
    from samples import grace_hopper

    from forensics.faces.align import CropPolicy, crop_face, crop_transform, transform_points
    from forensics.faces.detect import FaceDetector
    from forensics.train.augment import self_blend_batch

    policy, detector = CropPolicy(), FaceDetector("cpu")
    crops, landmarks = [], []
    for picture in (astronaut, grace_hopper()):
        face = detector.detect([picture])[0][0]
        crops.append(crop_face(picture, face.box, face.landmarks, policy))
        landmarks.append(transform_points(face.landmarks, crop_transform(face.box, face.landmarks, policy)))
    target, donor = crops
    batch = np.stack([target] * 8)
    donors = (donor[None], np.stack(landmarks[1:]), np.array([0]))
    inner = (slice(95, 150), slice(80, 145))  # eyes to mouth of a crop of this policy

    def likeness(out: np.ndarray) -> tuple[float, float]:  # correlation with the crop's face, the donor's
        got = _structure(out[inner])
        return float((got * _structure(target[inner])).mean()), float((got * _structure(donor[inner])).mean())

    towards_donor = {}  # mean over the batch of (likeness to the donor - likeness to the crop)
    for swap in (1.0, 0.0):
        out, labels = self_blend_batch(batch, np.zeros(8, np.float32), policy, np.random.default_rng(0), 1.0,
                                       np.stack([landmarks[0]] * 8), ("face", "inner"), 0.0, swap, donors)
        assert labels.tolist() == [1.0] * 8
        pairs = [likeness(crop) for crop in out]
        towards_donor[swap] = float(np.mean([theirs - own for own, theirs in pairs]))
        if not swap:  # a self-blend keeps the crop's own face
            assert all(own > theirs for own, theirs in pairs), pairs
    # blend ratios, jitter and blur keep some of the crop's face in a swap, but it moves to the donor's
    assert towards_donor[1.0] > towards_donor[0.0] + 0.3, towards_donor


def test_train_with_self_blend_only_needs_no_fakes(tmp_path, tiny_dataset):
    out = tmp_path / "sb.safetensors"
    result = CliRunner().invoke(app, ["train", str(tiny_dataset), "--out", str(out), "--epochs", "1",
                                      "--batch-size", "7", "--self-blend", "only", "--model", "residual-mlp",
                                      "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    card = Card.read(out)
    assert card.record["training"]["config"]["self_blend"] == "only"
    assert CliRunner().invoke(app, ["train", str(tiny_dataset), "--out", str(out), "--model", "residual-mlp",
                                    "--self-blend", "x"]).exit_code == 2


def test_a_model_trained_at_another_input_size_is_scanned_at_that_size(tmp_path, tiny_dataset):
    import pyarrow.parquet as pq


    out = tmp_path / "small.safetensors"
    args = ["train", str(tiny_dataset), "--out", str(out), "--max-steps", "1", "--batch-size", "7",
            "--cache", str(tmp_path / "c"), "--input-size", "96"]
    result = CliRunner().invoke(app, args + ["--model", "efficientnet-lite0"])
    assert result.exit_code == 0, result.output
    card = Card.read(out)
    assert card.record["input_size"] == 96 and card.crop_policy.size == 96

    photo = next((tiny_dataset / "real").iterdir())
    report = tmp_path / "r.parquet"
    result = CliRunner().invoke(app, ["scan", str(photo), "--out", str(report), "--weights", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    row = pq.read_table(report).to_pylist()[0]
    assert row["status"] == "ok" and 0.0 <= row["score"] <= 1.0

    result = CliRunner().invoke(app, args + ["--model", "custom-cnn", "--out", str(tmp_path / "no.safetensors")])
    assert result.exit_code == 2 and "takes only 224-pixel crops" in result.output


def test_each_augmentation_is_switchable(tmp_path, tiny_dataset):
    from forensics.train.augment import augmenter
    from forensics.train.config import AUGMENTATIONS

    assert augmenter(0, ()) is None
    assert len(augmenter(0, ("jpeg", "flip")).transforms) == 2
    assert len(augmenter(0, AUGMENTATIONS).transforms) == len(AUGMENTATIONS)
    crop = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    flipped = augmenter(0, ("flip",))
    seen = {flipped(torch.from_numpy(crop)).numpy().tobytes() for _ in range(20)}
    assert seen == {crop.tobytes(), crop[:, :, ::-1].tobytes()}  # a flip or nothing, never another change

    out = tmp_path / "aug.safetensors"
    args = ["train", str(tiny_dataset), "--out", str(out), "--max-steps", "1", "--batch-size", "7",
            "--model", "custom-cnn", "--cache", str(tmp_path / "c")]
    result = CliRunner().invoke(app, args + ["--augment", "jpeg,flip"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["training"]["config"]["augment"] == ["jpeg", "flip"]
    result = CliRunner().invoke(app, args + ["--augment", "jpeg,sepia"])
    assert result.exit_code == 2 and "sepia" in result.output


def test_video_augmentation_is_a_real_h264_round_trip(astronaut):
    from forensics.train.codec import h264_keyframe

    crop = astronaut[60:285, 170:395]  # 225 x 225: odd sides, which 4:2:0 chroma cannot hold

    def psnr(image: np.ndarray) -> float:
        return 10 * np.log10(255**2 / np.mean((image.astype(float) - crop) ** 2))

    quality = [psnr(h264_keyframe(crop, crf)) for crf in (18, 28, 40)]
    assert h264_keyframe(crop).shape == crop.shape
    assert quality[0] > quality[1] > quality[2] > 18  # lossy, worse as the rate factor rises, still the photo
    assert 30 < quality[0] < 50


def test_train_runs_on_the_device_it_is_given(tmp_path, tiny_dataset):
    out = tmp_path / "cpu.safetensors"
    args = ["train", str(tiny_dataset), "--out", str(out), "--max-steps", "1", "--batch-size", "7",
            "--model", "custom-cnn", "--cache", str(tmp_path / "c")]
    result = CliRunner().invoke(app, args + ["--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["training"]["config"]["device"] == "cpu"
    if not torch.cuda.is_available():  # asking for a GPU that is not there is a usage error, before any work
        result = CliRunner().invoke(app, args + ["--device", "cuda", "--out", str(tmp_path / "gpu.safetensors")])
        assert result.exit_code == 2 and "CUDA" in result.output
        assert not (tmp_path / "gpu.safetensors").exists()


def test_macro_selection_weighs_every_source_alike():
    from forensics.train.config import MIN_SOURCE_CROPS, TrainConfig
    from forensics.train.loop import _source_aucs
    from forensics.train.metrics import metrics_by_source

    rng = np.random.default_rng(0)
    n_big, n_small = 400, 2 * MIN_SOURCE_CROPS
    labels = np.r_[np.tile([0, 1], n_big // 2), np.tile([0, 1], n_small // 2), [0, 1]]
    scores = np.r_[np.tile([0.1, 0.9], n_big // 2), rng.random(n_small), [0.9, 0.1]]
    sources = ["big"] * n_big + ["small"] * n_small + ["tiny"] * 2
    per_source = metrics_by_source(labels, scores, sources)
    aucs = _source_aucs(per_source["per_source"])
    assert set(aucs) == {"big", "small"}  # tiny has too few crops of each class to count
    assert aucs["big"] == 1.0 and abs(aucs["small"] - 0.5) < 0.25
    assert np.mean(list(aucs.values())) < per_source["all"]["roc_auc"] - 0.1  # the big source hides the small one
    with pytest.raises(ValueError, match="select must be one of pooled, macro"):
        TrainConfig("custom-cnn", select="worst")


def test_train_records_per_source_validation_auc_and_the_selection(tmp_path, tiny_dataset):
    out = tmp_path / "macro.safetensors"
    args = ["train", str(tiny_dataset), "--out", str(out), "--epochs", "2", "--batch-size", "7", "--no-augment",
            "--model", "custom-cnn", "--cache", str(tmp_path / "c")]
    result = CliRunner().invoke(app, args + ["--select", "macro"])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out.with_suffix(".history.csv"))
    assert "valid_select" in history and len(history) == 2
    card = Card.read(out)
    assert card.record["training"]["config"]["select"] == "macro"
    best = int(history.valid_select.idxmax())
    assert card.record["training"]["best_epoch"] == history.epoch[best]
    assert CliRunner().invoke(app, args + ["--select", "worst"]).exit_code == 2


def test_warmup_rises_then_decays_and_defaults_on_for_pretrained_weights():
    from forensics.train.config import TrainConfig
    from forensics.train.loop import lr_schedule

    param = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.AdamW([param], lr=1e-3)
    schedule = lr_schedule(optimiser, total_steps=100, warmup=0.1)
    rates = []
    for _ in range(100):
        rates.append(schedule.get_last_lr()[0])
        optimiser.step()
        schedule.step()
    assert rates[0] == pytest.approx(1e-5)  # a hundredth of the learning rate at the first step
    assert max(rates) == pytest.approx(1e-3) and int(np.argmax(rates)) == 10
    assert all(a < b for a, b in zip(rates[:10], rates[1:11]))  # rises over the warmup
    assert all(a >= b for a, b in zip(rates[10:], rates[11:])) and rates[-1] < 1e-5  # then the cosine decay
    assert TrainConfig("resnet50", pretrained="imagenet").effective_warmup == 0.1
    assert TrainConfig("custom-cnn").effective_warmup == 0.0
    assert TrainConfig("resnet50", pretrained="imagenet", warmup=0.0).effective_warmup == 0.0
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig("custom-cnn", warmup=1.5)


def test_distillation_targets_are_the_scans_scores_of_the_teacher(tmp_path, tiny_dataset, shipped_weights):
    """The teacher is scored as a scan scores it (both members, crop and mirror), its temperature left out."""
    from forensics.faces.align import CropPolicy
    from forensics.score import FaceScorer
    from forensics.train.data import CropCache
    from forensics.train.distill import Teacher
    from forensics.train.data import load_split_crops

    crops, _ = load_split_crops(assign_splits(load_samples(tiny_dataset), seed=0),
                                CropCache(CropPolicy(size=224), tmp_path / "c"), log=lambda _: None)
    train_x = crops["train"][0]
    targets = Teacher(shipped_weights, CropPolicy(size=224)).targets(train_x)
    scorer = FaceScorer(weights=shipped_weights, runtime="torch")
    scanned = scorer.score(train_x).astype(np.float64)
    untempered = 1 / (1 + np.exp(-np.log(scanned / (1 - scanned)) * scorer.card.temperature))
    np.testing.assert_allclose(targets, untempered, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="crop policy"):
        Teacher(shipped_weights, CropPolicy(size=224, margin=0.3))


def test_train_with_a_teacher_learns_its_scores_and_records_it(tmp_path, tiny_dataset):
    from forensics.models.weights import shipped_weights

    teacher = shipped_weights("residual-mlp")  # the same crop policy as the student below
    base = ["train", str(tiny_dataset), "--epochs", "1", "--batch-size", "7", "--no-augment", "--model", "residual-mlp",
            "--cache", str(tmp_path / "c")]

    def weights(name: str, *extra: str) -> dict:
        out = tmp_path / f"{name}.safetensors"
        result = CliRunner().invoke(app, base + ["--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        model, card = load_weights(out)
        return {"card": card, "state": model.state_dict()}

    distilled, labelled = weights("distilled", "--teacher", str(teacher)), weights("labelled")
    assert distilled["card"].record["training"]["teacher"] == {"file": teacher.name, "sha256": file_sha256(teacher),
                                                        "view": "crop", "temperature": 1.0}
    assert labelled["card"].record["training"]["teacher"] is None
    # same seed, same batches: only the targets differ, so the weights do
    assert any(not torch.equal(distilled["state"][k], labelled["state"][k]) for k in labelled["state"])

    result = CliRunner().invoke(app, base + ["--out", str(tmp_path / "x.safetensors"), "--teacher", str(teacher),
                                             "--self-blend", "mix"])
    assert result.exit_code == 2 and "not both" in result.output
    result = CliRunner().invoke(app, base + ["--out", str(tmp_path / "x.safetensors"), "--teacher", str(teacher),
                                             "--margin", "0.3"])
    assert result.exit_code == 2 and "crop policy" in result.output
    result = CliRunner().invoke(app, base + ["--out", str(tmp_path / "x.safetensors"), "--teacher",
                                             str(tiny_dataset / "real" / sorted(p.name for p in (tiny_dataset / "real").iterdir())[0])])
    assert result.exit_code == 2 and "teacher" in result.output
    result = CliRunner().invoke(app, base + ["--out", str(tmp_path / "x.safetensors"), "--teacher", str(teacher),
                                             "--teacher-view", "sometimes"])
    assert result.exit_code == 2 and "teacher_view" in result.output


def test_a_teacher_scoring_the_augmented_view_teaches_what_the_student_sees(tmp_path, tiny_dataset):
    """Without augmentation the view is the crop, so both teacher views give the same training
    loss; with JPEG re-compression the teacher scores what the student sees, so the loss
    differs; the card says which view and temperature taught the student."""
    import pandas as pd

    from forensics.models.weights import shipped_weights

    teacher = shipped_weights("residual-mlp")
    base = ["train", str(tiny_dataset), "--epochs", "1", "--batch-size", "7", "--model", "residual-mlp",
            "--cache", str(tmp_path / "c"), "--teacher", str(teacher), "--teacher-temperature", "2"]

    def train_loss(name: str, *extra: str) -> float:
        out = tmp_path / f"{name}.safetensors"
        result = CliRunner().invoke(app, base + ["--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        teacher = load_weights(out)[1].record["training"]["teacher"]
        assert teacher["view"] == ("augmented" if "augmented" in extra else "crop") and teacher["temperature"] == 2.0
        return float(pd.read_csv(out.with_suffix(".history.csv"))["train_loss"].iloc[0])

    assert train_loss("plain-view", "--no-augment", "--teacher-view", "augmented") == \
        pytest.approx(train_loss("plain-crop", "--no-augment"), abs=1e-5)
    jpeg_view = train_loss("jpeg-view", "--augment", "jpeg", "--teacher-view", "augmented")
    jpeg_crop = train_loss("jpeg-crop", "--augment", "jpeg")
    assert abs(jpeg_view - jpeg_crop) > 1e-3
