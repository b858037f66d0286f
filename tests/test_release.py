"""`forensics weights`: one member out of the shipped ensemble, float16 storage, held-out
evaluations and licences on a card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from forensics.media.storage import file_sha256
from forensics.cli import app
from forensics.models.weights import Card
from forensics.score import FaceScorer

runner = CliRunner()


def _crops(scorer: FaceScorer, astronaut: np.ndarray) -> np.ndarray:
    from forensics.faces.align import crop_face
    from forensics.faces.detect import FaceDetector

    face = FaceDetector("cpu").detect([astronaut])[0][0]
    crop = crop_face(astronaut, face.box, face.landmarks, scorer.crop_policy)
    return np.stack([crop, crop[:, ::-1], np.roll(crop, 7, axis=0)])


def test_a_member_comes_out_and_halves_without_moving_its_scores(tmp_path, shipped_weights, astronaut):
    member, half = tmp_path / "m0.safetensors", tmp_path / "m0h.safetensors"
    assert runner.invoke(app, ["weights", "member", str(shipped_weights), "0", "--out", str(member)]).exit_code == 0
    card = Card.read(member)
    assert card.tta == "none" and card.sha256 == file_sha256(member) and "ensemble" not in card.record
    assert card.record["member_of"] == {"file": shipped_weights.name, "sha256": Card.read(shipped_weights).sha256,
                                 "index": 0}
    assert member.with_suffix(".splits.csv").exists()
    missing = runner.invoke(app, ["weights", "member", str(shipped_weights), "7", "--out", str(tmp_path / "x.st")])
    assert missing.exit_code == 2 and "no member 7" in " ".join(missing.output.split())

    assert runner.invoke(app, ["weights", "halve", str(member), str(half)]).exit_code == 0
    assert half.stat().st_size < 0.6 * member.stat().st_size
    halved = Card.read(half)
    assert halved.record["float32_sha256"] == card.sha256 and halved.sha256 == file_sha256(half)
    full, small = FaceScorer(weights=str(member), runtime="torch"), FaceScorer(weights=str(half), runtime="torch")
    crops = _crops(full, astronaut)
    # float16 storage rounds each weight to 11 bits: scores move, but by far less than a verdict's margin
    np.testing.assert_allclose(small.score(crops), full.score(crops), rtol=0, atol=5e-3)


def test_a_card_gains_its_evaluations_and_licences_and_refuses_other_weights(tmp_path, shipped_weights):
    member = tmp_path / "m0.safetensors"
    assert runner.invoke(app, ["weights", "member", str(shipped_weights), "0", "--out", str(member)]).exit_code == 0
    rows = [{"path": f"v{i}.mp4", "status": "ok" if i else "error"} for i in range(4)]
    metrics = {"all": {"n": 3, "roc_auc": 0.75, "accuracy": 0.5}, "per_source": {"toolA": {"n": 3, "roc_auc": 0.75}}}
    report = {"sha256": Card.read(member).sha256, "data": "/somewhere/manifest.csv", "threshold": 0.5,
              "created": "2026-12-03T12:00:00+00:00", "videos": {"metrics": metrics, "rows": rows}}
    (tmp_path / "r.json").write_text(json.dumps(report))
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": ["fake/a.mp4"], "label": ["fake"], "source": ["toolA"], "licence": ["MIT"]}).to_csv(manifest)
    done = runner.invoke(app, ["weights", "card", str(member), f"held-out={tmp_path / 'r.json'}", "--note",
                               "held-out=never trained on", "--manifest", str(manifest)])
    assert done.exit_code == 0, done.output
    card = Card.read(member)
    videos = card.record["evaluation"]["held-out"]["videos"]
    assert (videos["scored"], videos["not_scored"], videos["all"]["roc_auc"]) == (3, 1, 0.75)
    assert card.record["evaluation"]["held-out"]["data"] == "manifest.csv"  # no path of this machine
    assert card.record["evaluation"]["held-out"]["note"] == "never trained on"
    assert card.record["data_licences"]["toolA"] == ["MIT"]
    (tmp_path / "other.json").write_text(json.dumps(dict(report, sha256="0" * 64)))
    refused = runner.invoke(app, ["weights", "card", str(member), f"x={tmp_path / 'other.json'}"])
    assert refused.exit_code == 2 and "scored other weights" in " ".join(refused.output.split())
    said = runner.invoke(app, ["weights", "card", str(member), "--purpose", "pasted faces", "--misses", "talking heads"])
    assert said.exit_code == 0, said.output
    card = Card.read(member)
    assert (card.record["what_it_is_for"], card.record["what_it_misses"]) == ("pasted faces", "talking heads")
    assert card.record["evaluation"]["held-out"]["note"] == "never trained on"  # kept


def test_the_wheel_lists_every_package_and_carries_the_shipped_weights(tmp_path, media_dir):
    """A plain (not editable) install scans with the shipped suite, from any folder."""
    import os
    import shutil
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    import pyarrow.parquet as pq
    from setuptools import find_packages

    from forensics.models.weights import weights_dir
    from forensics.report.schema import read_metadata

    repo = Path(__file__).resolve().parents[1]
    listed = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(listed) == sorted(find_packages(str(repo), include=["forensics*"])
                                 + ["forensics.report.templates", "forensics.weights"])  # data only

    # built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds
    source = tmp_path / "source"
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(".git", "runs", "build", "dist", "*.egg-info",
                                                                "__pycache__", ".venv", ".pytest_cache", "tests"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("forensics-*.whl")
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    shipped = {p.name for p in weights_dir().glob("*.safetensors")} | {p.name for p in weights_dir().glob("*.json")}
    assert {p.name for p in (site / "forensics" / "weights").iterdir()} == shipped

    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("FORENSICS_WEIGHTS_DIR", None)
    report = tmp_path / "r.parquet"
    scan = subprocess.run([sys.executable, "-m", "forensics", "scan", str(media_dir / "astronaut.jpg"),
                           "--out", str(report), "--quiet"], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=env)
    assert scan.returncode == 0, scan.stderr[-3000:]
    meta = read_metadata(pq.read_schema(report))
    assert meta["weights"].startswith(str(site / "forensics" / "weights")), meta["weights"]
    assert pq.read_table(report).column("status").to_pylist() == ["ok"]
