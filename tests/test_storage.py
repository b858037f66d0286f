"""Media and reports in a bucket: a real S3 endpoint (moto's standalone server on 127.0.0.1,
as s3fs's own tests use), filled by the test, scanned by both engines through the real
command line. The server enforces IAM: the scan's credentials may read every object but one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tolerances import assert_same_table

moto = pytest.importorskip("moto", reason="moto (the test extra) runs the local S3 server")
boto3 = pytest.importorskip("boto3", reason="boto3 (moto's dependency) fills the test bucket")

pytestmark = pytest.mark.slow

FORENSICS = [sys.executable, "-m", "forensics"]
BUCKET = "evidence"
DENIED = "cases/denied.jpg"
# before IAM is enforced: create the bucket, the scanner user, its policy and its keys
SETUP_ACTIONS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """Environment of a scanner whose credentials read every object of the bucket but one."""
    port = _free_port()
    # the server logs every request: to a file, not a pipe no one reads (a full pipe would hang it)
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)},
                              stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the S3 server did not start"
                time.sleep(0.2)
        admin = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "admin",
                 "aws_secret_access_key": "admin"}
        boto3.client("s3", **admin).create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="scanner")
        iam.put_user_policy(UserName="scanner", PolicyName="scan", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/{DENIED}"}]}))
        key = iam.create_access_key(UserName="scanner")["AccessKey"]
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "AWS_DEFAULT_REGION": "us-east-1",
               "FORENSICS_STAGING": str(tmp_path_factory.mktemp("staging"))}
        yield env, boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    finally:
        server.terminate()
        server.wait(timeout=30)


def _run(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([*FORENSICS, *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **env, "COLUMNS": "200"})
    result.stderr = " ".join(result.stderr.split())
    return result


def _put_folder(client, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")


def _read(client, key: str, local: Path) -> Path:
    client.download_file(BUCKET, key, str(local))
    return local


@pytest.fixture(scope="module")
def cases(s3, media_dir, bad_dir, tmp_path_factory):
    """``cases/`` in the bucket: the good media, broken files, an object the scanner may not read;
    and the same readable files in a local folder."""
    _, client = s3
    local = tmp_path_factory.mktemp("cases")
    shutil.copytree(media_dir, local, dirs_exist_ok=True)
    for name in ("truncated.mp4", "corrupt.jpg", "empty.mp4", "notes-renamed.jpg", "README.txt"):
        shutil.copy(bad_dir / name, local / name)
    _put_folder(client, local, "cases")
    client.upload_file(str(media_dir / "astronaut.jpg"), BUCKET, DENIED)
    return local


@pytest.fixture(scope="module")
def seeded(seeded_weights) -> Path:
    return seeded_weights


@pytest.fixture(scope="module")
def disk_report(cases, seeded, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("disk") / "disk.parquet"
    result = _run({}, "scan", str(cases), "--out", str(out), "--frames", "4", "--threads", "1",
                  "--weights", str(seeded), "--quiet")
    assert result.returncode == 0, result.stderr
    return out


def _assert_bucket_report_equals_disk(client, key: str, disk: Path, cases: Path, tmp_path: Path,
                                      extra: tuple[str, ...] = (DENIED,)) -> dict:
    """The bucket's report has the disk report's rows (URIs for paths) plus error rows for the
    ``extra`` keys; returns the bucket report's status and error by URI."""
    got = pq.read_table(_read(client, key, tmp_path / "bucket.parquet"))
    faces = pq.read_table(_read(client, key.replace(".parquet", ".faces.parquet"), tmp_path / "bucket.faces.parquet"))
    paths = got.column("path").to_pylist()
    others = {f"s3://{BUCKET}/{k}" for k in extra}
    assert others <= set(paths)
    rows = {p: (s, e) for p, s, e in zip(paths, got.column("status").to_pylist(), got.column("error").to_pylist())}
    keep = [i for i in range(got.num_rows) if paths[i] not in others]
    want = pq.read_table(disk)
    prefix = f"s3://{BUCKET}/cases/"
    local_paths = [p.replace(str(cases) + "/", prefix) for p in want.column("path").to_pylist()]
    assert [paths[i] for i in keep] == local_paths
    skip = ("elapsed_s", "thumbnail", "path")
    assert_same_table(got.take(keep), want, "media report", skip=skip)
    want_faces = pq.read_table(faces_of(disk))
    assert_same_table(faces, want_faces, "faces report", skip=skip)
    return rows


def faces_of(report: Path) -> Path:
    from forensics.report.schema import faces_path

    return faces_path(report)


def test_a_bucket_scan_equals_the_scan_of_the_same_files_on_disk(s3, cases, seeded, disk_report, tmp_path):
    env, client = s3
    result = _run(env, "scan", f"s3://{BUCKET}/cases", f"s3://{BUCKET}/cases/missing.jpg",
                  "--out", f"s3://{BUCKET}/reports/scan.parquet", "--thumbnails", f"s3://{BUCKET}/reports/thumbs",
                  "--frames", "4", "--threads", "1", "--weights", str(seeded))
    assert result.returncode == 0, result.stderr
    rows = _assert_bucket_report_equals_disk(client, "reports/scan.parquet", disk_report, cases, tmp_path,
                                             (DENIED, "cases/missing.jpg"))
    assert rows[f"s3://{BUCKET}/{DENIED}"] == ("error", "cannot read the object: access denied: the credentials "
                                               "in use may not read it")
    assert rows[f"s3://{BUCKET}/cases/missing.jpg"] == ("error", "no such object in the bucket")
    assert rows[f"s3://{BUCKET}/cases/truncated.mp4"][0] == "error"
    assert rows[f"s3://{BUCKET}/cases/notes-renamed.jpg"][0] == "error"
    assert f"s3://{BUCKET}/cases/README.txt" not in rows and "1 non-media file(s) skipped" in result.stderr

    # thumbnails went to the bucket, and the report names them there
    media = pq.read_table(_read(client, "reports/scan.parquet", tmp_path / "again.parquet"))
    thumbs = [t for t in media.column("thumbnail").to_pylist() if t]
    listed = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="reports/thumbs/")["Contents"]}
    assert len(thumbs) >= 6 and all(t.startswith(f"s3://{BUCKET}/reports/thumbs/") for t in thumbs)
    assert {t[len(f"s3://{BUCKET}/"):] for t in thumbs} <= listed
    assert any(".face0.jpg" in key for key in listed)  # the evidence crops too

    # the summary of the report in the bucket, read there
    summary = _run(env, "summary", f"s3://{BUCKET}/reports/scan.parquet", "--status", "error")
    assert summary.returncode == 0, summary.stderr
    assert "Media by outcome" in summary.stdout and "denied.jpg" in summary.stdout
    assert _run(env, "summary", f"s3://{BUCKET}/reports/none.parquet").returncode == 2

    # credentials land nowhere: not in the output, not in the report
    secret, key_id = env["AWS_SECRET_ACCESS_KEY"], env["AWS_ACCESS_KEY_ID"]
    blob = (tmp_path / "again.parquet").read_bytes() + (tmp_path / "bucket.faces.parquet").read_bytes()
    for text in (result.stdout, result.stderr, blob.decode("latin-1")):
        assert secret not in text and key_id not in text


def test_the_ray_engine_scans_a_bucket_to_the_same_report(s3, cases, seeded, disk_report, tmp_path):
    env, client = s3
    result = _run(env, "scan", f"s3://{BUCKET}/cases", "--out", f"s3://{BUCKET}/reports/ray.parquet",
                  "--thumbnails", f"s3://{BUCKET}/reports/ray-thumbs", "--frames", "4", "--threads", "1",
                  "--weights", str(seeded), "--engine", "ray")
    assert result.returncode == 0, result.stderr
    rows = _assert_bucket_report_equals_disk(client, "reports/ray.parquet", disk_report, cases, tmp_path)
    assert rows[f"s3://{BUCKET}/{DENIED}"][0] == "error"
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="reports/ray-thumbs/").get("KeyCount", 0)
    assert listed >= 6


def test_an_unreachable_endpoint_is_one_clear_error(s3, seeded, tmp_path):
    env, _ = s3
    dead = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}"}
    result = _run(dead, "scan", f"s3://{BUCKET}/cases", "--out", str(tmp_path / "r.parquet"), "--weights", str(seeded))
    assert result.returncode == 2
    assert "cannot reach the storage endpoint" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.parquet").exists()
    result = _run(env, "scan", "s3://no-such-bucket/x", "--out", str(tmp_path / "r.parquet"), "--weights", str(seeded))
    assert result.returncode == 2 and "the bucket no-such-bucket does not exist" in result.stderr


def test_a_bucket_report_is_not_written_over_something_else(s3, cases, seeded, tmp_path):
    env, client = s3
    client.put_object(Bucket=BUCKET, Key="reports/notes.parquet", Body=b"someone's notes")
    result = _run(env, "scan", str(cases / "astronaut.jpg"), "--out", f"s3://{BUCKET}/reports/notes.parquet",
                  "--weights", str(seeded))
    assert result.returncode == 2 and "is not a forensics report" in result.stderr
    assert client.get_object(Bucket=BUCKET, Key="reports/notes.parquet")["Body"].read() == b"someone's notes"


def test_an_interrupted_bucket_scan_resumes(s3, seeded, tmp_path, astronaut):
    from PIL import Image

    from forensics.report.journal import journal_path
    from forensics.report.outputs import staged_report

    env, client = s3
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(48):  # enough that the scan is still running when it is stopped
        side = 200 + 4 * k
        Image.fromarray(astronaut).resize((side, side)).save(folder / f"photo-{k:02d}.jpg", quality=90)
    _put_folder(client, folder, "many")
    args = ["scan", f"s3://{BUCKET}/many", "--frames", "4", "--threads", "1", "--weights", str(seeded)]
    assert _run(env, *args, "--out", f"s3://{BUCKET}/reports/whole.parquet", "--quiet").returncode == 0

    out = f"s3://{BUCKET}/reports/resumed.parquet"
    journal = journal_path(_staged(env, out, staged_report))
    scan = subprocess.Popen([*FORENSICS, *args, "--out", out, "--quiet"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not (journal.exists() and journal.read_bytes().count(b"\n") >= 1 + 3):
        time.sleep(0.05)
    scan.send_signal(signal.SIGTERM)
    _, stderr = scan.communicate(timeout=120)
    assert scan.returncode == 130, stderr
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="reports/resumed")

    result = _run(env, *args, "--out", out, "--resume")
    assert result.returncode == 0, result.stderr
    assert int(result.stderr.split(" media taken from the interrupted scan")[0].split()[-1]) >= 3
    assert_same_table(pq.read_table(_read(client, "reports/resumed.parquet", tmp_path / "a.parquet")),
                      pq.read_table(_read(client, "reports/whole.parquet", tmp_path / "b.parquet")), "resumed")
    assert not journal.exists()


def _staged(env: dict[str, str], out: str, staged_report) -> Path:
    saved = os.environ.get("FORENSICS_STAGING")
    os.environ["FORENSICS_STAGING"] = env["FORENSICS_STAGING"]
    try:
        return staged_report(out)
    finally:
        if saved is None:
            os.environ.pop("FORENSICS_STAGING")
        else:
            os.environ["FORENSICS_STAGING"] = saved



def _unshare_command() -> list[str] | None:
    """How this process may start a command in its own mount namespace: ``unshare --mount`` where
    it may (root, as in most CI containers), else in a user namespace of its own (``unshare -rm``,
    no privilege needed where the kernel allows them); None when neither works."""
    for command in (["unshare", "--mount"], ["unshare", "--map-root-user", "--mount"]):
        try:
            if subprocess.run([*command, "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True,
                              timeout=30).returncode == 0:
                return command
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


UNSHARE = _unshare_command()


def _stop(process: subprocess.Popen, temp_dir: str) -> None:
    """Stop a ``ray start --block`` and every process of its cluster (found by its temp folder)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if temp_dir.encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.skipif(UNSHARE is None, reason="SKIPPED LOUDLY: neither `unshare --mount` (root) nor `unshare -rm` "
                                            "(user namespaces) can start a node that cannot see the driver's folders")
def test_a_node_that_sees_only_the_bucket_scans_it(s3, cases, seeded, disk_report, tmp_path, tmp_path_factory):
    """Two nodes: a head that only drives, and a worker node started in its own mount namespace
    where the driver's folders (every folder of this test run) are an empty tmpfs. It reads the
    media from the bucket and writes thumbnails there: the report equals the scan on disk. The
    same cluster given the local folder says that its node cannot see the files."""
    env, client = s3
    hidden = tmp_path_factory.getbasetemp()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live in it
    weights = Path(tempfile.mkdtemp(prefix="weights-", dir="/tmp"))  # installed on every node, as a wheel's are
    for suffix in (".safetensors", ".json"):
        shutil.copy(seeded.with_suffix(suffix), weights / seeded.with_suffix(suffix).name)
    port = _free_port()
    ray_env = {**{k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}, **env,
               "RAY_AUTH_MODE": "disabled"}  # two nodes: not single-machine mode
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", "--num-cpus", "0", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
                             "--temp-dir", temp_dir, "--disable-usage-stats"],
                            env=ray_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = None
    try:
        deadline = time.monotonic() + 120
        while not _reachable(port):
            assert time.monotonic() < deadline and head.poll() is None, "the Ray head did not start"
            time.sleep(0.5)
        join = (f"mount -t tmpfs tmpfs {hidden} && exec {ray_cli} start --block --address 127.0.0.1:{port} "
                f"--num-cpus 2 --node-ip-address 127.0.0.1 --disable-usage-stats")
        node = subprocess.Popen([*UNSHARE, "--propagation", "private", "sh", "-c", join], env=ray_env,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while "/2.0CPU" not in subprocess.run([ray_cli, "status", "--address", f"127.0.0.1:{port}"], env=ray_env,
                                                 capture_output=True, text=True).stdout.replace(" ", ""):
            assert time.monotonic() < deadline + 60 and node.poll() is None, f"the node did not join: {node.stderr.read()}"
            time.sleep(1)
        cluster = ["--engine", "ray", "--ray-address", f"127.0.0.1:{port}", "--frames", "4", "--threads", "1",
                   "--weights", str(weights / seeded.name)]
        extra = {"RAY_AUTH_MODE": "disabled"}
        result = _run({**env, **extra}, "scan", f"s3://{BUCKET}/cases", "--out", f"s3://{BUCKET}/reports/node.parquet",
                      "--thumbnails", f"s3://{BUCKET}/reports/node-thumbs", *cluster)
        assert result.returncode == 0, result.stderr
        rows = _assert_bucket_report_equals_disk(client, "reports/node.parquet", disk_report, cases, tmp_path)
        assert rows[f"s3://{BUCKET}/{DENIED}"][0] == "error"
        assert client.list_objects_v2(Bucket=BUCKET, Prefix="reports/node-thumbs/").get("KeyCount", 0) >= 6

        # the node really cannot see the driver's folders: the local copy is an error row per media, saying why
        result = _run({**env, **extra}, "scan", str(cases / "astronaut.jpg"), str(cases / "astronaut-clip.mp4"),
                      "--out", str(tmp_path / "local.parquet"), *cluster)
        assert result.returncode == 0, result.stderr
        local = pq.read_table(tmp_path / "local.parquet")
        assert local.column("status").to_pylist() == ["error", "error"]
        assert all("the node that scanned it cannot see the file" in e for e in local.column("error").to_pylist())
    finally:
        if node is not None:
            _stop(node, temp_dir)
        _stop(head, temp_dir)
        shutil.rmtree(weights, ignore_errors=True)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
