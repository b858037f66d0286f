"""Golden scores: what each shipped weights file says about fixed face crops and the sample media.

The crops are made without the face detector, from fixed boxes and landmarks (recorded once
from MTCNN on the astronaut photo), so that a golden score pins the classifier alone: its
weights, input normalisation, ensemble members, mirror TTA and temperature. The sample media
scores pin the whole scan of ``examples/media`` (decode, detect, crop, track, aggregate), as
the README quotes them.

Regenerate after a deliberate change (new weights, a new crop policy), and say why in the
commit: ``python tests/golden.py``. It rewrites ``tests/golden_scores.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOLDEN_FILE = Path(__file__).with_name("golden_scores.json")
EXAMPLES = REPO / "examples" / "media"
SAMPLE_SCAN_FRAMES = 32  # the scan's default, as in the README's quick start

# the astronaut's face as MTCNN finds it (x1, y1, x2, y2) and its 5 landmarks, in pixels
ASTRONAUT_BOX = np.array([181.1, 62.2, 267.7, 172.1], np.float32)
ASTRONAUT_LANDMARKS = np.array([[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]],
                               np.float32)


def golden_crops(size: int, margin: float, align: bool) -> dict[str, np.ndarray]:
    """Named ``uint8`` crops (size, size, 3) for a crop policy: the real and manipulated
    astronaut cut as a scan cuts them, a grey crop and a seeded noise crop."""
    from samples import astronaut

    from forensics.faces.align import CropPolicy, crop_face
    from forensics.manipulate import BlendParams, blend_face

    policy = CropPolicy(size=size, margin=margin, align=align)
    real = astronaut()
    fake = blend_face(real, ASTRONAUT_BOX, BlendParams())
    noise = np.random.default_rng(20).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return {
        "astronaut": crop_face(real, ASTRONAUT_BOX, ASTRONAUT_LANDMARKS, policy),
        "astronaut-manipulated": crop_face(fake, ASTRONAUT_BOX, ASTRONAUT_LANDMARKS, policy),
        "grey": np.full((size, size, 3), 128, np.uint8),
        "noise": noise,
    }


def compute_crop_scores(weights: Path) -> dict[str, float]:
    """P(fake) of each golden crop under ``weights`` (on the CPU)."""
    from forensics.score import FaceScorer

    scorer = FaceScorer(weights=weights, device="cpu")
    policy = scorer.crop_policy
    crops = golden_crops(policy.size, policy.margin, policy.align)
    scores = scorer.score(np.stack(list(crops.values())))
    return {name: float(s) for name, s in zip(crops, scores)}


def compute_suite_crop_scores(card: Path) -> dict[str, dict[str, float]]:
    """Each family's calibrated P(fake) of each golden crop under the suite ``card`` (on the CPU)."""
    from forensics.score import SuiteScorer

    scorer = SuiteScorer(card, device="cpu")
    policy = scorer.crop_policy
    crops = golden_crops(policy.size, policy.margin, policy.align)
    table = scorer.score_by_family(np.stack(list(crops.values())))
    return {name: {f: float(v) for f, v in zip(scorer.families, row[1:])} for name, row in zip(crops, table)}


def sample_rows(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Score, verdict, family and family scores of each file of ``examples/media`` in a default
    scan (the shipped default: the suite where one ships)."""
    from forensics.families import FAMILIES
    from forensics.config import ScanConfig
    from forensics.runner import run_scan

    outcome = run_scan([str(EXAMPLES)], ScanConfig(frames=SAMPLE_SCAN_FRAMES), out_dir / "samples.parquet", quiet=True)
    return {Path(row["path"]).name: {"score": row["score"], "verdict": row["verdict"], "family": row["family"],
                                     **{f: row[f"score_{f}"] for f in FAMILIES}}
            for row in outcome.media.to_pylist()}


def compute(out_dir: Path) -> dict[str, Any]:
    """The golden file's content: per shipped weights, its sha256 and crop scores; the samples' scores."""
    from forensics.config import DEFAULT_MODEL
    from forensics.models.weights import list_shipped_cards, SuiteCard, shipped_suite, shipped_weights

    weights = {}
    for card in list_shipped_cards():
        name = Path(card.file).stem
        weights[name] = {"sha256": card.sha256, "crops": compute_crop_scores(shipped_weights(name))}
    suite = shipped_suite()
    default = ({"model": "suite", "sha256": SuiteCard.read(suite).sha256} if suite is not None
               else {"model": DEFAULT_MODEL, "sha256": weights[DEFAULT_MODEL]["sha256"]})
    golden = {"weights": weights,
              "samples": {**default, "frames": SAMPLE_SCAN_FRAMES, "rows": sample_rows(out_dir)}}
    if suite is not None:
        golden["suite"] = {"sha256": SuiteCard.read(suite).sha256, "crops": compute_suite_crop_scores(suite)}
    return golden


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        golden = compute(Path(tmp))
    GOLDEN_FILE.write_text(json.dumps(golden, indent=2) + "\n")
    print(f"wrote {GOLDEN_FILE}")
