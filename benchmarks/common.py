"""What the benchmarks share: where the repository and the shared data lie, the test suite's
sample media (``tests/samples.py``: public-domain portraits, clips made from them), a clip of
a given size, and how figures are shown and saved.

Every benchmark measures ratios against a baseline run in the same process, never a timed
assertion; run one at a time (two CPU-heavy jobs on two cores distort each other).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
"""../shared/data beside the repository: benchmarks that need it say so when it is absent."""
SHARED_FACES = SHARED_DATA / "faces" / "stylegan-ffhq"

sys.path.insert(0, str(REPO / "tests"))  # the sample media are the test suite's
from samples import astronaut, manipulated, write_clip, write_image  # noqa: E402

__all__ = ["REPO", "SHARED_DATA", "SHARED_FACES", "astronaut", "manipulated", "write_clip", "write_image",
           "make_clip", "write_figures"]


def make_clip(folder: Path, seconds: float = 4.0, height: int = 720, fps: float = 30.0) -> Path:
    """The astronaut sliding across a grey 16:9 frame; the face is about 0.78 of the height."""
    width = height * 16 // 9
    return write_clip(folder / f"clip-{height}p-{seconds:g}s.mp4", [astronaut()], seconds=seconds, fps=fps,
                      size=(width, height), face_height=round(height * 0.78))


def write_figures(figures: dict[str, Any], out: Path | None, saved: dict[str, Any] | None = None) -> None:
    """Print ``figures`` as JSON, and write them (or ``saved``, when it holds more) to ``out`` when given."""
    print(json.dumps(figures, indent=2))
    if out is not None:
        out.write_text(json.dumps(saved if saved is not None else figures, indent=2) + "\n")
