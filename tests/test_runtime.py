"""The classifier's ONNX Runtime path: the same scores as PyTorch, cached exports, and a safe
fallback to PyTorch when a network cannot be exported or the runtimes disagree."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from samples import write_image
from typer.testing import CliRunner

from forensics.cli import app
from forensics.models.runtime import RuntimeUnavailable, cache_folder
from forensics.report.schema import read_metadata
from forensics.score import FaceScorer

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")


@pytest.fixture(scope="module")
def crops(astronaut):
    from samples import face_swapped, manipulated

    from forensics.faces.align import CropPolicy, crop_face
    from forensics.faces.detect import FaceDetector

    detector, policy = FaceDetector("cpu"), CropPolicy()
    pictures = [astronaut, manipulated(astronaut), face_swapped()]
    faces = [detector.detect([p])[0][0] for p in pictures]
    found = [crop_face(p, f.box, f.landmarks, policy) for p, f in zip(pictures, faces)]
    noise = np.random.default_rng(7).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    return np.concatenate([np.stack(found), noise])


@pytest.mark.parametrize("model", ["efficientnet-lite0", "custom-cnn"])
def test_onnx_scores_equal_pytorch_scores(model, crops, tmp_path, monkeypatch):
    monkeypatch.setenv("FORENSICS_CACHE", str(tmp_path))
    onnx, torch_ = FaceScorer(model, runtime="onnx"), FaceScorer(model, runtime="torch")
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    assert np.abs(onnx.score(crops) - torch_.score(crops)).max() <= 1e-4
    # the export is cached by the weights' sha256 and reused
    exported = list(cache_folder().glob(f"{model}-*.onnx"))
    assert len(exported) == 1 and cache_folder() == tmp_path / "onnx"
    stamp = exported[0].stat().st_mtime_ns
    assert FaceScorer(model).runtime == "onnx" and exported[0].stat().st_mtime_ns == stamp


def test_a_network_that_cannot_be_exported_runs_on_pytorch(tmp_path, monkeypatch, astronaut):
    monkeypatch.setenv("FORENSICS_CACHE", str(tmp_path))
    scorer = FaceScorer("residual-mlp")  # torch.diff has no ONNX export
    assert scorer.runtime == "torch" and "could not be exported" in scorer.runtime_note
    assert list((tmp_path / "onnx").glob("*.failed"))  # not retried at every load
    with pytest.raises(RuntimeUnavailable, match="could not be exported"):
        FaceScorer("residual-mlp", runtime="onnx")
    result = CliRunner().invoke(app, ["scan", str(tmp_path), "--model", "residual-mlp", "--runtime", "onnx",
                                      "--out", str(tmp_path / "r.parquet")])
    assert result.exit_code == 2 and "could not be exported" in result.output
    # with the default runtime the scan goes on with PyTorch and says so
    photos = tmp_path / "photos"
    write_image(photos / "astronaut.jpg", astronaut)
    out = tmp_path / "auto.parquet"
    result = CliRunner().invoke(app, ["scan", str(photos), "--model", "residual-mlp", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: PyTorch runtime: the network could not be exported" in " ".join(result.output.split())
    assert read_metadata(pq.read_schema(out))["model"] == "residual-mlp"


def test_runtimes_that_disagree_fall_back_to_pytorch(tmp_path, monkeypatch, crops):
    """A wrong network in the cache (here custom-cnn's export under the default's name) is caught
    by the load-time comparison: the scan runs on PyTorch and says why."""
    monkeypatch.setenv("FORENSICS_CACHE", str(tmp_path))
    FaceScorer("custom-cnn", runtime="onnx")
    FaceScorer("efficientnet-lite0", runtime="onnx")
    wrong = next(cache_folder().glob("custom-cnn-*.onnx"))
    default = next(cache_folder().glob("efficientnet-lite0-*.onnx"))
    shutil.copy(wrong, default)
    scorer = FaceScorer("efficientnet-lite0")
    assert scorer.runtime == "torch" and "differ from PyTorch" in scorer.runtime_note
    assert np.array_equal(scorer.score(crops), FaceScorer("efficientnet-lite0", runtime="torch").score(crops))
    with pytest.raises(RuntimeUnavailable, match="differ"):
        FaceScorer("efficientnet-lite0", runtime="onnx")
