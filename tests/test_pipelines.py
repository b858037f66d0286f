"""Scan presets and typed --set settings, and how Ray actor pools fit a cluster (the Ray scans
themselves: tests/test_ray_engine.py)."""

import pytest
from typer.testing import CliRunner

from forensics.cli import app
from forensics.config import PRESETS, ScanConfig, parse_setting


def test_every_preset_is_a_valid_config():
    for name in PRESETS:
        assert isinstance(ScanConfig.from_preset(name), ScanConfig)
    assert ScanConfig.from_preset("default") == ScanConfig()
    fast, thorough = ScanConfig.from_preset("fast"), ScanConfig.from_preset("thorough")
    assert fast.frames < ScanConfig().frames and fast.detect_size < ScanConfig().detect_size
    assert thorough.fps and thorough.detect_size == 0 and thorough.min_face_prob < ScanConfig().min_face_prob
    assert ScanConfig.from_preset("fast", frames=16).frames == 16


def test_settings_are_typed_like_the_config():
    assert parse_setting("frames=16") == ("frames", 16)
    assert parse_setting("fps=2.5") == ("fps", 2.5)
    assert parse_setting("threshold=0.7") == ("threshold", 0.7)
    assert parse_setting("threads=none") == ("threads", None)
    assert parse_setting("aggregate=max") == ("aggregate", "max")
    assert parse_setting("heatmaps=true") == ("heatmaps", True)
    with pytest.raises(ValueError, match="key=value"):
        parse_setting("colour=red")
    with pytest.raises(ValueError, match="not a whole number"):
        parse_setting("frames=many")
    with pytest.raises(ValueError, match="unknown preset"):
        ScanConfig.from_preset("slow")
    with pytest.raises(ValueError, match="frames must be"):
        ScanConfig.from_preset("fast", frames=0)


def test_scan_takes_a_preset_and_settings_and_refuses_bad_ones_before_scanning(tmp_path):
    out = tmp_path / "r.parquet"
    for args, reason in ((["--set", "frames=0"], "frames must be"), (["--set", "colour=red"], "key=value"),
                         (["--preset", "slow"], "slow"), (["--set", "fps=fast"], "not a number")):
        result = CliRunner().invoke(app, ["scan", str(tmp_path), "--out", str(out), *args])
        assert result.exit_code == 2, (args, result.output)
        assert reason in " ".join(result.output.split()), (args, result.output)
        assert not out.exists()


def test_the_scan_options_offer_the_configs_choices_and_defaults():
    from forensics.config import AGGREGATE_STRATEGIES, DEVICES, ENGINES, RUNTIMES

    helped = " ".join(CliRunner().invoke(app, ["scan", "--help"], env={"COLUMNS": "300"}).output.split())
    for values in (AGGREGATE_STRATEGIES, DEVICES, ENGINES, RUNTIMES, tuple(PRESETS)):
        assert "|".join(values) in helped
    assert f"(default: {ScanConfig().frames};" in helped and f"(default: {ScanConfig().detect_size};" in helped


@pytest.mark.parametrize("resources, threads, workers, want", [
    # (extract actors at the start, score actors at the start, CPUs each reserves, threads each runs)
    ({"CPU": 8}, 1, None, (6, 2, 1.0, 1)),  # a quarter score, the rest extract
    ({"CPU": 2}, 1, None, (1, 1, 1.0, 1)),  # this machine: one of each
    ({"CPU": 1}, 1, None, (1, 1, 0.5, 1)),  # one CPU: both pools fit on half a CPU each
    ({"CPU": 2}, 2, None, (1, 1, 1.0, 2)),  # 2 threads each would need 4 CPUs: reserve 1 each
    ({"CPU": 16}, 4, None, (3, 1, 4.0, 4)),
    ({"CPU": 4}, 1, 3, (3, 3, 4 / 6, 1)),  # --workers 3: 6 actors share the 4 CPUs
    ({"CPU": 4}, 1, (1, 8), (1, 1, 1.0, 1)),  # --workers 1-8: start at one each
])
def test_pools_fit_the_cluster(resources, threads, workers, want):
    from forensics.engines.ray_plan import plan_pools

    plan = plan_pools(resources, ScanConfig(threads=threads, device="cpu"), workers)
    got = (plan.extract.initial, plan.score.initial, plan.extract.cpus, plan.threads)
    assert got == pytest.approx(want)
    assert plan.score.cpus == plan.extract.cpus
    assert (plan.extract.initial + plan.score.initial) * plan.extract.cpus <= resources["CPU"]
    assert plan.extract.gpus == plan.score.gpus == 0 and plan.device == "cpu"


@pytest.mark.parametrize("resources, workers, want", [
    # (extract min, max; score min, max)
    ({"CPU": 8}, None, (1, None, 1, None)),  # default: grow as far as the cluster grows
    ({"CPU": 1}, None, (1, 1, 1, 1)),  # fractional actors: no room to grow
    ({"CPU": 8}, 3, (3, 3, 3, 3)),  # --workers 3: fixed
    ({"CPU": 8}, (2, 40), (2, 40, 2, 40)),  # --workers 2-40: bounded
])
def test_pools_autoscale_within_their_bounds(resources, workers, want):
    from ray.data import ActorPoolStrategy

    from forensics.engines.ray_plan import plan_pools

    plan = plan_pools(resources, ScanConfig(device="cpu"), workers)
    assert (plan.extract.min_size, plan.extract.max_size, plan.score.min_size, plan.score.max_size) == want
    for pool in (plan.extract, plan.score):
        strategy = pool.strategy()
        assert isinstance(strategy, ActorPoolStrategy)
        assert (strategy.min_size, strategy.max_size) == (pool.min_size, pool.max_size or float("inf"))


def test_workers_take_a_count_or_bounds():
    from forensics.config import Cluster, parse_workers

    assert parse_workers("4") == 4 and parse_workers("1-32") == (1, 32)
    for bad in ("0", "8-2", "x", "1-", "-3"):
        with pytest.raises(ValueError, match="--workers takes N or MIN-MAX"):
            parse_workers(bad)
    with pytest.raises(ValueError, match="MIN <= MAX"):
        Cluster(workers=(5, 2))


def test_pools_on_gpus_and_gpu_settings_that_do_not_fit():
    from forensics.engines.ray_plan import plan_pools

    # with GPUs the classifier scores on GPU actors, two per GPU, and decoding and detection
    # run on CPU actors over the rest of the cluster's CPUs
    plan = plan_pools({"CPU": 320, "GPU": 2}, ScanConfig(device="auto"))
    assert (plan.score.initial, plan.score.gpus, plan.device) == (4, 0.5, "cuda")
    assert (plan.extract.initial, plan.extract.gpus, plan.extract.device) == (316, 0.0, "cpu")
    assert (plan.extract.initial + plan.score.initial) * plan.extract.cpus <= 320
    on_gpus = plan_pools({"CPU": 8, "GPU": 2}, ScanConfig(device="auto"), extract_gpus=0.5)
    assert (on_gpus.extract.initial, on_gpus.extract.device, on_gpus.score.initial) == (2, "cuda", 2)
    assert plan_pools({"CPU": 8, "GPU": 1}, ScanConfig(device="auto"), gpus_per_worker=0.25).score.initial == 4
    assert plan_pools({"CPU": 8, "GPU": 2}, ScanConfig(device="cpu")).device == "cpu"
    with pytest.raises(ValueError, match="has no GPU"):
        plan_pools({"CPU": 8}, ScanConfig(device="cuda"))
    with pytest.raises(ValueError, match="contradicts --device cpu"):
        plan_pools({"CPU": 8, "GPU": 1}, ScanConfig(device="cpu"), gpus_per_worker=0.5)
    with pytest.raises(ValueError, match="has no GPU"):
        plan_pools({"CPU": 8}, ScanConfig(device="auto"), gpus_per_worker=0.5)
    with pytest.raises(ValueError, match="has no GPU"):
        plan_pools({"CPU": 8}, ScanConfig(device="auto"), extract_gpus=0.5)


def test_the_cluster_files_name_this_ray_version_and_a_scan_the_cli_accepts():
    """pipelines/: the KubeRay RayJob, its image, the runtime_env and the cluster launcher's file
    stay in step with constraints.txt and with `forensics scan`'s options."""
    import re
    import shlex
    from pathlib import Path

    import yaml
    from ray.runtime_env import RuntimeEnv

    repo = Path(__file__).resolve().parents[1]
    ray_version = re.search(r"^ray==(\S+)$", (repo / "constraints.txt").read_text(), re.M).group(1)
    job = yaml.safe_load((repo / "pipelines/rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == ray_version
    assert f"FROM rayproject/ray:{ray_version}-" in (repo / "pipelines/Dockerfile").read_text()
    assert f'"ray[default]=={ray_version}"' in (repo / "pipelines/cluster.yaml").read_text()

    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["forensics", "scan"] and all(a.startswith("s3://") for a in argv[2:3])
    helped = CliRunner().invoke(app, ["scan", "--help"], env={"COLUMNS": "300"}).output
    for option in (a for a in argv if a.startswith("--")):
        assert re.search(rf"{re.escape(option)}\b", helped), option

    env = RuntimeEnv(**yaml.safe_load((repo / "pipelines/runtime_env.yaml").read_text()))
    assert any(p.startswith("forensics @ ") for p in env["pip"]["packages"])
