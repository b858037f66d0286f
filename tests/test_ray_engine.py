"""The Ray engine on a real two-node Ray cluster on 127.0.0.1, against the embedded engine.

The cluster has two nodes of one CPU each (custom resources ``node_a`` and ``node_b`` tell
them apart), so the two actor pools (one extract actor, one score actor) must spread over
both. The head runs a dashboard on 127.0.0.1 for ``ray job submit``. Everything is torn down
at the end of the module, on failure too. Run time on 2 busy cores: about two minutes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tolerances import ENGINE_SCORE_ATOL, SCORE_ATOL, assert_same_picture, assert_same_table
from typer.testing import CliRunner

from forensics.cli import app
from forensics.config import Cluster, ScanConfig
from forensics.media.discover import discover
from forensics.report.schema import faces_path, read_metadata
from forensics.runner import run_scan

REPO = Path(__file__).resolve().parents[1]
RAY_CLI = str(Path(sys.executable).with_name("ray"))  # the `ray` command of this environment
FORENSICS_CLI = str(Path(sys.executable).with_name("forensics"))
JOB_TIMEOUT_S = 150

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def test_weights(seeded_weights) -> Path:
    """Seeded custom-cnn weights with a card: the engines' agreement needs no trained model."""
    return seeded_weights


@pytest.fixture(scope="module")
def ray_cluster():
    """(cluster, dashboard URL): two one-CPU nodes on 127.0.0.1; shut down even on failure."""
    import ray
    from ray.cluster_utils import Cluster

    from forensics.engines.ray_connect import loopback_only

    port = _free_port()
    with loopback_only():  # this process, the nodes and the job drivers they start: 127.0.0.1
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "resources": {"node_a": 1}, "node_ip_address": "127.0.0.1",
            "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": port,
        })
        try:
            cluster.add_node(num_cpus=1, resources={"node_b": 1}, node_ip_address="127.0.0.1")
            cluster.wait_for_nodes()
            yield cluster, f"http://127.0.0.1:{port}"
        finally:
            ray.shutdown()
            cluster.shutdown()


def _listeners() -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket on this machine, from /proc/net."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        table = Path("/proc/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            if width == 8:
                host = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:  # four little-endian 32-bit words
                host = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            found.add((host, int(port, 16)))
    return found


def _config(weights: Path, thumbnails: Path, engine: str) -> ScanConfig:
    # one torch thread in both engines: the Ray actors reserve one CPU each
    return ScanConfig(frames=6, threads=1, weights=str(weights), thumbnails=str(thumbnails), engine=engine)


def _assert_same_report(ray_out: Path, local_out: Path) -> None:
    """Same rows in the same order, same columns; discrete values equal, floats within tests/tolerances.py."""
    for ray_path, local_path in ((ray_out, local_out), (faces_path(ray_out), faces_path(local_out))):
        got, want = pq.read_table(ray_path), pq.read_table(local_path)
        assert_same_table(got, want, ray_path.name, skip=("elapsed_s", "thumbnail"))
        if "thumbnail" in want.schema.names:  # same file names; the folder may differ
            names = [[x and Path(x).name for x in t.column("thumbnail").to_pylist()] for t in (got, want)]
            assert names[0] == names[1]


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory, media_dir, bad_dir, test_weights):
    """The embedded engine's report of good and bad media, and a copy of its thumbnails."""
    out = tmp_path_factory.mktemp("engines")
    config = _config(test_weights, out / "thumbs", "local")
    outcome = run_scan([str(media_dir), str(bad_dir)], config, out / "local.parquet", quiet=True)
    shutil.copytree(out / "thumbs", out / "thumbs-local")
    return out, outcome


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from Linux /proc/net")
def test_without_an_address_a_local_instance_listens_on_loopback_only(local_reference, media_dir, test_weights,
                                                                        tmp_path):
    """The command line, in a fresh process (as a user runs it): every socket the local Ray
    instance opens listens on loopback, and the instance is gone after the scan."""
    out, local = local_reference
    before = _listeners()
    scan = subprocess.Popen([FORENSICS_CLI, "scan", str(media_dir / "astronaut.jpg"), str(media_dir / "coffee-no-face.jpg"),
                             "--out", str(tmp_path / "r.parquet"), "--engine", "ray", "--frames", "6", "--threads", "1",
                             "--weights", str(test_weights), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"})
    opened: set[tuple[str, int]] = set()
    while scan.poll() is None:
        opened |= _listeners() - before
        time.sleep(0.1)
    _, stderr = scan.communicate()
    assert scan.returncode == 0, stderr
    assert opened, "the local Ray instance must listen somewhere"
    loopback = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}  # the last: IPv4 loopback on an IPv6 socket
    assert {host for host, _ in opened} <= loopback, f"not loopback only: {sorted(opened)}"
    deadline = time.monotonic() + 60  # a closed socket may linger a moment: wait for it, don't sleep a guess
    while (_listeners() - before) & opened and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (_listeners() - before) & opened, "stopped after the scan"
    want = {row["path"]: row for row in local.media.to_pylist()}
    for row in pq.read_table(tmp_path / "r.parquet").to_pylist():
        assert row["status"] == want[row["path"]]["status"]
        assert (row["score"] is None) == (want[row["path"]]["score"] is None)
        assert row["score"] is None or abs(row["score"] - want[row["path"]]["score"]) <= SCORE_ATOL


def test_an_unreachable_cluster_is_a_usage_error(tmp_path, media_dir, test_weights):
    result = CliRunner().invoke(app, ["scan", str(media_dir / "astronaut.jpg"), "--out", str(tmp_path / "r.parquet"),
                                      "--weights", str(test_weights), "--engine", "ray",
                                      "--ray-address", f"127.0.0.1:{_free_port()}"])
    assert result.exit_code == 2, result.output
    assert "cannot reach the Ray cluster" in result.output
    assert not (tmp_path / "r.parquet").exists()


def test_cli_ray_report_equals_local_on_two_nodes(ray_cluster, local_reference, media_dir, bad_dir, test_weights):
    cluster, _ = ray_cluster
    out, local = local_reference
    shutil.rmtree(out / "thumbs")  # the Ray scan must write every thumbnail itself
    result = CliRunner().invoke(app, [
        "scan", str(media_dir), str(bad_dir), "--out", str(out / "ray.parquet"), "--thumbnails", str(out / "thumbs"),
        "--frames", "6", "--threads", "1", "--weights", str(test_weights),
        "--engine", "ray", "--ray-address", cluster.address,
    ], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ray, 2 node(s) did the work" in result.output, "both nodes must do work"

    _assert_same_report(out / "ray.parquet", out / "local.parquet")
    media = pq.read_table(out / "ray.parquet")
    statuses = dict(zip(media.column("path").to_pylist(), media.column("status").to_pylist()))
    assert statuses[str(bad_dir / "corrupt.jpg")] == "error" and statuses[str(bad_dir / "truncated.mp4")] == "error"
    assert statuses[str(media_dir / "astronaut-clip.mp4")] == "ok"

    meta_ray = read_metadata(pq.read_schema(out / "ray.parquet"))
    meta_local = read_metadata(pq.read_schema(out / "local.parquet"))
    assert meta_ray.pop("engine") == "ray" and meta_local.pop("engine") == "local"
    assert meta_ray["config"].pop("engine") == "ray" and meta_local["config"].pop("engine") == "local"
    meta_ray.pop("created"), meta_local.pop("created")
    assert meta_ray == meta_local

    # the same thumbnails: same names, the same pictures (rewritten by the Ray scan into the same folder)
    names = sorted(p.name for p in (out / "thumbs").iterdir())
    assert names == sorted(p.name for p in (out / "thumbs-local").iterdir()) and len(names) >= 6
    for name in names:
        assert_same_picture(out / "thumbs" / name, out / "thumbs-local" / name, name)


def test_a_suite_gives_the_same_family_scores_and_verdicts_in_both_engines(ray_cluster, media_dir, test_weights,
                                                                          tmp_path):
    """Three seeded members: synthesis calibrated to fire on videos and not on stills, animation
    judging videos only and firing highest: per-family columns and the verdict's family are the
    same on the two-node cluster as in the embedded engine."""
    import torch

    from forensics.models.registry import build_model
    from forensics.models.weights import Card, save_weights
    from forensics.train.suite import write_suite_card

    cluster, _ = ray_cluster
    others = {}
    for seed, family in ((1, "synthesis"), (2, "animation")):
        torch.manual_seed(seed)
        others[family] = tmp_path / f"{family}.safetensors"
        save_weights(build_model("custom-cnn"), others[family], {k: Card.read(test_weights).to_dict()[k] for k in ("model", "crop_policy")})
    card = tmp_path / "suite.json"
    write_suite_card(card, {"blend": test_weights, **others}, "three seeded members",
                     calibration={"blend": {"logit_shift": 6.0},
                                  "synthesis": {"logit_shift": -6.0, "image": {"logit_shift": 6.0}},
                                  "animation": {"logit_shift": -9.0}}, kinds={"animation": ["video"]})
    # two photos of one size (the embedded engine searches them in one MTCNN call and scores the
    # crops of several media in one pass; Ray actors take one media at a time) and two clips
    inputs = [str(media_dir / n) for n in ("astronaut.jpg", "astronaut-clip.mp4", "coffee-no-face.jpg",
                                           "grace-hopper.jpg", "astronaut-manipulated.jpg",
                                           "two-people-one-manipulated.mp4")]
    for engine in ("local", "ray"):
        config = ScanConfig(frames=6, threads=1, weights=str(card), engine=engine)
        run_scan(inputs, config, tmp_path / f"{engine}.parquet", quiet=True,
                 cluster=Cluster(address=cluster.address) if engine == "ray" else None)
    _assert_same_report(tmp_path / "ray.parquet", tmp_path / "local.parquet")
    for name in ("ray.parquet", "ray.faces.parquet"):  # at one thread: the same scores, to float32 noise
        got, want = pq.read_table(tmp_path / name), pq.read_table(tmp_path / name.replace("ray", "local"))
        for column in (c for c in want.schema.names if c == "score" or c.startswith("score_")):
            a, b = got.column(column).to_pylist(), want.column(column).to_pylist()
            assert [x is None for x in a] == [x is None for x in b], column
            assert max((abs(x - y) for x, y in zip(a, b) if x is not None), default=0.0) <= ENGINE_SCORE_ATOL, column
    rows = pq.read_table(tmp_path / "ray.parquet").to_pylist()[:3]
    assert [(r["status"], r["verdict"], r["family"]) for r in rows] == [
        ("ok", "real", None), ("ok", "fake", "animation"), ("no_face", None, None)]
    photo, clip = rows[:2]
    assert photo["score_animation"] is None and max(photo["score_blend"], photo["score_synthesis"]) < 0.5
    assert clip["score_blend"] < 0.5 < clip["score_synthesis"] < clip["score_animation"]
    faces = pq.read_table(faces_path(tmp_path / "ray.parquet")).to_pylist()
    assert faces and all(f["score"] == max(f[f"score_{x}"] for x in ("blend", "synthesis", "animation")
                                           if f[f"score_{x}"] is not None) for f in faces)
    assert read_metadata(pq.read_schema(tmp_path / "ray.parquet"))["model"] == "suite: three seeded members"


def test_both_engines_give_the_same_provenance(ray_cluster, provenance_dir, test_weights, tmp_path):
    """Content Credentials trusted through anchors the driver reads and sends to the actors (their
    node need not have the file), a changed file, a WebUI PNG and a damaged manifest: the same
    rows, provenance columns and verdicts on the two-node cluster as in the embedded engine."""
    cluster, _ = ray_cluster
    names = ("ai-astronaut.jpg", "ai-clip.mp4", "camera-coffee.png", "tampered-astronaut.png", "webui.png",
             "truncated-manifest.jpg")
    inputs = [str(provenance_dir / "scan" / n) for n in names]
    for engine in ("local", "ray"):
        config = ScanConfig(frames=4, threads=1, weights=str(test_weights), engine=engine,
                            trust_anchors=str(provenance_dir / "root.pem"))
        run_scan(inputs, config, tmp_path / f"{engine}.parquet", quiet=True,
                 cluster=Cluster(address=cluster.address) if engine == "ray" else None)
    _assert_same_report(tmp_path / "ray.parquet", tmp_path / "local.parquet")
    rows = pq.read_table(tmp_path / "ray.parquet").to_pylist()
    assert [(r["provenance_status"], r["provenance_ai"], r["verdict"]) for r in rows] == [
        ("valid", True, "fake"), ("valid", True, "fake"), ("valid", False, None), ("invalid", True, "fake"),
        ("none", True, "fake"), ("none", None, "real" if rows[5]["score"] < 0.5 else "fake")]
    assert rows[5]["warnings"] and rows[5]["warnings"][0].startswith("content credentials could not be read")
    metadata = [read_metadata(pq.read_schema(tmp_path / f"{e}.parquet")) for e in ("ray", "local")]
    assert metadata[0]["trust_anchors_sha256"] == metadata[1]["trust_anchors_sha256"] is not None


def test_killed_worker_is_retried_and_the_report_is_complete(ray_cluster, local_reference, media_dir, bad_dir,
                                                             test_weights, tmp_path):
    from forensics.engines.ray import RayEngine

    cluster, _ = ray_cluster
    _, local = local_reference
    # the inputs twice over, so that work remains when the worker dies
    items = discover([str(media_dir), str(bad_dir)]).items * 2
    expected = local.media.column("status").to_pylist() * 2
    runner = RayEngine(_config(test_weights, tmp_path / "thumbs", "ray"),
                       Cluster(address=cluster.address, media_per_batch=1))
    killed: list[int] = []
    results = []
    for result in runner.scan(items):
        results.append(result)
        if not killed:  # the first result is back: kill the extract worker, which is busy with the next items
            (worker,) = runner.workers_used["extract"]
            pid = int(worker.split("/")[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    assert [r.path for r in results] == [i.path for i in items], "every media once, in input order"
    assert [r.status for r in results] == expected
    pids = {int(w.split("/")[1]) for w in runner.workers_used["extract"]}
    assert killed[0] in pids and len(pids) >= 2, "a restarted worker must have finished the job"


def test_ray_job_submit_writes_the_report(ray_cluster, local_reference, media_dir, bad_dir, test_weights, tmp_path):
    _, dashboard = ray_cluster
    out, local = local_reference
    report = tmp_path / "job" / "report.parquet"
    submission = f"forensics-test-{uuid.uuid4().hex[:8]}"
    command = [
        RAY_CLI, "job", "submit", "--address", dashboard,
        "--submission-id", submission, "--",
        FORENSICS_CLI, "scan", str(media_dir), str(bad_dir), "--engine", "ray", "--ray-address", "auto",
        "--out", str(report), "--thumbnails", str(tmp_path / "job" / "thumbs"), "--weights", str(test_weights),
        "--set", "frames=6", "--set", "threads=1",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        subprocess.run([RAY_CLI, "job", "stop", "--address", dashboard,
                        submission], capture_output=True, timeout=60)
        pytest.fail(f"ray job submit took more than {JOB_TIMEOUT_S} s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout and "2 node(s) did the work" in done.stdout
    _assert_same_report(report, out / "local.parquet")
    assert read_metadata(pq.read_schema(report))["engine"] == "ray"


def _kill_whoever_opens(path: Path, stop: threading.Event, kills: list[int]) -> None:
    """Kill the Ray worker that has ``path`` open (or whose decoding worker has), whenever one
    does, as an out-of-memory kill would: every attempt at that media dies."""
    target = str(path)
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                opened = any(os.readlink(fd) == target for fd in (proc / "fd").iterdir())
            except OSError:
                continue
            if not opened:
                continue
            pid = int(proc.name)
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                if "forensics.media.worker" in cmdline:  # the actor's decoding worker: kill the actor
                    pid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                if cmdline.startswith("ray::"):
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
            except (OSError, ValueError, IndexError):
                continue
        stop.wait(0.005)


def test_a_media_that_keeps_killing_its_worker_is_an_error_row(ray_cluster, media_dir, test_weights, tmp_path):
    """A media whose worker dies every time it is tried (killed here whenever a worker opens
    it) is an error row after 1 + max_task_retries attempts; every other media is scanned, once,
    in input order, and the scan goes on."""
    from forensics.engines.ray import RayEngine

    cluster, _ = ray_cluster
    poison = tmp_path / "poison" / "clip.mp4"
    poison.parent.mkdir()
    shutil.copy(media_dir / "astronaut-clip.mp4", poison)
    good = discover([str(media_dir)]).items
    items = good[:2] + discover([str(poison)]).items + good[2:]
    runner = RayEngine(_config(test_weights, tmp_path / "thumbs", "ray"),
                       Cluster(address=cluster.address, media_per_batch=1, max_task_retries=1))
    stop, kills = threading.Event(), []
    watcher = threading.Thread(target=_kill_whoever_opens, args=(poison, stop, kills), daemon=True)
    watcher.start()
    try:
        results = list(runner.scan(items))
    finally:
        stop.set()
        watcher.join()
    assert [r.path for r in results] == [i.path for i in items]
    poisoned = results[2]
    assert poisoned.status == "error" and "the worker scanning it died 2 times" in poisoned.error, poisoned.error
    assert len(kills) == 2, kills
    assert all(r.status in ("ok", "no_face") for k, r in enumerate(results) if k != 2)


def _journal_media(journal: Path) -> int:
    """Media finished in a scan's journal (its lines after the header; a half-written last line not counted)."""
    if not journal.exists():
        return 0
    return max(0, sum(1 for line in journal.read_bytes().split(b"\n") if line.endswith(b"}")) - 1)


def _ray_pids(name: str) -> list[int]:
    """Processes of Ray workers whose command line names ``name`` (an actor class)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and cmdline.startswith("ray::") and name in cmdline:
            found.append(int(proc.name))
    return found


def test_a_scan_that_cannot_go_on_exits_5_keeps_its_journal_and_resumes(ray_cluster, local_reference, media_dir,
                                                                        bad_dir, test_weights, tmp_path):
    """The score worker dies mid-scan and cannot come back (the node's weights changed meanwhile,
    so the restarted worker refuses to score): the scan fails with exit 5 and says what it kept,
    the media finished so far stay in the journal, no report is written, and the same command
    with --resume, once the node has the scan's weights again, writes the report an
    uninterrupted scan writes."""
    import torch

    from forensics.models.registry import build_model
    from forensics.models.weights import Card, card_path, save_weights
    from forensics.report.journal import journal_path

    cluster, _ = ray_cluster
    out, _ = local_reference
    weights, kept = tmp_path / "w.safetensors", tmp_path / "kept"
    kept.mkdir()
    for source in (test_weights, card_path(test_weights)):
        shutil.copy(source, weights.with_suffix(source.suffix))
        shutil.copy(source, kept / source.name)
    report = tmp_path / "report.parquet"
    command = [FORENSICS_CLI, "scan", str(media_dir), str(bad_dir), "--engine", "ray", "--ray-address", cluster.address,
               "--out", str(report), "--thumbnails", str(tmp_path / "thumbs"), "--weights", str(weights),
               "--media-per-batch", "1", "--set", "frames=6", "--set", "threads=1"]
    wide = {**os.environ, "COLUMNS": "200"}  # rich wraps its messages at the terminal's width
    scan = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=wide)
    journal, deadline = journal_path(report), time.monotonic() + JOB_TIMEOUT_S
    while _journal_media(journal) < 1 and scan.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the condition itself: the first media in the journal
    assert scan.poll() is None and _journal_media(journal) >= 1, "the scan ended before a media was journalled"
    torch.manual_seed(1)  # other weights at the scan's path, as on a node that was given another file
    save_weights(build_model("custom-cnn"), weights, {k: Card.read(test_weights).to_dict()[k] for k in ("model", "crop_policy")})
    killed = _ray_pids("ScoreStage")
    assert killed, "no score worker to kill"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    try:
        output, _ = scan.communicate(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        scan.kill()
        pytest.fail(f"the failing scan did not stop within {JOB_TIMEOUT_S} s")
    assert scan.returncode == 5, output[-3000:]
    assert "install the same weights on every node" in output and "--resume" in output, output[-3000:]
    assert not report.exists(), "a scan that failed writes no report"
    finished = _journal_media(journal)
    assert 1 <= finished < len(discover([str(media_dir), str(bad_dir)]).items)
    for source in kept.iterdir():  # the node has the scan's weights again
        shutil.copy(source, weights.with_suffix(source.suffix))
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=JOB_TIMEOUT_S, cwd=tmp_path,
                             env=wide)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"{finished} media taken from the interrupted scan's journal" in resumed.stdout + resumed.stderr
    _assert_same_report(report, out / "local.parquet")
    assert not journal.exists()


def test_an_actor_with_other_weights_refuses_to_score(ray_cluster, media_dir, test_weights, tmp_path):
    """The weights at the scan's path change after the driver checked them (as on a node that
    holds other weights): the score actor refuses, the scan fails with that reason, and no
    report is written."""
    import torch

    from forensics.engines.ray import RayEngine, RayScanError
    from forensics.models.registry import build_model
    from forensics.models.weights import Card, card_path, save_weights

    weights = tmp_path / "w.safetensors"
    shutil.copy(test_weights, weights)
    shutil.copy(card_path(test_weights), card_path(weights))
    runner = RayEngine(_config(weights, tmp_path / "thumbs", "ray"), Cluster(address=ray_cluster[0].address))
    torch.manual_seed(1)
    save_weights(build_model("custom-cnn"), weights, {k: Card.read(test_weights).to_dict()[k] for k in ("model", "crop_policy")})
    items = discover([str(media_dir / "astronaut.jpg")]).items
    with pytest.raises(RayScanError, match="install the same weights on every node"):
        list(runner.scan(items))


def test_rows_of_a_retried_batch_are_reported_once_in_input_order(media_dir, test_weights, tmp_path):
    """Rows arrive out of order, and a retried batch delivers some of them again: each media
    once, in input order, and the duplicates counted; a media that never came is an error."""
    from forensics.engines.columns import result_to_row
    from forensics.engines.local import LocalEngine
    from forensics.engines.ray import RayEngine, RayScanError

    names = ["astronaut.jpg", "astronaut-manipulated.jpg", "coffee-no-face.jpg", "astronaut-clip.mp4"]
    items = discover([str(media_dir / name) for name in names]).items
    results = list(LocalEngine(_config(test_weights, tmp_path / "thumbs", "local")).scan(items))
    rows = [{**result_to_row(i, r), "extract_worker": "n/1", "score_worker": "n/2"} for i, r in enumerate(results)]
    arrived = [rows[2], rows[0], rows[1], rows[0], rows[2], *rows[3:], rows[1]]
    runner = RayEngine.__new__(RayEngine)  # only the driver's bookkeeping: no Ray needed
    runner.workers_used, runner.duplicates_dropped, runner._notes = {"extract": set(), "score": set()}, 0, set()
    got = list(runner._in_input_order(arrived, items))
    assert [r.path for r in got] == [r.path for r in results]
    assert [r.score for r in got] == [r.score for r in results]
    assert runner.duplicates_dropped == 3
    with pytest.raises(RayScanError, match=f"lost 1 media \\(first: {results[-1].path}\\)"):
        list(runner._in_input_order(rows[:-1], items))
    # unordered (the scan's journal takes them so): as they arrive, still each once
    runner.duplicates_dropped = 0
    got = list(runner._in_input_order(arrived, items, ordered=False))
    assert [r.path for r in got] == [results[i].path for i in (2, 0, 1, 3)]
    assert runner.duplicates_dropped == 3
    with pytest.raises(RayScanError, match="lost 1 media"):
        list(runner._in_input_order(rows[:-1], items, ordered=False))


def test_the_driver_says_when_a_node_could_not_see_a_file_or_wrote_a_thumbnail_elsewhere(tmp_path, media_dir):
    """A node without the media folder mounted reports "No such file"; a node with its own
    thumbnails folder writes pictures the reviewer cannot see: the driver, which can see the
    media and not the picture, says which happened, on the row."""
    from types import SimpleNamespace

    from forensics.engines.ray import RayEngine
    from forensics.result import MediaResult

    engine = SimpleNamespace(_notes=set())
    present = str(media_dir / "astronaut.jpg")
    unseen = MediaResult(path=present, kind="image", status="error",
                         error="cannot read the file: No such file or directory")
    RayEngine._seen_from_here(engine, unseen)
    assert "the node that scanned it cannot see the file" in unseen.error and "bucket" in unseen.error
    gone = MediaResult(path=str(tmp_path / "gone.jpg"), kind="image", status="error",
                       error="cannot read the file: No such file or directory")
    RayEngine._seen_from_here(engine, gone)
    assert gone.error == "cannot read the file: No such file or directory"  # missing here too: as it was
    elsewhere = MediaResult(path=present, kind="image", status="ok", thumbnail=str(tmp_path / "thumbs" / "x.jpg"))
    RayEngine._seen_from_here(engine, elsewhere)
    assert any("written on another node" in w for w in elsewhere.warnings) and engine._notes
    (tmp_path / "thumbs").mkdir()
    (tmp_path / "thumbs" / "y.jpg").write_bytes(b"\xff\xd8\xff")
    here = MediaResult(path=present, kind="image", status="ok", thumbnail=str(tmp_path / "thumbs" / "y.jpg"))
    RayEngine._seen_from_here(engine, here)
    assert not here.warnings


def test_a_lost_node_costs_only_its_batches(local_reference, media_dir, bad_dir, test_weights, tmp_path):
    """A whole worker node dies mid-scan (its raylet and every process on it, as when a machine
    goes away): its actor is restarted where there is room, its batches are retried, and the scan
    finishes with every media exactly once, in input order, with the statuses of the embedded engine."""
    import ray
    from ray.cluster_utils import Cluster as LocalCluster

    from forensics.engines.ray import RayEngine
    from forensics.engines.ray_connect import loopback_only

    _, local = local_reference
    items = discover([str(media_dir), str(bad_dir)]).items * 2  # work remains when the node goes
    expected = local.media.column("status").to_pylist() * 2
    with loopback_only():
        # a head that only drives, and three one-CPU nodes for one extract and one score actor:
        # the extract actor is on a worker node, and there is room for its restart elsewhere
        cluster = LocalCluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1"})
        try:
            workers = [cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1") for _ in range(3)]
            cluster.wait_for_nodes()
            engine = RayEngine(_config(test_weights, tmp_path / "thumbs", "ray"),
                               Cluster(address=cluster.address, workers=1, media_per_batch=1))
            lost: list[str] = []
            results = []
            for result in engine.scan(items):
                results.append(result)
                if lost:
                    continue
                busy = {w.split("/")[0] for w in engine.workers_used["extract"]}
                victim = next((n for n in workers if n.node_id in busy), None)
                if victim is not None:  # the extract actor runs on a worker node: that node goes
                    cluster.remove_node(victim, allow_graceful=False)
                    lost.append(victim.node_id)
        finally:
            ray.shutdown()
            cluster.shutdown()
    assert lost, "the extract actor never ran on a worker node"
    assert [r.path for r in results] == [i.path for i in items], "every media once, in input order"
    assert [r.status for r in results] == expected
    nodes = {w.split("/")[0] for w in engine.workers_used["extract"]}
    assert len(nodes) >= 2 and lost[0] in nodes, "another node finished the lost node's work"


def test_the_pools_grow_onto_a_node_that_joins_after_the_plan(local_reference, media_dir, bad_dir, test_weights,
                                                               tmp_path):
    """An autoscaling cluster scales up after the scan planned its pools on the one worker node
    it had (one actor of each): the extract pool grows onto the node that joined, as the
    default pools autoscale, and the report is the embedded engine's."""
    import ray
    from ray.cluster_utils import Cluster as LocalCluster

    from forensics.engines.ray import RayEngine
    from forensics.engines.ray_connect import loopback_only

    _, local = local_reference
    items = discover([str(media_dir), str(bad_dir)]).items * 4
    expected = local.media.column("status").to_pylist() * 4
    with loopback_only():
        cluster = LocalCluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1"})
        try:
            first = cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
            cluster.wait_for_nodes()
            engine = RayEngine(_config(test_weights, tmp_path / "thumbs", "ray"),
                               Cluster(address=cluster.address, media_per_batch=1))
            assert (engine.plan.extract.initial, engine.plan.score.initial) == (1, 1)
            assert engine.plan.extract.max_size is None
            joined = cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
            cluster.wait_for_nodes()
            results = list(engine.scan(items))
        finally:
            ray.shutdown()
            cluster.shutdown()
    assert [r.path for r in results] == [i.path for i in items]
    assert [r.status for r in results] == expected
    # one extract and one score actor were planned for the first node's two CPUs: a second
    # extract actor needs the node that joined, for itself or for an actor it displaced
    assert len(engine.workers_used["extract"]) >= 2, "the extract pool grew past its first actor"
    assert joined.node_id in engine.nodes_used and first.node_id in engine.nodes_used
