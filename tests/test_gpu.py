"""The CUDA path: MTCNN on the GPU, the classifier in float16 from pinned memory, and a whole
scan with ``--device cuda`` that agrees with the CPU. Runs only where torch sees a GPU."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from forensics.cli import app

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA GPU visible to torch: the GPU path (float16 classifier, pinned memory, MTCNN on the GPU) "
           "is tested on a machine with one")


def test_gpu_faces_and_float16_scores_agree_with_the_cpu(astronaut):
    from samples import face_swapped, manipulated

    from forensics.faces.align import CropPolicy, crop_face
    from forensics.faces.detect import FaceDetector
    from forensics.score import HALF_AGREEMENT, FaceScorer

    pictures = [astronaut, manipulated(astronaut), face_swapped()]
    on_cpu, on_gpu = FaceDetector("cpu").detect(pictures), FaceDetector("cuda").detect(pictures)
    for a, b in zip(on_cpu, on_gpu):
        assert len(a) == len(b) == 1
        np.testing.assert_allclose(a[0].box, b[0].box, atol=1.0)
    crops = np.stack([crop_face(p, f[0].box, f[0].landmarks, CropPolicy()) for p, f in zip(pictures, on_cpu)])
    gpu = FaceScorer(device="cuda")
    assert (gpu.runtime, gpu.precision) == ("torch", "float16"), gpu.runtime_note
    cpu = FaceScorer(device="cpu", runtime="torch")
    assert np.abs(gpu.score(crops) - cpu.score(crops)).max() <= HALF_AGREEMENT


def test_a_scan_on_the_gpu_gives_the_cpus_verdicts(media_dir, tmp_path):
    reports = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.parquet"
        result = CliRunner().invoke(app, ["scan", str(media_dir), "--out", str(out), "--device", device, "--frames", "8"])
        assert result.exit_code == 0, result.output
        reports[device] = pq.read_table(out).to_pandas().set_index("path").sort_index()
    cpu, gpu = reports["cpu"], reports["cuda"]
    assert list(gpu.status) == list(cpu.status) and list(gpu.verdict) == list(cpu.verdict)
    assert np.nanmax(np.abs(gpu.score.to_numpy(float) - cpu.score.to_numpy(float))) < 0.02
