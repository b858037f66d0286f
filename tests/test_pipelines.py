"""Cluster presets and the job entry point's arguments (the job itself: tests/test_ray_engine.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from forensics.config import ScanConfig

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"pipelines_{name}", PIPELINES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(PIPELINES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PIPELINES))
    return module


presets = _load("presets")


def test_every_preset_is_a_valid_ray_config():
    for name in presets.PRESETS:
        config = presets.preset_config(name)
        assert isinstance(config, ScanConfig) and config.engine == "ray"
    fast, thorough = presets.preset_config("fast"), presets.preset_config("thorough")
    assert fast.frames < ScanConfig().frames and fast.detect_size < ScanConfig().detect_size
    assert thorough.fps and thorough.detect_size == 0 and thorough.min_face_prob < ScanConfig().min_face_prob
    assert presets.preset_config("fast", frames=16).frames == 16


def test_settings_are_typed_like_the_config():
    assert presets.parse_setting("frames=16") == ("frames", 16)
    assert presets.parse_setting("fps=2.5") == ("fps", 2.5)
    assert presets.parse_setting("threshold=0.7") == ("threshold", 0.7)
    assert presets.parse_setting("threads=none") == ("threads", None)
    assert presets.parse_setting("aggregate=max") == ("aggregate", "max")
    with pytest.raises(ValueError, match="key=value"):
        presets.parse_setting("colour=red")
    with pytest.raises(ValueError, match="unknown preset"):
        presets.preset_config("slow")
    with pytest.raises(ValueError, match="frames must be"):
        presets.preset_config("fast", frames=0)


def test_scan_job_rejects_bad_settings_before_touching_ray(tmp_path, capsys):
    job = _load("scan_job")
    assert job.main([str(tmp_path), "--out", str(tmp_path / "r.parquet"), "--set", "frames=0"]) == 2
    assert "frames must be" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        job.main([str(tmp_path), "--out", str(tmp_path / "r.parquet"), "--preset", "slow"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "r.parquet").exists()
