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


@pytest.mark.parametrize("resources, threads, workers, want", [
    # (extract actors, score actors, CPUs each reserves, threads each runs)
    ({"CPU": 8}, 1, None, (6, 2, 1.0, 1)),  # a quarter score, the rest extract
    ({"CPU": 2}, 1, None, (1, 1, 1.0, 1)),  # this machine: one of each
    ({"CPU": 1}, 1, None, (1, 1, 0.5, 1)),  # one CPU: both pools fit on half a CPU each
    ({"CPU": 2}, 2, None, (1, 1, 1.0, 2)),  # 2 threads each would need 4 CPUs: reserve 1 each
    ({"CPU": 16}, 4, None, (3, 1, 4.0, 4)),
    ({"CPU": 4}, 1, 3, (3, 3, 4 / 6, 1)),  # --workers 3: 6 actors share the 4 CPUs
])
def test_pools_fit_the_cluster(resources, threads, workers, want):
    from forensics.engines.ray import plan_pools

    plan = plan_pools(resources, ScanConfig(threads=threads, device="cpu"), workers)
    got = (plan.extract_workers, plan.score_workers, plan.cpus_per_worker, plan.threads)
    assert got == pytest.approx(want)
    assert (plan.extract_workers + plan.score_workers) * plan.cpus_per_worker <= resources["CPU"]
    assert plan.gpus_per_worker == 0 and plan.device == "cpu"


def test_pools_on_gpus_and_gpu_settings_that_do_not_fit():
    from forensics.engines.ray import plan_pools

    plan = plan_pools({"CPU": 8, "GPU": 2}, ScanConfig(device="auto"))
    assert (plan.extract_workers, plan.score_workers, plan.gpus_per_worker, plan.device) == (2, 2, 0.5, "cuda")
    assert plan_pools({"CPU": 8, "GPU": 1}, ScanConfig(device="auto"), gpus_per_worker=0.25).extract_workers == 2
    assert plan_pools({"CPU": 8, "GPU": 2}, ScanConfig(device="cpu")).device == "cpu"
    with pytest.raises(ValueError, match="has no GPU"):
        plan_pools({"CPU": 8}, ScanConfig(device="cuda"))
    with pytest.raises(ValueError, match="contradicts --device cpu"):
        plan_pools({"CPU": 8, "GPU": 1}, ScanConfig(device="cpu"), gpus_per_worker=0.5)
    with pytest.raises(ValueError, match="has no GPU"):
        plan_pools({"CPU": 8}, ScanConfig(device="auto"), gpus_per_worker=0.5)
