import numpy as np
import pyarrow.parquet as pq
import pytest

from forensics.report.schema import FACE_SCHEMA, MEDIA_SCHEMA, faces_path, read_metadata
from forensics.report.writer import ReportWriter
from forensics.result import FaceRecord, MediaResult


def _result(path: str) -> MediaResult:
    face = FaceRecord(3, 0.1, 0, np.array([1, 2, 3, 4], np.float32), 0.99, np.arange(10, dtype=np.float32).reshape(5, 2), 0.7)
    return MediaResult(path=path, kind="image", status="ok", score=0.7, verdict="fake", faces=[face], faces_detected=1)


def test_reports_are_written_with_schema_and_metadata(tmp_path):
    out = tmp_path / "r.parquet"
    with ReportWriter(out, {"version": "x", "config": {"frames": 32}}, row_group=2) as writer:
        for k in range(5):
            writer.write(_result(f"m{k}.jpg"))
    media = pq.read_table(out)
    faces = pq.read_table(faces_path(out))
    assert media.schema.remove_metadata() == MEDIA_SCHEMA
    assert faces.schema.remove_metadata() == FACE_SCHEMA
    assert media.column("path").to_pylist() == [f"m{k}.jpg" for k in range(5)]
    assert faces.num_rows == 5 and faces.column("landmarks")[0].as_py() == list(map(float, range(10)))
    assert read_metadata(media.schema) == {"version": "x", "config": {"frames": 32}}
    assert read_metadata(faces.schema)["config"] == {"frames": 32}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.faces.parquet", "r.parquet"]


def test_a_failed_scan_leaves_no_half_written_report(tmp_path):
    out = tmp_path / "r.parquet"
    out.write_bytes(b"previous report")
    with pytest.raises(RuntimeError):
        with ReportWriter(out, {}) as writer:
            writer.write(_result("a.jpg"))
            raise RuntimeError("interrupted")
    assert out.read_bytes() == b"previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_faces_path_naming(tmp_path):
    assert faces_path("out/report.parquet").name == "report.faces.parquet"
    assert faces_path("report").name == "report.faces.parquet"
