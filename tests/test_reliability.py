"""One bad file never costs a batch; a killed scan resumes; outputs never destroy evidence.

The bad inputs are real files written by ``tests/badinputs.py`` (decoded by the real decoders),
the scans run the real ``forensics`` command with the shipped weights, and the kill test
sends a real SIGKILL to a running scan.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from badinputs import write_bad_inputs
from tolerances import assert_same_table

from forensics.config import Sampling
from forensics.media.decode import DecodeError
from forensics.media.discover import MediaItem
from forensics.media.worker import DecodeWorker
from forensics.report.journal import Journal, JournalError, journal_path, scan_key
from forensics.report.schema import faces_path
from forensics.result import printable

FORENSICS = [sys.executable, "-m", "forensics"]


def run_forensics(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it; its standard error with the terminal's line wrapping undone."""
    result = subprocess.run([*FORENSICS, *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "COLUMNS": "200"})
    result.stderr = " ".join(result.stderr.split())
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    kinds, skipped = write_bad_inputs(folder)
    return folder, kinds, skipped


@pytest.fixture(scope="module")
def corpus_report(corpus, tmp_path_factory, shipped_weights):
    folder, _, _ = corpus
    out = tmp_path_factory.mktemp("corpus-report") / "report.parquet"
    result = run_forensics("scan", str(folder), "--out", str(out), "--frames", "4", "--timeout-per-media", "120")
    return result, out


def test_the_corpus_has_at_least_40_kinds(corpus):
    _, kinds, skipped = corpus
    assert len(kinds) >= 40, skipped


def test_every_bad_input_gets_its_row_in_one_batch(corpus, corpus_report):
    folder, kinds, _ = corpus
    result, out = corpus_report
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["path"]: row for row in pq.read_table(out).to_pylist()}
    expected = {printable(str(folder / kind.name)): kind for kind in kinds}
    assert set(rows) == set(expected)  # one row each, non-UTF-8 names kept (escaped)
    wrong = []
    for path, kind in expected.items():
        row = rows[path]
        if row["status"] not in kind.status.split("|"):
            wrong.append(f"{kind.name}: {row['status']} ({row['error']}), expected {kind.status}")
        if kind.reason and kind.reason not in (row["error"] or ""):
            wrong.append(f"{kind.name}: error {row['error']!r} does not say {kind.reason!r}")
        if kind.warns and not row["warnings"]:
            wrong.append(f"{kind.name}: damaged data but no warning")
        if row["status"] == "ok":
            if not (row["score"] is not None and 0.0 <= row["score"] <= 1.0 and row["verdict"] in ("fake", "real")):
                wrong.append(f"{kind.name}: status ok without a valid score")
        elif row["score"] is not None or row["verdict"] is not None:
            wrong.append(f"{kind.name}: a score without a valid face")
        if row["status"] == "error" and len(row["error"] or "") < 10:
            wrong.append(f"{kind.name}: an error without a reason")
    assert not wrong, "\n".join(wrong)


def test_clean_media_carry_no_warnings(corpus, corpus_report):
    folder, kinds, _ = corpus
    _, out = corpus_report
    rows = {row["path"]: row for row in pq.read_table(out).to_pylist()}
    for name in ("good-h264.mp4", "good-vp9.webm", "face-16bit-grey.png", "face-cmyk.jpg", "exif-rotated.jpg"):
        assert rows[str(folder / name)]["warnings"] == [], name


def test_the_summary_counts_damaged_evidence(corpus_report):
    result, _ = corpus_report
    assert "with warnings" in result.stderr and "Damaged evidence" in result.stderr


# ---------------------------------------------------------------- the decoding worker


def _decode_all(worker: DecodeWorker, path: Path, kind: str = "video") -> int:
    media = worker.open(MediaItem(str(path), kind), Sampling(frames=4))
    return sum(len(chunk) for chunk in media.chunks)


def test_a_decoder_that_hangs_is_stopped_and_the_next_media_decodes(tmp_path, media_dir):
    fifo = tmp_path / "hangs.mp4"
    os.mkfifo(fifo)  # opening it for reading waits forever: a hang as real as a decoder's
    with DecodeWorker(timeout_s=3) as worker:
        started = time.monotonic()
        with pytest.raises(DecodeError, match="longer than the 3 s allowed"):
            _decode_all(worker, fifo)
        assert time.monotonic() - started < 30
        assert worker.restarts == 1
        assert _decode_all(worker, media_dir / "astronaut-clip.mp4") == 4


def test_closing_the_worker_while_another_thread_decodes_stops_both(tmp_path):
    """Ctrl-C or SIGTERM close the worker from the scan's thread while its decode thread waits on it."""
    import threading

    fifo = tmp_path / "hangs.mp4"
    os.mkfifo(fifo)
    worker = DecodeWorker(timeout_s=600)
    failures: list[BaseException] = []

    def decode() -> None:
        try:
            _decode_all(worker, fifo)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=decode)
    thread.start()
    deadline = time.monotonic() + 60
    while worker.pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = worker.pid
    # wait until the request is in flight: the worker is stuck opening the fifo (the kernel's wchan says so)
    while Path(f"/proc/{pid}/wchan").read_text() != "wait_for_partner" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Path(f"/proc/{pid}/wchan").read_text() == "wait_for_partner", "the worker never opened the fifo"
    worker.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], DecodeError) and "stopping" in str(failures[0])
    assert worker.pid is None and worker.restarts == 0  # no new worker was started behind the closed one
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(DecodeError, match="stopping"):
        _decode_all(worker, fifo)


def test_a_decoder_that_crashes_costs_only_its_media(media_dir):
    with DecodeWorker(timeout_s=60) as worker:
        media = worker.open(MediaItem(str(media_dir / "astronaut-clip.mp4"), "video"), Sampling(frames=8, chunk=2))
        next(media.chunks)
        os.kill(worker.pid, signal.SIGSEGV)  # what a decoder bug on a hostile file does
        with pytest.raises(DecodeError, match="crashed.*SIGSEGV"):
            list(media.chunks)
        assert _decode_all(worker, media_dir / "astronaut.jpg", "image") == 1


def test_large_frames_are_decoded_at_reduced_size_and_boxes_stay_in_original_pixels(tmp_path, astronaut):
    from PIL import Image

    from forensics.media.image import IMAGE_MAX_SIDE, read_image

    big = np.full((IMAGE_MAX_SIDE * 2, IMAGE_MAX_SIDE + 100, 3), 90, np.uint8)
    big[1000:1000 + 2048, 500:500 + 2048] = np.asarray(Image.fromarray(astronaut).resize((2048, 2048)))
    path = tmp_path / "big.png"
    Image.fromarray(big).save(path, compress_level=1)
    frame = read_image(str(path))
    assert max(frame.image.shape[:2]) == IMAGE_MAX_SIDE and frame.scale == pytest.approx(0.5)
    result = run_forensics("scan", str(path), "--out", str(tmp_path / "r.parquet"), "--quiet")
    assert result.returncode == 0, result.stderr
    media = pq.read_table(tmp_path / "r.parquet").to_pylist()[0]
    faces = pq.read_table(tmp_path / "r.faces.parquet").to_pylist()
    assert (media["width"], media["height"]) == (IMAGE_MAX_SIDE + 100, IMAGE_MAX_SIDE * 2)
    assert media["status"] == "ok" and len(faces) == 1
    # the astronaut's face sits at about (180..330, 90..250) of 512: scaled by 4, offset by (500, 1000)
    assert 500 + 4 * 150 < faces[0]["x1"] < faces[0]["x2"] < 500 + 4 * 360
    assert 1000 + 4 * 60 < faces[0]["y1"] < faces[0]["y2"] < 1000 + 4 * 290


# ---------------------------------------------------------------- a broken model


def test_weights_that_give_nan_stop_the_scan_before_any_verdict(tmp_path, media_dir):
    import torch

    from forensics.models.weights import load_weights, save_weights, shipped_weights

    network, card = load_weights(shipped_weights("custom-cnn"))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.fill_(float("nan"))  # a diverged training run, with a card that matches
    weights = tmp_path / "diverged.safetensors"
    save_weights(network, weights, {k: v for k, v in card.to_dict().items() if k not in ("file", "sha256")})
    out = tmp_path / "r.parquet"
    result = run_forensics("scan", str(media_dir), "--out", str(out), "--weights", str(weights), "--fail-on-fake")
    assert result.returncode == 4, result.stderr
    assert "non-finite" in result.stderr and "broken" in result.stderr
    assert not out.exists() and not journal_path(out).exists()


# ---------------------------------------------------------------- outputs that would destroy something


def test_out_that_is_an_input_is_refused_and_the_input_kept(tmp_path, media_dir):
    evidence = tmp_path / "evidence.jpg"
    evidence.write_bytes((media_dir / "astronaut.jpg").read_bytes())
    before = evidence.read_bytes()
    result = run_forensics("scan", str(tmp_path), "--out", str(evidence))
    assert result.returncode == 2 and "would overwrite the input" in result.stderr
    assert evidence.read_bytes() == before


def test_out_that_is_a_folder_or_another_file_is_refused_before_any_work(tmp_path, media_dir):
    folder = tmp_path / "reports"
    folder.mkdir()
    result = run_forensics("scan", str(media_dir / "astronaut.jpg"), "--out", str(folder))
    assert result.returncode == 2 and "is a folder" in result.stderr
    notes = tmp_path / "notes.parquet"
    notes.write_text("my notes, not a report")
    result = run_forensics("scan", str(media_dir / "astronaut.jpg"), "--out", str(notes))
    assert result.returncode == 2 and "not a forensics report" in result.stderr and "--overwrite" in result.stderr
    assert notes.read_text() == "my notes, not a report"
    result = run_forensics("scan", str(media_dir / "astronaut.jpg"), "--out", str(notes), "--overwrite", "--quiet")
    assert result.returncode == 0 and pq.read_table(notes).num_rows == 1
    # a report of this tool is replaced without asking: rerunning a scan is the common case
    result = run_forensics("scan", str(media_dir / "astronaut.jpg"), "--out", str(notes), "--quiet")
    assert result.returncode == 0


def test_an_unwritable_place_is_refused_before_the_models_load(tmp_path, media_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    started = time.monotonic()
    result = run_forensics("scan", str(media_dir / "astronaut.jpg"), "--out", str(blocker / "report.parquet"))
    assert result.returncode == 2 and "cannot create the folder" in result.stderr
    assert time.monotonic() - started < 60


# ---------------------------------------------------------------- kill -9 and --resume


@pytest.fixture(scope="module")
def many_media(tmp_path_factory, astronaut):
    """24 pictures: the astronaut at several sizes and places, and some without a face."""
    from PIL import Image
    from samples import no_face_picture

    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for k in range(24):
        canvas = np.full((480, 640, 3), int(rng.integers(40, 200)), np.uint8)
        if k % 6 == 5:
            picture = no_face_picture()
        else:
            side = int(rng.integers(220, 400))
            picture = np.asarray(Image.fromarray(astronaut).resize((side, side)))
        h, w = min(picture.shape[0], 480), min(picture.shape[1], 640)
        y, x = int(rng.integers(0, 480 - h + 1)), int(rng.integers(0, 640 - w + 1))
        canvas[y:y + h, x:x + w] = picture[:h, :w]
        Image.fromarray(canvas).save(folder / f"media-{k:02d}.jpg", quality=90)
    return folder


def _assert_same_reports(got: Path, want: Path) -> None:
    """The same rows in both reports (floats within tests/tolerances.py: the resumed scan
    batches its media differently)."""
    for a, b in ((got, want), (faces_path(got), faces_path(want))):
        assert_same_table(pq.read_table(a), pq.read_table(b), a.name)


def test_kill_9_then_resume_gives_the_uninterrupted_report(tmp_path, many_media, shipped_weights):
    reference = tmp_path / "reference" / "report.parquet"
    assert run_forensics("scan", str(many_media), "--out", str(reference), "--quiet").returncode == 0

    out = tmp_path / "killed" / "report.parquet"
    journal = journal_path(out)
    scan = subprocess.Popen([*FORENSICS, "scan", str(many_media), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and scan.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 1 + 6:  # header + 6 media
            break
        time.sleep(0.05)
    assert scan.poll() is None, "the scan ended before it could be killed"
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    done_before_kill = journal.read_bytes().count(b"\n") - 1
    assert not out.exists() and 6 <= done_before_kill < 24

    result = run_forensics("scan", str(many_media), "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    resumed = int(result.stderr.split(" media taken from the interrupted scan")[0].split()[-1])
    assert resumed >= done_before_kill  # at most the media in flight were redone
    _assert_same_reports(out, reference)
    assert not journal.exists()
    assert not list(out.parent.glob(".*.tmp"))


def test_resume_refuses_other_settings_and_a_missing_journal(tmp_path, media_dir):
    out = tmp_path / "r.parquet"
    result = run_forensics("scan", str(media_dir), "--out", str(out), "--resume")
    assert result.returncode == 2 and "no journal" in result.stderr
    journal = journal_path(out)
    journal.write_text(json.dumps({"format": "forensics-journal/1", "key": {"config": {"frames": 7}}}) + "\n")
    result = run_forensics("scan", str(media_dir), "--out", str(out), "--resume")
    assert result.returncode == 2 and "other settings" in result.stderr and "frames" in result.stderr
    assert journal.exists()  # the interrupted scan's work is not thrown away


def test_resume_of_an_older_versions_journal_says_why_it_is_refused(tmp_path):
    # A journal written before provenance was read records no trust anchors: its rows lack the
    # provenance columns, so it must be refused, and the message must say that, not "other settings".
    metadata = {"config": {"frames": 8}, "model": "suite", "weights_sha256": "ab", "version": "0.1.0"}
    older = {k: v for k, v in scan_key(metadata).items() if k not in ("trust_anchors_sha256", "report_columns")}
    path = tmp_path / "journal"
    path.write_text(json.dumps({"format": "forensics-journal/1", "key": older}) + "\n")
    journal = Journal.open(path, resume=True)
    with pytest.raises(JournalError, match="older forensics that did not record .*trust_anchors_sha256"):
        journal.begin(metadata)
    journal.file.close()


def test_sigterm_keeps_the_journal_and_says_how_to_resume(tmp_path, many_media, shipped_weights):
    out = tmp_path / "report.parquet"
    scan = subprocess.Popen([*FORENSICS, "scan", str(many_media), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = journal_path(out)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not (journal.exists() and journal.read_bytes().count(b"\n") >= 3):
        time.sleep(0.05)
    scan.send_signal(signal.SIGTERM)
    _, stderr = scan.communicate(timeout=120)
    assert scan.returncode == 130 and "--resume" in stderr
    assert journal.exists() and not out.exists()


def test_the_journal_index_lives_on_disk_and_keeps_first_places(tmp_path):
    """The journal's index is a SQLite file beside it (the driver's memory does not grow with the
    media): a media written again keeps its first place and gives its last rows, a torn last
    line is cut off on resume, and the index goes with the journal."""
    from forensics.report.journal import Journal
    from forensics.result import MediaResult

    path = tmp_path / "r.parquet.journal"
    journal = Journal.open(path, resume=False)
    journal.begin({"config": {"frames": 4}})
    for name in ("a", "b", "c"):
        journal.add(MediaResult(path=f"/m/{name}.jpg", kind="image", status="error", error="x", sha256=name * 4),
                    stamp=f"1:{name}")
    journal.add(MediaResult(path="/m/a.jpg", kind="image", status="ok", sha256="aaaa"), stamp="2:a")  # redone
    index = path.with_name(path.name + ".index")
    assert index.exists() and len(journal.entries) == 3
    assert [(m["path"], m["status"]) for m, _ in journal.rows()] == [("/m/a.jpg", "ok"), ("/m/b.jpg", "error"),
                                                                      ("/m/c.jpg", "error")]
    assert journal.stamped("/m/a.jpg", "2:a") is True and journal.stamped("/m/a.jpg", "1:a") is False
    assert journal.done("/m/b.jpg", "bbbb") and not journal.done("/m/b.jpg", "other")
    journal.close()
    assert path.exists() and not index.exists()

    # media that finish out of order (a cluster's) are written in the order of their places
    shuffled = Journal.open(tmp_path / "s.parquet.journal", resume=False)
    shuffled.begin({"config": {}})
    for name, position in (("c", 2), ("a", 0), ("d", 3), ("b", 1)):
        shuffled.add(MediaResult(path=f"/m/{name}.jpg", kind="image", status="ok", sha256=name), "", position)
    assert [m["path"] for m, _ in shuffled.rows()] == ["/m/a.jpg", "/m/b.jpg", "/m/c.jpg", "/m/d.jpg"]
    shuffled.close(delete=True)

    with path.open("ab") as file:
        file.write(b'{"media": {"path": "/m/d.jpg"')  # killed mid-line
    resumed = Journal.open(path, resume=True)
    assert len(resumed.entries) == 3 and resumed.stamped("/m/c.jpg", "1:c") is True
    assert resumed.stamped("/m/d.jpg", "1:d") is False
    resumed.close(delete=True)
    assert not path.exists() and not index.exists()
